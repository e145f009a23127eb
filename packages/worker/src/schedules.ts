/**
 * Schedules: jobs created by the leader at the slots of a cron pattern (with seconds and a time
 * zone, parsed by croner) or of a fixed period. One document per schedule at `schedules/<id>`
 * ({@link ScheduleDoc}); this module validates a spec, computes slots (pure), and makes the
 * producer side's changes, each a compare-and-set on the document's version. The leader fires
 * the slots (`scheduler/schedules.ts`): each slot's job id is `<id>@<slot>`, created in the same
 * fenced multi that advances the document's `next`, so a slot fires exactly once whichever
 * leader gets to it.
 */
import { Cron } from 'croner';
import type { ZkClient } from '@zkjobs/core';
import { BadVersionError, NodeExistsError, NoNodeError } from '@zkjobs/core';
import { z } from 'zod';
import { JobValidationError, ScheduleNotFoundError } from './errors.js';
import type { JobOptions } from './job.js';
import { SCHEDULES, decodeSchedule, encodeSchedule, schedulePath, type ScheduleDoc } from './layout.js';
import { encodePayload, normalizeJobOptions, validateType, zodToValidationError } from './options.js';
import { mapLimit } from './util.js';

/** Schedule ids: 1–100 characters of `[A-Za-z0-9._:-]` (no `@`: a slot's job id is `<id>@<slot>`). */
export const SCHEDULE_ID_RE = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,100}$/;

/** The default of `misfireThreshold`, ms (as Quartz's). */
export const DEFAULT_MISFIRE_THRESHOLD_MS = 60_000;

/** A point in time: ms since the epoch, a Date, or an ISO 8601 string with a zone (`2026-03-01T09:00:00Z`). */
export type TimeInput = number | Date | string;

/** What {@link Queue.upsertSchedule} takes. Exactly one of `cron` and `every`. */
export interface ScheduleSpec {
  /**
   * A cron pattern: 5 fields (minute first), 6 (seconds first) or 7 (with year), as croner reads
   * them (`L`, `W`, `#` supported). In `tz`; across a DST change a fixed-time slot (one value in
   * each of seconds, minutes and hours) that does not exist runs at the first valid time after
   * the gap, and one that occurs twice runs once; an interval slot (`*`, a step, a range or a
   * list there) runs on both occurrences and is skipped in a gap.
   */
  cron?: string;
  /** Or a fixed period, ms (integer ≥ 100): slots at `startAt + k × every`, or at multiples of `every` since the epoch without `startAt`. */
  every?: number;
  /** IANA time zone of `cron` (e.g. `Europe/Berlin`). @defaultValue `UTC` */
  tz?: string;
  /** No slot before this (inclusive). @defaultValue now */
  startAt?: TimeInput;
  /** No slot at or after this (exclusive). @defaultValue never */
  endAt?: TimeInput;
  /** Fire at most this many slots in all (integer ≥ 1). @defaultValue unlimited */
  limit?: number;
  /**
   * What to do with slots the leader gets to more than `misfireThreshold` ms late (no leader for
   * a while, a paused cluster): `skip` them, or `run-once` — one catch-up job for the latest of
   * them. @defaultValue `'skip'`
   */
  misfire?: 'skip' | 'run-once';
  /** How late a slot may be fired and still be on time, ms. @defaultValue 60000 */
  misfireThreshold?: number;
  /** The job each slot creates; its id is `<schedule id>@<slot ms>` (`opts.jobId` and `opts.dependsOn` are refused). */
  job: { type: string; data?: unknown; opts?: JobOptions };
}

/** A schedule as read: its document and the znode's version. */
export type Schedule = ScheduleDoc & { readonly version: number };

const time = z.union([z.number().int().min(0), z.date(), z.string()]);

const specSchema = z.strictObject({
  cron: z.string().min(1).max(200).optional(),
  every: z.number().int().min(100).max(31_536_000_000).optional(),
  tz: z.string().min(1).max(100).optional(),
  startAt: time.optional(),
  endAt: time.optional(),
  limit: z.number().int().min(1).max(1_000_000_000).optional(),
  misfire: z.enum(['skip', 'run-once']).optional(),
  misfireThreshold: z.number().int().min(0).max(31_536_000_000).optional(),
  job: z.strictObject({ type: z.unknown(), data: z.unknown().optional(), opts: z.unknown().optional() }),
});

