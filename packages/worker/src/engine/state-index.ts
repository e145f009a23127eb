/**
 * Lists by state without a scan: the leader's count fold (`../scheduler/counts.ts`) appends, in
 * its fenced multi, the id of every job an event of the folded deltas puts into a state S to
 * the newest page of `index/<S>/`. So the index costs no write per job and nothing in the
 * workers' multis, and it holds exactly the folded events, once (a deposed leader's fold fails
 * at its fence).
 *
 * Every entry has a **position**: the number of entries appended to `index/<S>` before it. A
 * page is `index/<S>/p-<position of its first entry, 12 digits>` (so the listing alone says
 * which page holds a position), data `{ids, n, k?}`: the job ids, the `attemptsMade` of the
 * event that put each there, and — once compacted — the original offset of each entry kept.
 * Pages are in commit order. The root `index`'s data is `{through, n: {S: entries appended}}`
 * (`through`: the last delta folded into it, the summary's `through`), or `{scan: true}` for a
 * namespace whose index is missing or behind (read by the scan).
 *
 * An entry is current when its job's record is in S now with the entry's `attemptsMade`: every
 * re-entry of a state after a claim has a new `attemptsMade`, so an older entry of the same job
 * is stale and skipped, whichever way a reader walks.
 *
 * Pure functions here (events in → page writes out; compaction); the reader is
 * {@link readStateIndexPage}, the fold's part is in `../scheduler/counts.ts`.
 */
import { NoNodeError, type ZkClient } from '@zkjobs/core';
import { JOB_STATES, type JobState } from '../job.js';
import { COUNTS, INDEX, indexDir, indexPageName, indexPagePosition } from '../layout.js';
import { deltasOf, readDeltas, type ReadDelta } from './counts.js';
import type { JobEvent } from './event-log.js';
import { readRecords, type ReadRecord } from './record.js';

/** Entries per page at most. */
export const PAGE_MAX_IDS = 500;
/** Bytes of a page's data at most (well under ZooKeeper's 1 MiB request limit). */
export const PAGE_MAX_BYTES = 32_000;
/** Bytes of new entries one fold appends at most (its multi stays far under 1 MiB). */
export const FOLD_INDEX_BYTES = 256_000;

/** One entry: a job id and the `attemptsMade` of the event that put it into the state. */
export interface IndexEntry {
  id: string;
  n: number;
}

/** A page's content: its entries and, once compacted, each one's original offset. */
export interface IndexPage {
  /** Position of the page's first entry (from its name). */
  at: number;
  entries: IndexEntry[];
  /** Original offset of each entry (absent: entry i is at offset i). */
  offsets?: number[];
}

/** The state an event puts its job into, or null (progress, removal, or the record went in the same multi). */
export function stateEntered(e: JobEvent): JobState | null {
  if (e.removed || e.attemptsMade === null) return null;
  switch (e.event) {
    case 'waiting':
    case 'delayed':
    case 'active':
    case 'completed':
    case 'failed':
    case 'dead':
    case 'cancelled':
      return e.event;
    case 'stalled':
      return 'waiting';
    case 'retrying':
      return (e.delay ?? 0) > 0 ? 'delayed' : 'waiting';
    default:
      return null;
  }
}

/** The entries of `events` by the state they enter, in order. */
export function entriesByState(events: readonly JobEvent[]): Map<JobState, IndexEntry[]> {
  const out = new Map<JobState, IndexEntry[]>();
  for (const e of events) {
    const s = stateEntered(e);
    if (!s) continue;
    let l = out.get(s);
    if (!l) out.set(s, (l = []));
    l.push({ id: e.jobId, n: e.attemptsMade! });
  }
  return out;
}

/** Bytes an entry adds to a page's data, about. */
export function entryBytes(e: IndexEntry): number {
  return Buffer.byteLength(e.id) + 16;
}

