// Slots of schedules, pure (no server): cron in a time zone across DST changes, fixed periods,
// start/end, misfires and limits.
import { describe, expect, it } from 'vitest';
import type { ScheduleDoc } from '../../packages/worker/src/layout.js';
import { dueSlots, firstSlot, nextSlot, validateSchedule } from '../../packages/worker/src/schedules.js';
import { JobValidationError } from '../../packages/worker/src/errors.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
function slots(t: Parameters<typeof nextSlot>[0], from: string, n: number): (string | null)[] {
  const out: (string | null)[] = [];
  let at = Date.parse(from);
  for (let i = 0; i < n; i++) {
    const s = nextSlot(t, at);
    out.push(iso(s));
    if (s === null) break;
    at = s;
  }
  return out;
}

describe('cron slots in a time zone across DST changes (Europe/Berlin, 2026)', () => {
  it('spring forward (29 March, 02:00 → 03:00): a fixed 02:30 runs at 03:00 that day, then 02:30 again', () => {
    expect(slots({ cron: '0 30 2 * * *', tz: 'Europe/Berlin' }, '2026-03-27T12:00:00Z', 4)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:30 does not exist
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('fall back (25 October, 03:00 → 02:00): a fixed 02:30 runs once; an every-30-minutes pattern runs on both passes', () => {
    expect(slots({ cron: '0 30 2 * * *', tz: 'Europe/Berlin' }, '2026-10-23T12:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST) only
      '2026-10-26T01:30:00.000Z',
    ]);
    expect(slots({ cron: '0 */30 * * * *', tz: 'Europe/Berlin' }, '2026-10-24T23:45:00Z', 5)).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-25T02:00:00.000Z', // 03:00 CET
    ]);
  });

  it('the same pattern in UTC has no such gap; seconds are a field', () => {
    expect(slots({ cron: '0 30 2 * * *' }, '2026-03-28T12:00:00Z', 1)).toEqual(['2026-03-29T02:30:00.000Z']);
    expect(slots({ cron: '*/15 * * * * *' }, '2026-01-01T00:00:07Z', 2)).toEqual([
      '2026-01-01T00:00:15.000Z',
      '2026-01-01T00:00:30.000Z',
    ]);
  });
});

describe('fixed periods, start and end', () => {
  it('every: anchor + k × every; startAt inclusive, endAt exclusive', () => {
    const t = { every: 1000, anchor: 5000, startAt: 5000, endAt: 8000 };
    expect(firstSlot(t, 0)).toBe(5000);
    expect(firstSlot(t, 5000)).toBe(5000);
    expect(nextSlot(t, 5000)).toBe(6000);
    expect(nextSlot(t, 6500)).toBe(7000);
    expect(nextSlot(t, 7000)).toBeNull();
    expect(firstSlot({ cron: '0 0 * * * *', startAt: Date.parse('2026-01-01T05:00:00Z') }, 0)).toBe(
      Date.parse('2026-01-01T05:00:00Z'),
    );
  });
});

describe('due slots: misfires and limits', () => {
  const doc = (over: Partial<ScheduleDoc>): ScheduleDoc => ({
    id: 's',
    every: 1000,
    anchor: 0,
    misfire: 'skip',
    misfireThreshold: 5000,
    job: { type: 't', data: null, opts: {} },
    paused: false,
    next: 10_000,
    fired: 0,
    skipped: 0,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  });

  it('late within the threshold: every slot fires, oldest first', () => {
    expect(dueSlots(doc({}), 12_500)).toEqual({ fire: [10_000, 11_000, 12_000], skipped: 0, next: 13_000 });
  });

  it('skip drops slots older than the threshold; run-once fires the latest of them once', () => {
    expect(dueSlots(doc({}), 20_000)).toEqual({
      fire: [15_000, 16_000, 17_000, 18_000, 19_000, 20_000],
      skipped: 5,
      next: 21_000,
    });
    expect(dueSlots(doc({ misfire: 'run-once' }), 20_000)).toEqual({
      fire: [14_000, 15_000, 16_000, 17_000, 18_000, 19_000, 20_000],
      skipped: 4,
      next: 21_000,
    });
  });

  it('limit: no more than limit slots in all, then the schedule ends', () => {
    expect(dueSlots(doc({ limit: 5, fired: 3 }), 14_000)).toEqual({ fire: [10_000, 11_000], skipped: 0, next: null });
  });

  it('validation names the field', () => {
    const bad: [unknown, string][] = [
      [{ job: { type: 't' } }, 'schedule.cron'],
      [{ cron: '* * *', job: { type: 't' } }, 'schedule.cron'],
      [{ cron: '* * * * *', tz: 'Mars/Olympus', job: { type: 't' } }, 'schedule.tz'],
      [{ every: 1000, tz: 'UTC', job: { type: 't' } }, 'schedule.tz'],
      [{ every: 10, job: { type: 't' } }, 'schedule.every'],
      [{ every: 1000, job: { type: 'no good!' } }, 'schedule.job.type'],
      [{ every: 1000, job: { type: 't', opts: { jobId: 'x' } } }, 'schedule.job.opts.jobId'],
      [{ every: 1000, job: { type: 't', opts: { attempts: 0 } } }, 'schedule.job.opts.attempts'],
      [{ every: 1000, startAt: 'tomorrow', job: { type: 't' } }, 'schedule.startAt'],
      [{ every: 1000, startAt: 5000, endAt: 4000, job: { type: 't' } }, 'schedule.endAt'],
      [{ every: 1000, misfire: 'later', job: { type: 't' } }, 'schedule.misfire'],
    ];
    for (const [spec, field] of bad) {
      let err: unknown;
      try {
        validateSchedule('s', spec, 1000);
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(JobValidationError);
      expect((err as JobValidationError).field, field).toBe(field);
    }
    expect(() => validateSchedule('a@b', { every: 1000, job: { type: 't' } }, 0)).toThrow(/^id:/);
  });
});
