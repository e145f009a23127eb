/**
 * The history checker behind `zkjobs verify`: reads the job records of a namespace (with their
 * attempt histories), the pending markers and the worker queues, and — when given — the
 * append-only logs the workers wrote, and checks the invariants of the job engine that a run must
 * never break (docs/architecture.md, "Verification and faults"):
 *
 * - `lost`: every submitted job is in a final state or in a live one (waiting/delayed jobs are in
 *   a pending marker or an assignment; active jobs are claimed by a live worker or by a dead one
 *   whose queue the leader has yet to requeue);
 * - `double-completion`: no job has two completion records;
 * - `stale-completion`: no completion was accepted from a claim that was no longer current;
 * - `overlapping-claims`: no two claims on one job were current at the same time;
 * - `token-order`: the fencing tokens handed out for a job increase with every claim;
 * - `history-complete`: every claim a worker reported is in its job's record (a stale writer
 *   that overwrote a record erases the claims made after its own);
 * - `rerun-explained`: every run of a job's handler under a claim that did not complete it is
 *   explained by a requeue, a refused or lost claim, or a failed attempt. Runs are the claims in
 *   the records (and the side effects of ledgers, when given); explanations are the attempts'
 *   outcomes and the records' notes of refused completions and lost claims (and the logs' events,
 *   when given), so the check runs on the tree alone.
 *
 * Counterexamples name the job and the claims (token, worker, session) involved.
 */
import { readFile } from 'node:fs/promises';
import type { ZkClient } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import {
  JOB_STATES,
  MAX_HISTORY,
  isClaimEntry,
  isFinalState,
  type AttemptRecord,
  type JobRecord,
  type JobState,
} from './job.js';
import {
  BUCKET_NAMES,
  GANGS,
  JOBS,
  PENDING,
  QUEUE,
  WORKERS,
  decodeAssignment,
  decodeMarker,
  isAssignmentNode,
  isWorkerNode,
  jobPath,
} from './layout.js';
import { HISTORY_MESSAGES, type HistoryEventKind } from './log-events.js';
import { mapLimit } from './util.js';
import { parseRecord } from './engine/record.js';

export type { HistoryEventKind } from './log-events.js';

/**
 * One event of the history, normalised from any of the formats {@link parseHistoryLine} reads.
 */
export interface HistoryEvent {
  /** What happened. */
  kind: HistoryEventKind;
  /** The job id. */
  job: string;
  /** The claim's fencing token, when known. */
  token?: number;
  /** The 1-based attempt number, when known. */
  attempt?: number;
  /** The worker's znode name (`w-…`). */
  worker?: string;
  /** The worker's session id (hex). */
  session?: string;
  /** When, ms since the epoch (the writer's clock). */
  at?: number;
  /** Where it was read from (`file:line`), for counterexamples. */
  source?: string;
}

/** The name of a check. */
export type CheckName =
  | 'lost'
  | 'double-completion'
  | 'stale-completion'
  | 'overlapping-claims'
  | 'token-order'
  | 'history-complete'
  | 'rerun-explained';

/** Every {@link CheckName}, in report order. */
export const CHECK_NAMES: readonly CheckName[] = [
  'lost',
  'double-completion',
  'stale-completion',
  'overlapping-claims',
  'token-order',
  'history-complete',
  'rerun-explained',
];

/** One violation of a check. */
export interface Counterexample {
  /** The check it violates. */
  check: CheckName;
  /** The job. */
  job: string;
  /** What is wrong, in one sentence. */
  message: string;
  /** The attempts, events or tree entries that show it. */
  evidence?: unknown;
}

/** The outcome of one check. */
export interface CheckResult {
  /** The check. */
  name: CheckName;
  /** True when it found no counterexample. */
  ok: boolean;
  /** False when it could not run for lack of input (e.g. no worker logs); `ok` is then true. */
  ran: boolean;
  /** Its counterexamples (at most {@link VerifyOptions.maxCounterexamples}). */
  counterexamples: Counterexample[];
  /** How many counterexamples there were in all. */
  total: number;
}

/** What {@link verify} and {@link checkHistory} return. */
export interface VerifyReport {
  /** True when every check passed. */
  ok: boolean;
  /** Job records read from the tree. */
  jobs: number;
  /** Records by state. */
  states: Record<JobState, number>;
  /** Figures of the history. */
  stats: {
    /** Claims (distinct job + token) seen in the records and the logs. */
    claims: number;
    /** Accepted completions. */
    completions: number;
    /** Completions refused because the claim was no longer current. */
    refused: number;
    /** Claims lost while running (handler aborted). */
    stalled: number;
    /** Claims the leader requeued. */
    requeued: number;
    /** Jobs whose handler ran under more than one claim (claims in the records, `effect` events of ledgers). */
    reruns: number;
    /** History events read. */
    events: number;
  };
  /** One result per check, in {@link CHECK_NAMES} order. */
  checks: CheckResult[];
}

