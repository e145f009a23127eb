// Shared by the fault tests and `pnpm soak` (so: no vitest import here): worker processes started
// with the real CLI (`zkjobs worker start`), their append-only logs, a seeded random source, and
// the summary line.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { netnsCommand } from '@zkjobs/core/testing';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const repo = fileURLToPath(new URL('../..', import.meta.url));
/** The built CLI. */
export const CLI = join(repo, 'packages/worker/dist/cli/index.js');
/** The handlers module of the fault tests. */
export const HANDLERS = fileURLToPath(new URL('./fixtures/handlers.mjs', import.meta.url));

/** A worker process started with `zkjobs --json worker start`; stdout and stderr go straight to files. */
export interface CliWorker {
  child: ChildProcess;
  pid: number;
  /** `worker start --json` events (stdout). */
  eventsFile: string;
  /** The engine's pino log (stderr). */
  logFile: string;
  /** Its first `w-` znode. */
  name: string;
  exited: Promise<number | null>;
  /** True once it exited. */
  dead: boolean;
}

/** Options of {@link spawnCliWorker}. */
export interface SpawnOptions {
  connect: string;
  namespace: string;
  dir: string;
  label: string;
  concurrency?: number;
  sessionTimeoutMs?: number;
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** Run inside this network namespace (a `TestingNetwork` host's `netns`); default: this one. */
  netns?: string;
}

/**
 * Starts `node packages/worker/dist/cli/index.js --json worker start --handlers <fixture>` with its
 * output written directly to files (nothing is lost when it is SIGKILLed), and waits for its
 * `started` event.
 */
export async function spawnCliWorker(o: SpawnOptions): Promise<CliWorker> {
  const eventsFile = join(o.dir, `events-${o.label}.jsonl`);
  const logFile = join(o.dir, `log-${o.label}.jsonl`);
  const out = openSync(eventsFile, 'a');
  const err = openSync(logFile, 'a');
  const argv = [
    CLI,
    '--connect',
    o.connect,
    '--namespace',
    o.namespace,
    '--json',
    '--log-level',
    'info',
    'worker',
    'start',
    '--handlers',
    HANDLERS,
    '--concurrency',
    String(o.concurrency ?? 3),
    '--session-timeout',
    String(o.sessionTimeoutMs ?? 2000),
    '--grace',
    '1000',
  ];
  const [file, args] = o.netns ? netnsCommand(o.netns, process.execPath, argv) : [process.execPath, argv];
  const child = spawn(file, args, {
    env: { ...process.env, LEDGER_DIR: o.dir, ...o.env },
    stdio: ['ignore', out, err],
  });
  closeSync(out);
  closeSync(err);
  const w: CliWorker = {
    child,
    pid: child.pid!,
    eventsFile,
    logFile,
    name: '',
    dead: false,
    exited: new Promise((r) => child.on('exit', (code) => r(code))),
  };
  void w.exited.then(() => (w.dead = true));
  const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
  for (;;) {
    const started = readJsonLines(eventsFile).find((l) => l['event'] === 'started' && l['pid'] === w.pid);
    if (started) {
      w.name = String(started['worker']);
      return w;
    }
    if (w.dead || Date.now() > deadline) {
      child.kill('SIGKILL');
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(`worker ${o.label} (pid ${w.pid}) did not start; log: ${tail}`);
    }
    await sleep(50);
  }
}

/** Stops every process still running: SIGCONT (it may be stopped), then SIGKILL; waits for the exits. */
export async function killAll(ws: Iterable<CliWorker>): Promise<void> {
  const all = [...ws].filter((w) => !w.dead);
  for (const w of all) {
    try {
      process.kill(w.pid, 'SIGCONT');
      w.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.race([Promise.all(all.map((w) => w.exited)), sleep(5000)]);
}

/** The JSON lines of a file (unparseable lines skipped; none when the file does not exist). */
export function readJsonLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const s of readFileSync(file, 'utf8').split('\n')) {
    if (!s.startsWith('{')) continue;
    try {
      out.push(JSON.parse(s) as Record<string, unknown>);
    } catch {
      // a line being written
    }
  }
  return out;
}

/** Every history log of a run directory: events, engine logs and ledgers. */
export function historyFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^(events|log|ledger)-.*\.jsonl$/.test(f))
    .map((f) => join(dir, f));
}

/** A seeded PRNG (mulberry32), so that a run's choices can be replayed with ZKJOBS_SEED. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** One element of a non-empty array. */
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)]!;
  }
}

/** The seed of this run: `ZKJOBS_SEED`, else a random one. */
export function runSeed(): number {
  const s = process.env['ZKJOBS_SEED'];
  return s ? Number(s) >>> 0 : Math.floor(Math.random() * 2 ** 31);
}

/** Runs the built CLI and returns its exit code and output. */
export function runCli(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`zkjobs ${args.join(' ')}: no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
