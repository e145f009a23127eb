/**
 * Job counts by type and state without a scan: every multi that creates, changes the state of,
 * or deletes job records also creates one delta znode `counts/d-NNNNNNNNNN` (`{type: {state:
 * ±n}}`), and the leader folds the deltas into the summary (the data of `counts/`) now and then,
 * in a fenced multi that deletes the deltas it folded. A reader adds the summary and the
 * deltas not folded yet (at most about one fold interval's worth of multis).
 */
import { CreateMode, NoNodeError, type Transaction, type ZkClient } from '@zkjobs/core';
import { JOB_STATES, type JobState } from '../job.js';
import { COUNTS, COUNT_DELTA_PREFIX } from '../layout.js';

/** Counts (or changes of counts) by job type, then state. */
export type CountsByType = Record<string, Partial<Record<JobState, number>>>;

/** A change of counts being built for one multi. */
export class Tally {
  private readonly m: CountsByType = {};

  /** Adds `n` jobs of `type` in `state` (negative: removes). */
  add(type: string, state: JobState, n = 1): this {
    const t = (this.m[type] ??= {});
    t[state] = (t[state] ?? 0) + n;
    if (t[state] === 0) delete t[state];
    if (Object.keys(t).length === 0) delete this.m[type];
    return this;
  }

  /** One job of `type` moved from `from` to `to` (either null: created or deleted). */
  move(type: string, from: JobState | null | undefined, to: JobState | null | undefined): this {
    if (from === to) return this;
    if (from) this.add(type, from, -1);
    if (to) this.add(type, to, 1);
    return this;
  }

  isEmpty(): boolean {
    return Object.keys(this.m).length === 0;
  }

  toDoc(): CountsByType {
    return this.m;
  }
}

/** Adds the delta znode of `tally` to `tx` (nothing when it is empty). */
export function appendTally(tx: Transaction, tally: Tally): Transaction {
  if (tally.isEmpty()) return tx;
  return tx.create(`${COUNTS}/${COUNT_DELTA_PREFIX}`, {
    data: Buffer.from(JSON.stringify(tally.toDoc())),
    mode: CreateMode.PERSISTENT_SEQUENTIAL,
  });
}

/** Deltas read in one multiRead. */
const DELTAS_PER_READ = 100;

/** Adds `b` into `a` (mutates `a`). */
export function addCounts(a: CountsByType, b: CountsByType): CountsByType {
  for (const [type, states] of Object.entries(b)) {
    const t = (a[type] ??= {});
    for (const [s, n] of Object.entries(states) as [JobState, number][]) t[s] = (t[s] ?? 0) + n;
  }
  return a;
}

function parseCounts(data: Buffer): CountsByType {
  if (data.length === 0) return {};
  const doc = JSON.parse(data.toString('utf8')) as { c?: CountsByType } & CountsByType;
  return (doc.c ?? doc) as CountsByType;
}

/** The summary document: `{ c: counts }`, or `{ scan: true }` for a namespace older than the counts. */
export interface CountsSummary {
  counts: CountsByType;
  /** The namespace had jobs before it had counts: they are read by a scan. */
  scan: boolean;
  version: number;
}

/** Reads the summary (the data of `counts/`). */
export async function readSummary(client: ZkClient): Promise<CountsSummary> {
  const { data, stat } = await client.getData(COUNTS);
  if (data.length > 0) {
    const doc = JSON.parse(data.toString('utf8')) as { scan?: boolean; c?: CountsByType };
    if (doc.scan === true) return { counts: {}, scan: true, version: stat.version };
    return { counts: doc.c ?? {}, scan: false, version: stat.version };
  }
  return { counts: {}, scan: false, version: stat.version };
}

export function encodeSummary(c: CountsByType): Buffer {
  return Buffer.from(JSON.stringify({ c }));
}

/** The deltas not folded yet: their names and data (a delta folded meanwhile is left out). */
export async function readDeltas(
  client: ZkClient,
  names?: readonly string[],
): Promise<{ name: string; counts: CountsByType }[]> {
  const list = names ?? (await client.getChildren(COUNTS)).children.filter((c) => c.startsWith(COUNT_DELTA_PREFIX));
  // A delta is small (a few types × states): many go in one request (multiRead).
  const sorted = [...list].sort();
  const out: { name: string; counts: CountsByType }[] = [];
  for (let i = 0; i < sorted.length; i += DELTAS_PER_READ) {
    const names = sorted.slice(i, i + DELTAS_PER_READ);
    const res = await client.multiRead(names.map((name) => ({ type: 'getData' as const, path: `${COUNTS}/${name}` })));
    res.forEach((r, k) => {
      if (r.type === 'getData') out.push({ name: names[k]!, counts: parseCounts(r.data) });
      else if (r.type === 'error' && !(r.error instanceof NoNodeError)) throw r.error;
      // NoNode: folded meanwhile.
    });
  }
  return out;
}

/**
 * The counts now: the summary plus the deltas not folded yet, read so that a fold between the
 * reads is noticed (and the reads done again).
 * @returns null for a namespace whose summary says it needs a scan
 */
export async function readCounts(client: ZkClient): Promise<CountsByType | null> {
  for (;;) {
    const names = (await client.getChildren(COUNTS)).children.filter((c) => c.startsWith(COUNT_DELTA_PREFIX));
    const summary = await readSummary(client);
    if (summary.scan) return null;
    const deltas = await readDeltas(client, names);
    // A delta gone since the listing was folded into a summary newer than the one read.
    if (deltas.length < names.length && (await client.exists(COUNTS))?.version !== summary.version) continue;
    const total = addCounts({}, summary.counts);
    for (const d of deltas) addCounts(total, d.counts);
    return total;
  }
}

/** Every state, zero. */
export function zeroStates(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}