export function encodePage(p: Pick<IndexPage, 'entries' | 'offsets'>): Buffer {
  const doc: { ids: string[]; n: number[]; k?: number[] } = {
    ids: p.entries.map((e) => e.id),
    n: p.entries.map((e) => e.n),
  };
  if (p.offsets) doc.k = p.offsets;
  return Buffer.from(JSON.stringify(doc));
}

/** @throws SyntaxError for data that is not a page's */
export function decodePage(at: number, data: Buffer): IndexPage {
  const doc = JSON.parse(data.toString('utf8')) as { ids?: unknown; n?: unknown; k?: unknown };
  if (!Array.isArray(doc.ids) || !Array.isArray(doc.n) || doc.ids.length !== doc.n.length) {
    throw new SyntaxError('not an index page');
  }
  const entries = doc.ids.map((id, i) => ({ id: String(id), n: Number((doc.n as unknown[])[i]) }));
  const p: IndexPage = { at, entries };
  if (Array.isArray(doc.k) && doc.k.length === entries.length) p.offsets = doc.k.map(Number);
  return p;
}

/** The position of a page's entry `i`. */
export function positionOf(p: IndexPage, i: number): number {
  return p.at + (p.offsets ? p.offsets[i]! : i);
}

/** The root's data: `{through, n}`, or `{scan: true}`. */
export interface IndexRoot {
  scan: boolean;
  through: number;
  /** Entries appended per state. */
  counts: Partial<Record<JobState, number>>;
  version: number;
}

export function encodeRoot(through: number, counts: Partial<Record<JobState, number>>): Buffer {
  return Buffer.from(JSON.stringify({ through, n: counts }));
}

/** The data of a root that says "use the scan". */
export const SCAN_ROOT = Buffer.from(JSON.stringify({ scan: true }));

export function decodeRoot(data: Buffer, version: number): IndexRoot {
  const base = { scan: true, through: -1, counts: {}, version };
  if (data.length === 0) return base;
  let doc: { scan?: unknown; through?: unknown; n?: unknown };
  try {
    doc = JSON.parse(data.toString('utf8')) as typeof doc;
  } catch {
    return base;
  }
  if (doc.scan === true || typeof doc.through !== 'number') return base;
  const counts: Partial<Record<JobState, number>> = {};
  if (doc.n && typeof doc.n === 'object') {
    for (const s of JOB_STATES) {
      const v = (doc.n as Record<string, unknown>)[s];
      if (typeof v === 'number') counts[s] = v;
    }
  }
  return { scan: false, through: doc.through, counts, version };
}

/** The newest page of a state as the fold knows it. */
export interface NewestPage {
  name: string;
  version: number;
  entries: IndexEntry[];
}

/** What one fold writes into `index/<S>`: the newest page rewritten, and new pages created. */
export interface PageWrites {
  /** The newest page with entries appended, over its version. */
  rewrite?: { name: string; version: number; entries: IndexEntry[] };
  /** New pages, oldest first, each with its name. */
  creates: { name: string; entries: IndexEntry[] }[];
}

/**
 * The page writes that append `add` to a state whose entries appended so far are `total` and
 * whose newest page is `newest` (null: none). Pages hold at most {@link PAGE_MAX_IDS} entries
 * and about {@link PAGE_MAX_BYTES} bytes.
 */
export function planAppend(newest: NewestPage | null, total: number, add: readonly IndexEntry[]): PageWrites {
  const out: PageWrites = { creates: [] };
  let i = 0;
  if (newest) {
    let bytes = newest.entries.reduce((b, e) => b + entryBytes(e), 0);
    const entries = [...newest.entries];
    while (i < add.length && entries.length < PAGE_MAX_IDS && bytes + entryBytes(add[i]!) <= PAGE_MAX_BYTES) {
      bytes += entryBytes(add[i]!);
      entries.push(add[i++]!);
    }
    if (i > 0) out.rewrite = { name: newest.name, version: newest.version, entries };
  }
  let at = total + i;
  while (i < add.length) {
    const entries: IndexEntry[] = [];
    let bytes = 0;
    while (
      i < add.length &&
      entries.length < PAGE_MAX_IDS &&
      (entries.length === 0 || bytes + entryBytes(add[i]!) <= PAGE_MAX_BYTES)
    ) {
      bytes += entryBytes(add[i]!);
      entries.push(add[i++]!);
    }
    out.creates.push({ name: indexPageName(at), entries });
    at += entries.length;
  }
  return out;
}

