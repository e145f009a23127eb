// The engine's guards, each in a scenario where nothing else masks it, against the shared real
// server: the holder fence of the claim and completion multis (a holder whose znode is gone
// cannot claim or complete, even when the record is still at the version it read), a lost
// session aborting the running handler's signal, and every way a parent can fail its dependants.
import { describe, expect, it } from 'vitest';
import { CreateMode, killSession, ZkClient } from '@zkjobs/core';
import { JobFailedError, LostClaimError, Queue, Worker, type Job } from '@zkjobs/worker';
import { claimOps, completionOps, isHolderFenceFailure } from '../../packages/worker/src/engine/ops.js';
import { readRecord } from '../../packages/worker/src/engine/record.js';
import { claim, settle } from '../../packages/worker/src/engine/transitions.js';
import { WORKERS, jobPath } from '../../packages/worker/src/layout.js';
import { cleanupAfterAll, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const cleanup = cleanupAfterAll();

async function connect(namespace: string): Promise<ZkClient> {
  const c = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  cleanup(() => c.close());
  return c.usingNamespace(namespace);
}

/**
 * A submitted job and a registration `w-…` of a client of its own (as a worker's znode is), for
 * driving the engine's own multis by hand.
 */
async function jobAndHolder() {
  const namespace = fileNamespace(import.meta.filename);
  const admin = await connect(namespace);
  const queue = new Queue(admin, { namespace, logger });
  const job = await queue.add('guarded', { n: 1 });
  const holderRoot = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  cleanup(() => holderRoot.close());
  const holderClient = holderRoot.usingNamespace(namespace);
  const path = await holderClient.create(`${WORKERS}/w-`, { mode: CreateMode.EPHEMERAL_SEQUENTIAL });
  const holder = path.slice(path.lastIndexOf('/') + 1);
  return { admin, holderRoot, holder, job };
}

describe('the holder fence', () => {
  it('a claim by a holder whose znode is gone fails at the fence, though the record is still at the version read', async () => {
    const { admin, holderRoot, holder, job } = await jobAndHolder();
    const found = (await readRecord(admin, job.id))!;
    const { next } = claim(
      found.rec,
      { worker: holder, session: 'gone', process: 'test' },
      found.stat.version,
      Date.now(),
    );
    // The holder's session ends (its ephemeral znode goes); nobody else touches the record.
    await holderRoot.close();
    const { tx } = claimOps(admin, holder, [{ next, version: found.stat.version }]);
    const err = await tx.commit().then(
      () => null,
      (e: unknown) => e,
    );
    expect(isHolderFenceFailure(err)).toBe(true);
    const after = (await readRecord(admin, job.id))!;
    expect(after.stat.version).toBe(found.stat.version);
    expect(after.rec.state).toBe('waiting');
  });

  it('a completion by a holder whose znode is gone fails at the fence, though the record is still at its token', async () => {
    const { admin, holderRoot, holder, job } = await jobAndHolder();
    const found = (await readRecord(admin, job.id))!;
    const session = holderRoot.sessionIdHex;
    const { next: claimed, token } = claim(
      found.rec,
      { worker: holder, session, process: 'test' },
      found.stat.version,
      Date.now(),
    );
    await claimOps(admin, holder, [{ next: claimed, version: found.stat.version }]).tx.commit();
    // No leader runs here, so nothing requeues the job: the record stays at the claim's token and
    // only the holder fence tells that this claim is void.
    await holderRoot.close();
    const s = settle(claimed, token, { kind: 'completed', result: 'stale' }, Date.now());
    const err = await completionOps(admin, holder, [{ next: s.next, token, from: 'active', remove: false }])
      .commit()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isHolderFenceFailure(err)).toBe(true);
    const after = (await readRecord(admin, job.id))!;
    expect(after.stat.version).toBe(token);
    expect(after.rec.state).toBe('active');
  });
});