/** A job record as read from the tree, with its znode's data version. */
export interface RecordSnapshot {
  /** The record. */
  rec: JobRecord;
  /** The znode's data version. */
  version: number;
}

/** What {@link snapshotTree} reads. */
export interface TreeSnapshot {
  /** Every job record, by id. */
  records: Map<string, RecordSnapshot>;
  /** `"<id>@<attemptsMade>"` of every entry of every pending marker. */
  pending: Set<string>;
  /** `"<id>@<attemptsMade>"` → the worker queues it is assigned in. */
  assigned: Map<string, string[]>;
  /** Live worker znodes (`w-…`). */
  workers: Set<string>;
  /** Worker queue directories (`queue/w-…`), live or left by dead workers. */
  queues: Set<string>;
  /** Gang jobs being followed by the leader (`gangs/<parent>`). */
  gangs: Set<string>;
}

/** Input of {@link checkHistory}. */
export interface CheckInput {
  /** The tree. */
  tree: TreeSnapshot;
  /** History events (worker logs, ledgers); may be empty. */
  events?: readonly HistoryEvent[];
  /**
   * Ids of the jobs that were submitted (besides `submit` events). A submitted job whose record
   * is gone must have a completion (or final failure) in the history: records deleted by
   * `removeOnComplete` / `removeOnFail` are otherwise indistinguishable from lost ones.
   */
  submitted?: Iterable<string>;
  /** Clock skew tolerated between the hosts' clocks when comparing times, ms. @defaultValue 250 */
  skewMs?: number;
  /** At most this many counterexamples are kept per check. @defaultValue 20 */
  maxCounterexamples?: number;
}

/** Options of {@link verify}. */
export interface VerifyOptions extends Omit<CheckInput, 'tree'> {
  /**
   * A job that looks stuck (not final, in no marker or queue) is read again after this many ms
   * and only reported if its record did not change meanwhile, so that a busy cluster does not
   * give false alarms. 0 = report at once.
   * @defaultValue 1000
   */
  settleMs?: number;
}

const key = (id: string, attemptsMade: number): string => `${id}@${attemptsMade}`;

async function childrenOrEmpty(client: ZkClient, path: string): Promise<string[]> {
  try {
    return (await client.getChildren(path)).children;
  } catch (err) {
    if (err instanceof NoNodeError) return [];
    throw err;
  }
}

async function dataOrNull(client: ZkClient, path: string): Promise<{ data: Buffer; version: number } | null> {
  try {
    const { data, stat } = await client.getData(path);
    return { data, version: stat.version };
  } catch (err) {
    if (err instanceof NoNodeError) return null;
    throw err;
  }
}

/**
 * Reads the pending markers and the worker queues (everything that says where a not-yet-claimed
 * job is waiting) and the live workers.
 */
async function snapshotIndex(client: ZkClient): Promise<Omit<TreeSnapshot, 'records'>> {
  const pending = new Set<string>();
  await mapLimit(BUCKET_NAMES, 16, async (b) => {
    const markers = await childrenOrEmpty(client, `${PENDING}/${b}`);
    await mapLimit(markers, 16, async (m) => {
      const d = await dataOrNull(client, `${PENDING}/${b}/${m}`);
      if (!d) return;
      try {
        for (const e of decodeMarker(d.data)) pending.add(key(e.id, e.attemptsMade));
      } catch {
        // an unreadable marker holds no job we can see
      }
    });
  });
  const queues = new Set(await childrenOrEmpty(client, QUEUE));
  const assigned = new Map<string, string[]>();
  await mapLimit([...queues], 8, async (w) => {
    const nodes = await childrenOrEmpty(client, `${QUEUE}/${w}`);
    await mapLimit(nodes.filter(isAssignmentNode), 16, async (n) => {
      const d = await dataOrNull(client, `${QUEUE}/${w}/${n}`);
      if (!d) return;
      try {
        for (const [id, a] of decodeAssignment(d.data)) {
          const k = key(id, a);
          assigned.set(k, [...(assigned.get(k) ?? []), w]);
        }
      } catch {
        // unreadable assignment: ignored
      }
    });
  });
  const workers = new Set((await childrenOrEmpty(client, WORKERS)).filter(isWorkerNode));
  const gangs = new Set(await childrenOrEmpty(client, GANGS));
  return { pending, assigned, workers, queues, gangs };
}

