/**
 * What the engine writes, under which fence: every multi of the job engine is built here, and
 * its result and failures are read here. Callers get a `Transaction` (commit it; its
 * `operations` list the ops, for tests) and named accessors for what came back, so no caller
 * counts op positions.
 *
 * Fences (the first ops of a multi; a failure there means "you no longer qualify to write"):
 * - **holder** ({@link HOLDER_FENCE_OPS} = 1 op): `check(workers/<holder>)`, the holder's own
 *   ephemeral znode — gone with its session, so a claim or completion of a dead holder fails;
 * - **leader** ({@link LEADER_FENCE_OPS} = 2 ops): `check(workers/<self>)` + `check(leader,
 *   epoch)` — a deposed leader (session gone, or a newer epoch taken) cannot write.
 *
 * | multi              | by        | fence  | ops after the fence                                                         |
 * | ------------------ | --------- | ------ | --------------------------------------------------------------------------- |
 * | {@link epochOps}   | leader    | holder | `setData(leader, version=v)`: the epoch is `v + 1`                          |
 * | {@link submitOps}  | Queue     | none   | `create` each record (and gang tasks), `create` markers of ≤ 50 entries     |
 * | {@link cancelOps}  | Queue     | none   | `setData(record, version)`, `create(queue/<holder>/x-<id>)` when running    |
 * | {@link retryOps}   | Queue     | none   | `setData(record, version)` (an operator's retry), `create` one marker        |
 * | {@link removeOps}  | Queue     | none   | `delete(record, version)` per job (a gang's tasks too), `delete` stored progress and logs |
 * | {@link deleteTreeOps} | Queue  | none   | `delete` znodes, children before parents (obliterate; no count delta: `counts/` goes too) |
 * | {@link claimOps}   | consumer  | holder | `setData(record, version)` per job                                          |
 * | {@link completionOps} | consumer | holder | `delete` the assignments it finishes, `setData`/`delete(record, version=token)` per job, a retry marker, retention markers |
 * | {@link claimAndCompleteOps} | consumer | holder | a claim multi's ops, then a completion multi's (the outcomes waiting meanwhile) |
 * | {@link assignOps}  | leader    | leader | `create` assignments, marker rewrites/deletes, gang parents and documents, `setData(record, version)` per claim of the leader's own idle consumer |
 * | {@link requeueOps} | leader    | leader | `setData`/`delete` each record, a marker, retention markers, `delete` the dead worker's queue |
 * | {@link failDependantOps} | leader | leader | `setData` (or `delete` by its retention) `(record, version)`, its retention markers, marker rewrite/delete |
 * | {@link finishGangOps} | leader | leader | `setData` (or `delete` by its retention) `(parent, version)`, its retention markers, `delete(gangs/<id>)` |
 * | {@link pruneOps}   | leader    | leader | `delete(record, version)` finished records; their retention marker deleted or rewritten |
 * | {@link fireScheduleOps} | leader | leader | `setData(schedules/<id>, version)`, `create` each slot's record, one marker |
 * | {@link foldCountsOps} | leader | leader | `setData(counts, version)`, `delete` the deltas past the event retention; `setData(index, version)`, the newest page of each state `setData(version)`, new pages `create`, one old page `setData`/`delete(version)` |
 * | {@link progressOps} | consumer | holder | `setData`/`create(progress/<bb>/<id>)`, a delta with the `progress` event |
 * | {@link logOps}     | consumer  | holder | `setData(logs/<bb>/<id>, version)` or `create` it (no count delta: no record changes) |
 *
 * Queue-side multis carry no fence: every record write is guarded by the version the Queue
 * read, so a concurrent change makes the whole multi fail, never half-apply.
 *
 * Every multi that creates, changes the state of, or deletes job records ends with one count
 * delta `counts/d-…` (`counts.ts`; the leader's {@link foldCountsOps} folds them), which also
 * carries the multi's events (`event-log.ts`, built by `Tally.write`/`Tally.event` where the
 * count changes are built); {@link progressOps} ends with one too, with no count change and
 * its `progress` event. A plain write
 * guarded by a version sits beside them: {@link writeRecordAt} (a stale holder's note, which
 * changes no state).
 */