describe('a lost session', () => {
  it("aborts the running handler's signal with a LostClaimError and reports the claim stalled", async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const reasons: unknown[] = [];
    const worker = new Worker(
      client,
      {
        hold: (_job: Job, { signal }) =>
          new Promise((_, reject) => {
            started();
            signal.addEventListener('abort', () => {
              reasons.push(signal.reason);
              reject(signal.reason as Error);
            });
          }),
      },
      { namespace, logger, sessionTimeoutMs: 4000 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    const stalled: string[] = [];
    worker.on('stalled', (id) => stalled.push(id));
    await worker.start();
    const queue = new Queue(client, { namespace, logger });
    const job = await queue.add('hold', {});
    await running;
    await killSession(zkConnect, client.sessionCredentials());
    await waitFor(() => reasons.length > 0, 30_000, 25, 'the handler aborted');
    expect(reasons[0]).toBeInstanceOf(LostClaimError);
    expect(stalled).toEqual([job.id]);
  });
});

describe('dependants', () => {
  async function setup() {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const ran: string[] = [];
    const worker = new Worker(
      client,
      {
        fail: async () => {
          throw new Error('parent fails');
        },
        hold: (_job: Job, { signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))),
        child: async (job: Job) => void ran.push(job.id),
      },
      { namespace, logger, concurrency: 4, sessionTimeoutMs: 4000 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    return { queue: new Queue(client, { namespace, logger }), ran };
  }

  async function expectFailedBy(queue: Queue, childId: string, parentId: string, parentState: string) {
    await expect(queue.waitUntilFinished(childId, { timeoutMs: 30_000 })).rejects.toThrow(JobFailedError);
    const child = (await queue.getJob(childId))!;
    expect(child.state).toBe('failed');
    expect(child.error?.message).toBe(`dependency ${parentId} ended ${parentState}`);
    expect(child.history).toEqual([]); // it never ran
  }

  it('a parent that ends dead (attempts used up) fails its dependant', async () => {
    const { queue, ran } = await setup();
    const parent = await queue.add('fail', {}, { attempts: 2 });
    const child = await queue.add('child', {}, { dependsOn: [parent.id] });
    await expectFailedBy(queue, child.id, parent.id, 'dead');
    expect(ran).toEqual([]);
  });

  it('a parent that is cancelled fails its dependant', async () => {
    const { queue, ran } = await setup();
    const parent = await queue.add('hold', {});
    const child = await queue.add('child', {}, { dependsOn: [parent.id] });
    await waitFor(async () => (await queue.getJob(parent.id))?.state === 'active', 30_000, 25, 'the parent running');
    expect(await queue.cancel(parent.id)).toBe(true);
    await expectFailedBy(queue, child.id, parent.id, 'cancelled');
    expect(ran).toEqual([]);
  });

  it('a parent cancelled before it ran fails its dependant', async () => {
    const { queue, ran } = await setup();
    const parent = await queue.add('hold', {}, { delay: 60_000 });
    const child = await queue.add('child', {}, { dependsOn: [parent.id] });
    expect(await queue.cancel(parent.id)).toBe(true);
    await expectFailedBy(queue, child.id, parent.id, 'cancelled');
    expect(ran).toEqual([]);
  });
});

describe('a record that is not a record', () => {
  it('is skipped by the consumer and reported as an error event; the jobs beside it run', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const queue = new Queue(client, { namespace, logger });
    const bad = await queue.add('work', { n: 0 });
    // Someone writes garbage over the record before any worker claims it.
    await client.usingNamespace(namespace).setData(jobPath(bad.id), 'not a record');
    const ran: string[] = [];
    const worker = new Worker(client, { work: async (job: Job) => void ran.push(job.id) }, { namespace, logger });
    cleanup(() => worker.close({ graceMs: 100 }));
    const errors: Error[] = [];
    worker.on('error', (e) => errors.push(e));
    await worker.start();
    const good = await queue.add('work', { n: 1 });
    await queue.waitUntilFinished(good.id, { timeoutMs: 30_000 });
    await waitFor(() => errors.length > 0, 30_000, 25, 'the error event');
    expect(errors[0]!.name).toBe('CorruptRecordError');
    expect(errors[0]!.message).toContain(bad.id);
    expect(ran).toEqual([good.id]);
    // Left as it was, for an operator.
    expect((await client.usingNamespace(namespace).getData(jobPath(bad.id))).data.toString()).toBe('not a record');
  });
});