async function readRecords(client: ZkClient, ids?: readonly string[]): Promise<Map<string, RecordSnapshot>> {
  const paths: string[] = [];
  if (ids) {
    for (const id of ids) paths.push(jobPath(id));
  } else {
    await mapLimit(BUCKET_NAMES, 16, async (b) => {
      for (const c of await childrenOrEmpty(client, `${JOBS}/${b}`)) paths.push(`${JOBS}/${b}/${c}`);
    });
  }
  const records = new Map<string, RecordSnapshot>();
  await mapLimit(paths, 64, async (p) => {
    const d = await dataOrNull(client, p);
    if (!d) return;
    try {
      const rec = parseRecord(d.data, p);
      records.set(rec.id, { rec, version: d.version });
    } catch {
      // not a record
    }
  });
  return records;
}

/**
 * Reads everything the checker needs from the tree of one namespace.
 * @param client - a client using the namespace (`client.usingNamespace(root)`)
 */
export async function snapshotTree(client: ZkClient): Promise<TreeSnapshot> {
  // Records first, then the index: a job that moves meanwhile is seen in its older state in the
  // records and, if anywhere, in its newer place in the index — which only matters for `lost`,
  // whose suspects verify() re-reads.
  const records = await readRecords(client);
  return { records, ...(await snapshotIndex(client)) };
}

/**
 * Checks a namespace: snapshots the tree, re-reads jobs that look stuck after `settleMs`, and
 * runs {@link checkHistory}.
 * @param client - a client using the namespace (`client.usingNamespace(root)`)
 */
export async function verify(client: ZkClient, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const tree = await snapshotTree(client);
  let report = checkHistory({ ...opts, tree });
  const settleMs = opts.settleMs ?? 1000;
  const lost = report.checks.find((c) => c.name === 'lost')!;
  if (lost.total === 0 || settleMs <= 0) return report;
  // Some job looked stuck: it may just have been moving. Look again later; a job that changed
  // (another version, or now somewhere in the index) is not stuck.
  for (let round = 0; round < 2; round++) {
    await new Promise((r) => setTimeout(r, settleMs));
    const suspects = lostSuspects(tree, opts);
    if (suspects.length === 0) break;
    const again = await readRecords(client, suspects);
    const index = await snapshotIndex(client);
    let changed = false;
    for (const id of suspects) {
      const now = again.get(id);
      const before = tree.records.get(id);
      if (now && (!before || now.version !== before.version)) {
        tree.records.set(id, now);
        changed = true;
      }
    }
    Object.assign(tree, index);
    report = checkHistory({ ...opts, tree });
    if (!changed && report.checks.find((c) => c.name === 'lost')!.total === 0) break;
  }
  return report;
}

function lostSuspects(tree: TreeSnapshot, input: Omit<CheckInput, 'tree'>): string[] {
  const c = new Checker({ ...input, tree, maxCounterexamples: Number.MAX_SAFE_INTEGER });
  return [...new Set(c.checkLost().map((x) => x.job))];
}

/** A claim as known from the records and the logs. */
interface Claim {
  token: number;
  attempt?: number;
  worker?: string;
  session?: string;
  at?: number;
  /** From the record's history. */
  record?: AttemptRecord;
  /** From the logs. */
  logged?: HistoryEvent;
}

interface JobView {
  id: string;
  snap?: RecordSnapshot;
  claims: Map<number, Claim>;
  /** Tokens of accepted completions → the events/attempts that show them. */
  completions: Map<number, { record?: AttemptRecord; events: HistoryEvent[] }>;
  events: HistoryEvent[];
}

function attemptSummary(a: AttemptRecord): Record<string, unknown> {
  return {
    attempt: a.attempt,
    token: a.token,
    worker: a.worker,
    session: a.session,
    outcome: a.outcome,
    startedAt: a.startedAt,
    ...(a.endedAt !== undefined ? { endedAt: a.endedAt } : {}),
    ...(a.by !== undefined ? { by: a.by } : {}),
  };
}

function eventSummary(e: HistoryEvent): Record<string, unknown> {
  const o: Record<string, unknown> = { kind: e.kind };
  for (const k of ['token', 'attempt', 'worker', 'session', 'at', 'source'] as const) {
    if (e[k] !== undefined) o[k] = e[k];
  }
  return o;
}

/**
 * The claims of a record's history: every entry but an operator's retry (`retried`, no run;
 * the attempt before it ended failed or dead, which explains the run after it).
 */