import type { OpResult, Transaction, ZkClient } from '@zkjobs/core';
import { CreateMode, NodeExistsError, NoNodeError, TransactionError } from '@zkjobs/core';
import type { JobRecord, JobState } from '../job.js';
import { appendTally, Tally } from './counts.js';
import { boundedValue } from './event-log.js';
import { encodePage, type IndexPage, type PageWrites } from './state-index.js';
import {
  COUNTS,
  INDEX,
  LEADER,
  indexDir,
  assignmentPrefix,
  cancelSignalPath,
  encodeAssignment,
  encodeGangDoc,
  encodeMarker,
  encodeRetentionMarker,
  gangPath,
  jobPath,
  logsPath,
  pendingMarkerPrefix,
  STORED_LOGS,
  STORED_PROGRESS,
  progressPath,
  queueDir,
  retentionMarkerPrefix,
  schedulePath,
  workerPath,
  type AssignedJob,
  type LeaderInfo,
  type PendingEntry,
  type RetentionKind,
  type RetentionMarker,
  type ScheduleDoc,
  encodeSchedule,
} from '../layout.js';
import { encodeRecord } from './record.js';

/** Ops of the holder fence: `check(workers/<holder>)`. */
export const HOLDER_FENCE_OPS = 1;
/** Ops of the leader fence: `check(workers/<self>)`, `check(leader, epoch)`. */
export const LEADER_FENCE_OPS = 2;
/** Entries per pending marker written at submit (a leader's rewrite of a partly taken marker stays small). */
export const MARKER_ENTRIES = 50;

/** The leader's identity in its fence: its znode name and the epoch it took. */
export interface LeaderFence {
  /** Its registration znode's name (`w-…`). */
  readonly self: string;
  /** The epoch: `leader`'s data version after the epoch multi. */
  readonly epoch: number;
}

/** Starts `tx` with the holder fence. */
export function holderFence(tx: Transaction, holder: string): Transaction {
  return tx.check(workerPath(holder), -1);
}

/** Starts `tx` with the leader fence. */
export function leaderFence(tx: Transaction, f: LeaderFence): Transaction {
  return tx.check(workerPath(f.self), -1).check(LEADER, f.epoch);
}

/** The job a progress write is about (for its event). */
export interface ProgressJob {
  id: string;
  type: string;
  attemptsMade: number;
  /** The value reported. */
  value: unknown;
}

/**
 * A running job's stored progress: holder fence, then the progress znode written (`exists`) or
 * created, then a delta with no count change and the `progress` event (its value when small,
 * `event-log.ts`). The record is not touched, so its version (the fencing token) does not move.
 */
export function progressOps(
  client: ZkClient,
  holder: string,
  path: string,
  data: Buffer,
  exists: boolean,
  job: ProgressJob,
): Transaction {
  const tx = holderFence(client.transaction(), holder);
  if (exists) tx.setData(path, data);
  else tx.create(path, { data });
  return appendTally(
    tx,
    new Tally().event({
      event: 'progress',
      jobId: job.id,
      type: job.type,
      attemptsMade: job.attemptsMade,
      ...boundedValue(job.value),
    }),
  );
}

/**
 * A running job's stored log lines: holder fence, then the logs znode written over the
 * `version` read, or created (`version` undefined: there was none). Nothing else: the record is
 * not touched, so its version (the fencing token) does not move. A failure past the fence means
 * the znode changed, appeared or went since it was read.
 */
export function logOps(client: ZkClient, holder: string, jobId: string, data: Buffer, version?: number): Transaction {
  const tx = holderFence(client.transaction(), holder);
  const path = logsPath(jobId);
  if (version === undefined) tx.create(path, { data });
  else tx.setData(path, data, { version });
  return tx;
}

/** True when a multi failed at one of its first `fenceOps` ops (the writer no longer qualifies). */
export function isFenceFailure(err: unknown, fenceOps: number): err is TransactionError {
  return err instanceof TransactionError && err.failedIndex < fenceOps;
}

/** True when a holder-fenced multi failed at its fence: the holder's znode (session) is gone. */
export function isHolderFenceFailure(err: unknown): err is TransactionError {
  return isFenceFailure(err, HOLDER_FENCE_OPS);
}

