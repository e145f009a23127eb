/**
 * The znode layout of one zkjobs namespace and the compact encodings of its index znodes: every
 * path, znode name prefix and index format the engine writes or reads is defined here. Every path
 * is relative to the namespace root (the client is `usingNamespace(root)`). See
 * docs/architecture.md, "Job engine".
 */
import type { JobState } from './job.js';
import { JOB_ID_RE } from './options.js';

/** Number of buckets that `jobs/` and `pending/` are split into, so that no parent gets huge. */
export const BUCKETS = 64;

/** Default namespace root. */
export const DEFAULT_NAMESPACE = '/zkjobs/default';

export const WORKERS = '/workers';
export const LEADER = '/leader';
export const CLOCK = '/clock';
export const JOBS = '/jobs';
export const PENDING = '/pending';
export const QUEUE = '/queue';
export const BARRIERS = '/barriers';
export const GANGS = '/gangs';
export const RETENTION = '/retention';
/**
 * `counts/`: its data is the summary of job counts by type and state (with the sequences folded
 * and pruned through); its children `d-NNNNNNNNNN` the count changes and events of one multi
 * each, kept after they are folded as the event log (see `engine/counts.ts`, `engine/event-log.ts`).
 */
export const COUNTS = '/counts';
/** Name prefix of a count delta, `counts/d-NNNNNNNNNN` (PERSISTENT_SEQUENTIAL). */
export const COUNT_DELTA_PREFIX = 'd-';
/**
 * Name prefix of a delta's counts-only twin, `counts/c-NNNNNNNNNN` (PERSISTENT_SEQUENTIAL): a
 * delta whose events are large is preceded, in its multi, by a twin holding only its count
 * changes, so the twin of `d-M` is `c-(M-1)` (see `engine/counts.ts`).
 */
export const COUNT_TWIN_PREFIX = 'c-';
/**
 * `index/`: the lists by state, kept by the leader's count fold (see `engine/state-index.ts`).
 * Its data is `{through, n: {state: entries appended}}` or `{scan: true}`; `index/<state>/p-…`
 * its pages.
 */
export const INDEX = '/index';
/** Name prefix of an index page, `index/<state>/p-<position of its first entry, 12 digits>`. */
export const INDEX_PAGE_PREFIX = 'p-';

/** `index/<state>`. */
export function indexDir(state: JobState): string {
  return `${INDEX}/${state}`;
}

/** The name of the index page whose first entry is at `position`. */
export function indexPageName(position: number): string {
  return `${INDEX_PAGE_PREFIX}${position.toString().padStart(12, '0')}`;
}

/** The position of an index page's first entry, from its name; null for a name that is not a page. */
export function indexPagePosition(name: string): number | null {
  if (!name.startsWith(INDEX_PAGE_PREFIX)) return null;
  const n = Number(name.slice(INDEX_PAGE_PREFIX.length));
  return Number.isInteger(n) && n >= 0 ? n : null;
}

/** `schedules/<id>`: one document per schedule ({@link ScheduleDoc}), created on first use. */
export const SCHEDULES = '/schedules';
/** `progress/<bb>/<jobId>`: a job's stored progress (created on first use). */
export const PROGRESS = '/progress';
/** `logs/<bb>/<jobId>`: a job's stored log lines (created on first use). */
export const LOGS = '/logs';
/** Operators' controls of the scheduler (pause, limits), created on first use. */
export const CONTROL = '/control';
/** `control/paused`: the paused job types ({@link PausedDoc}); absent = nothing paused. */
export const PAUSED = `${CONTROL}/paused`;
/** `control/limits`: rate limits and cluster-wide concurrency per job type ({@link LimitsDoc}); absent = none. */
export const LIMITS = `${CONTROL}/limits`;

/** Name prefix of a worker's registration znode, `w-NNNNNNNNNN` (EPHEMERAL_SEQUENTIAL). */
export const WORKER_PREFIX = 'w-';
/** Name prefix of an assignment in a worker's queue, `a-NNNNNNNNNN` (PERSISTENT_SEQUENTIAL). */
export const ASSIGNMENT_PREFIX = 'a-';
/** Name prefix of a "this running job was cancelled" signal in a worker's queue, `x-<jobId>`. */
export const CANCEL_PREFIX = 'x-';
/** Name prefix of a pending marker, `m-NNNNNNNNNN` (PERSISTENT_SEQUENTIAL). */
export const MARKER_PREFIX = 'm-';
/** Name prefix of a retention marker, `r-NNNNNNNNNN` (PERSISTENT_SEQUENTIAL). */
export const RETENTION_PREFIX = 'r-';