function claimsOf(rec: JobRecord | undefined): AttemptRecord[] {
  return (rec?.history ?? []).filter(isClaimEntry);
}

/** Outcomes that end a claim without completing the job. */
const NOT_COMPLETED: ReadonlySet<string> = new Set(['failed', 'retrying', 'dead', 'released', 'requeued', 'cancelled']);

class Checker {
  private readonly jobs = new Map<string, JobView>();
  private readonly skew: number;
  private readonly max: number;
  readonly submitted = new Set<string>();

  constructor(private readonly input: CheckInput) {
    this.skew = input.skewMs ?? 250;
    this.max = input.maxCounterexamples ?? 20;
    for (const id of input.submitted ?? []) this.submitted.add(id);
    for (const [id, snap] of input.tree.records) {
      const v = this.view(id);
      v.snap = snap;
      for (const a of claimsOf(snap.rec)) {
        const c = this.claim(v, a.token);
        c.record = a;
        c.attempt ??= a.attempt;
        c.worker ??= a.worker;
        c.session ??= a.session;
        c.at ??= a.startedAt;
        if (a.outcome === 'completed') this.completion(v, a.token).record = a;
      }
      // Refused completions and lost claims that the holders noted in the record itself.
      for (const n of snap.rec.notes ?? []) {
        v.events.push({
          kind: n.kind === 'refused' ? 'refuse' : 'stall',
          job: id,
          token: n.token,
          attempt: n.attempt,
          worker: n.worker,
          session: n.session,
          at: n.at,
          source: 'tree',
        });
      }
    }
    for (const e of input.events ?? []) {
      if (e.kind === 'submit') {
        this.submitted.add(e.job);
        continue;
      }
      const v = this.view(e.job);
      v.events.push(e);
      if (e.token === undefined) continue;
      if (e.kind === 'claim') {
        const c = this.claim(v, e.token);
        c.logged ??= e;
        if (e.attempt !== undefined) c.attempt ??= e.attempt;
        if (e.worker !== undefined) c.worker ??= e.worker;
        if (e.session !== undefined) c.session ??= e.session;
        if (e.at !== undefined) c.at ??= e.at;
      }
      if (e.kind === 'complete') this.completion(v, e.token).events.push(e);
    }
  }

  private view(id: string): JobView {
    let v = this.jobs.get(id);
    if (!v) {
      v = { id, claims: new Map(), completions: new Map(), events: [] };
      this.jobs.set(id, v);
    }
    return v;
  }

  private claim(v: JobView, token: number): Claim {
    let c = v.claims.get(token);
    if (!c) {
      c = { token };
      v.claims.set(token, c);
    }
    return c;
  }

  private completion(v: JobView, token: number): { record?: AttemptRecord; events: HistoryEvent[] } {
    let c = v.completions.get(token);
    if (!c) {
      c = { events: [] };
      v.completions.set(token, c);
    }
    return c;
  }

  private hasEvents(): boolean {
    return (this.input.events ?? []).some((e) => e.kind !== 'submit');
  }

  /** `lost`: every job is final or somewhere it will be picked up from. */
  checkLost(): Counterexample[] {
    const out: Counterexample[] = [];
    const { tree } = this.input;
    for (const id of this.submitted) {
      if (tree.records.has(id)) continue;
      // removeOnComplete / removeOnFail delete the record with the completing write.
      const finished = this.jobs.get(id)?.events.some((e) => e.kind === 'complete' || e.kind === 'fail');
      if (!finished) {
        out.push({
          check: 'lost',
          job: id,
          message: `job ${id} was submitted but has no record and no completion in the history`,
        });
      }
    }
    for (const [id, { rec, version }] of tree.records) {
      if (isFinalState(rec.state)) continue;
      const k = key(id, rec.attemptsMade);
      if (rec.state === 'waiting' || rec.state === 'delayed') {
        if (tree.pending.has(k) || tree.assigned.has(k)) continue;
        if (rec.gang && tree.gangs.has(rec.gang.parent)) continue; // the leader follows the gang
        out.push({
          check: 'lost',
          job: id,
          message: `job ${id} is ${rec.state} (attempts made ${rec.attemptsMade}, version ${version}) but is in no pending marker and no worker queue: nothing will ever schedule it`,
          evidence: { state: rec.state, attemptsMade: rec.attemptsMade, version },
        });
        continue;
      }
      // active
      if (!rec.claim) {
        if ((rec.opts?.parallelism ?? 1) > 1 && tree.gangs.has(id)) continue; // a running gang job
        out.push({
          check: 'lost',
          job: id,
          message: `job ${id} is active without a claim and is not a running gang job`,
          evidence: { version },
        });
        continue;
      }
      const w = rec.claim.worker;
      if (tree.workers.has(w)) continue; // its holder is alive (or its session is about to expire)
      const inDeadQueue = tree.queues.has(w) && (tree.assigned.get(key(id, rec.attemptsMade - 1)) ?? []).includes(w);
      if (inDeadQueue) continue; // the leader requeues a dead worker's queue
      out.push({
        check: 'lost',
        job: id,
        message: `job ${id} is claimed (token ${rec.claim.token}) by ${w}, which is gone, and no queue of ${w} holds it: no leader will requeue it`,
        evidence: { claim: rec.claim, version },
      });
    }
    return out;
  }

