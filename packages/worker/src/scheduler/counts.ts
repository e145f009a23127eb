/**
 * The leader's fold of the count deltas (see `../engine/counts.ts`): now and then, beside the
 * rounds, it reads the deltas and writes their sum into the summary in one fenced multi that
 * deletes them (`ops.foldCountsOps`).
 */
import { addCounts, encodeSummary, readDeltas, readSummary } from '../engine/counts.js';
import { foldCountsOps, isLeaderFenceFailure } from '../engine/ops.js';
import { COUNTS } from '../layout.js';
import type { LeaderContext } from './context.js';

/** Deltas folded per multi. */
const FOLD_BATCH = 300;

/** Internal: the count fold of one leader. */
export class CountFolder {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly ctx: LeaderContext) {}

  /** Folds every `intervalMs` while leading. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.fold(), intervalMs);
    this.timer.unref();
  }

  /** One fold (skipped while one runs, or when there is nothing to fold). */
  async fold(): Promise<void> {
    if (this.running || this.ctx.stopped()) return;
    this.running = true;
    const { client, fence } = this.ctx;
    try {
      const st = await client.exists(COUNTS);
      if (!st || st.numChildren === 0) return;
      const summary = await readSummary(client);
      if (summary.scan) return;
      const deltas = (await readDeltas(client)).slice(0, FOLD_BATCH);
      if (deltas.length === 0) return;
      const total = addCounts({}, summary.counts);
      for (const d of deltas) addCounts(total, d.counts);
      await foldCountsOps(
        client,
        fence,
        encodeSummary(total),
        summary.version,
        deltas.map((d) => d.name),
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
