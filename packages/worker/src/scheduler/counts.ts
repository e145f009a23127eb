/**
 * The leader's fold of the count deltas (see `../engine/counts.ts`): now and then, beside the
 * rounds, it reads the deltas after the summary's folded mark and writes their sum into the
 * summary, with the new mark, in one fenced multi (`ops.foldCountsOps`). The same multi prunes
 * the event log: folded deltas beyond the newest `maxEventDeltas` are deleted, oldest first,
 * and the summary records the highest sequence deleted (`pruned`), which tells a
 * `QueueEvents` behind it what it lost. A pruned delta's counts-only twin is deleted with it,
 * and so is a twin whose delta is gone (an older leader's prune left it).
 *
 * The same multi keeps the lists by state (`../engine/state-index.ts`): the ids the folded
 * events put into each state are appended to that state's newest page, and a few old pages of
 * one state (in turn) are compacted. A fold takes fewer deltas when their entries would pass
 * `FOLD_INDEX_BYTES`, so its multi stays far under 1 MiB.
 */
import { NoNodeError } from '@zkjobs/core';
import type { ReadResult } from '@zkjobs/core';
import {
  addCounts,
  decodeSummary,
  deltasOf,
  encodeSummary,
  orphanTwins,
  readDeltas,
  twinName,
  type ReadDelta,
} from '../engine/counts.js';
import { foldCountsOps, isLeaderFenceFailure, type FoldIndexWrites } from '../engine/ops.js';
import { readRecords } from '../engine/record.js';
import {
  FOLD_INDEX_BYTES,
  PAGE_MAX_IDS,
  SCAN_ROOT,
  decodePage,
  decodeRoot,
  encodeRoot,
  entriesByState,
  entryBytes,
  isCurrent,
  planAppend,
  planCompaction,
  type IndexRoot,
  type NewestPage,
} from '../engine/state-index.js';
import { JOB_STATES, type JobState } from '../job.js';
import { COUNTS, INDEX, indexDir, indexPagePosition } from '../layout.js';
import type { LeaderContext } from './context.js';
import { multiReadChunked } from '../util.js';

/** Old index pages compacted per fold at most (of one state). */
const COMPACT_PAGES = 4;

/** Deltas folded per multi. */
const FOLD_BATCH = 300;
/** Deltas read per request by a fold (it reads on only while its index budget lasts). */
const DELTAS_PER_FOLD_READ = 16;
/** Deltas deleted per multi. */
const PRUNE_BATCH = 300;
/** Deltas kept after they are folded, by default (the event log's length). */
export const DEFAULT_MAX_EVENT_DELTAS = 1000;

/** Internal: the count fold of one leader. */
export class CountFolder {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** `counts/`'s cversion when a fold last found nothing to do (nothing created or deleted since). */
  private idleAt: number | null = null;
  /** The newest index page of each state, as this leader last wrote it (checked by version in the multi). */
  private readonly newest = new Map<JobState, NewestPage & { at: number }>();
  /** The state whose pages the next fold compacts, and per state the last page position compacted. */
  private compactTurn = 0;
  private readonly compactAfter = new Map<JobState, number>();
  /** When a fold last compacted (ms, this host's clock), and the fold interval. */
  private compactedAt = 0;
  private intervalMs = 1000;

  /** @param maxEventDeltas - folded deltas kept (the newest), for `QueueEvents` */
  constructor(
    private readonly ctx: LeaderContext,
    private readonly maxEventDeltas = DEFAULT_MAX_EVENT_DELTAS,
  ) {}