  /** `double-completion`: at most one accepted completion per job. */
  checkDoubleCompletion(): Counterexample[] {
    const out: Counterexample[] = [];
    for (const v of this.jobs.values()) {
      const recorded = claimsOf(v.snap?.rec).filter((a) => a.outcome === 'completed');
      if (v.completions.size > 1 || recorded.length > 1) {
        const tokens = [...v.completions.keys()].sort((a, b) => a - b);
        out.push({
          check: 'double-completion',
          job: v.id,
          message: `job ${v.id} has ${Math.max(v.completions.size, recorded.length)} completion records (tokens ${tokens.join(', ')})`,
          evidence: [...v.completions].map(([token, c]) => ({
            token,
            ...(c.record ? { record: attemptSummary(c.record) } : {}),
            events: c.events.map(eventSummary),
          })),
        });
      }
    }
    return out;
  }

  /**
   * `stale-completion`: an accepted completion must come from the job's latest claim, with no
   * requeue of that claim before it, and (the record still there) be the first write to the
   * record after that claim: the completing multi sets version token + 1.
   */
  checkStaleCompletion(): Counterexample[] {
    const out: Counterexample[] = [];
    for (const v of this.jobs.values()) {
      for (const [token, c] of v.completions) {
        const later = [...v.claims.values()].filter((x) => x.token > token).sort((a, b) => a.token - b.token);
        const requeued = v.events.filter((e) => e.kind === 'requeue' && e.token === token);
        const evidence = {
          completion: {
            token,
            ...(c.record ? { record: attemptSummary(c.record) } : {}),
            events: c.events.map(eventSummary),
          },
          ...(later.length > 0 ? { laterClaims: later.map(claimSummary) } : {}),
          ...(requeued.length > 0 ? { requeued: requeued.map(eventSummary) } : {}),
        };
        if (later.length > 0) {
          out.push({
            check: 'stale-completion',
            job: v.id,
            message: `job ${v.id}: completion accepted from claim ${token} although claim ${later[0]!.token} (${later[0]!.worker ?? '?'}) superseded it`,
            evidence,
          });
          continue;
        }
        if (requeued.length > 0) {
          out.push({
            check: 'stale-completion',
            job: v.id,
            message: `job ${v.id}: completion accepted from claim ${token} after the leader had requeued that claim`,
            evidence,
          });
          continue;
        }
        const snap = v.snap;
        // Notes appended after the completion (each by a compare-and-set over version ≥ token + 1)
        // are the only writes allowed after it.
        const after = (snap?.rec.notes ?? []).filter((n) => n.over >= token + 1).length;
        if (snap && snap.rec.state === 'completed' && c.record && snap.version !== token + 1 + after) {
          out.push({
            check: 'stale-completion',
            job: v.id,
            message: `job ${v.id}: completed by claim ${token} but the record is at version ${snap.version}, not ${token + 1 + after}: the record changed between that claim and its completion`,
            evidence: { ...evidence, version: snap.version },
          });
        }
      }
    }
    return out;
  }

