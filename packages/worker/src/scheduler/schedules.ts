/**
 * Firing schedules (see `../schedules.ts`): the leader watches `schedules/` and each schedule's
 * document, and in every round fires the slots due on ZooKeeper's clock — each slot's job
 * (`<id>@<slot>`) created in one fenced multi with the document's `next` advanced over the
 * version it read (`ops.fireScheduleOps`). A leader that dies after the commit leaves `next`
 * advanced; one deposed before it cannot commit; so each slot fires once.
 */
import type { WatchHandle } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import { fireScheduleOps, isLeaderFenceFailure, isOpFailure, LEADER_FENCE_OPS } from '../engine/ops.js';
import { newRecord, submitEntry } from '../engine/transitions.js';
import type { NormalizedJobOptions } from '../job.js';
import { SCHEDULES, decodeSchedule, jobPath, schedulePath, scheduledJobId, type ScheduleDoc } from '../layout.js';
import { dueSlots } from '../schedules.js';
import { createIfMissing } from '../util.js';
import type { LeaderContext } from './context.js';

interface Watched {
  doc: ScheduleDoc | null;
  version: number;
  watch: WatchHandle;
}

/** Internal: the schedules one leader fires. */
export class ScheduleFirer {
  private readonly docs = new Map<string, Watched>();
  private list: WatchHandle | null = null;

  constructor(private readonly ctx: LeaderContext) {}

  /** Watches `schedules/` (created if missing) and every schedule's document. */
  async watch(): Promise<void> {
    await createIfMissing(this.ctx.client, SCHEDULES);
    if (this.ctx.stopped()) return;
    this.list = this.ctx.client.watchChildren(SCHEDULES, (children) => {
      const names = new Set(children);
      for (const [id, w] of this.docs) {
        if (names.has(id)) continue;
        w.watch.close();
        this.docs.delete(id);
      }
      for (const id of names) if (!this.docs.has(id)) this.follow(id);
    });
  }

  private follow(id: string): void {
    const w: Watched = { doc: null, version: -1, watch: null as unknown as WatchHandle };
    this.docs.set(id, w);
    w.watch = this.ctx.client.watchData(schedulePath(id), (data, stat) => {
      if (!data || !stat) {
        w.doc = null;
        return;
      }
      if (stat.version < w.version) return; // older than what our own commit told us
      try {
        w.doc = decodeSchedule(data);
        w.version = stat.version;
      } catch (err) {
        this.ctx.log.error({ err, schedule: id }, 'unreadable schedule (left alone)');
        w.doc = null;
      }
      this.ctx.kick();
    });
  }

  /** The next slot of an active schedule (ZooKeeper's clock). */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (const { doc } of this.docs.values()) {
      if (!doc || doc.paused || doc.next === null) continue;
      if (due === undefined || doc.next < due) due = doc.next;
    }
    return due;
  }

  /** Fires every slot due now. */
  async fire(): Promise<void> {
    const { client, fence, log } = this.ctx;
    const now = this.ctx.serverNow();
    for (const [id, w] of this.docs) {
      const doc = w.doc;
      if (!doc || doc.paused || doc.next === null || doc.next > now) continue;
      const due = dueSlots(doc, now);
      // A slot whose job exists already (a schedule removed and made again) was fired before.
      const ids = due.fire.map((slot) => scheduledJobId(id, slot));
      const exists = await Promise.all(ids.map((j) => client.exists(jobPath(j))));
      const fresh = due.fire.filter((_, i) => exists[i] === null);
      const records = fresh.map((slot) =>
        newRecord({
          id: scheduledJobId(id, slot),
          type: doc.job.type,
          data: doc.job.data,
          opts: doc.job.opts as unknown as NormalizedJobOptions,
          now: Date.now(),
        }),
      );
      const last = due.fire[due.fire.length - 1];
      const next: ScheduleDoc = {
        ...doc,
        next: due.next,
        fired: doc.fired + due.fire.length,
        skipped: doc.skipped + due.skipped,
        ...(last !== undefined ? { lastFired: last } : {}),
      };
      try {
        await fireScheduleOps(client, fence, next, w.version, records, records.map(submitEntry)).commit();
      } catch (err) {
        if (isLeaderFenceFailure(err) || !isOpFailure(err, LEADER_FENCE_OPS)) throw err;
        // The schedule changed (or went) meanwhile: read it again and fire in a later round.
        await this.reread(id, w);
        continue;
      }
      this.ctx.counters.multis++;
      w.doc = next;
      w.version++;
      log.info(
        {
          schedule: id,
          slots: due.fire,
          jobs: records.map((r) => r.id),
          skipped: due.skipped,
          next: due.next,
          epoch: fence.epoch,
        },
        'schedule fired',
      );
    }
  }

  private async reread(id: string, w: Watched): Promise<void> {
    try {
      const { data, stat } = await this.ctx.client.getData(schedulePath(id));
      w.doc = decodeSchedule(data);
      w.version = stat.version;
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
      w.doc = null;
    }
  }

  /** Closes the watches. */
  close(): void {
    this.list?.close();
    for (const w of this.docs.values()) w.watch.close();
  }
}