/** True for the name of a worker's registration znode (a `w-` child of `workers/`). */
export function isWorkerNode(name: string): boolean {
  return name.startsWith(WORKER_PREFIX);
}

/** `workers/<name>` — a worker's registration znode. */
export function workerPath(name: string): string {
  return `${WORKERS}/${name}`;
}

/** True for the name of an assignment znode in a worker's queue. */
export function isAssignmentNode(name: string): boolean {
  return name.startsWith(ASSIGNMENT_PREFIX);
}

/** The job id of a cancel signal's name (`x-<jobId>`), or null when the name is not one. */
export function cancelledJobOf(name: string): string | null {
  return name.startsWith(CANCEL_PREFIX) ? name.slice(CANCEL_PREFIX.length) : null;
}

/** `queue/<worker>/x-<jobId>` — tells the holder `worker` that its running job was cancelled. */
export function cancelSignalPath(worker: string, jobId: string): string {
  return `${queueDir(worker)}/${CANCEL_PREFIX}${jobId}`;
}

/** `queue/<worker>/a-` — prefix of a sequential assignment for `worker`. */
export function assignmentPrefix(worker: string): string {
  return `${queueDir(worker)}/${ASSIGNMENT_PREFIX}`;
}

/** `retention/<bucket>/r-` — prefix of a sequential retention marker `{ age | count, ids }`. */
export function retentionMarkerPrefix(key: string): string {
  return `${RETENTION}/${bucketOf(key)}/${RETENTION_PREFIX}`;
}

/**
 * The kind of finished record a retention by count keeps the newest of: `completed`
 * (`removeOnComplete`), or `failed` (`removeOnFail`: failed and dead records).
 */
export type RetentionKind = 'completed' | 'failed';

/** In a retention marker's `states`: the record has stored progress. */
export const STORED_PROGRESS = 1;
/** In a retention marker's `states`: the record has stored logs. */
export const STORED_LOGS = 2;

/**
 * A retention marker's data, written with the finishing writes. By age: the records `ids` are
 * deleted `age` ms after the marker's ctime. By count: they are deleted once `count` newer
 * records of `kind` kept by count finished (newer: a later marker czxid, or later in `ids`).
 */
export interface RetentionMarker {
  /** ms after the marker's ctime (ZooKeeper's clock); absent in a marker by count. */
  age?: number;
  /** How many newer records of `kind` may finish before these go; absent in a marker by age. */
  count?: number;
  /** With `count`: the kind counted. */
  kind?: RetentionKind;
  /** Ids of the finished jobs whose records go then. */
  ids: string[];
  /**
   * Their `[type, state, stored?]`, in the same order (for the counts and the side znodes; absent
   * in older markers). `stored` is {@link STORED_PROGRESS} and {@link STORED_LOGS} or'ed: which of
   * the record's progress and logs znodes the prune deletes with it.
   */
  states?: [string, JobState, number?][];
  /**
   * Their `[version, attemptsMade]` after the finishing write, in the same order: the prune
   * deletes a record only at that version, or — when a note moved it — while it is still that
   * finish (same state and `attemptsMade`), so a record retried since is never deleted. Absent
   * in older markers.
   */
  versions?: [number, number][];
}

export function encodeRetentionMarker(m: RetentionMarker): Buffer {
  const doc: Record<string, unknown> = {};
  if (m.age !== undefined) doc['age'] = m.age;
  if (m.count !== undefined) {
    doc['count'] = m.count;
    doc['kind'] = m.kind ?? 'completed';
  }
  doc['ids'] = m.ids;
  if (m.states) doc['s'] = m.states;
  if (m.versions) doc['v'] = m.versions;
  return Buffer.from(JSON.stringify(doc));
}

/** @throws SyntaxError for data that is not a retention marker's JSON */
export function decodeRetentionMarker(data: Buffer): RetentionMarker {
  const doc = JSON.parse(data.toString('utf8')) as Partial<RetentionMarker> & {
    s?: [string, JobState, number?][];
    v?: [number, number][];
  };
  const hasAge = typeof doc.age === 'number';
  const hasCount = typeof doc.count === 'number';
  if ((!hasAge && !hasCount) || !Array.isArray(doc.ids)) throw new SyntaxError('not a retention marker');
  const m: RetentionMarker = { ids: doc.ids };
  if (hasAge) m.age = doc.age!;
  if (hasCount) {
    m.count = doc.count!;
    m.kind = doc.kind === 'failed' ? 'failed' : 'completed';
  }
  if (Array.isArray(doc.s) && doc.s.length === doc.ids.length) m.states = doc.s;
  if (Array.isArray(doc.v) && doc.v.length === doc.ids.length) m.versions = doc.v;
  return m;
}

