/**
 * Running gang jobs (`parallelism > 1`): the leader follows each task record with a data watch and,
 * once every task is final, writes the parent's outcome (`transitions.finishGang`) and deletes the
 * gang's document `gangs/<id>` (`ops.finishGangOps`). A new leader re-follows the gangs its
 * predecessor started.
 */
import type { WatchHandle } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import { finishGangOps } from '../engine/ops.js';
import { parseRecord } from '../engine/record.js';
import { finishGang, isFinalState } from '../engine/transitions.js';
import type { JobRecord } from '../job.js';
import { GANGS, decodeGangDoc, gangBarrierPath, gangPath, jobPath } from '../layout.js';
import { readForLeader, type LeaderContext } from './context.js';

interface Gang {
  tasks: readonly string[];
  /** Final task records so far. */
  states: Map<string, JobRecord>;
  watches: WatchHandle[];
}

/** Internal: the gang jobs one leader follows. */
export class GangTracker {
  private readonly gangs = new Map<string, Gang>();
  private loaded = false;
  /** Some gang has all its tasks final. */
  private due = false;

  constructor(private readonly ctx: LeaderContext) {}

  /** Follows the task records of a running gang job; {@link finish} finalises it when all are final. */
  watch(parent: string, tasks: readonly string[]): void {
    if (this.gangs.has(parent)) return;
    const g: Gang = { tasks, states: new Map(), watches: [] };
    this.gangs.set(parent, g);
    for (const t of tasks) {
      g.watches.push(
        this.ctx.client.watchData(jobPath(t), (data) => {
          if (!data) return;
          let rec: JobRecord;
          try {
            rec = parseRecord(data, jobPath(t));
          } catch (err) {
            this.ctx.reportError(err, 'gang task record is not a record (ignored)');
            return;
          }
          if (!isFinalState(rec.state)) return;
          g.states.set(t, rec);
          if (g.states.size === g.tasks.length) {
            this.due = true;
            this.ctx.kick();
          }
        }),
      );
    }
  }

  /** Once per leader: re-follows the gangs a previous leader started (`gangs/<parent>`). */
  async load(): Promise<void> {
    if (this.loaded) return;
    const { client } = this.ctx;
    const { children } = await client.getChildren(GANGS);
    for (const parent of children) {
      if (this.gangs.has(parent)) continue;
      try {
        this.watch(parent, decodeGangDoc((await client.getData(gangPath(parent))).data).tasks);
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
    }
    this.loaded = true;
  }

  /** Writes the outcome of every gang whose tasks have all finished: completed iff all completed. */
  async finish(): Promise<void> {
    if (!this.due) return;
    this.due = false;
    const { client, log, fence } = this.ctx;
    for (const [parent, g] of [...this.gangs]) {
      if (g.states.size < g.tasks.length) continue;
      const tasks = g.tasks.map((t) => g.states.get(t)!);
      const found = await readForLeader(this.ctx, parent);
      const write =
        found && !isFinalState(found.rec.state)
          ? { next: finishGang(found.rec, tasks, Date.now()), version: found.stat.version, from: found.rec.state }
          : undefined;
      await finishGangOps(client, fence, parent, write).commit();
      for (const w of g.watches) w.close();
      this.gangs.delete(parent);
      client.delete(gangBarrierPath(parent, 1)).catch(() => undefined); // best effort: the barrier's parent znode
      const state = tasks.every((t) => t.state === 'completed') ? 'completed' : 'failed';
      log.info({ jobId: parent, state, epoch: fence.epoch }, `gang job ${state}`);
    }
  }

  /** Closes the task watches. */
  close(): void {
    for (const g of this.gangs.values()) for (const w of g.watches) w.close();
  }
}
