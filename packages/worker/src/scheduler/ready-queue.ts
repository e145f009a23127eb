/**
 * The leader's view of what is ready to run: the pending markers it has read, one ready heap per
 * job type (priority, then submission order), the heap of delayed entries by due time, and the
 * entries blocked on their `dependsOn` with the data watches on their parents (kept together:
 * a parent that completes moves its dependants straight into the ready heaps).
 */
import type { ReadResult, Stat, WatchHandle } from '@zkjobs/core';
import { NoNodeError, ReplyTooLargeError } from '@zkjobs/core';
import type { MarkerRewrite } from '../engine/ops.js';
import { parseRecord, type ReadRecord } from '../engine/record.js';
import { isFinalState } from '../engine/transitions.js';
import type { JobState } from '../job.js';
import { multiReadChunked } from '../util.js';
import { BUCKET_NAMES, PENDING, decodeMarkerDoc, jobPath, markerFirstId, type PendingEntry } from '../layout.js';
import type { LeaderContext } from './context.js';
import { Heap } from './heap.js';

/** A pending marker as read, and which of its entries are taken. */
export interface Marker {
  path: string;
  version: number;
  czxid: bigint;
  ctime: number;
  entries: PendingEntry[];
  /** Place among the markers of the multi that created it (see `encodeMarker`). */
  order: number;
  /** Job ids assigned (or failed) in the multi being built. */
  taken: Set<string>;
  /** Job ids already removed from the marker in ZooKeeper. */
  done: Set<string>;
}

/** One entry of a marker, as queued. */
export interface ReadyEntry {
  marker: Marker;
  /** Its position in the marker. */
  index: number;
  entry: PendingEntry;
}

/** Ready order: priority, then submission (marker czxid, order in its multi, position). */
export function before(a: ReadyEntry, b: ReadyEntry): boolean {
  if (a.entry.priority !== b.entry.priority) return a.entry.priority < b.entry.priority;
  if (a.marker.czxid !== b.marker.czxid) return a.marker.czxid < b.marker.czxid;
  // Markers of one multi share a czxid: theirs in submit order, each marker's entries together.
  if (a.marker.order !== b.marker.order) return a.marker.order < b.marker.order;
  if (a.marker !== b.marker) return a.marker.path < b.marker.path;
  return a.index < b.index;
}

/** Parent state of a dependency: a final state, or `gone` when its record was deleted. */
type ParentState = JobState | 'gone';

/** A blocked entry whose parent ended failed, dead or cancelled. */
export interface FailedDependant {
  id: string;
  ready: ReadyEntry;
  dep: string;
  depState: string;
}

/** Markers read in one multiRead. */
const MARKERS_PER_READ = 32;

/** Internal: the ready queue of one leader. */
export class ReadyQueue {
  private readonly markers = new Map<string, Marker>();
  /** Each bucket's listing not read yet (absent: unchanged since read). */
  private readonly bucketChildren = new Map<string, string[]>();
  private readonly bucketKnown = new Map<string, Set<string>>();
  private needFullList = false;
  /**
   * Ready entries, one heap per job type: a round only looks at the types some live worker with
   * room handles, so a backlog that nobody can take (an unhandled type, full workers) costs nothing
   * per round and never hides a runnable job behind it.
   */
  readonly ready = new Map<string, Heap<ReadyEntry>>();
  private readonly delayed = new Heap<{ due: number; r: ReadyEntry }>((x, y) => x.due < y.due);
  private readonly blocked = new Map<string, { r: ReadyEntry; deps: Set<string> }>();
  private readonly parentWatches = new Map<string, WatchHandle>();
  private readonly parentStates = new Map<string, ParentState>();
  /** Records read with their markers by the last {@link sync} (see {@link takePrefetched}). */
  private readonly prefetched = new Map<string, ReadRecord>();

  /**
   * @param opts.prefetchFirstRecord - asked when a sync has one new marker to read: when it says
   *   yes (this worker's own consumer is idle, so the round may claim for it), the record of the
   *   job the marker's name gives ({@link markerFirstId}) is read in the same request
   */
  constructor(
    private readonly ctx: LeaderContext,
    private readonly opts: { prefetchFirstRecord?: () => boolean } = {},
  ) {
    for (const b of BUCKET_NAMES) this.bucketKnown.set(b, new Set());
  }

