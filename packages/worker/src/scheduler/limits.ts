/**
 * Per-type limits as the leader enforces them when it assigns (`control/limits`, see
 * `../controls.ts`): the jobs of a limited type are assigned one per assignment, whose data names
 * the type, so the leader — and a new leader, from the queues alone — knows how many are in
 * flight. For each, a data watch on its record tells when it was claimed (the record's mtime,
 * ZooKeeper's clock). Slots ({@link freeSlots}) count:
 * - concurrency: every job in flight (assigned, running or being completed: its assignment
 *   znode exists until the worker settled it);
 * - rate: every job assigned and not seen started yet (it may start at any moment), every job
 *   started within the last `duration` ms, and the starts of jobs that finished within that
 *   window. A start is only ever seen late, never early, so the count never falls short: at
 *   most `max` jobs start in any `duration` ms. A new leader cannot know its predecessor's last
 *   starts, so it starts none of a rate-limited type for `duration` ms after taking over.
 */
import type { WatchHandle } from '@zkjobs/core';
import { parseRecord } from '../engine/record.js';
import { isClaimable } from '../engine/transitions.js';
import { jobPath, type LimitsDoc, type TypeLimits } from '../layout.js';
import type { LeaderContext } from './context.js';
import type { TypedAssignment } from './worker-pool.js';

/** A job of a limited type in flight, as the limits count it. */
export interface InFlight {
  /** When it was claimed (ZooKeeper's clock), once seen. */
  startedAt?: number;
}

/**
 * How many more jobs of a type may be assigned now (pure).
 * @param limits - the type's limits
 * @param inflight - its jobs in flight
 * @param finishedStarts - start times (ZooKeeper's clock) of its jobs no longer in flight
 * @param now - ZooKeeper's clock now, ms
 * @param since - when this leader took over (ZooKeeper's clock): no rate-limited start before `since + duration`
 * @returns the free slots, ≥ 0 (Infinity when the type has no limit)
 */
export function freeSlots(
  limits: TypeLimits,
  inflight: readonly InFlight[],
  finishedStarts: readonly number[],
  now: number,
  since: number,
): number {
  let free = Infinity;
  if (limits.concurrency !== undefined) free = Math.min(free, limits.concurrency - inflight.length);
  if (limits.max !== undefined && limits.duration !== undefined) {
    const from = now - limits.duration;
    if (now < since + limits.duration) return 0;
    const used =
      inflight.filter((j) => j.startedAt === undefined || j.startedAt > from).length +
      finishedStarts.filter((s) => s > from).length;
    free = Math.min(free, limits.max - used);
  }
  return Math.max(0, free);
}

/**
 * When a rate-limit slot of a type frees next (pure): the earliest `start + duration` after
 * `now` of its started jobs (or `since + duration` right after a takeover).
 */
export function nextFree(
  limits: TypeLimits,
  inflight: readonly InFlight[],
  finishedStarts: readonly number[],
  now: number,
  since: number,
): number | undefined {
  if (limits.max === undefined || limits.duration === undefined) return undefined;
  const d = limits.duration;
  if (now < since + d) return since + d;
  const times = [...inflight.map((j) => j.startedAt), ...finishedStarts]
    .filter((s): s is number => s !== undefined && s + d > now)
    .map((s) => s + d);
  return times.length > 0 ? Math.min(...times) : undefined;
}

interface Tracked extends InFlight {
  type: string;
  watch: WatchHandle;
}

/** Internal: the in-flight jobs of limited types of one leader, and their starts. */
export class LimitTracker {
  private readonly jobs = new Map<string, Tracked>();
  private readonly starts = new Map<string, number[]>();
  private since = Infinity;

  constructor(private readonly ctx: LeaderContext) {}

  /** Marks the takeover (ZooKeeper's clock). */
  begin(now: number): void {
    this.since = now;
  }

  /** Applies the jobs of limited types in the live queues now: new ones are watched, gone ones keep their start. */
  sync(current: readonly TypedAssignment[], limits: LimitsDoc): void {
    const now = this.ctx.serverNow();
    const seen = new Set<string>();
    for (const a of current) {
      seen.add(a.id);
      if (this.jobs.has(a.id)) continue;
      const t: Tracked = { type: a.type, watch: null as unknown as WatchHandle };
      this.jobs.set(a.id, t);
      t.watch = this.ctx.client.watchData(jobPath(a.id), (data, stat) => {
        if (t.startedAt !== undefined) return;
        let started = data === null;
        if (data) {
          try {
            started = !isClaimable(parseRecord(data, jobPath(a.id)), a.attemptsMade);
          } catch {
            started = true;
          }
        }
        if (!started) return;
        t.startedAt = stat?.mtime ?? this.ctx.serverNow();
        this.ctx.kick();
      });
    }
    for (const [id, t] of this.jobs) {
      if (seen.has(id)) continue;
      t.watch.close();
      this.jobs.delete(id);
      const list = this.starts.get(t.type) ?? [];
      list.push(t.startedAt ?? now);
      this.starts.set(t.type, list);
    }
    // Starts older than their type's window no longer count.
    for (const [type, list] of this.starts) {
      const d = limits[type]?.duration ?? 0;
      const kept = list.filter((s) => s + d > now);
      if (kept.length > 0) this.starts.set(type, kept);
      else this.starts.delete(type);
    }
  }

  private inflight(type: string): Tracked[] {
    return [...this.jobs.values()].filter((t) => t.type === type);
  }

  /** The free slots of every limited type now. */
  slots(limits: LimitsDoc, now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [type, l] of Object.entries(limits)) {
      out.set(type, freeSlots(l, this.inflight(type), this.starts.get(type) ?? [], now, this.since));
    }
    return out;
  }

  /** When the next rate-limit slot frees, if one is taken. */
  nextDue(limits: LimitsDoc, now: number): number | undefined {
    let due: number | undefined;
    for (const [type, l] of Object.entries(limits)) {
      const t = nextFree(l, this.inflight(type), this.starts.get(type) ?? [], now, this.since);
      if (t !== undefined && (due === undefined || t < due)) due = t;
    }
    return due;
  }

  /** Closes the records' watches. */
  close(): void {
    for (const t of this.jobs.values()) t.watch.close();
  }
}