function toMs(v: TimeInput, field: string): number {
  const ms = typeof v === 'number' ? v : v instanceof Date ? v.getTime() : Date.parse(v);
  if (!Number.isFinite(ms) || ms < 0) throw new JobValidationError(field, `not a time: ${JSON.stringify(v)}`);
  return ms;
}

/** The timing part of a document, what {@link nextSlot} reads. */
export type Timing = Pick<ScheduleDoc, 'cron' | 'every' | 'tz' | 'anchor' | 'startAt' | 'endAt'>;

function cronOf(t: Timing): Cron {
  return new Cron(t.cron!, { timezone: t.tz ?? 'UTC' });
}

/**
 * The first slot strictly after `after` (ms since the epoch), or null when there is none before
 * `endAt` (pure).
 */
export function nextSlot(t: Timing, after: number): number | null {
  let slot: number | null;
  if (t.every !== undefined) {
    const a = t.anchor ?? 0;
    slot = after < a ? a : a + (Math.floor((after - a) / t.every) + 1) * t.every;
  } else {
    const from = t.startAt !== undefined && after < t.startAt ? t.startAt - 1 : after;
    slot = cronOf(t).nextRun(new Date(from))?.getTime() ?? null;
  }
  if (slot !== null && t.startAt !== undefined && slot < t.startAt) slot = nextSlot(t, t.startAt - 1);
  return slot !== null && t.endAt !== undefined && slot >= t.endAt ? null : slot;
}

/** The slots of a schedule from `now` on: its first slot at or after `now`. */
export function firstSlot(t: Timing, now: number): number | null {
  return nextSlot(t, now - 1);
}

/** Most slots fired by one multi. */
export const MAX_FIRE = 100;
/** Most slots looked at in one round (a long outage of a fast schedule is caught up over rounds). */
const MAX_SCAN = 10_000;

/** What is due of a schedule at `now` (see {@link dueSlots}). */
export interface DueSlots {
  /** Slots to fire now, oldest first (a `run-once` catch-up first). */
  fire: number[];
  /** Slots skipped as misfires. */
  skipped: number;
  /** The next slot after these; null when the schedule has ended. */
  next: number | null;
}

/**
 * The slots of `doc` due at `now` (ZooKeeper's clock, pure): from `doc.next` up to `now`; those
 * more than `misfireThreshold` late are misfires (skipped, or the latest one fired as a catch-up
 * with `run-once`); at most {@link MAX_FIRE} fired and `limit` respected.
 */
export function dueSlots(doc: ScheduleDoc, now: number): DueSlots {
  const onTime: number[] = [];
  const missed: number[] = [];
  let t = doc.next;
  for (let n = 0; t !== null && t <= now && onTime.length < MAX_FIRE && n < MAX_SCAN; n++) {
    if (now - t > doc.misfireThreshold) missed.push(t);
    else onTime.push(t);
    t = nextSlot(doc, t);
  }
  const catchUp = doc.misfire === 'run-once' && missed.length > 0 ? [missed[missed.length - 1]!] : [];
  let fire = [...catchUp, ...onTime];
  let skipped = missed.length - catchUp.length;
  let next = t;
  if (doc.limit !== undefined) {
    const room = Math.max(0, doc.limit - doc.fired);
    if (fire.length >= room) {
      fire = fire.slice(0, room);
      next = null;
    }
  }
  if (fire.length > MAX_FIRE) {
    // A catch-up and MAX_FIRE on-time slots: the last one waits for the next round.
    next = fire[MAX_FIRE]!;
    fire = fire.slice(0, MAX_FIRE);
    skipped = missed.length - catchUp.length;
  }
  return { fire, skipped, next };
}

/**
 * Validates a schedule's id and spec.
 * @returns the document's fields that the spec sets (not `next`, counts or times)
 * @throws JobValidationError naming the field (`id`, `schedule.cron`, `schedule.tz`,
 *   `schedule.job.opts.attempts`, …)
 */
