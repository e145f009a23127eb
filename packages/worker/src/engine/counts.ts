/**
 * Job counts by type and state without a scan: every multi that creates, changes the state of,
 * or deletes job records also creates one delta znode `counts/d-NNNNNNNNNN` (`{c: {type: {state:
 * ±n}}, e: [event, …]}`: its count changes and its events, `event-log.ts`), and the leader folds
 * the deltas into the summary (the data of `counts/`) now and then, in a fenced multi that
 * records the sequence it folded through. Folded deltas stay, as the event log, until the
 * newest `maxEventDeltas` are all that is left of them; the summary records the highest
 * sequence ever deleted (`pruned`). A reader adds the summary and the deltas after its folded
 * mark (at most about one fold interval's worth of multis).
 *
 * A delta whose events are large (more than {@link TWIN_EVENT_BYTES} of JSON: a bulk submit's
 * thousand `waiting` events, a retention prune) is preceded in its multi by a counts-only twin
 * `counts/c-NNNNNNNNNN` (`{c: counts}`). Two creates in a row under one parent take consecutive
 * sequence numbers, so the twin of `d-M` is `c-(M-1)`, and a listing holds both or neither (they
 * are created, and pruned, by one multi). A reader of counts reads the twin in place of its
 * delta, so what it reads does not grow with the events of the multis the fold has not reached;
 * readers of events (the fold, `QueueEvents`) read the deltas as before and pass over the twins.
 *
 * The summary: `{c: counts, through: seq, pruned: seq}` (`through`/`pruned` -1, or absent in a
 * summary written before they existed: nothing folded is kept, every delta present is unfolded),
 * or `{scan: true}`. A delta written before the events: the bare `{type: {state: ±n}}`.
 */
import { CreateMode, NoNodeError, type Transaction, type ZkClient } from '@zkjobs/core';
import { multiReadChunked } from '../util.js';
import { JOB_STATES, type JobRecord, type JobState } from '../job.js';
import { COUNTS, COUNT_DELTA_PREFIX, COUNT_TWIN_PREFIX } from '../layout.js';
import { decodeEvent, encodeEvent, eventOfWrite, type EventEntry, type JobEvent } from './event-log.js';

/** Counts (or changes of counts) by job type, then state. */
export type CountsByType = Record<string, Partial<Record<JobState, number>>>;

/** A change of counts, and the events that go with it, being built for one multi. */
export class Tally {
  private readonly m: CountsByType = {};
  private readonly e: EventEntry[] = [];

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

  /** Records an event of this multi (in the order of the calls). */
  event(e: JobEvent): this {
    this.e.push(encodeEvent(e));
    return this;
  }

  /**
   * One record written: `next` over a record in state `from` (null: created), or deleted when
   * `removed` — its count move and its event (`eventOfWrite`).
   * @param delay - the delay of a retry, ms
   */
  write(next: JobRecord, from: JobState | null, removed = false, delay?: number): this {
    this.move(next.type, from, removed ? null : next.state);
    const ev = eventOfWrite(next, from, removed, delay);
    if (ev) this.event(ev);
    return this;
  }

  isEmpty(): boolean {
    return Object.keys(this.m).length === 0 && this.e.length === 0;
  }

  /** The counts part. */
  toDoc(): CountsByType {
    return this.m;
  }

  /** The delta znode's data. */
  encode(): Buffer {
    return encodeDelta(this.m, this.e);
  }
}

/**
 * Events' JSON above which a delta gets a counts-only twin, bytes (about 50 events: a claim or
 * completion multi of a full batch stays under it; a bulk submit of 1,000 jobs is far over it).
 */
export const TWIN_EVENT_BYTES = 4096;

/** A delta's data: `{c: counts, e?: entries}`. */
export function encodeDelta(c: CountsByType, e: readonly EventEntry[]): Buffer {
  return Buffer.from(JSON.stringify(e.length > 0 ? { c, e } : { c }));
}

/** A delta read back: its count changes and its events (unknown entries left out). */
export interface DecodedDelta {
  counts: CountsByType;
  events: JobEvent[];
}

/** True for counts by type: an object of objects (a bare delta whose type is `c` has numbers in it). */
function isCountsByType(v: unknown): v is CountsByType {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((s) => typeof s === 'object' && s !== null)
  );
}