/** `gangs/<jobId>` — a running gang job's document. */
export function gangPath(jobId: string): string {
  return `${GANGS}/${jobId}`;
}

/** A running gang job's document: its task ids and the epoch of the leader that started it. */
export interface GangDoc {
  /** The task ids, `<parent>~<index>`. */
  tasks: string[];
  /** The epoch of the leader that started the gang. */
  epoch: number;
}

export function encodeGangDoc(g: GangDoc): Buffer {
  return Buffer.from(JSON.stringify({ tasks: g.tasks, epoch: g.epoch }));
}

export function decodeGangDoc(data: Buffer): GangDoc {
  const doc = JSON.parse(data.toString('utf8')) as Partial<GangDoc>;
  return { tasks: Array.isArray(doc.tasks) ? doc.tasks : [], epoch: typeof doc.epoch === 'number' ? doc.epoch : -1 };
}

/** `barriers/<parent>-<attempt>` — the DoubleBarrier of a gang job's tasks. */
export function gangBarrierPath(parent: string, attempt: number): string {
  return `${BARRIERS}/${parent}-${attempt}`;
}

/** The id of task `index` of gang job `parent`: `<parent>~<index>` (`~` is not allowed in user ids). */
export function gangTaskId(parent: string, index: number): string {
  return `${parent}~${index}`;
}

/** FNV-1a 32-bit hash of a string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The two-hex-digit bucket of a job id. */
export function bucketOf(jobId: string): string {
  return (fnv1a(jobId) % BUCKETS).toString(16).padStart(2, '0');
}

/** All bucket names, `00` … `3f`. */
export const BUCKET_NAMES: readonly string[] = Array.from({ length: BUCKETS }, (_, i) =>
  i.toString(16).padStart(2, '0'),
);

/** `jobs/<bucket>/<jobId>`. */
export function jobPath(jobId: string): string {
  return `${JOBS}/${bucketOf(jobId)}/${jobId}`;
}

/**
 * `pending/<bucket>/m-<firstId>-` — prefix of a sequential pending marker whose first entry is the
 * job `firstId`, in that job's bucket (ZooKeeper appends the 10-digit sequence). The id in the
 * name lets the leader read that job's record in the same request as the marker
 * ({@link markerFirstId}); it costs the bucket's listing the id's bytes per marker.
 */
export function pendingMarkerPrefix(firstId: string): string {
  return `${PENDING}/${bucketOf(firstId)}/${MARKER_PREFIX}${firstId}-`;
}

/**
 * The first entry's job id named in a pending marker's name `m-<id>-NNNNNNNNNN`, or null for a
 * name without one (`m-NNNNNNNNNN`, as older versions named markers) or not a marker's.
 */
export function markerFirstId(name: string): string | null {
  if (!name.startsWith(MARKER_PREFIX) || name.length < MARKER_PREFIX.length + 12) return null;
  if (name[name.length - 11] !== '-' || !/^\d{10}$/.test(name.slice(-10))) return null;
  const id = name.slice(MARKER_PREFIX.length, -11);
  return JOB_ID_RE.test(id) ? id : null;
}

/** `progress/<bucket>/<jobId>` — a job's stored progress `{ value, token, attempt, at }`. */
export function progressPath(jobId: string): string {
  return `${PROGRESS}/${bucketOf(jobId)}/${jobId}`;
}

/** `logs/<bucket>/<jobId>` — a job's stored log lines `{ lines: [{ at, attempt, token, line }], dropped }`. */
export function logsPath(jobId: string): string {
  return `${LOGS}/${bucketOf(jobId)}/${jobId}`;
}

/** `queue/<worker>` — the assignments of one worker (`w-NNNNNNNNNN`). */
export function queueDir(worker: string): string {
  return `${QUEUE}/${worker}`;
}

/**
 * One entry of a pending marker: a job ready to be scheduled once its `delay` (ms after the
 * marker's ctime, ZooKeeper's clock) has passed and its dependencies completed.
 * Encoded as a JSON array `[id, type, priority, attemptsMade, delay, dependsOn?, parallelism?]`.
 */
export interface PendingEntry {
  id: string;
  type: string;
  priority: number;
  /** The record's `attemptsMade` when the marker was written; a mismatch means the entry is stale. */
  attemptsMade: number;
  delay: number;
  dependsOn?: string[];
  parallelism?: number;
}