/** True when a leader-fenced multi failed at its fence: this leader is deposed. */
export function isLeaderFenceFailure(err: unknown): err is TransactionError {
  return isFenceFailure(err, LEADER_FENCE_OPS);
}

/** True when a multi failed after its fence (a version check or an existing/missing node of its own ops). */
export function isOpFailure(err: unknown, fenceOps: number): err is TransactionError {
  return err instanceof TransactionError && err.failedIndex >= fenceOps;
}

/** The zxid (decimal) of a committed multi: that of its first op with a Stat; undefined when none has one. */
export function zxidOf(res: readonly OpResult[]): string | undefined {
  return res.find((r) => r.stat)?.stat?.mzxid.toString();
}

/** Adds one pending marker of `entries` (`order`: its place among the markers of this multi). */
export function createMarker(tx: Transaction, entries: readonly PendingEntry[], order = 0): Transaction {
  return tx.create(pendingMarkerPrefix(entries[0]!.id), {
    data: encodeMarker([...entries], order),
    mode: CreateMode.PERSISTENT_SEQUENTIAL,
  });
}

/** A record write over the version it was read at. */
export interface RecordWrite {
  /** The record to write. */
  next: JobRecord;
  /** The version it must have (the version read). */
  version: number;
  /** Its state as read (for the counts; absent: the write changes no state). */
  from?: JobState;
}

/** The count delta of record writes, with their events (`Tally.write`; added to `t` when given). */
function tallyOf(writes: readonly (RecordWrite & { remove?: boolean; delay?: number })[], t = new Tally()): Tally {
  for (const w of writes) if (w.from !== undefined) t.write(w.next, w.from, w.remove ?? false, w.delay);
  return t;
}

// ----- the epoch ------------------------------------------------------------------------------

/** Takes the epoch: holder fence + `setData(leader, info, version)`. */
export function epochOps(
  client: ZkClient,
  self: string,
  info: LeaderInfo,
  version: number,
): { tx: Transaction; epoch(res: readonly OpResult[]): number } {
  const tx = holderFence(client.transaction(), self).setData(LEADER, JSON.stringify(info), { version });
  return { tx, epoch: (res) => res[HOLDER_FENCE_OPS]!.stat!.version };
}

// ----- the producer ---------------------------------------------------------------------------

/** One job of a submit multi: its record and its gang's task records. */
export interface SubmitItem {
  rec: JobRecord;
  /** The record's encoding, if already made (to size the multi). */
  bytes?: Buffer;
  tasks?: readonly JobRecord[];
}

/**
 * A submit: creates every record (a gang's task records after their parent), then markers of at
 * most {@link MARKER_ENTRIES} `entries` each, in order. A `NodeExists` failure means that an id
 * was taken meanwhile ({@link isIdTaken}).
 */
export function submitOps(
  client: ZkClient,
  items: readonly SubmitItem[],
  entries: readonly PendingEntry[],
): Transaction {
  const tx = client.transaction();
  const tally = new Tally();
  for (const p of items) {
    tx.create(jobPath(p.rec.id), { data: p.bytes ?? encodeRecord(p.rec) });
    tally.write(p.rec, null);
    for (const t of p.tasks ?? []) {
      tx.create(jobPath(t.id), { data: encodeRecord(t) });
      tally.write(t, null);
    }
  }
  for (let i = 0; i < entries.length; i += MARKER_ENTRIES) {
    createMarker(tx, entries.slice(i, i + MARKER_ENTRIES), i / MARKER_ENTRIES);
  }
  return appendTally(tx, tally);
}

/** True when a submit failed because one of its records exists already. */
export function isIdTaken(err: unknown): err is TransactionError {
  return err instanceof TransactionError && err.code === NodeExistsError.CODE;
}

/**
 * A cancel: the record over its version and, for a running job, the holder's cancel signal.
 * @param holder - the holder of a running job (its queue gets `x-<id>`), or undefined
 */
export function cancelOps(client: ZkClient, write: RecordWrite, holder: string | undefined): Transaction {
  const tx = client.transaction().setData(jobPath(write.next.id), encodeRecord(write.next), { version: write.version });
  if (holder !== undefined) tx.create(cancelSignalPath(holder, write.next.id));
  return appendTally(tx, tallyOf([write]));
}

