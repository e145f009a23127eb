// Job counts by state and type, kept by the multis that change states (no scan), checked
// against a scan of every record after a mixed workload.
import { afterAll, describe, expect, it } from 'vitest';
import { CreateMode, ZkClient } from '@zkjobs/core';
import {
  JOB_STATES,
  JobValidationError,
  Queue,
  UnrecoverableError,
  Worker,
  createLogger,
  type JobState,
} from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

/** Counts by a scan of every record. */
async function scanned(
  queue: Queue,
): Promise<{ total: Record<string, number>; byType: Record<string, Record<string, number>> }> {
  const total: Record<string, number> = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
  const byType: Record<string, Record<string, number>> = {};
  for (const j of await queue.getJobs()) {
    total[j.state]!++;
    byType[j.type] ??= Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
    byType[j.type]![j.state]!++;
  }
  return { total, byType };
}

describe('job counts', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('match a scan after completions, retries, dead, failed, cancels, retention, dependants and a gang; before and after the leader folds them', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    client.setMaxListeners(0);
    cleanup.push(() => client.close());
    const queue = new Queue(client, { namespace, logger });
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    const handlers = {
      ok: async () => 1,
      flaky: async () => Promise.reject(new Error('no')),
      doomed: async () => Promise.reject(new UnrecoverableError('never')),
      block: async (_j: unknown, ctx: { signal: AbortSignal }) =>
        Promise.race([
          blocker,
          new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
        ]),
      gang: async () => 2,
    };
    const workers = [0, 1].map(
      () => new Worker(client, handlers, { namespace, logger, concurrency: 4, sessionTimeoutMs: 4000 }),
    );
    for (const w of workers) {
      cleanup.push(() => w.close({ graceMs: 200 }));
      await w.start();
    }
    expect(await queue.getJobCounts()).toEqual(Object.fromEntries(JOB_STATES.map((s) => [s, 0])));

    const oks = await queue.addBulk(Array.from({ length: 30 }, () => ({ type: 'ok' })));
    const removed = await queue.addBulk(
      Array.from({ length: 5 }, () => ({ type: 'ok', opts: { removeOnComplete: true } })),
    );
    const aged = await queue.add('ok', {}, { removeOnComplete: { age: 300 } });
    const flaky = await queue.add('flaky', {}, { attempts: 2 });
    const doomed = await queue.add('doomed', {}, { attempts: 3 });
    const dependant = await queue.add('ok', {}, { dependsOn: [doomed.id] });
    const delayed = await queue.add('ok', {}, { delay: 600_000 });
    const cancelled = await queue.add('ok', {}, { delay: 600_000 });
    await queue.cancel(cancelled.id);
    const running = await queue.add('block');
    const gang = await queue.add('gang', {}, { parallelism: 2 });
    await waitFor(async () => (await queue.getJob(running.id))!.state === 'active', 10_000, 20, 'block running');
    await queue.cancel(running.id);
    const blocked2 = await queue.add('block');
    await waitFor(async () => (await queue.getJob(blocked2.id))!.state === 'active', 10_000, 20, 'block 2 running');
    for (const j of [...oks, ...removed, aged, gang])
      await queue.waitUntilFinished(j.id, { timeoutMs: 15_000 }).catch(() => undefined);
    for (const j of [flaky, doomed, dependant])
      await queue.waitUntilFinished(j.id, { timeoutMs: 15_000 }).catch(() => undefined);
    await waitFor(async () => (await queue.getJob(aged.id)) === null, 10_000, 50, 'aged record pruned');
    void delayed;

    // Counted right away (deltas not folded yet, or some folded) …
    const now = await scanned(queue);
    expect(await queue.getJobCounts()).toEqual(now.total);
    expect(now.total).toMatchObject({
      completed: 30 + 3, // 30 ok, a gang parent and its 2 tasks (the removed and the aged are gone)
      dead: 1,
      failed: 2,
      cancelled: 2,
      delayed: 1,
      active: 1,
    });
    const byType = await queue.getJobCountsByType();
    for (const [type, row] of Object.entries(now.byType)) expect(byType[type], type).toEqual(row);
    expect(Object.keys(byType).sort()).toEqual(Object.keys(now.byType).sort());
    expect(await queue.getJobCounts('active', 'dead')).toEqual({ active: 1, dead: 1 });
    expect(await queue.getJobCountsByType('dead')).toEqual({ flaky: { dead: 1 } });
    // … and after the leader folded every delta into the summary (the folded deltas stay, as the
    // event log: the summary's `through` names the newest folded, and readers add only later ones).
    const ns = client.usingNamespace(namespace);
    const folded = async (): Promise<boolean> => {
      const { children } = await ns.getChildren('/counts');
      const newest = Math.max(...children.map((c) => Number(c.slice(2))));
      const { data } = await ns.getData('/counts'); // empty until the first fold
      return data.length > 0 && (JSON.parse(data.toString()) as { through?: number }).through === newest;
    };
    await waitFor(folded, 10_000, 100, 'deltas folded');
    expect((await ns.exists('/counts'))!.numChildren).toBeGreaterThan(0);
    expect(await queue.getJobCounts()).toEqual(now.total);
    release();
    await queue.waitUntilFinished(blocked2.id, { timeoutMs: 10_000 });
    const done = await scanned(queue);
    expect(await queue.getJobCounts()).toEqual(done.total);

    const err = await queue.getJobCounts('bogus' as JobState).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobValidationError);
    expect((err as JobValidationError).field).toBe('states[0]');
  });

  it("a bulk's delta has a counts-only twin: counts are read from the twin, and the fold prunes both (and a twin left alone)", async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup.push(() => client.close());
    const queue = new Queue(client, { namespace, logger });
    await queue.addBulk(Array.from({ length: 300 }, () => ({ type: 'bulk', opts: { delay: 600_000 } })));
    await queue.add('single', {}, { delay: 600_000 });
    const counts = `${namespace}/counts`;
    const names = (await client.getChildren(counts)).children.sort();
    // The twin took the sequence right before its delta's (one multi, two creates in a row);
    // the single submit's delta has none.
    expect(names).toHaveLength(3);
    const [twin, bulk, single] = names as [string, string, string];
    expect(twin).toMatch(/^c-\d{10}$/);
    expect(Number(bulk.slice(2))).toBe(Number(twin.slice(2)) + 1);
    expect(Number(single.slice(2))).toBe(Number(bulk.slice(2)) + 1);
    expect(JSON.parse((await client.getData(`${counts}/${twin}`)).data.toString())).toEqual({
      c: { bulk: { delayed: 300 } },
    });
    // The reader of counts reads the twin, never the big delta: with the delta's data made
    // unreadable, the counts are still right.
    const { data: bulkData, stat } = await client.getData(`${counts}/${bulk}`);
    await client.setData(`${counts}/${bulk}`, Buffer.from('not json'), { version: stat.version });
    expect(await queue.getJobCountsByType('delayed')).toEqual({ bulk: { delayed: 300 }, single: { delayed: 1 } });
    await client.setData(`${counts}/${bulk}`, bulkData, { version: stat.version + 1 });
    // A twin whose delta is gone, as an older leader leaves it (it prunes deltas alone): a pair
    // with no count change, its delta then deleted.
    const made = await client
      .transaction()
      .create(`${counts}/c-`, { data: '{"c":{}}', mode: CreateMode.PERSISTENT_SEQUENTIAL })
      .create(`${counts}/d-`, { data: '{"c":{}}', mode: CreateMode.PERSISTENT_SEQUENTIAL })
      .commit();
    const [orphan, gone] = made.map((r) => r.createdPath!.split('/').at(-1)!);
    await client.delete(`${counts}/${gone}`);
    // A leader that keeps no folded delta prunes the twins with their deltas, and the orphan.
    const worker = new Worker(client, { bulk: async () => 1 }, { namespace, logger, maxEventDeltas: 0 });
    cleanup.push(() => worker.close({ graceMs: 200 }));
    await worker.start();
    await waitFor(
      async () => (await client.getChildren(counts)).children.length === 0,
      10_000,
      50,
      'the deltas, their twin and the orphan pruned',
    );
    expect(orphan).toMatch(/^c-\d{10}$/);
    expect(await queue.getJobCounts('delayed')).toEqual({ delayed: 301 });
  });

  it('a namespace whose tree predates the counts is counted by a scan', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup.push(() => client.close());
    // An older tree: its retention buckets exist, its counts/ does not.
    await client.create(`${namespace}/retention/3f`, { parents: true });
    const queue = new Queue(client, { namespace, logger });
    await queue.addBulk([{ type: 'a' }, { type: 'a' }, { type: 'b', opts: { delay: 60_000 } }]);
    expect(JSON.parse((await client.getData(`${namespace}/counts`)).data.toString())).toEqual({ scan: true });
    expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 2, delayed: 1 });
    expect(await queue.getJobCountsByType('waiting')).toEqual({ a: { waiting: 2 } });
  });
});