export type EncodedEntry = [string, string, number, number, number, string[]?, number?];

export function encodeEntry(e: PendingEntry): EncodedEntry {
  const a: EncodedEntry = [e.id, e.type, e.priority, e.attemptsMade, e.delay];
  if ((e.dependsOn && e.dependsOn.length > 0) || (e.parallelism ?? 1) > 1) {
    a.push(e.dependsOn ?? []);
    if ((e.parallelism ?? 1) > 1) a.push(e.parallelism);
  }
  return a;
}

export function decodeEntry(a: EncodedEntry): PendingEntry {
  const e: PendingEntry = { id: a[0], type: a[1], priority: a[2], attemptsMade: a[3], delay: a[4] };
  if (a[5] && a[5].length > 0) e.dependsOn = a[5];
  if (a[6] !== undefined) e.parallelism = a[6];
  return e;
}

/**
 * A marker's data: `{ e: entries, o?: order }`. `order` is the marker's place among the markers
 * created by the same multi (they share a czxid): the scheduler takes them in that order, all of
 * one marker before the next, so a bulk is scheduled in submit order and each marker is
 * rewritten as few times as possible.
 */
export function encodeMarker(entries: PendingEntry[], order = 0): Buffer {
  return Buffer.from(
    JSON.stringify(order > 0 ? { e: entries.map(encodeEntry), o: order } : { e: entries.map(encodeEntry) }),
  );
}

export function decodeMarker(data: Buffer): PendingEntry[] {
  return decodeMarkerDoc(data).entries;
}

/** A marker's entries and its order within its multi (0 when absent). */
export function decodeMarkerDoc(data: Buffer): { entries: PendingEntry[]; order: number } {
  const doc = JSON.parse(data.toString('utf8')) as { e?: EncodedEntry[]; o?: number };
  return { entries: (doc.e ?? []).map(decodeEntry), order: typeof doc.o === 'number' ? doc.o : 0 };
}

/**
 * One job of an assignment (`queue/<worker>/a-NNNNNNNNNN`): `[id, attemptsMade, priority]`
 * (priority absent in assignments of older versions: 0).
 */
export type AssignedJob = [string, number, number?];

/**
 * An assignment's data: `{ epoch, j: jobs, t? }`. `t` is the job type of an assignment of one
 * job of a limited type (see {@link LimitsDoc}): the leader counts those assignments per type, a
 * new leader too, from the queues alone.
 */
export function encodeAssignment(jobs: AssignedJob[], epoch: number, type?: string): Buffer {
  return Buffer.from(JSON.stringify(type === undefined ? { epoch, j: jobs } : { epoch, j: jobs, t: type }));
}

export function decodeAssignment(data: Buffer): AssignedJob[] {
  return decodeAssignmentDoc(data).jobs;
}

/** An assignment's jobs and, for one job of a limited type, its type. */
export function decodeAssignmentDoc(data: Buffer): { jobs: AssignedJob[]; type?: string } {
  const doc = JSON.parse(data.toString('utf8')) as { j?: AssignedJob[]; t?: unknown };
  const jobs = doc.j ?? [];
  return typeof doc.t === 'string' ? { jobs, type: doc.t } : { jobs };
}

/**
 * `control/paused`: `{ all, types }`. While `all` is true no job starts; otherwise no job of a
 * type in `types` starts. The leader assigns none of them and workers claim none of them
 * (jobs already claimed run to their end).
 */
export interface PausedDoc {
  /** The whole namespace is paused. */
  all: boolean;
  /** Job types paused by name (sorted, distinct). */
  types: string[];
}

export function encodePaused(p: PausedDoc): Buffer {
  return Buffer.from(JSON.stringify({ all: p.all, types: [...new Set(p.types)].sort() }));
}

/** An absent or unreadable document is "nothing paused". */
export function decodePaused(data: Buffer | null): PausedDoc {
  if (!data || data.length === 0) return { all: false, types: [] };
  try {
    const doc = JSON.parse(data.toString('utf8')) as Partial<PausedDoc>;
    return {
      all: doc.all === true,
      types: Array.isArray(doc.types) ? doc.types.filter((t): t is string => typeof t === 'string') : [],
    };
  } catch {
    return { all: false, types: [] };
  }
}

/** True when jobs of `type` may not start under `p`. */
export function isTypePaused(p: PausedDoc, type: string): boolean {
  return p.all || p.types.includes(type);
}

/**
 * The limits of one job type, enforced by the leader when it assigns (cluster-wide, whichever
 * worker leads). Either part may be absent.
 */