/**
 * True when a cancel failed at the holder's signal only: its queue is gone (the holder died) or
 * it was signalled already — the record may then be cancelled alone ({@link cancelOps} without
 * a holder).
 */
export function isCancelSignalFailure(err: unknown): err is TransactionError {
  return (
    err instanceof TransactionError &&
    err.failedIndex === 1 &&
    (err.code === NoNodeError.CODE || err.code === NodeExistsError.CODE)
  );
}

/**
 * An operator's retry of a finished job: the record over the version read, and one pending
 * marker with its entry (a version failure: the record changed meanwhile, nothing written).
 */
export function retryOps(client: ZkClient, write: RecordWrite, entry: PendingEntry): Transaction {
  const tx = client.transaction().setData(jobPath(write.next.id), encodeRecord(write.next), { version: write.version });
  createMarker(tx, [entry]);
  return appendTally(tx, tallyOf([write]));
}

/** A record to delete by {@link removeOps}: as read, at the version read. */
export interface RemoveItem {
  rec: JobRecord;
  version: number;
  /** Its stored progress znode exists (deleted in the same multi). */
  progress?: boolean;
  /** Its stored logs znode exists (deleted in the same multi). */
  logs?: boolean;
}

/**
 * Removes job records: each record at the version read (a gang's task records are items of their
 * own), and its stored progress and logs when they exist. A failure means one changed or went
 * meanwhile (or its progress or logs znode did): nothing is written.
 */
export function removeOps(client: ZkClient, items: readonly RemoveItem[]): Transaction {
  const tx = client.transaction();
  const tally = new Tally();
  for (const it of items) {
    tx.delete(jobPath(it.rec.id), { version: it.version });
    if (it.progress) tx.delete(progressPath(it.rec.id));
    if (it.logs) tx.delete(logsPath(it.rec.id));
    tally.add(it.rec.type, it.rec.state, -1);
  }
  return appendTally(tx, tally);
}

/** Deletes `paths` (absolute to the client's namespace), in the order given: children before parents. */
export function deleteTreeOps(client: ZkClient, paths: readonly string[]): Transaction {
  const tx = client.transaction();
  for (const p of paths) tx.delete(p);
  return tx;
}

/**
 * A plain record write over `version` (not a multi).
 * @throws BadVersionError when the record moved on; NoNodeError when it is gone
 */
export async function writeRecordAt(client: ZkClient, write: RecordWrite): Promise<void> {
  await client.setData(jobPath(write.next.id), encodeRecord(write.next), { version: write.version });
}

// ----- the consumer ---------------------------------------------------------------------------

/** Claims: holder fence + each record over the version read. */
export function claimOps(
  client: ZkClient,
  holder: string,
  claims: readonly RecordWrite[],
): { tx: Transaction; zxids(res: readonly OpResult[]): string[] } {
  const tx = holderFence(client.transaction(), holder);
  for (const c of claims) tx.setData(jobPath(c.next.id), encodeRecord(c.next), { version: c.version });
  appendTally(tx, tallyOf(claims));
  return {
    tx,
    zxids: (res) => claims.map((_, i) => res[HOLDER_FENCE_OPS + i]?.stat?.mzxid.toString() ?? ''),
  };
}

/** One outcome of a completion multi (see `transitions.settle`). */
export interface CompletionItem {
  /** The record to write (its id names the znode). */
  next: JobRecord;
  /** The claim's fencing token: the version the record must have. */
  token: number;
  /** Its state as claimed (`active`), for the counts. */
  from: JobState;
  /** Delete the record instead (retention `true`). */
  remove: boolean;
  /** A pending entry for the next run. */
  retry?: PendingEntry;
  /** Retention by age, ms. */
  keepFor?: number;
}

/**
 * Completions of one holder: holder fence; the delete of each of its assignments that these
 * outcomes finish (`doneAssignments`, node names); each record written (or deleted) over its
 * claim's token; one marker with every retry; one retention marker per distinct age (its ctime
 * is the finish time on ZooKeeper's clock; the leader deletes the records when due).
 */
