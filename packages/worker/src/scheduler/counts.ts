/**
 * The leader's fold of the count deltas (see `../engine/counts.ts`): now and then, beside the
 * rounds, it reads the deltas after the summary's folded mark and writes their sum into the
 * summary, with the new mark, in one fenced multi (`ops.foldCountsOps`). The same multi prunes
 * the event log: folded deltas beyond the newest `maxEventDeltas` are deleted, oldest first,
 * and the summary records the highest sequence deleted (`pruned`), which tells a
 * `QueueEvents` behind it what it lost.
 */
import { addCounts, deltasOf, encodeSummary, readDeltas, readSummary } from '../engine/counts.js';
import { foldCountsOps, isLeaderFenceFailure } from '../engine/ops.js';
import { COUNTS } from '../layout.js';
import type { LeaderContext } from './context.js';

/** Deltas folded per multi. */
const FOLD_BATCH = 300;
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

  /** @param maxEventDeltas - folded deltas kept (the newest), for `QueueEvents` */
  constructor(
    private readonly ctx: LeaderContext,
    private readonly maxEventDeltas = DEFAULT_MAX_EVENT_DELTAS,
  ) {}

  /** Folds every `intervalMs` while leading. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.fold(), intervalMs);
    this.timer.unref();
  }

  /** One fold (skipped while one runs, or when there is nothing to fold or prune). */
  async fold(): Promise<void> {
    if (this.running || this.ctx.stopped()) return;
    this.running = true;
    const { client, fence } = this.ctx;
    try {
      const st = await client.exists(COUNTS);
      if (!st || st.numChildren === 0 || st.cversion === this.idleAt) return;
      const listed = deltasOf((await client.getChildren(COUNTS)).children);
      const summary = await readSummary(client);
      if (summary.scan) return;
      const unfolded = listed.filter((d) => d.seq > summary.through).slice(0, FOLD_BATCH);
      const deltas = await readDeltas(
        client,
        unfolded.map((d) => d.name),
      );
      const through = unfolded.at(-1)?.seq ?? summary.through;
      // The folded deltas beyond the newest maxEventDeltas, oldest first.
      const excess = Math.max(0, listed.length - this.maxEventDeltas);
      const prune = listed
        .slice(0, excess)
        .filter((d) => d.seq <= through)
        .slice(0, PRUNE_BATCH);
      if (unfolded.length === 0 && prune.length === 0) {
        this.idleAt = st.cversion;
        return;
      }
      this.idleAt = null;
      const total = addCounts({}, summary.counts);
      for (const d of deltas) addCounts(total, d.counts);
      const pruned = Math.max(summary.pruned, prune.at(-1)?.seq ?? -1);
      await foldCountsOps(
        client,
        fence,
        encodeSummary(total, through, pruned),
        summary.version,
        prune.map((d) => d.name),
      ).commit();
      this.ctx.counters.multis++;
    } catch (err) {
      if (this.ctx.stopped()) return;
      if (isLeaderFenceFailure(err)) {
        this.ctx.deposed(`fencing check failed (${err.failedOp.path})`);
        return;
      }
      // A delta or the summary moved meanwhile (or the connection is down): the next fold retries.
      this.ctx.log.debug({ err }, 'count fold failed');
    } finally {
      this.running = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