export function validateSchedule(
  id: unknown,
  spec: unknown,
  now: number,
): Omit<ScheduleDoc, 'next' | 'fired' | 'skipped' | 'paused' | 'createdAt' | 'updatedAt' | 'lastFired'> {
  if (typeof id !== 'string' || !SCHEDULE_ID_RE.test(id)) {
    throw new JobValidationError('id', 'must be 1-100 characters of [A-Za-z0-9._:-]');
  }
  const parsed = specSchema.safeParse(spec);
  if (!parsed.success) throw zodToValidationError('schedule', parsed.error);
  const s = parsed.data;
  if ((s.cron === undefined) === (s.every === undefined)) {
    throw new JobValidationError('schedule.cron', 'give exactly one of cron and every');
  }
  if (s.tz !== undefined) {
    if (s.every !== undefined) throw new JobValidationError('schedule.tz', 'a time zone applies to cron only');
    try {
      new Intl.DateTimeFormat('en', { timeZone: s.tz });
    } catch {
      throw new JobValidationError(
        'schedule.tz',
        `unknown time zone ${JSON.stringify(s.tz)} (an IANA name, e.g. Europe/Berlin)`,
      );
    }
  }
  if (s.cron !== undefined) {
    try {
      new Cron(s.cron, { timezone: s.tz ?? 'UTC' }).nextRun();
    } catch (err) {
      throw new JobValidationError('schedule.cron', (err as Error).message, { cause: err });
    }
  }
  const startAt = s.startAt !== undefined ? toMs(s.startAt, 'schedule.startAt') : undefined;
  const endAt = s.endAt !== undefined ? toMs(s.endAt, 'schedule.endAt') : undefined;
  if (endAt !== undefined && endAt <= (startAt ?? now)) {
    throw new JobValidationError('schedule.endAt', `must be after ${startAt !== undefined ? 'startAt' : 'now'}`);
  }
  const type = validateType(s.job.type, 'schedule.job.type');
  const data = JSON.parse(encodePayload(s.job.data, 65_536, 'schedule.job.data')) as unknown;
  const o = (s.job.opts ?? {}) as JobOptions;
  if (typeof o === 'object' && o !== null) {
    if ('jobId' in o) {
      throw new JobValidationError('schedule.job.opts.jobId', "a scheduled job's id is <schedule id>@<slot ms>");
    }
    if ('dependsOn' in o) throw new JobValidationError('schedule.job.opts.dependsOn', 'not for a scheduled job');
  }
  const { opts } = normalizeJobOptions(o, 'schedule.job.opts');
  return {
    id,
    ...(s.cron !== undefined ? { cron: s.cron } : {}),
    ...(s.every !== undefined ? { every: s.every } : {}),
    ...(s.tz !== undefined ? { tz: s.tz } : {}),
    ...(startAt !== undefined ? { startAt } : {}),
    ...(endAt !== undefined ? { endAt } : {}),
    ...(s.limit !== undefined ? { limit: s.limit } : {}),
    misfire: s.misfire ?? 'skip',
    misfireThreshold: s.misfireThreshold ?? DEFAULT_MISFIRE_THRESHOLD_MS,
    job: { type, data, opts: opts as unknown as Record<string, unknown> },
  };
}

function sameTiming(a: Timing, b: Timing): boolean {
  return a.cron === b.cron && a.every === b.every && a.tz === b.tz && a.startAt === b.startAt && a.endAt === b.endAt;
}

async function readSchedule(client: ZkClient, id: string): Promise<Schedule | null> {
  try {
    const { data, stat } = await client.getData(schedulePath(id));
    return { ...decodeSchedule(data), version: stat.version };
  } catch (err) {
    if (err instanceof NoNodeError) return null;
    throw err;
  }
}

