/**
 * Throughput variants: the standard throughput workload (W workers × concurrency C, N no-op jobs
 * submitted in bulk) with one thing changed — the ZooKeeper zkjobs runs on, the concurrency, or
 * the simulated work per job — measured for zkjobs beside BullMQ on Redis with `appendfsync
 * everysec`. The runs themselves are the throughput section's ({@link zkjobsThroughput},
 * {@link bullmqThroughput}) on a context with the variant's settings.
 */
import { ZkClient } from '@zkjobs/core';
import type { Ctx } from './context.js';
import type { ThroughputRun } from './engines.js';
import { track } from './resources.js';
import { startZkServers, type ZkServerSettings, type ZkServers } from './zk.js';

/** The variants, in report order. */
export const VARIANTS = ['standalone', 'c64', 'work1', 'work10'] as const;
export type VariantName = (typeof VARIANTS)[number];

/** What a variant changes in the standard throughput workload. */
export interface Variant {
  name: VariantName;
  /** zkjobs on a standalone forceSync server of the section's own instead of the ensemble. */
  standalone?: boolean;
  /** Handlers per worker, every system. */
  concurrency?: number;
  /** Simulated work per job (a sleep in the handler), ms, every system. */
  workMs?: number;
}

export const VARIANT_DEFS: Readonly<Record<VariantName, Variant>> = {
  standalone: { name: 'standalone', standalone: true },
  c64: { name: 'c64', concurrency: 64 },
  work1: { name: 'work1', workMs: 1 },
  work10: { name: 'work10', workMs: 10 },
};

/**
 * `--variants a,b`: the names in report order, or the first unknown name.
 * @returns the chosen variants, or `{ unknown }` for a name not in {@link VARIANTS}
 */
export function parseVariants(list: string): VariantName[] | { unknown: string } {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = names.find((s) => !(VARIANTS as readonly string[]).includes(s));
  if (bad !== undefined) return { unknown: bad };
  return VARIANTS.filter((v) => names.includes(v));
}

/** The section's standalone server and the bench's connection to it. */
export interface Standalone {
  servers: ZkServers;
  /** For submits and clean-up, as `Ctx.client` is on the ensemble. */
  client: ZkClient;
  /** Closes the connection, then stops the server; unregisters both. */
  close: () => Promise<void>;
}

/**
 * Starts a standalone forceSync server with the ensemble's other settings (tickTime, heap,
 * session ceiling) and connects to it. Registered for clean-up ({@link track}) until `close`;
 * stopped again when the connection fails. Bounded: 30 s for the server, 10 s for the connection.
 */
export async function startStandalone(s: Omit<ZkServerSettings, 'members'>): Promise<Standalone> {
  const zk = await startZkServers({ ...s, members: 1 }, 'standalone ZooKeeper server (variants)');
  let client: ZkClient;
  try {
    client = await ZkClient.connect(zk.servers.connectString, { sessionTimeoutMs: 10_000 });
  } catch (err) {
    await zk.close();
    throw err;
  }
  const untrack = track('bench ZooKeeper client (standalone)', () => client.close());
  return {
    servers: zk.servers,
    client,
    close: async () => {
      untrack();
      try {
        await client.close();
      } finally {
        await zk.close();
      }
    },
  };
}

/**
 * The context of a variant's runs: `ctx` with the variant's concurrency and work, and for
 * `standalone` the standalone server and its connection in place of the ensemble's.
 * @throws Error for `standalone` without a server
 */
export function variantCtx(ctx: Ctx, v: Variant, standalone: Standalone | null): Ctx {
  if (v.standalone && !standalone) throw new Error(`variant ${v.name}: no standalone server`);
  return {
    ...ctx,
    ...(v.concurrency !== undefined ? { concurrency: v.concurrency } : {}),
    ...(v.workMs !== undefined ? { workMs: v.workMs } : {}),
    ...(v.standalone && standalone ? { cluster: standalone.servers, client: standalone.client } : {}),
  };
}

/** One variant's results (bench/results/latest.json `variants`). */
export interface VariantResult {
  /** ZooKeeper members zkjobs ran on (1: the section's standalone server). */
  members: number;
  workers: number;
  concurrency: number;
  workMs: number;
  jobs: number;
  /** Runs by system (`zkjobs`, `bullmq-aof`), one per round. */
  runs: Record<string, ThroughputRun[]>;
}

/** The settings a variant's runs use, with no runs yet. */
export function variantResult(vctx: Ctx, jobs: number): VariantResult {
  return {
    members: vctx.cluster.members.length,
    workers: vctx.workers,
    concurrency: vctx.concurrency,
    workMs: vctx.workMs,
    jobs,
    runs: {},
  };
}