/** Decodes a delta's data, new (`{c, e}`) or old (bare counts). */
export function decodeDelta(data: Buffer): DecodedDelta {
  if (data.length === 0) return { counts: {}, events: [] };
  const doc = JSON.parse(data.toString('utf8')) as { c?: unknown; e?: unknown };
  if (!isCountsByType(doc.c)) return { counts: doc as CountsByType, events: [] };
  const events = Array.isArray(doc.e) ? doc.e.map(decodeEvent).filter((x): x is JobEvent => x !== null) : [];
  return { counts: doc.c, events };
}

/**
 * Adds the delta znode of `tally` to `tx` (nothing when it has no count change and no event),
 * preceded by its counts-only twin when its events' JSON passes {@link TWIN_EVENT_BYTES}. The
 * two creates are the last ops of `tx` and follow each other, so their sequence numbers are
 * consecutive.
 */
export function appendTally(tx: Transaction, tally: Tally): Transaction {
  if (tally.isEmpty()) return tx;
  const data = tally.encode();
  // The events are what the delta holds beyond its counts (`{c}` vs `{c, e}`); a delta of at
  // most TWIN_EVENT_BYTES in all cannot hold more, so most multis encode nothing twice.
  if (data.length > TWIN_EVENT_BYTES) {
    const counts = encodeDelta(tally.toDoc(), []);
    if (data.length - counts.length > TWIN_EVENT_BYTES) {
      tx.create(`${COUNTS}/${COUNT_TWIN_PREFIX}`, { data: counts, mode: CreateMode.PERSISTENT_SEQUENTIAL });
    }
  }
  return tx.create(`${COUNTS}/${COUNT_DELTA_PREFIX}`, { data, mode: CreateMode.PERSISTENT_SEQUENTIAL });
}

/** A sequential child's name: `prefix` and `seq` in ten digits, as ZooKeeper names it. */
function seqName(prefix: string, seq: number): string {
  return `${prefix}${String(seq).padStart(10, '0')}`;
}

/** The name of the twin of the delta of sequence `seq` (`c-` and `seq - 1`). */
export function twinName(seq: number): string {
  return seqName(COUNT_TWIN_PREFIX, seq - 1);
}

/**
 * The twins among `children` whose delta is not listed (left by a leader of an older version,
 * which prunes deltas and not their twins), to be deleted.
 */
export function orphanTwins(children: readonly string[]): string[] {
  const names = new Set(children);
  return children.filter((name) => {
    const seq = twinDeltaSeq(name);
    return seq !== null && !names.has(seqName(COUNT_DELTA_PREFIX, seq));
  });
}

/** Deltas read in one multiRead. */
const DELTAS_PER_READ = 32;

/** Adds `b` into `a` (mutates `a`). */
export function addCounts(a: CountsByType, b: CountsByType): CountsByType {
  for (const [type, states] of Object.entries(b)) {
    const t = (a[type] ??= {});
    for (const [s, n] of Object.entries(states) as [JobState, number][]) t[s] = (t[s] ?? 0) + n;
  }
  return a;
}

/** The sequence number of a delta's name, or null for a name that is not a delta. */
export function deltaSeq(name: string): number | null {
  if (!name.startsWith(COUNT_DELTA_PREFIX)) return null;
  const n = Number(name.slice(COUNT_DELTA_PREFIX.length));
  return Number.isInteger(n) ? n : null;
}

/** The sequence of the delta whose twin is `name` (the twin's own plus one), or null for a name that is not a twin. */
function twinDeltaSeq(name: string): number | null {
  if (!name.startsWith(COUNT_TWIN_PREFIX)) return null;
  const n = Number(name.slice(COUNT_TWIN_PREFIX.length));
  return Number.isInteger(n) ? n + 1 : null;
}

/**
 * The deltas among `children`, oldest (lowest sequence) first.
 * @param twins - also take twins (`c-…`), each with the sequence of its delta
 */
