/**
 * The event log: what happened to jobs, carried by the count deltas (`counts/d-NNNNNNNNNN`,
 * `counts.ts`) that the multis changing job states already create. A delta holds its multi's
 * count changes and its events, `{c: {type: {state: ±n}}, e: [entry, …]}`, so an event is
 * written by the very multi that makes it true: it exists exactly when its change committed,
 * and the deltas' sequence numbers (ZooKeeper's commit order) order the events. No znode is
 * written for the events alone. {@link QueueEvents} (`../queue-events.ts`) follows them.
 *
 * An entry is `[jobId, type, code, attemptsMade, prev, extra?]`: `code` the event
 * ({@link EVENT_CODES}), `prev` the state before (a state code, `''` for none), `attemptsMade`
 * null when the writer does not know it (a prune by retention), and `extra`
 * `{v?: value, o?: 1, r?: 1, dl?: ms}`: `v` the result (completed), the error message (failed,
 * retrying, dead) or the progress value, when its JSON is at most {@link EVENT_VALUE_MAX_BYTES};
 * `o: 1` when it was larger and left out (read the job); `r: 1` when the same multi deleted the
 * record (`removeOnComplete` / `removeOnFail: true`); `dl` the delay of a retry or of a delayed
 * submit.
 */
import type { JobRecord, JobState } from '../job.js';

/** Largest result, error message or progress value copied into an event, bytes of JSON (UTF-8). */
export const EVENT_VALUE_MAX_BYTES = 1024;

/**
 * The events of the log. `waiting`/`delayed`: submitted, released or requeued while not
 * running; `active`: claimed (or a gang started); `stalled`: a running job requeued because
 * its worker was lost; `retrying`: an attempt failed with attempts left; `failed`, `dead`,
 * `completed`, `cancelled`: the final states; `removed`: the record was deleted; `progress`.
 */
export type JobEventName =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'progress'
  | 'completed'
  | 'failed'
  | 'retrying'
  | 'dead'
  | 'stalled'
  | 'cancelled'
  | 'removed';

/** The code of each event in an entry. */
export const EVENT_CODES: Readonly<Record<JobEventName, string>> = {
  waiting: 'w',
  delayed: 'y',
  active: 'a',
  progress: 'p',
  completed: 'c',
  failed: 'f',
  retrying: 'r',
  dead: 'd',
  stalled: 's',
  cancelled: 'x',
  removed: 'rm',
};

/** The code of each state in an entry's `prev`. */
export const STATE_CODES: Readonly<Record<JobState, string>> = {
  waiting: 'w',
  delayed: 'y',
  active: 'a',
  completed: 'c',
  failed: 'f',
  dead: 'd',
  cancelled: 'x',
};

const EVENT_OF_CODE = new Map(Object.entries(EVENT_CODES).map(([k, v]) => [v, k as JobEventName]));
const STATE_OF_CODE = new Map(Object.entries(STATE_CODES).map(([k, v]) => [v, k as JobState]));

/** One event as written by a multi. */
export interface JobEvent {
  event: JobEventName;
  jobId: string;
  /** The job type (`''` when the writer does not know it). */
  type: string;
  /** Attempts started (null when the writer does not know it: a prune by retention). */
  attemptsMade: number | null;
  /** The state before the change. */
  prev?: JobState;
  /** The result, error message or progress value (absent when there is none, or it was omitted). */
  value?: unknown;
  /** The value was larger than {@link EVENT_VALUE_MAX_BYTES} and is not in the event. */
  omitted?: true;
  /** The multi deleted the record (retention `true`). */
  removed?: true;
  /** The delay of a retry or a delayed submit, ms. */
  delay?: number;
}

/** The encoded entry of a {@link JobEvent}. */
export type EventEntry = [string, string, string, number | null, string, EventExtra?];

interface EventExtra {
  v?: unknown;
  o?: 1;
  r?: 1;
  dl?: number;
}

/** `value` if its JSON is at most {@link EVENT_VALUE_MAX_BYTES}, else `omitted` (undefined: no value). */
export function boundedValue(value: unknown): { value?: unknown; omitted?: true } {
  if (value === undefined) return {};
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return { omitted: true };
  }
  if (json === undefined) return {};
  return Buffer.byteLength(json) <= EVENT_VALUE_MAX_BYTES ? { value } : { omitted: true };
}

export function encodeEvent(e: JobEvent): EventEntry {
  const x: EventExtra = {};
  if (e.value !== undefined) x.v = e.value;
  if (e.omitted) x.o = 1;
  if (e.removed) x.r = 1;
  if (e.delay !== undefined) x.dl = e.delay;
  const entry: EventEntry = [e.jobId, e.type, EVENT_CODES[e.event], e.attemptsMade, e.prev ? STATE_CODES[e.prev] : ''];
  if (Object.keys(x).length > 0) entry.push(x);
  return entry;
}

/** Decodes an entry; null for one this version does not know (a newer writer's event). */
export function decodeEvent(entry: unknown): JobEvent | null {
  if (!Array.isArray(entry) || entry.length < 5) return null;
  const [jobId, type, code, attemptsMade, prev, x] = entry as unknown[];
  const event = typeof code === 'string' ? EVENT_OF_CODE.get(code) : undefined;
  if (typeof jobId !== 'string' || typeof type !== 'string' || !event) return null;
  const e: JobEvent = { event, jobId, type, attemptsMade: typeof attemptsMade === 'number' ? attemptsMade : null };
  const p = typeof prev === 'string' ? STATE_OF_CODE.get(prev) : undefined;
  if (p) e.prev = p;
  if (x && typeof x === 'object') {
    const ex = x as EventExtra;
    if (ex.v !== undefined) e.value = ex.v;
    if (ex.o === 1) e.omitted = true;
    if (ex.r === 1) e.removed = true;
    if (typeof ex.dl === 'number') e.delay = ex.dl;
  }
  return e;
}

/**
 * The event of a record write: `next` written over a record in state `from` (null: created),
 * deleted by the same multi when `removed`. Undefined when the write is no event (no change of
 * state).
 * @param delay - the delay of a retry (its pending entry's), ms
 */
export function eventOfWrite(
  next: JobRecord,
  from: JobState | null | undefined,
  removed = false,
  delay?: number,
): JobEvent | undefined {
  const to = next.state;
  if (from === to) return undefined;
  let event: JobEventName;
  let value: { value?: unknown; omitted?: true } = {};
  if (to === 'waiting' || to === 'delayed') {
    // Leaving `active` for a wait: the closed attempt says why (retry, requeue, release).
    const outcome =
      from === 'active' ? next.history.findLast((a) => a.attempt === next.attemptsMade)?.outcome : undefined;
    if (outcome === 'retrying') {
      event = 'retrying';
      value = boundedValue(next.error?.message);
    } else if (outcome === 'requeued') event = 'stalled';
    else event = to;
  } else {
    event = to;
    if (to === 'completed') value = boundedValue(next.result);
    else if (to === 'failed' || to === 'dead') value = boundedValue(next.error?.message);
  }
  const e: JobEvent = { event, jobId: next.id, type: next.type, attemptsMade: next.attemptsMade, ...value };
  if (from) e.prev = from;
  if (removed) e.removed = true;
  if (event === 'retrying' && delay !== undefined) e.delay = delay;
  else if (event === 'delayed' && from == null) e.delay = next.opts.delay;
  return e;
}
