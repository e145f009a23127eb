/**
 * CPU time of process trees, read from Linux's /proc: what a throughput run cost each part of
 * the system (the servers, the workers, the submitting bench process), per job. Off Linux (no
 * /proc) every reading is null and the report shows "–".
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSec: number | null = null;

/** USER_HZ (`getconf CLK_TCK`, 100 on Linux). */
function hz(): number {
  if (ticksPerSec === null) {
    try {
      ticksPerSec = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSec = 100;
    }
  }
  return ticksPerSec;
}

interface ProcStat {
  ppid: number;
  /** user + system time of the process and of its reaped children, clock ticks. */
  ticks: number;
}

function readAll(): Map<number, ProcStat> | null {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return null;
  }
  const out = new Map<number, ProcStat>();
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const st = readFileSync(`/proc/${n}/stat`, 'utf8');
      // Fields after "(comm)": state ppid pgrp … utime(14) stime(15) cutime(16) cstime(17), 1-based.
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(Number(n), {
        ppid: Number(f[1]),
        ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * CPU time (user + system, ms) used so far by each root process and all its descendants, or
 * null when /proc cannot be read. Roots that are gone count 0.
 */
export function treeCpuMs(roots: readonly (number | null | undefined)[]): number | null {
  const all = readAll();
  if (all === null) return null;
  let ticks = 0;
  for (const p of treePids(roots, all)) ticks += all.get(p)?.ticks ?? 0;
  return (ticks / hz()) * 1000;
}

/** The pids of `roots` and of all their descendants (empty when /proc cannot be read). */
function treePids(roots: readonly (number | null | undefined)[], all = readAll()): number[] {
  if (all === null) return [];
  const kids = new Map<number, number[]>();
  for (const [pid, s] of all) {
    const list = kids.get(s.ppid);
    if (list) list.push(pid);
    else kids.set(s.ppid, [pid]);
  }
  const seen = new Set<number>();
  const stack = roots.filter((p): p is number => typeof p === 'number' && p > 0);
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    for (const k of kids.get(p) ?? []) stack.push(k);
  }
  return [...seen];
}

/**
 * CPU time (user + system, ms) used so far by the threads of `roots`' process trees, summed by
 * thread name with its digits taken out (`SyncThread:1` → `SyncThread:#`; Linux keeps the
 * first 15 bytes of a name). Threads that have exited are not counted. Null without /proc.
 */
export function threadCpuByName(roots: readonly (number | null | undefined)[]): Map<string, number> | null {
  const pids = treePids(roots);
  if (pids.length === 0) return null;
  const out = new Map<string, number>();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const open = st.indexOf('(');
        const close = st.lastIndexOf(')');
        const name = st.slice(open + 1, close).replace(/\d+/g, '#');
        const f = st.slice(close + 2).split(' ');
        const ms = ((Number(f[11]) + Number(f[12])) / hz()) * 1000;
        out.set(name, (out.get(name) ?? 0) + ms);
      } catch {
        // exited meanwhile
      }
    }
  }
  return out;
}

/** Per job, ms: `b - a` of two {@link threadCpuByName} readings, largest first. */
export function threadCpuPerJob(
  a: Map<string, number> | null,
  b: Map<string, number> | null,
  jobs: number,
): Record<string, number> | undefined {
  if (!a || !b) return undefined;
  const n = Math.max(1, jobs);
  const rows = [...b].map(([name, ms]) => [name, (ms - (a.get(name) ?? 0)) / n] as const).filter(([, v]) => v > 0);
  return Object.fromEntries(rows.sort((x, y) => y[1] - x[1]));
}

/** This process's own CPU time (user + system), ms. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU per job of one run, ms: the servers, the workers, the submitting process. */
export interface CpuPerJob {
  server: number | null;
  workers: number | null;
  bench: number;
  /** Share of the machine's cores busy with these three during the run, %. */
  busyPct: number | null;
}

/** Reads the three counters now; `end(start, jobs, wallMs, cores)` makes the per-job figures. */
export function cpuMark(
  servers: readonly (number | null | undefined)[],
  workers: readonly (number | null | undefined)[],
) {
  return { server: treeCpuMs(servers), workers: treeCpuMs(workers), bench: selfCpuMs() };
}

export function cpuPerJob(
  a: ReturnType<typeof cpuMark>,
  b: ReturnType<typeof cpuMark>,
  jobs: number,
  wallMs: number,
  cores: number,
): CpuPerJob {
  const d = (x: number | null, y: number | null) => (x === null || y === null ? null : y - x);
  const server = d(a.server, b.server);
  const workers = d(a.workers, b.workers);
  const bench = b.bench - a.bench;
  const n = Math.max(1, jobs);
  return {
    server: server === null ? null : server / n,
    workers: workers === null ? null : workers / n,
    bench: bench / n,
    busyPct:
      server === null || workers === null || wallMs <= 0 ? null : ((server + workers + bench) / (wallMs * cores)) * 100,
  };
}