export function deltasOf(children: readonly string[], twins = false): { name: string; seq: number }[] {
  const out: { name: string; seq: number }[] = [];
  for (const name of children) {
    const seq = deltaSeq(name) ?? (twins ? twinDeltaSeq(name) : null);
    if (seq !== null) out.push({ name, seq });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** The summary document: `{ c, through, pruned }`, or `{ scan: true }` for a namespace older than the counts. */
export interface CountsSummary {
  counts: CountsByType;
  /** The namespace had jobs before it had counts: they are read by a scan. */
  scan: boolean;
  /** The data version of `counts/`. */
  version: number;
  /** The highest delta sequence folded into `counts` (-1: none kept). */
  through: number;
  /** The highest delta sequence deleted (-1: none recorded). */
  pruned: number;
}

/**
 * Reads the summary (the data of `counts/`).
 * @throws NoNodeError when `counts/` does not exist
 */
export async function readSummary(client: ZkClient): Promise<CountsSummary> {
  const { data, stat } = await client.getData(COUNTS);
  return decodeSummary(data, stat.version);
}

/** Decodes the summary's data (read at `version`). */
export function decodeSummary(data: Buffer, version: number): CountsSummary {
  const base = { counts: {}, scan: false, version, through: -1, pruned: -1 };
  if (data.length === 0) return base;
  const doc = JSON.parse(data.toString('utf8')) as {
    scan?: boolean;
    c?: CountsByType;
    through?: number;
    pruned?: number;
  };
  if (doc.scan === true) return { ...base, scan: true };
  return {
    ...base,
    counts: doc.c ?? {},
    through: typeof doc.through === 'number' ? doc.through : -1,
    pruned: typeof doc.pruned === 'number' ? doc.pruned : -1,
  };
}

/** The summary's data: the counts, folded through `through`, deleted through `pruned`. */
export function encodeSummary(c: CountsByType, through = -1, pruned = -1): Buffer {
  return Buffer.from(JSON.stringify({ c, through, pruned }));
}

/** A delta read: its name, sequence, count changes and events. */
export interface ReadDelta extends DecodedDelta {
  name: string;
  seq: number;
}

/**
 * Reads the deltas `names` (default: every delta listed now, twins left out), oldest first; a
 * delta deleted meanwhile is left out. A twin named in `names` is read as its delta's counts
 * (no events), with its delta's sequence.
 */
export async function readDeltas(client: ZkClient, names?: readonly string[]): Promise<ReadDelta[]> {
  const list = names ? deltasOf(names, true) : deltasOf((await client.getChildren(COUNTS)).children);
  // A delta is small (a few types × states and its events): many go in one request (multiRead).
  const out: ReadDelta[] = [];
  const res = await multiReadChunked(
    client,
    list.map(({ name }) => ({ type: 'getData' as const, path: `${COUNTS}/${name}` })),
    DELTAS_PER_READ,
  );
  res.forEach((r, k) => {
    const { name, seq } = list[k]!;
    if (r.type === 'getData') out.push({ name, seq, ...decodeDelta(r.data) });
    else if (r.type === 'error' && !(r.error instanceof NoNodeError)) throw r.error;
    // NoNode: deleted meanwhile.
  });
  return out;
}

/**
 * The counts now: the summary plus the deltas after its folded mark, read so that a fold between
 * the reads is noticed (and the reads done again). Reads the listing, the summary, and only the
 * deltas not folded yet.
 * @returns null for a namespace whose summary says it needs a scan
 */
export async function readCounts(client: ZkClient): Promise<CountsByType | null> {
  for (;;) {
    const children = (await client.getChildren(COUNTS)).children;
    const summary = await readSummary(client);
    if (summary.scan) return null;
    const listed = new Set(children);
    const unfolded = deltasOf(children).filter((d) => d.seq > summary.through);
    // A delta with a twin is read as its twin: the same counts, none of the events.
    const deltas = await readDeltas(
      client,
      unfolded.map((d) => (listed.has(twinName(d.seq)) ? twinName(d.seq) : d.name)),
    );
    // A delta gone since the listing was folded into a summary newer than the one read.
    if (deltas.length < unfolded.length && (await client.exists(COUNTS))?.version !== summary.version) continue;
    const total = addCounts({}, summary.counts);
    for (const d of deltas) addCounts(total, d.counts);
    return total;
  }
}

/** Every state, zero. */
export function zeroStates(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}