/** Writes `next` of `id` over its version (or creates it), retried while others write. */
async function updateSchedule(
  client: ZkClient,
  id: string,
  change: (cur: Schedule | null) => ScheduleDoc,
): Promise<Schedule> {
  for (;;) {
    const cur = await readSchedule(client, id);
    const next = change(cur);
    try {
      if (cur === null) {
        await client.create(schedulePath(id), { data: encodeSchedule(next), parents: true });
        return { ...next, version: 0 };
      }
      const stat = await client.setData(schedulePath(id), encodeSchedule(next), { version: cur.version });
      return { ...next, version: stat.version };
    } catch (err) {
      if (err instanceof BadVersionError || err instanceof NodeExistsError || err instanceof NoNodeError) continue;
      throw err;
    }
  }
}

/**
 * Creates or updates a schedule. An update whose timing (`cron`, `every`, `tz`, `startAt`,
 * `endAt`) is unchanged keeps its next slot, its counts and its paused state; a changed timing
 * starts again from the first slot at or after now.
 */
export function upsertSchedule(client: ZkClient, id: string, spec: ScheduleSpec, now = Date.now()): Promise<Schedule> {
  const v = validateSchedule(id, spec, now);
  return updateSchedule(client, id, (cur) => {
    const keep = cur !== null && sameTiming(cur, v);
    const base = { ...v };
    if (base.every !== undefined) {
      base.anchor =
        base.startAt ?? (keep && cur?.anchor !== undefined ? cur.anchor : Math.ceil(now / base.every) * base.every);
    }
    const ended = (fired: number) => v.limit !== undefined && fired >= v.limit;
    const fired = keep ? cur.fired : 0;
    const next = ended(fired)
      ? null
      : keep && cur.next !== null
        ? cur.next
        : firstSlot(base, Math.max(now, cur?.lastFired !== undefined && keep ? cur.lastFired + 1 : now));
    return {
      ...base,
      paused: keep ? cur.paused : false,
      next,
      fired,
      skipped: keep ? cur.skipped : 0,
      ...(keep && cur.lastFired !== undefined ? { lastFired: cur.lastFired } : {}),
      createdAt: cur?.createdAt ?? now,
      updatedAt: now,
    };
  });
}

/** Every schedule, by id. */
export async function getSchedules(client: ZkClient): Promise<Schedule[]> {
  let ids: string[];
  try {
    ids = (await client.getChildren(SCHEDULES)).children.sort();
  } catch (err) {
    if (err instanceof NoNodeError) return [];
    throw err;
  }
  const found = await mapLimit(ids, 16, (id) => readSchedule(client, id).catch(() => null));
  return found.filter((s): s is Schedule => s !== null);
}

/** One schedule, or null. */
export function getSchedule(client: ZkClient, id: string): Promise<Schedule | null> {
  if (!SCHEDULE_ID_RE.test(id)) throw new JobValidationError('id', 'must be 1-100 characters of [A-Za-z0-9._:-]');
  return readSchedule(client, id);
}

/** Removes a schedule (jobs it created stay). @returns false when there was none */
export async function removeSchedule(client: ZkClient, id: string): Promise<boolean> {
  if (!SCHEDULE_ID_RE.test(id)) throw new JobValidationError('id', 'must be 1-100 characters of [A-Za-z0-9._:-]');
  try {
    await client.delete(schedulePath(id));
    return true;
  } catch (err) {
    if (err instanceof NoNodeError) return false;
    throw err;
  }
}

/**
 * Pauses or resumes a schedule. A paused schedule fires nothing; resumed, it goes on from its
 * first slot at or after now (the slots of the pause are not fired).
 * @throws ScheduleNotFoundError
 */
export function setSchedulePaused(client: ZkClient, id: string, paused: boolean, now = Date.now()): Promise<Schedule> {
  if (!SCHEDULE_ID_RE.test(id)) throw new JobValidationError('id', 'must be 1-100 characters of [A-Za-z0-9._:-]');
  return updateSchedule(client, id, (cur) => {
    if (cur === null) throw new ScheduleNotFoundError(id);
    const { version: _v, ...doc } = cur;
    void _v;
    if (cur.paused === paused) return doc;
    const ended = doc.limit !== undefined && doc.fired >= doc.limit;
    return {
      ...doc,
      paused,
      ...(paused || ended ? {} : { next: firstSlot(doc, now) }),
      updatedAt: now,
    };
  });
}