/** True when `found` is the record of a job in `state` that entry `e` put there (not stale). */
export function isCurrent(e: IndexEntry, state: JobState, found: ReadRecord | null | Error | undefined): boolean {
  return !!found && !(found instanceof Error) && found.rec.state === state && found.rec.attemptsMade === e.n;
}

/**
 * A page compacted: the entries whose job is still in the state (`current[i]`), with their
 * original offsets. `'keep'` when every entry is current, `'delete'` when none is.
 */
export function planCompaction(page: IndexPage, current: readonly boolean[]): 'keep' | 'delete' | IndexPage {
  if (current.every(Boolean)) return 'keep';
  if (!current.some(Boolean)) return 'delete';
  const entries: IndexEntry[] = [];
  const offsets: number[] = [];
  page.entries.forEach((e, i) => {
    if (current[i]) {
      entries.push(e);
      offsets.push(page.offsets ? page.offsets[i]! : i);
    }
  });
  return { at: page.at, entries, offsets };
}

// ----- the reader -----------------------------------------------------------------------------

/** Oldest or newest first. */
export type IndexOrder = 'newest' | 'oldest';

/** One page of a list by state from the index. */
export interface IndexListing {
  /** The records, in the order asked for. */
  found: ReadRecord[];
  /** The position to go on from (exclusive), or null when the list ended. */
  next: number | null;
  /** Entries looked at, and records read. */
  examined: number;
}

/** A position and its entry. */
interface Placed {
  pos: number;
  e: IndexEntry;
}

/** Reads the index root; null when it is missing. */
async function readRoot(client: ZkClient): Promise<IndexRoot | null> {
  try {
    const { data, stat } = await client.getData(INDEX);
    return decodeRoot(data, stat.version);
  } catch (err) {
    if (err instanceof NoNodeError) return null;
    throw err;
  }
}

/**
 * The entries not folded yet: the events of the deltas after the root's `through`, numbered
 * on from its count, read so that a fold in between is noticed (and everything read again).
 * @returns null when the index cannot serve (missing, marked, or behind the counts' fold)
 */
async function snapshot(
  client: ZkClient,
  state: JobState,
): Promise<{ root: IndexRoot; fresh: Placed[]; pages: { name: string; at: number }[] } | null> {
  for (let tries = 0; ; tries++) {
    const root = await readRoot(client);
    if (!root || root.scan) return null;
    const [listing, summaryRead] = await client.multiRead([
      { type: 'getChildren', path: COUNTS },
      { type: 'getData', path: COUNTS },
    ]);
    if (listing?.type !== 'getChildren' || summaryRead?.type !== 'getData') return null;
    const unfolded = deltasOf(listing.children).filter((d) => d.seq > root.through);
    const deltas: ReadDelta[] = await readDeltas(
      client,
      unfolded.map((d) => d.name),
    );
    const pagesList = await client.getChildren(indexDir(state));
    const after = await client.exists(INDEX);
    if (after?.version !== root.version) {
      if (tries < 20) continue;
      return null;
    }
    // The summary was read after the root, which has not moved: a summary folded further than
    // the root means a fold that did not keep the index (an older version's leader).
    const summary = JSON.parse(summaryRead.data.toString('utf8') || '{}') as { through?: number; scan?: boolean };
    if (summary.scan === true || (typeof summary.through === 'number' && summary.through > root.through)) return null;
    let pos = root.counts[state] ?? 0;
    const fresh: Placed[] = [];
    for (const d of deltas) {
      for (const e of entriesByState(d.events).get(state) ?? []) fresh.push({ pos: pos++, e });
    }
    const pages = pagesList.children
      .map((name) => ({ name, at: indexPagePosition(name) }))
      .filter((p): p is { name: string; at: number } => p.at !== null)
      .sort((a, b) => a.at - b.at);
    return { root, fresh, pages };
  }
}