  /**
   * The record of `id` as read with its marker by the last sync, once (then forgotten), or
   * undefined. It may be older than the round that takes it: a write over its version fails if so.
   */
  takePrefetched(id: string): ReadRecord | undefined {
    const r = this.prefetched.get(id);
    this.prefetched.delete(id);
    return r;
  }

  /** A bucket's new listing (from the pending watch or the safety re-listing). */
  onListing(bucket: string, children: string[]): void {
    this.bucketChildren.set(bucket, children);
  }

  /** Reads the markers that appeared in the buckets' listings since the last call. */
  async sync(): Promise<void> {
    const { client } = this.ctx;
    if (this.needFullList) {
      this.needFullList = false;
      const res = await multiReadChunked(
        client,
        BUCKET_NAMES.map((b) => ({ type: 'getChildren' as const, path: `${PENDING}/${b}` })),
      );
      res.forEach((r, i) => {
        if (r.type === 'getChildren') this.bucketChildren.set(BUCKET_NAMES[i]!, r.children);
        else if (r.type === 'error' && !(r.error instanceof NoNodeError)) throw r.error;
      });
    }
    const toRead: string[] = [];
    for (const b of BUCKET_NAMES) {
      const children = this.bucketChildren.get(b);
      if (!children) continue;
      this.bucketChildren.delete(b);
      const known = this.bucketKnown.get(b)!;
      for (const c of children) {
        if (!known.has(c)) {
          known.add(c);
          toRead.push(`${PENDING}/${b}/${c}`);
        }
      }
      const present = new Set(children);
      for (const k of [...known]) if (!present.has(k)) known.delete(k);
    }
    toRead.sort((x, y) => (x.slice(-10) < y.slice(-10) ? -1 : 1));
    this.prefetched.clear();
    // One new marker (an idle cluster's single submit) and our own consumer idle: its first
    // job's record in the same request, so a claim for that consumer needs no read of its own.
    const firstId = toRead.length === 1 ? markerFirstId(toRead[0]!.slice(toRead[0]!.lastIndexOf('/') + 1)) : null;
    const withRecord = firstId !== null && this.opts.prefetchFirstRecord?.() === true ? firstId : null;
    let res: ReadResult[];
    if (withRecord !== null) {
      try {
        res = await client.multiRead([
          { type: 'getData', path: toRead[0]! },
          { type: 'getData', path: jobPath(withRecord) },
        ]);
      } catch (err) {
        if (!(err instanceof ReplyTooLargeError)) throw err;
        res = await client.multiRead([{ type: 'getData', path: toRead[0]! }]);
      }
      const r = res[1];
      if (r?.type === 'getData') {
        try {
          this.prefetched.set(withRecord, { rec: parseRecord(r.data, jobPath(withRecord)), stat: r.stat });
        } catch {
          // Left to the claim's own read, which reports it.
        }
      }
      res = res.slice(0, 1);
    } else {
      // Markers are small (≤ 50 entries): many in one request.
      res = await multiReadChunked(
        client,
        toRead.map((path) => ({ type: 'getData' as const, path })),
        MARKERS_PER_READ,
      );
    }
    res.forEach((r, k) => {
      if (r.type === 'getData') this.addMarker(toRead[k]!, r.data, r.stat);
      else if (r.type === 'error' && !(r.error instanceof NoNodeError)) throw r.error;
    });
  }

  private addMarker(path: string, data: Buffer, stat: Stat): void {
    if (this.markers.has(path)) return;
    let entries: PendingEntry[];
    let order: number;
    try {
      ({ entries, order } = decodeMarkerDoc(data));
    } catch (err) {
      this.ctx.log.error({ err, marker: path }, 'unreadable pending marker (left alone)');
      return;
    }
    const marker: Marker = {
      path,
      version: stat.version,
      czxid: stat.czxid,
      ctime: stat.ctime,
      entries,
      order,
      taken: new Set(),
      done: new Set(),
    };
    this.markers.set(path, marker);
    const now = this.ctx.serverNow();
    entries.forEach((entry, index) => {
      const r: ReadyEntry = { marker, index, entry };
      if (entry.delay > 0 && stat.ctime + entry.delay > now) this.delayed.push({ due: stat.ctime + entry.delay, r });
      else this.enqueue(r);
    });
  }