  /**
   * `overlapping-claims`: claim k ended (requeued, refused, failed …) before claim k+1 began; a
   * completion accepted while a later claim had already begun means both were current.
   */
  checkOverlap(): Counterexample[] {
    const out: Counterexample[] = [];
    for (const v of this.jobs.values()) {
      const hist = [...claimsOf(v.snap?.rec)].sort((a, b) => a.token - b.token);
      for (let i = 0; i + 1 < hist.length; i++) {
        const a = hist[i]!;
        const b = hist[i + 1]!;
        if (a.outcome === 'running') {
          out.push({
            check: 'overlapping-claims',
            job: v.id,
            message: `job ${v.id}: claim ${b.token} (${b.worker}) was made while claim ${a.token} (${a.worker}) was never closed`,
            evidence: [attemptSummary(a), attemptSummary(b)],
          });
        } else if (a.endedAt !== undefined && a.endedAt > b.startedAt + this.skew) {
          out.push({
            check: 'overlapping-claims',
            job: v.id,
            message: `job ${v.id}: claim ${a.token} (${a.worker}) ended at ${a.endedAt}, ${a.endedAt - b.startedAt} ms after claim ${b.token} (${b.worker}) began`,
            evidence: [attemptSummary(a), attemptSummary(b)],
          });
        }
      }
      for (const [token, c] of v.completions) {
        for (const e of c.events) {
          if (e.at === undefined) continue;
          const overlapped = [...v.claims.values()].find(
            (x) => x.token > token && x.at !== undefined && x.at + this.skew < e.at!,
          );
          if (overlapped) {
            out.push({
              check: 'overlapping-claims',
              job: v.id,
              message: `job ${v.id}: claim ${token} completed at ${e.at}, ${e.at - overlapped.at!} ms after claim ${overlapped.token} (${overlapped.worker ?? '?'}) began`,
              evidence: { completion: eventSummary(e), claim: claimSummary(overlapped) },
            });
            break;
          }
        }
      }
    }
    return out;
  }

  /** `token-order`: tokens strictly increase with the attempt number, and no token is handed out twice. */
  checkTokens(): Counterexample[] {
    const out: Counterexample[] = [];
    for (const v of this.jobs.values()) {
      const hist = claimsOf(v.snap?.rec);
      for (let i = 0; i + 1 < hist.length; i++) {
        const a = hist[i]!;
        const b = hist[i + 1]!;
        if (!(b.token > a.token) || !(b.attempt > a.attempt)) {
          out.push({
            check: 'token-order',
            job: v.id,
            message: `job ${v.id}: attempt ${b.attempt} got token ${b.token}, not larger than attempt ${a.attempt}'s token ${a.token}`,
            evidence: [attemptSummary(a), attemptSummary(b)],
          });
        }
      }
      // Claims from the logs: one token per claim, and attempt order = token order.
      const byToken = new Map<number, HistoryEvent[]>();
      for (const e of v.events) {
        if (e.kind !== 'claim' || e.token === undefined) continue;
        byToken.set(e.token, [...(byToken.get(e.token) ?? []), e]);
      }
      for (const [token, es] of byToken) {
        const holders = new Set(es.map((e) => `${e.worker ?? '?'}/${e.session ?? '?'}/${e.attempt ?? '?'}`));
        if (holders.size > 1) {
          out.push({
            check: 'token-order',
            job: v.id,
            message: `job ${v.id}: token ${token} was handed out to ${holders.size} different claims`,
            evidence: es.map(eventSummary),
          });
        }
      }
      const claims = [...v.claims.values()].filter((c) => c.attempt !== undefined).sort((a, b) => a.token - b.token);
      for (let i = 0; i + 1 < claims.length; i++) {
        const a = claims[i]!;
        const b = claims[i + 1]!;
        if (a.record && b.record) continue; // both in the record: checked above
        if (b.attempt! <= a.attempt!) {
          out.push({
            check: 'token-order',
            job: v.id,
            message: `job ${v.id}: attempt ${b.attempt} has token ${b.token} but attempt ${a.attempt} has token ${a.token}`,
            evidence: [claimSummary(a), claimSummary(b)],
          });
        }
      }
    }
    return out;
  }

  /** `history-complete`: each claim from the logs is in its record (unless the record is gone or its history was trimmed). */
  checkHistoryComplete(): Counterexample[] {
    const out: Counterexample[] = [];
    for (const v of this.jobs.values()) {
      const snap = v.snap;
      if (!snap) continue;
      const hist = snap.rec.history;
      const oldest = hist.length >= MAX_HISTORY ? (hist[0]?.token ?? 0) : -1;
      const missing = [...v.claims.values()].filter((c) => !c.record && c.logged && c.token > oldest);
      if (missing.length > 0) {
        out.push({
          check: 'history-complete',
          job: v.id,
          message: `job ${v.id}: claim${missing.length > 1 ? 's' : ''} ${missing.map((c) => c.token).join(', ')} reported by workers ${missing.length > 1 ? 'are' : 'is'} missing from the record (overwritten by a stale writer?)`,
          evidence: { missing: missing.map(claimSummary), history: hist.map(attemptSummary), version: snap.version },
        });
      }
    }
    return out;
  }

