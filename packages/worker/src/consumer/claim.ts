/**
 * Claiming a batch of assigned jobs: read each record, keep those still claimable
 * (`transitions.isClaimable`), and write every claim in one multi fenced by the holder's znode
 * (`ops.claimOps`); when that fails for one record, claim one by one.
 */
import { TransactionError } from '@zkjobs/core';
import { CorruptRecordError } from '../errors.js';
import { claimAndCompleteOps, claimOps, isHolderFenceFailure, zxidOf } from '../engine/ops.js';
import type { TakenCompletions } from './completion-writer.js';
import { readRecord, readRecords, type ReadRecord } from '../engine/record.js';
import { claim, isClaimable, isHeldBy } from '../engine/transitions.js';
import type { JobRecord, JobState } from '../job.js';
import { retrying } from '../util.js';
import type { BufferedJob, ConsumerContext } from './context.js';

/** What {@link claimBatch} reports back to the consumer. */
export interface ClaimHooks {
  /** True when this consumer has a handler for `type`. */
  hasHandler(type: string): boolean;
  /** The job will not be claimed here (stale, unknown type, taken meanwhile): its assignment entry is settled. */
  skip(job: BufferedJob): void;
  /** True while jobs of `type` may not start (paused). */
  isPaused(type: string): boolean;
  /** Its type is paused: keep it, unclaimed, until the type is resumed. */
  hold(job: BufferedJob): void;
  /** Its record could not be read now (connection trouble): put it back for a later try. */
  retryLater(job: BufferedJob): void;
  /** Claimed: run it. `zxid` is the claim write's. */
  start(job: BufferedJob, rec: JobRecord, zxid: string): void;
  /** True when the job runs here already (started, not finished). */
  isActive?(id: string): boolean;
  /** Completions of `holder` waiting to be written, for the claim multi to carry (or null). */
  takeCompletions?(holder: string): TakenCompletions | null;
}

/** The largest record read by claims lately (sizes the multiRead chunks); records of one namespace are alike. */
const readHint = { maxBytes: 0 };

interface Claim {
  b: BufferedJob;
  next: JobRecord;
  version: number;
  from: JobState;
}

/** The holder: its registration and session. */
export interface Holder {
  name: string;
  session: string;
}

/**
 * Claims `batch` for `holder`. A record that cannot be read goes back through
 * `hooks.retryLater` (its batch-mates are claimed); one that is not a job record is skipped and
 * reported as an error.
 */