export function completionOps(
  client: ZkClient,
  holder: string,
  items: readonly CompletionItem[],
  doneAssignments: readonly string[] = [],
): Transaction {
  const tx = holderFence(client.transaction(), holder);
  return appendTally(tx, appendCompletions(tx, holder, items, doneAssignments));
}

/**
 * Claims of the next batch and the completions waiting to be written, in one multi of the
 * holder: holder fence; each claim as in {@link claimOps} (their results first, so `zxids`
 * reads them as there); then the completions as in {@link completionOps}; one count delta for
 * both. Any failure after the fence fails both; the caller then writes each part alone.
 */
export function claimAndCompleteOps(
  client: ZkClient,
  holder: string,
  claims: readonly RecordWrite[],
  items: readonly CompletionItem[],
  doneAssignments: readonly string[],
): { tx: Transaction; zxids(res: readonly OpResult[]): string[] } {
  const tx = holderFence(client.transaction(), holder);
  for (const c of claims) tx.setData(jobPath(c.next.id), encodeRecord(c.next), { version: c.version });
  appendTally(tx, appendCompletions(tx, holder, items, doneAssignments, tallyOf(claims)));
  return {
    tx,
    zxids: (res) => claims.map((_, i) => res[HOLDER_FENCE_OPS + i]?.stat?.mzxid.toString() ?? ''),
  };
}

/** A completion multi's ops after its fence (see {@link completionOps}); returns their count delta. */
function appendCompletions(
  tx: Transaction,
  holder: string,
  items: readonly CompletionItem[],
  doneAssignments: readonly string[],
  tally = new Tally(),
): Tally {
  // Assignments every job of which is settled with this multi: deleted in it (the leader's watch
  // sees the room once the outcomes are in), not by a request of their own.
  for (const node of doneAssignments) tx.delete(`${queueDir(holder)}/${node}`);
  const retries: PendingEntry[] = [];
  for (const c of items) {
    if (c.remove) tx.delete(jobPath(c.next.id), { version: c.token });
    else tx.setData(jobPath(c.next.id), encodeRecord(c.next), { version: c.token });
    if (c.retry) retries.push(c.retry);
  }
  if (retries.length > 0) createMarker(tx, retries);
  retentionMarkers(
    tx,
    items.filter((c) => !c.remove).map((c) => ({ next: c.next, keepFor: c.keepFor, after: c.token + 1 })),
  );
  return tallyOf(
    items.map((c) => ({
      next: c.next,
      version: c.token,
      from: c.from,
      remove: c.remove,
      ...(c.retry ? { delay: c.retry.delay } : {}),
    })),
    tally,
  );
}

/** A finished record for {@link retentionMarkers}: its record, its age, its version after the finishing write. */
interface Retained {
  next: JobRecord;
  keepFor?: number;
  /** The record's version after the finishing write. */
  after: number;
}

/**
 * One retention marker per distinct `keepFor` of `items` (its ctime starts the age, ZooKeeper's
 * clock), and one per distinct `{ count }` and kind of the records' own retention (see
 * `RetentionMarker`; a record kept by age and count is in one marker of each).
 */
function retentionMarkers(tx: Transaction, items: readonly Retained[]): Transaction {
  const groups = new Map<string, { age?: number; count?: number; kind?: RetentionKind; recs: Retained[] }>();
  const put = (key: string, g: { age?: number; count?: number; kind?: RetentionKind }, it: Retained): void => {
    const cur = groups.get(key) ?? { ...g, recs: [] };
    cur.recs.push(it);
    groups.set(key, cur);
  };
  for (const c of items) {
    if (c.keepFor !== undefined) put(`age:${c.keepFor}`, { age: c.keepFor }, c);
    const kind: RetentionKind | undefined =
      c.next.state === 'completed'
        ? 'completed'
        : c.next.state === 'failed' || c.next.state === 'dead'
          ? 'failed'
          : undefined;
    const r = kind === 'completed' ? c.next.opts.removeOnComplete : kind ? c.next.opts.removeOnFail : undefined;
    if (kind && typeof r === 'object' && r.count !== undefined)
      put(`count:${kind}:${r.count}`, { count: r.count, kind }, c);
  }
  for (const g of groups.values()) {
    tx.create(retentionMarkerPrefix(g.recs[0]!.next.id), {
      data: encodeRetentionMarker({
        ...(g.age !== undefined ? { age: g.age } : {}),
        ...(g.count !== undefined ? { count: g.count, kind: g.kind! } : {}),
        ids: g.recs.map((r) => r.next.id),
        states: g.recs.map((r): [string, JobState, number?] => {
          const stored = (r.next.progressed ? STORED_PROGRESS : 0) | (r.next.logged ? STORED_LOGS : 0);
          return stored ? [r.next.type, r.next.state, stored] : [r.next.type, r.next.state];
        }),
        versions: g.recs.map((r): [number, number] => [r.after, r.next.attemptsMade]),
      }),
      mode: CreateMode.PERSISTENT_SEQUENTIAL,
    });
  }
  return tx;
}