  /**
   * `rerun-explained`: each claim under which a side effect ran, other than the completing one,
   * ended in a recorded way: requeued, refused/stalled, failed/retrying/dead, timeout, cancelled.
   */
  checkReruns(): { out: Counterexample[]; reruns: number } {
    const out: Counterexample[] = [];
    let reruns = 0;
    for (const v of this.jobs.values()) {
      const effects = v.events.filter((e) => e.kind === 'effect');
      // Runs: claims recorded in the record (each started the handler) and side effects of ledgers.
      const tokens = [
        ...new Set([
          ...claimsOf(v.snap?.rec).map((a) => a.token),
          ...effects.map((e) => e.token).filter((t): t is number => t !== undefined),
        ]),
      ];
      if (tokens.length > 1) reruns++;
      const current = v.snap?.rec.state === 'active' ? v.snap.rec.claim?.token : undefined;
      for (const t of tokens) {
        if (v.completions.has(t) || t === current) continue;
        const rec = v.claims.get(t)?.record;
        if (rec && NOT_COMPLETED.has(rec.outcome)) continue;
        const why = v.events.find(
          (e) =>
            e.token === t && (e.kind === 'refuse' || e.kind === 'stall' || e.kind === 'requeue' || e.kind === 'fail'),
        );
        if (why) continue;
        if (rec?.outcome === 'running' && v.snap?.rec.state === 'active') continue; // still running
        out.push({
          check: 'rerun-explained',
          job: v.id,
          message: `job ${v.id}: its handler ran under claim ${t}, which did not complete it, and nothing in the history says why (no requeue, refusal, lost claim or failure)`,
          evidence: {
            effects: effects.filter((e) => e.token === t).map(eventSummary),
            ...(rec ? { attempt: attemptSummary(rec) } : {}),
            completions: [...v.completions.keys()],
          },
        });
      }
    }
    return { out, reruns };
  }

  report(): VerifyReport {
    const states = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const { rec } of this.input.tree.records.values()) {
      if (rec.state in states) states[rec.state]++;
    }
    const hasEvents = this.hasEvents();
    const reruns = this.checkReruns();
    const found: Record<CheckName, { list: Counterexample[]; ran: boolean }> = {
      lost: { list: this.checkLost(), ran: true },
      'double-completion': { list: this.checkDoubleCompletion(), ran: true },
      'stale-completion': { list: this.checkStaleCompletion(), ran: true },
      'overlapping-claims': { list: this.checkOverlap(), ran: true },
      'token-order': { list: this.checkTokens(), ran: true },
      'history-complete': { list: this.checkHistoryComplete(), ran: hasEvents },
      'rerun-explained': { list: reruns.out, ran: true },
    };
    const checks: CheckResult[] = CHECK_NAMES.map((name) => ({
      name,
      ok: found[name].list.length === 0,
      ran: found[name].ran,
      counterexamples: found[name].list.slice(0, this.max),
      total: found[name].list.length,
    }));
    // Logs and the records' notes (the same refusal may be in both).
    const distinct = (kind: HistoryEventKind): number =>
      new Set(
        [...this.jobs.values()].flatMap((v) =>
          v.events.filter((e) => e.kind === kind).map((e) => `${e.job}@${e.token ?? '?'}`),
        ),
      ).size;
    let claims = 0;
    let completions = 0;
    let requeued = 0;
    for (const v of this.jobs.values()) {
      claims += v.claims.size;
      completions += v.completions.size;
      requeued += new Set([
        ...[...v.claims.values()].filter((c) => c.record?.outcome === 'requeued').map((c) => c.token),
        ...v.events.filter((e) => e.kind === 'requeue' && e.token !== undefined).map((e) => e.token),
      ]).size;
    }
    return {
      ok: checks.every((c) => c.ok),
      jobs: this.input.tree.records.size,
      states,
      stats: {
        claims,
        completions,
        refused: distinct('refuse'),
        stalled: distinct('stall'),
        requeued,
        reruns: reruns.reruns,
        events: (this.input.events ?? []).length,
      },
      checks,
    };
  }
}

function claimSummary(c: Claim): Record<string, unknown> {
  return {
    token: c.token,
    ...(c.attempt !== undefined ? { attempt: c.attempt } : {}),
    ...(c.worker !== undefined ? { worker: c.worker } : {}),
    ...(c.session !== undefined ? { session: c.session } : {}),
    ...(c.at !== undefined ? { at: c.at } : {}),
    ...(c.record ? { outcome: c.record.outcome } : { outcome: 'not in record' }),
    ...(c.logged?.source ? { source: c.logged.source } : {}),
  };
}

/**
 * Runs every check on a snapshot of the tree and a history, without touching ZooKeeper (the
 * pure half of {@link verify}; feed it a hand-made history to test the checker itself).
 */
