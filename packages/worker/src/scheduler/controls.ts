/**
 * The operators' controls as the leader sees them: data watches on `control/paused` and
 * `control/limits` (see `../controls.ts` for the writes). A change runs a round. A new leader
 * reads both before its first assignment, so a pause or a limit holds across leader changes.
 */
import type { WatchHandle } from '@zkjobs/core';
import { LIMITS, PAUSED, decodeLimits, decodePaused, type LimitsDoc, type PausedDoc } from '../layout.js';
import type { LeaderContext } from './context.js';

/** Internal: the controls of one leader. */
export class ControlWatch {
  paused: PausedDoc = { all: false, types: [] };
  limits: LimitsDoc = {};
  /** Resolves once both documents were read. */
  readonly ready: Promise<void>;
  private readonly watches: WatchHandle[] = [];

  constructor(ctx: LeaderContext) {
    let pausedRead!: () => void;
    let limitsRead!: () => void;
    this.ready = Promise.all([
      new Promise<void>((r) => (pausedRead = r)),
      new Promise<void>((r) => (limitsRead = r)),
    ]).then(() => undefined);
    this.watches.push(
      ctx.client.watchData(PAUSED, (data) => {
        this.paused = decodePaused(data);
        ctx.log.info({ paused: this.paused, epoch: ctx.fence.epoch }, 'paused types read');
        pausedRead();
        ctx.kick();
      }),
      ctx.client.watchData(LIMITS, (data) => {
        this.limits = decodeLimits(data);
        ctx.log.info({ limits: this.limits, epoch: ctx.fence.epoch }, 'limits read');
        limitsRead();
        ctx.kick();
      }),
    );
  }

  /** Closes the watches. */
  close(): void {
    for (const w of this.watches) w.close();
  }
}