// ----- the leader -----------------------------------------------------------------------------

/** A pending marker after a multi took entries from it: rewritten with `remaining`, or deleted when none remain. */
export interface MarkerRewrite {
  path: string;
  version: number;
  remaining: readonly PendingEntry[];
  order: number;
}

/** Adds the rewrite or delete of each marker, each over its version. */
export function markerOps(tx: Transaction, markers: Iterable<MarkerRewrite>): Transaction {
  for (const m of markers) {
    if (m.remaining.length === 0) tx.delete(m.path, { version: m.version });
    else tx.setData(m.path, encodeMarker([...m.remaining], m.order), { version: m.version });
  }
  return tx;
}

/** One assignment of an assign multi. */
export interface AssignmentCreate {
  /** The worker it is for. */
  worker: string;
  /** Its jobs: `[id, attemptsMade, priority]`. */
  jobs: readonly AssignedJob[];
  /** The job type of an assignment of one job of a limited type. */
  type?: string;
}

/** A gang job started by an assign multi. */
export interface GangStart {
  /** The parent's id. */
  id: string;
  /** Its task ids. */
  tasks: readonly string[];
  /** The parent record set active, when it is not final. */
  parent?: RecordWrite;
}

/**
 * A scheduling round: leader fence; one sequential assignment per entry of `assignments`; the
 * rewrite or delete of every marker entries were taken from; each gang's parent set active and
 * its document `gangs/<id>` created; each of `claims` written over the version read — jobs of
 * the leader's own assignments claimed for its own idle consumer (the leader fence holds the
 * holder fence, `check(workers/<self>)`), so they start after one write instead of two.
 */
export function assignOps(
  client: ZkClient,
  fence: LeaderFence,
  assignments: readonly AssignmentCreate[],
  markers: Iterable<MarkerRewrite>,
  gangs: readonly GangStart[],
  claims: readonly RecordWrite[] = [],
): {
  tx: Transaction;
  createdNodes(res: readonly OpResult[]): (string | undefined)[];
  /** The zxid (decimal) of each claim's write, in the order of `claims`. */
  claimZxids(res: readonly OpResult[]): string[];
  /** True when the multi failed at one of `claims` (that record changed since it was read). */
  isClaimFailure(err: unknown): boolean;
} {
  const tx = leaderFence(client.transaction(), fence);
  for (const a of assignments) {
    tx.create(assignmentPrefix(a.worker), {
      data: encodeAssignment([...a.jobs], fence.epoch, a.type),
      mode: CreateMode.PERSISTENT_SEQUENTIAL,
    });
  }
  markerOps(tx, markers);
  for (const g of gangs) {
    if (g.parent) tx.setData(jobPath(g.id), encodeRecord(g.parent.next), { version: g.parent.version });
    tx.create(gangPath(g.id), { data: encodeGangDoc({ tasks: [...g.tasks], epoch: fence.epoch }) });
  }
  const firstClaim = tx.operations.length;
  for (const c of claims) tx.setData(jobPath(c.next.id), encodeRecord(c.next), { version: c.version });
  appendTally(tx, tallyOf([...gangs.flatMap((g) => (g.parent ? [g.parent] : [])), ...claims]));
  return {
    tx,
    createdNodes: (res) => assignments.map((_, i) => res[LEADER_FENCE_OPS + i]?.createdPath?.split('/').pop()),
    claimZxids: (res) => claims.map((_, i) => res[firstClaim + i]?.stat?.mzxid.toString() ?? ''),
    isClaimFailure: (err) =>
      err instanceof TransactionError && err.failedIndex >= firstClaim && err.failedIndex < firstClaim + claims.length,
  };
}

