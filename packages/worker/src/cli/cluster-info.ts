/**
 * Read-only views of a zkjobs namespace for the CLI: live workers (with the job types they
 * advertise), the leader and its epoch, and queue depths. Reads the layout documented in
 * `../layout.ts`; writes nothing.
 */
import { compareSequential, NoNodeError, type ZkClient } from '@zkjobs/core';
import { JOB_STATES, type JobState } from '../job.js';
import {
  LEADER,
  PENDING,
  QUEUE,
  WORKERS,
  isWorkerNode,
  workerPath,
  type LeaderInfo,
  type WorkerInfo,
} from '../layout.js';

/** A live worker: its znode name and registration data. */
export interface WorkerListing extends Partial<WorkerInfo> {
  /** The znode name, `w-NNNNNNNNNN`. */
  name: string;
}

/** The leader as recorded in `<ns>/leader`. */
export interface LeaderView {
  /** The leader's worker znode name. */
  worker: string;
  /** Host and pid of the leader process. */
  host?: string;
  pid?: number;
  /** The leader's session id, hex. */
  session?: string;
  /** When it took leadership, ms since the epoch (its clock). */
  since?: number;
  /** The leader epoch: the version of `<ns>/leader`. */
  epoch: number;
  /** True when the recorded leader's worker znode still exists. */
  alive: boolean;
}

const isNoNode = (e: unknown): boolean => e instanceof NoNodeError;

/** Lists `<ns>/workers/w-*` with their data, lowest sequence first. `client` is namespaced. */
export async function liveWorkers(client: ZkClient): Promise<WorkerListing[]> {
  let names: string[];
  try {
    names = (await client.getChildren(WORKERS)).children.filter(isWorkerNode);
  } catch (err) {
    if (isNoNode(err)) return [];
    throw err;
  }
  names.sort(compareSequential);
  const found = await Promise.all(
    names.map(async (name): Promise<WorkerListing | null> => {
      try {
        const { data } = await client.getData(workerPath(name));
        let info: Partial<WorkerInfo> = {};
        try {
          info = JSON.parse(data.toString('utf8')) as Partial<WorkerInfo>;
        } catch {
          // a participant that does not publish its info: still a live worker
        }
        return { ...info, name };
      } catch (err) {
        if (isNoNode(err)) return null; // left between listing and reading
        throw err;
      }
    }),
  );
  return found.filter((w): w is WorkerListing => w !== null);
}

/** The job types advertised by the live workers. */
export function advertisedTypes(workers: readonly WorkerListing[]): Set<string> {
  const types = new Set<string>();
  for (const w of workers) for (const t of w.types ?? []) types.add(t);
  return types;
}

/** Reads `<ns>/leader`; null when no leader was ever elected. */
export async function readLeader(client: ZkClient, workers: readonly WorkerListing[]): Promise<LeaderView | null> {
  try {
    const { data, stat } = await client.getData(LEADER);
    if (data.length === 0) return null;
    const info = JSON.parse(data.toString('utf8')) as Partial<LeaderInfo>;
    if (typeof info.worker !== 'string') return null;
    const view: LeaderView = {
      worker: info.worker,
      epoch: stat.version,
      alive: workers.some((w) => w.name === info.worker),
    };
    if (info.host !== undefined) view.host = info.host;
    if (info.pid !== undefined) view.pid = info.pid;
    if (info.session !== undefined) view.session = info.session;
    if (info.since !== undefined) view.since = info.since;
    return view;
  } catch (err) {
    if (isNoNode(err) || err instanceof SyntaxError) return null;
    throw err;
  }
}

/** Number of children of a node; 0 when it does not exist. */
export async function childCount(client: ZkClient, path: string): Promise<number> {
  try {
    return (await client.exists(path))?.numChildren ?? 0;
  } catch (err) {
    if (isNoNode(err)) return 0;
    throw err;
  }
}

/** Depths of the scheduling structures: pending markers (all buckets) and assignments per worker. */
export async function queueDepths(
  client: ZkClient,
): Promise<{ pendingMarkers: number; assigned: Record<string, number> }> {
  let buckets: string[] = [];
  try {
    buckets = (await client.getChildren(PENDING)).children;
  } catch (err) {
    if (!isNoNode(err)) throw err;
  }
  const counts = await Promise.all(buckets.map((b) => childCount(client, `${PENDING}/${b}`)));
  let queues: string[] = [];
  try {
    queues = (await client.getChildren(QUEUE)).children.sort();
  } catch (err) {
    if (!isNoNode(err)) throw err;
  }
  const assigned: Record<string, number> = {};
  await Promise.all(
    queues.map(async (q) => {
      assigned[q] = await childCount(client, `${QUEUE}/${q}`);
    }),
  );
  return { pendingMarkers: counts.reduce((a, b) => a + b, 0), assigned };
}

/** An empty count per job state. */
export function emptyStateCounts(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}