  /** Folds every `intervalMs` while leading; a fold that left deltas behind is followed by the next at once. */
  start(intervalMs: number): void {
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => void this.fold(), intervalMs);
    this.timer.unref();
  }

  /**
   * One fold (skipped while one runs, or when there is nothing to fold or prune). When it had to
   * stop short of the newest delta (its index budget or {@link FOLD_BATCH}), the next fold runs
   * as soon as it commits, so the unfolded deltas a reader adds stay about one fold's worth
   * after a bulk of any size.
   */
  async fold(): Promise<void> {
    if (this.running || this.ctx.stopped()) return;
    this.running = true;
    let behind = false;
    try {
      behind = await this.foldOnce();
    } finally {
      this.running = false;
    }
    if (behind && !this.ctx.stopped()) setImmediate(() => void this.fold());
  }

  /** @returns true when deltas were left unfolded for the next fold */
  private async foldOnce(): Promise<boolean> {
    const { client, fence } = this.ctx;
    try {
      const st = await client.exists(COUNTS);
      if (!st || st.numChildren === 0 || st.cversion === this.idleAt) return false;
      // The listing, then the summary and the index root, in one request (see compaction()).
      const [lr, sr, ir] = await client.multiRead([
        { type: 'getChildren', path: COUNTS },
        { type: 'getData', path: COUNTS },
        { type: 'getData', path: INDEX },
      ]);
      if (lr?.type !== 'getChildren') throw lr?.type === 'error' ? lr.error : new Error('counts: no listing');
      if (sr?.type !== 'getData') throw sr?.type === 'error' ? sr.error : new Error('counts: no summary');
      const listed = deltasOf(lr.children);
      const summary = decodeSummary(sr.data, sr.stat.version);
      if (summary.scan) return false;
      const candidates = listed.filter((d) => d.seq > summary.through).slice(0, FOLD_BATCH);
      const root = indexRootOf(ir);
      const indexed = root !== null && !root.scan && root.through === summary.through;
      // Read only what this fold can take: a chunk at a time, until the index budget is spent.
      let deltas: ReadDelta[] = [];
      let budgetSpent = false;
      for (let at = 0; at < candidates.length && !budgetSpent; at += DELTAS_PER_FOLD_READ) {
        const chunk = candidates.slice(at, at + DELTAS_PER_FOLD_READ);
        deltas.push(
          ...(await readDeltas(
            client,
            chunk.map((d) => d.name),
          )),
        );
        if (indexed) {
          const keep = indexBudget(deltas);
          if (keep < deltas.length) {
            deltas = deltas.slice(0, keep);
            budgetSpent = true;
          }
        }
      }
      const last = deltas.at(-1)?.seq;
      // A delta listed and gone when read was folded and pruned by a newer leader: the version check fails the fold.
      const unfolded = last === undefined ? [] : candidates.filter((d) => d.seq <= last);
      const through = unfolded.at(-1)?.seq ?? summary.through;
      const behind = listed.some((d) => d.seq > through);
      // The folded deltas beyond the newest maxEventDeltas, oldest first.
      const excess = Math.max(0, listed.length - this.maxEventDeltas);
      const prune = listed
        .slice(0, excess)
        .filter((d) => d.seq <= through)
        .slice(0, PRUNE_BATCH);
      if (unfolded.length === 0 && prune.length === 0) {
        this.idleAt = st.cversion;
        return false;
      }
      this.idleAt = null;
      const total = addCounts({}, summary.counts);
      for (const d of deltas) addCounts(total, d.counts);
      const pruned = Math.max(summary.pruned, prune.at(-1)?.seq ?? -1);
      // Compaction reads up to 2,000 records: at most once per interval, so catching up is not slowed by it.
      const compact = Date.now() - this.compactedAt >= this.intervalMs;
      const index = root ? await this.indexWrites(root, summary.through, through, deltas, compact) : undefined;
      try {
        // A pruned delta's twin goes with it; a twin whose delta is gone (pruned by an older leader) too.
        const children = new Set(lr.children);
        const twins = prune.map((d) => twinName(d.seq)).filter((t) => children.has(t));
        await foldCountsOps(
          client,
          fence,
          encodeSummary(total, through, pruned),
          summary.version,
          [...prune.map((d) => d.name), ...twins, ...orphanTwins(lr.children).slice(0, PRUNE_BATCH)],
          index,
        ).commit();
      } catch (err) {
        this.newest.clear();
        throw err;
      }
      this.ctx.counters.multis++;
      if (index) this.wrote(index);
      if (compact) this.compactedAt = Date.now();
      return behind || excess > prune.length;
    } catch (err) {
      if (this.ctx.stopped()) return false;
      if (isLeaderFenceFailure(err)) {
        this.ctx.deposed(`fencing check failed (${err.failedOp.path})`);
        return false;
      }
      // A delta or the summary moved meanwhile (or the connection is down): the next fold retries.
      this.ctx.log.debug({ err }, 'count fold failed');
      return false;
    }
  }

  /**
   * The index part of a fold from `from` (the summary's mark) to `through`: nothing for a root
   * marked `{scan: true}`; the root marked so when it is behind the summary (a fold that did not
   * keep it); else every entry of `deltas` appended, and a few pages of one state compacted.
   */
  private async indexWrites(
    root: IndexRoot,
    from: number,
    through: number,
    deltas: readonly ReadDelta[],
    compact: boolean,
  ): Promise<FoldIndexWrites | undefined> {
    if (root.scan) return undefined;
    if (root.through !== from) {
      this.ctx.log.warn(
        { index: root.through, counts: from },
        'the lists by state are behind the counts (folded without them): lists are read by a scan from now on',
      );
      return { root: SCAN_ROOT, rootVersion: root.version, pages: [], compact: [] };
    }
    const counts = { ...root.counts };
    const pages: FoldIndexWrites['pages'] = [];
    for (const [state, add] of entriesByState(deltas.flatMap((d) => d.events))) {
      const total = counts[state] ?? 0;
      const writes = planAppend(await this.newestPage(state, total), total, add);
      pages.push({ state, writes });
      counts[state] = total + add.length;
    }
    return {
      root: encodeRoot(through, counts),
      rootVersion: root.version,
      pages,
      compact: compact ? await this.compaction() : [],
    };
  }

  /** The newest page of `state` if more can be appended to it (`total` entries so far), else null. */
  private async newestPage(state: JobState, total: number): Promise<NewestPage | null> {
    const cached = this.newest.get(state);
    if (cached && cached.at + cached.entries.length === total) return cached;
    const { client } = this.ctx;
    const names = (await client.getChildren(indexDir(state))).children;
    let best: { name: string; at: number } | null = null;
    for (const name of names) {
      const at = indexPagePosition(name);
      if (at !== null && (!best || at > best.at)) best = { name, at };
    }
    if (!best) return null;
    const { data, stat } = await client.getData(`${indexDir(state)}/${best.name}`);
    const page = decodePage(best.at, data);
    // A compacted page, or one that is not the end of the list, takes no more entries.
    if (page.offsets || best.at + page.entries.length !== total) return null;
    const found = { name: best.name, version: stat.version, entries: page.entries, at: best.at };
    this.newest.set(state, found);
    return found;
  }

  /**
   * Up to {@link COMPACT_PAGES} old pages of the next state in turn (never its newest page, nor
   * a state this fold appends to), from where the last compaction of that state stopped, and
   * round again: each rewritten without its stale entries, or deleted when none is current.
   */
  private async compaction(): Promise<FoldIndexWrites['compact']> {
    const { client } = this.ctx;
    // Every state's pages in one request: a fold's requests share the session with the rounds
    // and the claims, which wait behind them (one listing after another held them up for
    // several round trips, once a second).
    const listings = new Map<JobState, string[]>();
    const res0 = await multiReadChunked(
      client,
      JOB_STATES.map((s) => ({ type: 'getChildren' as const, path: indexDir(s) })),
    );
    JOB_STATES.forEach((s, i) => {
      const r = res0[i];
      if (r?.type === 'getChildren') listings.set(s, r.children);
      else if (r?.type === 'error' && !(r.error instanceof NoNodeError)) throw r.error;
    });
    for (let tries = 0; tries < JOB_STATES.length; tries++) {
      const state = JOB_STATES[this.compactTurn++ % JOB_STATES.length]!;
      const listed = (listings.get(state) ?? [])
        .map((name) => ({ name, at: indexPagePosition(name) }))
        .filter((p): p is { name: string; at: number } => p.at !== null)
        .sort((a, b) => a.at - b.at);
      if (listed.length < 2) continue;
      const old = listed.slice(0, -1); // never the newest
      const after = this.compactAfter.get(state) ?? -1;
      let pick = old.filter((p) => p.at > after).slice(0, COMPACT_PAGES);
      if (pick.length === 0) pick = old.slice(0, COMPACT_PAGES);
      this.compactAfter.set(state, pick.at(-1)!.at);
      const res = await client.multiRead(
        pick.map((p) => ({ type: 'getData' as const, path: `${indexDir(state)}/${p.name}` })),
      );
      const out: FoldIndexWrites['compact'] = [];
      for (let k = 0; k < pick.length; k++) {
        const r = res[k];
        if (r?.type !== 'getData') continue;
        const page = decodePage(pick[k]!.at, r.data);
        const recs = await readRecords(
          client,
          page.entries.map((e) => e.id),
        );
        const current = page.entries.map((e, i) => {
          const found = recs[i];
          if (found instanceof Error) return true; // unreadable now: kept, looked at again next round
          return isCurrent(e, state, found);
        });
        const plan = planCompaction(page, current);
        if (plan === 'keep') continue;
        out.push({
          state,
          name: pick[k]!.name,
          version: r.stat.version,
          page: plan === 'delete' ? null : plan,
        });
      }
      return out;
    }
    return [];
  }

  /** After a fold committed: the newest page of each state it wrote. */
  private wrote(index: FoldIndexWrites): void {
    for (const { state, writes } of index.pages) {
      const created = writes.creates.at(-1);
      if (created) {
        const at = indexPagePosition(created.name) ?? 0;
        const full = created.entries.length >= PAGE_MAX_IDS;
        if (full) this.newest.delete(state);
        else this.newest.set(state, { name: created.name, version: 0, entries: created.entries, at });
      } else if (writes.rewrite) {
        const prev = this.newest.get(state);
        if (prev)
          this.newest.set(state, { ...prev, version: writes.rewrite.version + 1, entries: writes.rewrite.entries });
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** The index root as read; null when the namespace has none (made by a version without it). */
function indexRootOf(r: ReadResult | undefined): IndexRoot | null {
  if (r?.type === 'getData') return decodeRoot(r.data, r.stat.version);
  if (r?.type === 'error' && r.error instanceof NoNodeError) return null;
  throw r?.type === 'error' ? r.error : new Error('counts: no index root');
}

/** How many of `deltas` (at least one) one fold may take: their new index entries within {@link FOLD_INDEX_BYTES}. */
export function indexBudget(deltas: readonly ReadDelta[]): number {
  let bytes = 0;
  for (let i = 0; i < deltas.length; i++) {
    for (const add of entriesByState(deltas[i]!.events).values()) for (const e of add) bytes += entryBytes(e);
    if (bytes > FOLD_INDEX_BYTES && i > 0) return i;
  }
  return deltas.length;
}