/** A gone holder's job as the requeue writes it (see `transitions.goneHolder`). */
export interface GoneHolderWrite extends RecordWrite {
  /** Delete the record (a `lost` job with `removeOnFail: true`). */
  remove?: boolean;
  /** Retention by age of a `lost` job, ms. */
  keepFor?: number;
}

/**
 * A dead worker's queue: leader fence; each job it held written over its version (back to
 * waiting, or dead when its attempts are used up: written, or deleted by its retention); one
 * marker of `entries`; retention markers of the dead ones kept by age; every child of its queue
 * and the queue deleted.
 */
export function requeueOps(
  client: ZkClient,
  fence: LeaderFence,
  worker: string,
  writes: readonly GoneHolderWrite[],
  entries: readonly PendingEntry[],
  children: readonly string[],
): Transaction {
  const tx = leaderFence(client.transaction(), fence);
  for (const w of writes) {
    if (w.remove) tx.delete(jobPath(w.next.id), { version: w.version });
    else tx.setData(jobPath(w.next.id), encodeRecord(w.next), { version: w.version });
  }
  if (entries.length > 0) createMarker(tx, entries);
  retentionMarkers(
    tx,
    writes.filter((w) => !w.remove).map((w) => ({ next: w.next, keepFor: w.keepFor, after: w.version + 1 })),
  );
  appendTally(tx, tallyOf(writes));
  const dir = queueDir(worker);
  for (const c of children) tx.delete(`${dir}/${c}`);
  tx.delete(dir);
  return tx;
}

/** A dependant failed by the leader: leader fence; the record (when still current); its marker taken from. */
export function failDependantOps(
  client: ZkClient,
  fence: LeaderFence,
  write: RecordWrite | undefined,
  markers: Iterable<MarkerRewrite>,
): Transaction {
  const tx = leaderFence(client.transaction(), fence);
  const written = write ? [leaderOutcome(tx, write)] : [];
  markerOps(tx, markers);
  return appendTally(tx, tallyOf(written));
}

/**
 * A final outcome the leader writes (a failed dependant, a finished gang), with the record's own
 * retention as a completion has it: deleted at its version for `true` (`removeOnComplete` when
 * completed, `removeOnFail` otherwise), else written, with a retention marker for `{ age }` and
 * `{ count }`. Returns the write as the counts see it.
 */
function leaderOutcome(tx: Transaction, write: RecordWrite): RecordWrite & { remove?: boolean } {
  const { next, version } = write;
  const retention = next.state === 'completed' ? next.opts.removeOnComplete : next.opts.removeOnFail;
  if (retention === true) {
    tx.delete(jobPath(next.id), { version });
    return { ...write, remove: true };
  }
  tx.setData(jobPath(next.id), encodeRecord(next), { version });
  const keepFor = typeof retention === 'object' ? retention.age : undefined;
  retentionMarkers(tx, [{ next, ...(keepFor !== undefined ? { keepFor } : {}), after: version + 1 }]);
  return write;
}

/** A finished gang: leader fence; the parent's outcome (when not final yet); its document deleted. */
export function finishGangOps(
  client: ZkClient,
  fence: LeaderFence,
  parentId: string,
  write: RecordWrite | undefined,
): Transaction {
  const tx = leaderFence(client.transaction(), fence);
  const written = write ? [leaderOutcome(tx, write)] : [];
  tx.delete(gangPath(parentId));
  return appendTally(tx, tallyOf(written));
}

/** A finished record to delete, with its type and state when known (for the counts). */
export interface PruneItem {
  id: string;
  type?: string;
  state?: JobState;
  /** It has stored progress (deleted beside the prune). */
  progressed?: boolean;
  /** It has stored logs (deleted beside the prune). */
  logged?: boolean;
  /** The version it must have (from its retention marker); absent: any version. */
  version?: number;
  /** Its `attemptsMade` when it finished (from its retention marker). */
  attemptsMade?: number;
}