export function checkHistory(input: CheckInput): VerifyReport {
  return new Checker(input).report();
}

// ----- reading history logs ------------------------------------------------------------------

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** `zkjobs worker start --json` event names that are history events. */
const CLI_EVENTS: Record<string, HistoryEventKind> = {
  active: 'claim',
  completed: 'complete',
  retrying: 'fail',
  failed: 'fail',
  dead: 'fail',
  stalled: 'stall',
};

const KINDS: ReadonlySet<string> = new Set<HistoryEventKind>([
  'submit',
  'claim',
  'complete',
  'fail',
  'refuse',
  'stall',
  'requeue',
  'effect',
]);

/**
 * Parses one line of a history log into an event, or null when the line is not one. Three
 * formats are read:
 *
 * - the native format: `{"kind":"claim"|"complete"|…,"job":…,"token":…,"attempt":…,"worker":…,"session":…,"at":…}`
 *   (what a ledger of side effects should write, with `kind: "effect"`);
 * - the engine's pino logs (`msg` "job active", "job completed", "completion refused: lost
 *   claim", "claim lost: job stalled", "job requeued", …, with `jobId`, `token`, `attempt`,
 *   `worker`, `session`, `time`);
 * - `zkjobs worker start --json` events (`event` active, completed, stalled, failed, …, with
 *   `jobId`, `token`, `at`); a `stalled` event's token is read from its error message.
 *
 * A `completed` / `failed` CLI event without a token is given the token of the latest claim of
 * the same job in the same log by {@link readHistoryLines}.
 */
export function parseHistoryLine(line: string, source?: string): HistoryEvent | null {
  const s = line.trim();
  if (!s.startsWith('{')) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(s) as Record<string, unknown>;
  } catch {
    return null;
  }
  let kind: HistoryEventKind | undefined;
  let job: string | undefined;
  let at: number | undefined;
  if (typeof o['kind'] === 'string' && KINDS.has(o['kind'])) {
    kind = o['kind'] as HistoryEventKind;
    job = str(o['job']) ?? str(o['jobId']);
    at = num(o['at']) ?? num(o['t']);
  } else if (typeof o['msg'] === 'string' && Object.hasOwn(HISTORY_MESSAGES, o['msg'])) {
    kind = HISTORY_MESSAGES[o['msg']];
    job = str(o['jobId']);
    at = num(o['time']);
  } else if (typeof o['event'] === 'string' && Object.hasOwn(CLI_EVENTS, o['event'])) {
    kind = CLI_EVENTS[o['event']];
    job = str(o['jobId']);
    at = num(o['at']) ?? num(o['t']);
  }
  if (!kind || !job) return null;
  const e: HistoryEvent = { kind, job };
  let token = num(o['token']);
  if (token === undefined && (kind === 'stall' || kind === 'refuse')) {
    const m = /\(token (\d+)\)/.exec(str(o['error']) ?? str(o['reason']) ?? str(o['message']) ?? '');
    if (m) token = Number(m[1]);
  }
  if (token !== undefined) e.token = token;
  const attempt = num(o['attempt']);
  if (attempt !== undefined) e.attempt = attempt;
  const worker = str(o['worker']);
  if (worker !== undefined) e.worker = worker;
  const session = str(o['session']);
  if (session !== undefined) e.session = session;
  if (at !== undefined) e.at = at;
  if (source !== undefined) e.source = source;
  return e;
}

/**
 * Parses the lines of one log (see {@link parseHistoryLine}); a completion or failure without a
 * token gets the token of the latest claim of the same job earlier in the same log.
 * @param name - the log's name, used in `source` (`name:line`)
 */
export function readHistoryLines(text: string, name = 'history'): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  const lastClaim = new Map<string, HistoryEvent>();
  text.split('\n').forEach((line, i) => {
    const e = parseHistoryLine(line, `${name}:${i + 1}`);
    if (!e) return;
    if (e.kind === 'claim') lastClaim.set(e.job, e);
    if (e.token === undefined && (e.kind === 'complete' || e.kind === 'fail')) {
      const c = lastClaim.get(e.job);
      if (c?.token !== undefined) {
        e.token = c.token;
        if (e.attempt === undefined && c.attempt !== undefined) e.attempt = c.attempt;
      }
    }
    out.push(e);
  });
  return out;
}

/** Reads history logs (files of JSON lines; see {@link parseHistoryLine}). */
export async function readHistoryFiles(paths: readonly string[]): Promise<HistoryEvent[]> {
  const out: HistoryEvent[] = [];
  for (const p of paths) out.push(...readHistoryLines(await readFile(p, 'utf8'), p));
  return out;
}