/** Pages read in one multiRead. */
const PAGES_PER_READ = 4;

/**
 * One page of the jobs in `state`, from the index: entries walked newest→oldest (or the
 * reverse) from `cursor` (a position, exclusive), their records read in `multiRead`s about as
 * many as are still wanted at a time, the current ones kept (in `state` now, by the entry's
 * event; each job once), until `limit`.
 * @returns null when the namespace has no index to serve (missing, `{scan: true}`, or behind
 *   the counts): the caller scans
 */
export async function readStateIndexPage(
  client: ZkClient,
  state: JobState,
  opts: { limit: number; order: IndexOrder; cursor: number | null },
  hint: { maxBytes: number } = { maxBytes: 0 },
): Promise<IndexListing | null> {
  const snap = await snapshot(client, state);
  if (!snap) return null;
  const { root, fresh, pages } = snap;
  const folded = root.counts[state] ?? 0;
  const newest = opts.order === 'newest';
  const found: ReadRecord[] = [];
  const seen = new Set<string>();
  let examined = 0;

  // Candidates come in runs (the fresh entries, then page after page), in the walk's order.
  const inRange = (pos: number) => (opts.cursor === null ? true : newest ? pos < opts.cursor : pos > opts.cursor);
  const freshRun = (newest ? [...fresh].reverse() : fresh).filter((p) => inRange(p.pos));
  // A page holds positions [at, next page's at): skip those wholly outside the range.
  const c = opts.cursor;
  const pageOrder =
    c === null
      ? newest
        ? [...pages].reverse()
        : pages
      : newest
        ? pages.filter((p) => p.at < c).reverse()
        : pages.filter((_, i) => pages[i + 1] === undefined || pages[i + 1]!.at > c + 1);

  let pending: Placed[] = newest ? freshRun : [];
  let pi = 0;
  let last: number | null = null;
  const take = async (run: Placed[]): Promise<boolean> => {
    // Reads the records of `run` a few at a time; true once `limit` jobs are found.
    for (let i = 0; i < run.length && found.length < opts.limit;) {
      const want = Math.max(8, opts.limit - found.length);
      const chunk = run.slice(i, i + want);
      i += chunk.length;
      const recs = await readRecords(
        client,
        chunk.map((p) => p.e.id),
        hint,
      );
      for (let k = 0; k < chunk.length; k++) {
        const p = chunk[k]!;
        examined++;
        last = p.pos;
        const r = recs[k];
        if (r instanceof Error) throw r;
        if (seen.has(p.e.id) || !isCurrent(p.e, state, r)) continue;
        seen.add(p.e.id);
        found.push(r!);
        if (found.length >= opts.limit) return true;
      }
    }
    return found.length >= opts.limit;
  };

  if (await take(pending)) return { found, next: last, examined };
  while (pi < pageOrder.length) {
    const batch = pageOrder.slice(pi, pi + PAGES_PER_READ);
    pi += batch.length;
    const res = await client.multiRead(
      batch.map((p) => ({ type: 'getData' as const, path: `${indexDir(state)}/${p.name}` })),
    );
    const placed: Placed[] = [];
    res.forEach((r, k) => {
      if (r.type !== 'getData') return; // deleted by a compaction meanwhile: nothing current was in it
      const page = decodePage(batch[k]!.at, r.data);
      const run: Placed[] = page.entries.map((e, i) => ({ pos: positionOf(page, i), e }));
      // Positions at or past the root's count are the fresh entries (folded since it was read).
      const mine = run.filter((p) => p.pos < folded && inRange(p.pos));
      placed.push(...(newest ? mine.reverse() : mine));
    });
    if (await take(placed)) return { found, next: last, examined };
  }
  pending = newest ? [] : freshRun;
  if (await take(pending)) return { found, next: last, examined };
  return { found, next: null, examined };
}