/**
 * Retention: leader fence; the records `items` deleted (each at its `version` when known), then
 * the retention marker at `markerPath` deleted — or, with `remaining`, rewritten to hold only
 * those (either may be left out). A failure past the fence ({@link isOpFailure}) means a record
 * was deleted already, or changed (a note, a retry) since it finished.
 */
export function pruneOps(
  client: ZkClient,
  fence: LeaderFence,
  items: readonly PruneItem[],
  markerPath: string | undefined,
  remaining?: RetentionMarker,
): Transaction {
  const tx = leaderFence(client.transaction(), fence);
  const tally = new Tally();
  for (const it of items) {
    tx.delete(jobPath(it.id), it.version !== undefined ? { version: it.version } : {});
    if (it.type !== undefined && it.state !== undefined) tally.add(it.type, it.state, -1);
    tally.event({
      event: 'removed',
      jobId: it.id,
      type: it.type ?? '',
      attemptsMade: null,
      ...(it.state ? { prev: it.state } : {}),
    });
  }
  if (markerPath !== undefined) {
    if (remaining && remaining.ids.length > 0) tx.setData(markerPath, encodeRetentionMarker(remaining));
    else tx.delete(markerPath);
  }
  return appendTally(tx, tally);
}

/**
 * The index part of a fold (`state-index.ts`): the root's new data over the version read, each
 * state's page writes (the newest page over its version, new pages created), and a few old pages
 * compacted (each rewritten over its version, or deleted when nothing in it is current).
 */
export interface FoldIndexWrites {
  root: Buffer;
  rootVersion: number;
  pages: { state: JobState; writes: PageWrites }[];
  compact: { state: JobState; name: string; version: number; page: IndexPage | null }[];
}

/**
 * Folds count deltas into the summary: leader fence; `counts/` set to the new summary (folded
 * through, pruned through) over the version read; each delta pruned by the event retention
 * deleted (only folded ones, oldest first); then, with `index`, the lists by state: `index` set
 * over its version (`{through, n}`, or `{scan: true}` when it fell behind), the newest page of
 * each state rewritten over its version and new pages created, a few old pages compacted.
 */
export function foldCountsOps(
  client: ZkClient,
  fence: LeaderFence,
  summary: Buffer,
  version: number,
  deltas: readonly string[],
  index?: FoldIndexWrites,
): Transaction {
  const tx = leaderFence(client.transaction(), fence).setData(COUNTS, summary, { version });
  for (const d of deltas) tx.delete(`${COUNTS}/${d}`);
  if (!index) return tx;
  tx.setData(INDEX, index.root, { version: index.rootVersion });
  for (const { state, writes } of index.pages) {
    if (writes.rewrite) {
      tx.setData(`${indexDir(state)}/${writes.rewrite.name}`, encodePage(writes.rewrite), {
        version: writes.rewrite.version,
      });
    }
    for (const c of writes.creates) tx.create(`${indexDir(state)}/${c.name}`, { data: encodePage(c) });
  }
  for (const c of index.compact) {
    const path = `${indexDir(c.state)}/${c.name}`;
    if (c.page) tx.setData(path, encodePage(c.page), { version: c.version });
    else tx.delete(path, { version: c.version });
  }
  return tx;
}

/**
 * A schedule's due slots fired: leader fence; the schedule's document (its `next` advanced) over
 * the version read; each slot's job record (`<id>@<slot>`) created; one marker of their entries.
 * A version failure means the schedule changed meanwhile (read it again); a `NodeExists` that a
 * slot's job exists already.
 */
export function fireScheduleOps(
  client: ZkClient,
  fence: LeaderFence,
  doc: ScheduleDoc,
  version: number,
  records: readonly JobRecord[],
  entries: readonly PendingEntry[],
): Transaction {
  const tx = leaderFence(client.transaction(), fence).setData(schedulePath(doc.id), encodeSchedule(doc), { version });
  const tally = new Tally();
  for (const r of records) {
    tx.create(jobPath(r.id), { data: encodeRecord(r) });
    tally.write(r, null);
  }
  if (entries.length > 0) createMarker(tx, entries);
  return appendTally(tx, tally);
}