export interface TypeLimits {
  /** Rate limit: at most `max` jobs of the type start (are claimed) per `duration` ms. */
  max?: number;
  /** The rate limit's window, ms (with `max`). */
  duration?: number;
  /** At most this many jobs of the type are active (assigned or running) across all workers. */
  concurrency?: number;
}

/** `control/limits`: `{ <type>: TypeLimits }`. */
export type LimitsDoc = Record<string, TypeLimits>;

export function encodeLimits(l: LimitsDoc): Buffer {
  return Buffer.from(JSON.stringify(l));
}

/** An absent document is "no limits"; an entry that is not a limit is dropped. */
export function decodeLimits(data: Buffer | null): LimitsDoc {
  if (!data || data.length === 0) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    return {};
  }
  if (typeof doc !== 'object' || doc === null) return {};
  const out: LimitsDoc = {};
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  for (const [type, v] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof v !== 'object' || v === null) continue;
    const l = v as Record<string, unknown>;
    const e: TypeLimits = {};
    if (int(l['max']) && int(l['duration'])) {
      e.max = l['max'];
      e.duration = l['duration'];
    }
    if (int(l['concurrency'])) e.concurrency = l['concurrency'];
    if (Object.keys(e).length > 0) out[type] = e;
  }
  return out;
}

/** Data of a worker's registration znode `workers/w-…`. */
export interface WorkerInfo {
  /** Host name. */
  host: string;
  /** Process id. */
  pid: number;
  /** Handlers run at the same time. */
  concurrency: number;
  /** Jobs the leader keeps assigned to it. */
  prefetch: number;
  /** Job types it has handlers for. */
  types: string[];
  /** Start time, ms since the epoch (its clock). */
  startedAt: number;
  /** Its session id at start, hex (the znode's ephemeralOwner is authoritative). */
  session: string;
}

/** Data of `<root>/leader`; the znode's data version is the epoch. */
export interface LeaderInfo {
  /** The leader's znode name (`w-…`). */
  worker: string;
  /** Its session id, hex. */
  session: string;
  /** Host name. */
  host: string;
  /** Process id. */
  pid: number;
  /** When it took leadership, ms since the epoch (its clock). */
  since: number;
}

/** `schedules/<id>` — a schedule's document. */
export function schedulePath(id: string): string {
  return `${SCHEDULES}/${id}`;
}

/**
 * The id of the job a schedule fires for its slot at `slot` (ms since the epoch):
 * `<scheduleId>@<slot>`, so one slot can only ever create one job.
 */
export function scheduledJobId(scheduleId: string, slot: number): string {
  return `${scheduleId}@${slot}`;
}

/** A schedule's document at `schedules/<id>` (JSON); times in ms since the epoch. */
export interface ScheduleDoc {
  id: string;
  /** A cron pattern (5–7 fields, seconds first when 6 or 7), with `tz`. */
  cron?: string;
  /** Or a fixed period, ms: slots at `anchor + k × every`. */
  every?: number;
  /** IANA time zone of `cron` (default UTC). */
  tz?: string;
  /** The first slot of an `every` schedule (inclusive start of both kinds). */
  anchor?: number;
  /** No slot before this. */
  startAt?: number;
  /** No slot at or after this. */
  endAt?: number;
  /** At most this many slots fired in all. */
  limit?: number;
  /** Slots older than `misfireThreshold` when the leader gets to them: skipped, or one catch-up job. */
  misfire: 'skip' | 'run-once';
  /** How late (ms) a slot may be fired and still count as on time. */
  misfireThreshold: number;
  /** The job each slot creates (options validated, normalized). */
  job: { type: string; data: unknown; opts: Record<string, unknown> };
  paused: boolean;
  /** The next slot to fire; null when the schedule has ended (endAt or limit). */
  next: number | null;
  /** Slots fired (jobs created; a skipped slot is not counted). */
  fired: number;
  /** Slots skipped as misfires. */
  skipped: number;
  /** The last slot fired, if any. */
  lastFired?: number;
  createdAt: number;
  updatedAt: number;
}

export function encodeSchedule(d: ScheduleDoc): Buffer {
  return Buffer.from(JSON.stringify(d));
}

/** @throws SyntaxError for data that is not a schedule's document */
export function decodeSchedule(data: Buffer): ScheduleDoc {
  const doc = JSON.parse(data.toString('utf8')) as Partial<ScheduleDoc>;
  if (typeof doc.id !== 'string' || typeof doc.job !== 'object' || doc.job === null) {
    throw new SyntaxError('not a schedule document');
  }
  return doc as ScheduleDoc;
}