  /** Moves the delayed entries due by `now` (ZooKeeper's clock) on. */
  releaseDue(now: number): void {
    while (this.delayed.size > 0 && this.delayed.peek()!.due <= now) this.enqueue(this.delayed.pop()!.r);
  }

  /** The due time of the next delayed entry. */
  nextDue(): number | undefined {
    return this.delayed.peek()?.due;
  }

  /** Puts an entry in the ready heap, or blocks it on its dependencies. */
  private enqueue(r: ReadyEntry): void {
    const deps = (r.entry.dependsOn ?? []).filter((d) => {
      const s = this.parentStates.get(d);
      return s !== 'completed' && s !== 'gone';
    });
    if (deps.length === 0) {
      this.pushReady(r);
      return;
    }
    this.blocked.set(r.entry.id, { r, deps: new Set(deps) });
    for (const d of deps) this.watchParent(d);
  }

  /** Puts an entry in its type's ready heap (also: entries a plan held back). */
  pushReady(r: ReadyEntry): void {
    let h = this.ready.get(r.entry.type);
    if (!h) {
      h = new Heap<ReadyEntry>(before);
      this.ready.set(r.entry.type, h);
    }
    h.push(r);
  }

  /** True when some entry is ready. */
  hasReady(): boolean {
    return [...this.ready.values()].some((h) => h.size > 0);
  }

  private watchParent(id: string): void {
    if (this.parentWatches.has(id)) return;
    this.parentWatches.set(
      id,
      this.ctx.client.watchData(jobPath(id), (data) => {
        let state: ParentState = 'gone';
        if (data) {
          try {
            state = parseRecord(data, jobPath(id)).state;
          } catch (err) {
            // Its dependants stay blocked: nothing can tell how the parent ended.
            this.ctx.reportError(err, 'dependency record is not a record (dependants stay blocked)');
            return;
          }
        }
        if (state !== 'gone' && !isFinalState(state)) return;
        this.parentStates.set(id, state);
        this.parentWatches.get(id)?.close();
        this.parentWatches.delete(id);
        for (const [bid, b] of this.blocked) {
          if (!b.deps.has(id)) continue;
          if (state === 'completed' || state === 'gone') {
            b.deps.delete(id);
            if (b.deps.size === 0) {
              this.blocked.delete(bid);
              this.pushReady(b.r);
            }
          }
        }
        this.ctx.kick();
      }),
    );
  }

  /** Blocked entries with a parent that ended failed, dead or cancelled (to be failed). */
  failedDependants(): FailedDependant[] {
    const out: FailedDependant[] = [];
    for (const [id, b] of this.blocked) {
      const dep = [...b.deps].find((d) => {
        const s = this.parentStates.get(d);
        return s === 'failed' || s === 'dead' || s === 'cancelled';
      });
      if (dep) out.push({ id, ready: b.r, dep, depState: this.parentStates.get(dep)! });
    }
    return out;
  }

  /** Forgets a blocked entry (it was failed). */
  unblock(id: string): void {
    this.blocked.delete(id);
  }

  /** The rewrites of the markers entries were taken from (see `ops.markerOps`). */
  rewrites(touched: Iterable<Marker>): MarkerRewrite[] {
    return [...touched].map((m) => ({
      path: m.path,
      version: m.version,
      order: m.order,
      remaining: m.entries.filter((e) => !m.taken.has(e.id) && !m.done.has(e.id)),
    }));
  }

  /** After a multi with {@link rewrites} of `touched` committed: their taken entries are done. */
  afterCommit(touched: Iterable<Marker>): void {
    for (const m of touched) {
      for (const id of m.taken) m.done.add(id);
      m.taken.clear();
      if (m.done.size >= m.entries.length) this.markers.delete(m.path);
      else m.version++;
    }
  }

  /** After a multi with rewrites of `touched` failed: nothing was taken. */
  afterFailure(touched: Iterable<Marker>): void {
    for (const m of touched) m.taken.clear();
  }

  /** Forgets the in-memory view; the next {@link sync} lists every bucket and reads every marker. */
  resync(): void {
    this.markers.clear();
    this.ready.clear();
    this.delayed.clear();
    this.blocked.clear();
    for (const b of BUCKET_NAMES) {
      this.bucketKnown.set(b, new Set());
      this.bucketChildren.delete(b);
    }
    this.needFullList = true;
  }

  /** Closes the parents' watches. */
  close(): void {
    for (const w of this.parentWatches.values()) w.close();
  }
}
