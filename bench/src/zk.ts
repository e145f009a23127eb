import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CreateMode, NoNodeError, type ZkClient } from '@zkjobs/core';
import { TestingCluster, monitor, type ZkServerProcess } from '@zkjobs/core/testing';
import { track } from './resources.js';
import { mapLimit, now, withTimeout } from './util.js';

const execFileP = promisify(execFile);

/**
 * The ZooKeeper servers a measurement runs on (a `TestingCluster`: the bench's ensemble, or a
 * standalone server of its own) — where clients connect, and the members (their pids
 * for CPU accounting, their client ports for `mntr`).
 */
export interface ZkServers {
  readonly connectString: string;
  readonly members: readonly ZkServerProcess[];
}

/** How the bench runs ZooKeeper (see {@link startZkServers}). */
export interface ZkServerSettings {
  /** Members: 1 is a standalone server, more an ensemble. */
  members: number;
  /** tickTime, ms; sessions expire on tick boundaries. */
  tickMs: number;
  /** Each member's JVM heap limit, MB. */
  heapMb: number;
  /** More JVM flags for each member (after the harness's own and the heap limit). @defaultValue none */
  jvmFlags?: readonly string[];
}

/**
 * Starts the bench's ZooKeeper — a `TestingCluster` of `members` (1: a standalone server) —
 * every member with `forceSync=yes`, the given tickTime and heap, `maxSessionTimeout=60000`, and
 * follower limits scaled to stay 5 s and 2.5 s whatever the tick (ZooKeeper's 10 and 5 ticks at
 * tickTime 500). Registered for clean-up as `name` ({@link track}); `close` stops the servers,
 * removes their data and unregisters them. Bounded: the harness waits at most 30 s for them to serve.
 */
export async function startZkServers(
  s: ZkServerSettings,
  name: string,
): Promise<{ servers: ZkServers; close: () => Promise<void> }> {
  const opts = {
    tickTime: s.tickMs,
    forceSync: true,
    initLimit: Math.ceil(5000 / s.tickMs),
    syncLimit: Math.ceil(2500 / s.tickMs),
    config: { maxSessionTimeout: 60_000 },
    jvmFlags: [`-Xmx${s.heapMb}m`, ...(s.jvmFlags ?? [])],
  };
  const servers = await TestingCluster.start({ ...opts, size: s.members });
  const untrack = track(name, () => servers.close());
  return {
    servers,
    close: async () => {
      untrack();
      await servers.close();
    },
  };
}

/** `mntr` of every member, in member order (null for a member that did not answer). */
export async function mntrAll(cluster: ZkServers): Promise<(Record<string, string | number> | null)[]> {
  return Promise.all(cluster.members.map((m) => monitor('127.0.0.1', m.spec.clientPort, 3000).catch(() => null)));
}

/** Sum of a numeric `mntr` key over the members. */
export function sumKey(snap: (Record<string, string | number> | null)[], key: string): number {
  let s = 0;
  for (const m of snap) {
    const v = m?.[key];
    if (typeof v === 'number') s += v;
  }
  return s;
}

/** Client packets received by the whole ensemble (every request and ping, every member). */
export async function packetsReceived(cluster: ZkServers): Promise<number> {
  return sumKey(await mntrAll(cluster), 'zk_packets_received');
}

/** Deletes a subtree with pipelined deletes (leaves first); bounded by `timeoutMs`. */
export async function deleteTree(client: ZkClient, root: string, timeoutMs = 120_000): Promise<void> {
  const run = async (): Promise<void> => {
    const levels: string[][] = [];
    let frontier = [root];
    while (frontier.length > 0) {
      levels.push(frontier);
      const next: string[] = [];
      await mapLimit(frontier, 64, async (p) => {
        try {
          const { children } = await client.getChildren(p);
          for (const c of children) next.push(p === '/' ? `/${c}` : `${p}/${c}`);
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err;
        }
      });
      frontier = next;
    }
    for (const level of levels.reverse()) {
      await mapLimit(level, 500, async (p) => {
        try {
          await client.delete(p);
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err;
        }
      });
    }
  };
  await withTimeout(run(), timeoutMs, `delete ${root}`);
}

/** Pipelined creates: `count` PERSISTENT creates with at most `window` in flight. Returns creates/s. */
export async function pipelinedCreates(client: ZkClient, dir: string, count: number, window: number): Promise<number> {
  await client.mkdirp(dir);
  const data = Buffer.alloc(100, 120);
  const t0 = now();
  await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    window,
    (i) => client.create(`${dir}/n${i}`, { data, mode: CreateMode.PERSISTENT }),
  );
  return count / ((now() - t0) / 1000);
}

/** Pipelined multis of `perMulti` creates each, `window` multis in flight. Returns znodes/s. */
export async function pipelinedMultis(
  client: ZkClient,
  dir: string,
  count: number,
  perMulti: number,
  window: number,
): Promise<number> {
  await client.mkdirp(dir);
  const data = Buffer.alloc(100, 120);
  const multis = Math.ceil(count / perMulti);
  const t0 = now();
  await mapLimit(
    Array.from({ length: multis }, (_, i) => i),
    window,
    async (i) => {
      const tx = client.transaction();
      for (let k = 0; k < perMulti; k++) tx.create(`${dir}/m${i}-${k}`, { data });
      await tx.commit();
    },
  );
  return (multis * perMulti) / ((now() - t0) / 1000);
}

/** Resident memory of a process, bytes (from /proc), or null. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(s)?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The JVM's used heap after a full GC, bytes, via `jcmd` (a JDK tool: present when the machine
 * has a JDK, not with Debian's JRE alone), or null.
 */
export async function jvmHeapUsedBytes(pid: number): Promise<number | null> {
  const jcmd = process.env['JCMD'] ?? '/usr/lib/jvm/default-java/bin/jcmd';
  try {
    await execFileP(jcmd, [String(pid), 'GC.run'], { timeout: 20_000 });
    const { stdout } = await execFileP(jcmd, [String(pid), 'GC.heap_info'], { timeout: 20_000 });
    // One "total NK, used MK" line per generation: G1 has one ("garbage-first heap"), Serial
    // and Parallel two (young + old). Metaspace lines have another format.
    let used = 0;
    let found = false;
    for (const m of stdout.matchAll(/total\s+\d+K,\s+used\s+(\d+)K/g)) {
      used += Number(m[1]);
      found = true;
    }
    return found ? used * 1024 : null;
  } catch {
    return null;
  }
}
