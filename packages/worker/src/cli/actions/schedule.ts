import {
  JobValidationError,
  ScheduleNotFoundError,
  type BackoffOptions,
  type JobOptions,
  type Schedule,
  type ScheduleSpec,
} from '../../index.js';
import { fmtTime, Output, table, type GlobalOptions } from '../context.js';
import { OperationError, UsageError } from '../errors.js';
import { parseJsonArg } from '../json-input.js';
import { withQueue } from '../jobs-common.js';

/** Options of `schedule add`. */
export interface ScheduleAddOptions {
  cron?: string;
  every?: number;
  tz?: string;
  startAt?: string;
  endAt?: string;
  limit?: number;
  misfire: 'skip' | 'run-once';
  misfireThreshold?: number;
  data: string;
  priority?: number;
  attempts?: number;
  backoff?: BackoffOptions;
  timeout?: number;
}

const OPTION_OF_FIELD: Record<string, string> = {
  id: '<id>',
  'schedule.cron': '--cron',
  'schedule.every': '--every',
  'schedule.tz': '--tz',
  'schedule.startAt': '--start-at',
  'schedule.endAt': '--end-at',
  'schedule.limit': '--limit',
  'schedule.misfire': '--misfire',
  'schedule.misfireThreshold': '--misfire-threshold',
  'schedule.job.type': '<type>',
  'schedule.job.data': '--data',
  'schedule.job.opts.priority': '--priority',
  'schedule.job.opts.attempts': '--attempts',
  'schedule.job.opts.backoff': '--backoff',
  'schedule.job.opts.timeout': '--timeout',
};

function asUsage(err: unknown): unknown {
  if (!(err instanceof JobValidationError)) return err;
  const opt = OPTION_OF_FIELD[err.field] ?? err.field;
  return new UsageError(`${opt}: ${err.message.slice(err.field.length + 2)}`, { cause: err });
}

/** A time option: ms since the epoch, or an ISO 8601 text. */
function timeArg(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : v;
}

function timing(s: Schedule): string {
  return s.cron !== undefined ? `cron ${s.cron}${s.tz ? ` (${s.tz})` : ' (UTC)'}` : `every ${s.every} ms`;
}

function scheduleLine(s: Schedule): string {
  const state = s.paused ? 'paused' : s.next === null ? 'ended' : `next ${fmtTime(s.next)}`;
  return `schedule ${s.id}: ${timing(s)}, job type ${s.job.type}; ${state}; fired ${s.fired}${s.skipped ? `, skipped ${s.skipped}` : ''}`;
}

/** `zkjobs schedule add`. */
export async function addSchedule(g: GlobalOptions, id: string, type: string, o: ScheduleAddOptions): Promise<void> {
  const data = await parseJsonArg(o.data, '--data');
  const opts: JobOptions = {
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
    ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
    ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
    ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
  };
  const startAt = timeArg(o.startAt);
  const endAt = timeArg(o.endAt);
  const spec: ScheduleSpec = {
    ...(o.cron !== undefined ? { cron: o.cron } : {}),
    ...(o.every !== undefined ? { every: o.every } : {}),
    ...(o.tz !== undefined ? { tz: o.tz } : {}),
    ...(startAt !== undefined ? { startAt } : {}),
    ...(endAt !== undefined ? { endAt } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    misfire: o.misfire,
    ...(o.misfireThreshold !== undefined ? { misfireThreshold: o.misfireThreshold } : {}),
    job: { type, data, opts },
  };
  await withQueue(g, async ({ queue }) => {
    const s = await queue.upsertSchedule(id, spec).catch((e: unknown) => Promise.reject(asUsage(e)));
    new Output(g.json).result(s, scheduleLine(s));
  });
}

/** `zkjobs schedule ls`. */
export async function listSchedules(g: GlobalOptions): Promise<void> {
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const all = await queue.getSchedules();
      new Output(g.json).result({ namespace, schedules: all }, () =>
        all.length === 0
          ? `no schedules in ${namespace}`
          : table([
              ['ID', 'TIMING', 'TYPE', 'NEXT', 'FIRED', 'SKIPPED'],
              ...all.map((s) => [
                s.id,
                timing(s),
                s.job.type,
                s.paused ? 'paused' : s.next === null ? 'ended' : fmtTime(s.next),
                String(s.fired),
                String(s.skipped),
              ]),
            ]),
      );
    },
    { existing: true },
  );
}

/** `zkjobs schedule rm`. */
export async function removeSchedule(g: GlobalOptions, id: string): Promise<void> {
  await withQueue(g, async ({ queue, namespace }) => {
    const removed = await queue.removeSchedule(id).catch((e: unknown) => Promise.reject(asUsage(e)));
    if (!removed) throw new OperationError(`no schedule ${id} in ${namespace}`);
    new Output(g.json).result({ id, removed: true }, `removed schedule ${id} (the jobs it created stay)`);
  });
}

/** `zkjobs schedule pause|resume`. */
export async function pauseSchedule(g: GlobalOptions, id: string, paused: boolean): Promise<void> {
  await withQueue(g, async ({ queue, namespace }) => {
    let s: Schedule;
    try {
      s = paused ? await queue.pauseSchedule(id) : await queue.resumeSchedule(id);
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) {
        throw new OperationError(`no schedule ${id} in ${namespace}`, { cause: err });
      }
      throw asUsage(err);
    }
    new Output(g.json).result(s, scheduleLine(s));
  });
}