export async function claimBatch(
  ctx: ConsumerContext,
  holder: Holder,
  batch: readonly BufferedJob[],
  hooks: ClaimHooks,
): Promise<void> {
  ctx.counters.recordReads += batch.length;
  const found = await readRecords(
    ctx.client,
    batch.map((b) => b.id),
    readHint,
  );
  const reads = batch.map((b, i) => {
    const f = found[i];
    return f instanceof Error ? { b, err: f as unknown } : { b, found: f ?? null };
  });
  const claims: Claim[] = [];
  const adopted: { b: BufferedJob; rec: JobRecord; zxid: string }[] = [];
  for (const r of reads) {
    const { b } = r;
    if ('err' in r) {
      if (r.err instanceof CorruptRecordError) {
        ctx.reportError(r.err, 'assigned job has an unreadable record (skipped)', { jobId: b.id });
        ctx.counters.skipped++;
        hooks.skip(b);
      } else {
        hooks.retryLater(b);
      }
      continue;
    }
    const rec = r.found?.rec;
    if (r.found && rec && isOwnClaim(rec, r.found.stat.version, holder, b.attemptsMade) && !hooks.isActive?.(b.id)) {
      // Claimed for us by our own leader's assignment multi, whose reply was lost: ours to run.
      adopted.push({ b, rec, zxid: r.found.stat.mzxid.toString() });
      continue;
    }
    if (!r.found || !rec || !isClaimable(rec, b.attemptsMade)) {
      ctx.counters.skipped++;
      ctx.log.debug(
        { jobId: b.id, state: rec?.state, attemptsMade: rec?.attemptsMade, assigned: b.attemptsMade },
        'stale assignment skipped',
      );
      hooks.skip(b);
      continue;
    }
    if (hooks.isPaused(rec.type)) {
      hooks.hold(b);
      continue;
    }
    if (!hooks.hasHandler(rec.type)) {
      ctx.log.error({ jobId: b.id, type: rec.type }, 'no handler for job type (assignment skipped)');
      hooks.skip(b);
      continue;
    }
    const { next } = claim(
      rec,
      { worker: holder.name, session: holder.session, process: ctx.process },
      r.found.stat.version,
      Date.now(),
    );
    claims.push({ b, next, version: r.found.stat.version, from: rec.state });
  }
  for (const a of adopted) {
    ctx.log.debug({ jobId: a.b.id, token: a.rec.claim!.token }, 'job claimed for us by our leader: started');
    hooks.start(a.b, a.rec, a.zxid);
  }
  if (claims.length === 0) return;
  const commit = async (cs: readonly Claim[]): Promise<string[]> => {
    const { tx, zxids } = claimOps(ctx.client, holder.name, cs);
    ctx.counters.claimMultis++;
    return zxids(await tx.commit());
  };
  const ok: { c: Claim; zxid: string }[] = [];
  // Outcomes waiting to be written ride on this multi, so a batch costs one write request.
  const riding = hooks.takeCompletions?.(holder.name) ?? null;
  let ridden: string | undefined | null = null; // the zxid, once the multi carrying them committed
  try {
    let z: string[];
    if (riding) {
      const { tx, zxids } = claimAndCompleteOps(ctx.client, holder.name, claims, riding.items, riding.done);
      ctx.counters.claimMultis++;
      const res = await tx.commit();
      ridden = zxidOf(res);
      z = zxids(res);
    } else {
      z = await commit(claims);
    }
    claims.forEach((c, i) => ok.push({ c, zxid: z[i]! }));
  } catch (err) {
    // The completions it carried are written on their own (which tells applied from refused).
    riding?.failed();
    if (isHolderFenceFailure(err)) {
      ctx.log.warn({ worker: holder.name }, 'claim refused: registration gone');
      return;
    }
    // One record changed meanwhile (cancelled, …) or the reply was lost: claim one by one.
    for (const c of claims) {
      const zxid = await claimOne(ctx, holder, c, commit);
      if (zxid === null) {
        ctx.counters.skipped++;
        hooks.skip(c.b);
      } else {
        ok.push({ c, zxid });
      }
    }
  }
  if (riding && ridden !== null) riding.applied(ridden);
  for (const { c, zxid } of ok) hooks.start(c.b, c.next, zxid);
}

/**
 * True when `rec` (read at `version`) was claimed, from the assignment made at `assignedAttempts`,
 * for this very registration and session, and not written since: what the leader's assignment
 * multi writes when it claims for its own consumer (`ops.assignOps`).
 */
function isOwnClaim(rec: JobRecord, version: number, holder: Holder, assignedAttempts: number): boolean {
  return (
    isHeldBy(rec, holder.session, version) &&
    rec.claim?.worker === holder.name &&
    rec.attemptsMade === assignedAttempts + 1
  );
}

/** One claim alone, until it is taken (its zxid) or cannot be (null). */
async function claimOne(
  ctx: ConsumerContext,
  holder: Holder,
  c: Claim,
  commit: (cs: readonly Claim[]) => Promise<string[]>,
): Promise<string | null> {
  for (;;) {
    let error: unknown;
    try {
      return (await commit([c]))[0]!;
    } catch (e) {
      error = e;
    }
    // Applied by an earlier try after all (a lost reply), or taken by someone else?
    let now: ReadRecord | null | undefined;
    try {
      now = await retrying(() => readRecord(ctx.client, c.next.id), {
        until: () => ctx.bound() !== holder.name,
        retryOn: (e) => !(e instanceof CorruptRecordError),
      });
    } catch {
      now = null;
    }
    if (now && isHeldBy(now.rec, holder.session, c.next.claim!.token)) return now.stat.mzxid.toString();
    if (now === undefined || now === null || error instanceof TransactionError || now.stat.version !== c.version) {
      // Registration gone (the leader requeues what we hold), or the job moved on: skip it.
      ctx.log.debug({ jobId: c.next.id, err: error }, 'claim not taken; skipped');
      return null;
    }
    // Not applied and unchanged: try again.
  }
}
