// The lists by state (index/<state>, kept by the leader's count fold): pages newest and oldest
// first match a scan of every record, a page reads about a page, entries of jobs that moved on
// are skipped, the index stays consistent across a change of leader, and compaction removes
// stale pages; a fold by a leader that did not keep the index (an older version) turns them into a scan.
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import {
  JOB_STATES,
  JobValidationError,
  Queue,
  UnrecoverableError,
  Worker,
  createLogger,
  type Job,
  type JobState,
} from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

/** Every page of `state` in `order`, following the cursors. */
async function listAll(queue: Queue, state: JobState, order: 'newest' | 'oldest', limit = 97): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const page = await queue.getJobsPage({ state, order, limit, cursor });
    expect(page.source).toBe('index');
    out.push(...page.jobs);
    if (page.next === null) return out;
    cursor = page.next;
  }
  throw new Error('no end');
}

/** The scan's jobs in `state`, by the record's last write (the write that put it there), oldest first. */
async function scanned(queue: Queue, state: JobState): Promise<Job[]> {
  return (await queue.getJobs({ state })).sort((a, b) =>
    BigInt(a.zxid) < BigInt(b.zxid) ? -1 : BigInt(a.zxid) > BigInt(b.zxid) ? 1 : 0,
  );
}

/** Listing and scan agree: the same ids, in the order of their last writes (ties: one multi). */
async function agrees(queue: Queue, state: JobState): Promise<boolean> {
  const scan = await scanned(queue, state);
  const newest = await listAll(queue, state, 'newest');
  const oldest = await listAll(queue, state, 'oldest');
  const ids = (l: Job[]) => l.map((j) => j.id);
  const sorted = (l: Job[]) => [...ids(l)].sort();
  if (new Set(ids(newest)).size !== newest.length || new Set(ids(oldest)).size !== oldest.length) return false;
  if (JSON.stringify(sorted(newest)) !== JSON.stringify(sorted(scan))) return false;
  if (JSON.stringify(sorted(oldest)) !== JSON.stringify(sorted(scan))) return false;
  const z = (l: Job[]) => l.map((j) => BigInt(j.zxid));
  const asc = (a: bigint[]) => a.every((v, i) => i === 0 || a[i - 1]! <= v);
  return asc(z(oldest)) && asc(z(newest).reverse());
}

describe('lists by state', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('match a scan newest and oldest first, read about a page, skip stale entries, survive a leader change, and compact', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    client.setMaxListeners(0);
    cleanup.push(() => client.close());
    const queue = new Queue(client, { namespace, logger });
    const ns = client.usingNamespace(namespace);
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    const handlers = {
      ok: async () => 1,
      doomed: async () => Promise.reject(new UnrecoverableError('never')),
      block: async () => blocker,
    };
    const workers = [0, 1].map(
      () =>
        new Worker(client, handlers, { namespace, logger, concurrency: 8, sessionTimeoutMs: 4000, maxEventDeltas: 50 }),
    );
    for (const w of workers) {
      cleanup.push(() => w.close({ graceMs: 200 }));
      await w.start();
    }

    // A few thousand jobs across states.
    const oks = [];
    for (let i = 0; i < 6; i++) oks.push(...(await queue.addBulk(Array.from({ length: 300 }, () => ({ type: 'ok' })))));
    await queue.addBulk(Array.from({ length: 150 }, () => ({ type: 'doomed' })));
    const idle = await queue.addBulk(Array.from({ length: 300 }, () => ({ type: 'nobody' })));
    const delayed = await queue.addBulk(Array.from({ length: 200 }, () => ({ type: 'ok', opts: { delay: 600_000 } })));
    for (const d of delayed.slice(0, 40)) await queue.cancel(d.id);
    const blocked = await queue.addBulk(Array.from({ length: 6 }, () => ({ type: 'block' })));
    await waitFor(
      async () => {
        const c = await queue.getJobCounts();
        return c.completed === oks.length && c.failed === 150 && c.active === 6;
      },
      60_000,
      100,
      'jobs settled',
    );
    for (const s of JOB_STATES) await waitFor(() => agrees(queue, s), 20_000, 200, `${s} agrees with the scan`);
    expect((await listAll(queue, 'waiting', 'oldest')).map((j) => j.id)).toEqual(idle.map((j) => j.id));
    expect((await listAll(queue, 'completed', 'newest')).length).toBe(oks.length);

    // The newest show before a fold: from the count deltas not folded yet.
    const fresh = await queue.add('nobody');
    expect((await queue.getJobsPage({ state: 'waiting', limit: 1 })).jobs.map((j) => j.id)).toEqual([fresh.id]);
    idle.push(fresh);

    // A page reads about a page: a handful of requests, no listing of the job buckets, and one
    // multiRead of records per 32 records (counted on a client of its own: the workers' share `client`).
    const reader = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup.push(() => reader.close());
    const before = reader.requestStats().requests;
    const page = await new Queue(reader, { namespace, logger }).getJobsPage({ state: 'completed', limit: 20 });
    const after = reader.requestStats().requests;
    expect(page.jobs).toHaveLength(20);
    const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(d('getChildren')).toBeLessThanOrEqual(1);
    expect(d('getData')).toBeLessThanOrEqual(1);
    expect(d('multiRead')).toBeLessThanOrEqual(5);
    // The next page goes on where it stopped.
    const second = await queue.getJobsPage({ state: 'completed', limit: 20, cursor: page.next });
    expect(second.jobs.map((j) => j.id).filter((id) => page.jobs.some((j) => j.id === id))).toEqual([]);
    expect(BigInt(second.jobs[0]!.zxid)).toBeLessThanOrEqual(BigInt(page.jobs.at(-1)!.zxid));

    // Stale entries are skipped: the blocked jobs finish and leave `active`.
    expect((await listAll(queue, 'active', 'newest')).map((j) => j.id).sort()).toEqual(blocked.map((j) => j.id).sort());
    release();
    await waitFor(async () => (await queue.getJobCounts()).active === 0, 20_000, 50, 'blocked jobs done');
    expect(await listAll(queue, 'active', 'newest')).toEqual([]);
    expect((await queue.getJobsPage({ state: 'completed', limit: 6 })).jobs.map((j) => j.id).sort()).toEqual(
      blocked.map((j) => j.id).sort(),
    );

    // A leader change: the leading Worker stops gracefully, the other folds on.
    const leader = workers.find((w) => w.isLeader())!;
    const other = workers.find((w) => w !== leader)!;
    await leader.close({ graceMs: 200 });
    await waitFor(() => other.isLeader(), 20_000, 50, 'the other worker leads');
    const more = await queue.addBulk(Array.from({ length: 300 }, () => ({ type: 'ok' })));
    await waitFor(
      async () => (await queue.getJobCounts()).completed === oks.length + 6 + more.length,
      30_000,
      100,
      'more done',
    );
    for (const s of ['completed', 'waiting', 'active'] as const)
      await waitFor(() => agrees(queue, s), 20_000, 200, `${s} after the change`);
    const root = JSON.parse((await ns.getData('/index')).data.toString()) as {
      through: number;
      n: Record<string, number>;
    };
    const summary = JSON.parse((await ns.getData('/counts')).data.toString()) as { through: number };
    expect(root.through).toBe(summary.through);
    // Every entry once: the completed entries are exactly the completions.
    expect(root.n['completed']).toBe(oks.length + 6 + more.length);

    // Compaction: active's pages are all stale (every job finished); with folds going on,
    // the old ones go, down to the newest.
    const activePages = async () => (await ns.getChildren('/index/active')).children.length;
    // Uncompacted, that many entries would fill more than 3 pages of 500.
    expect(root.n['active']).toBeGreaterThan(3 * 500);
    await waitFor(
      async () => {
        await queue.add('ok');
        return (await activePages()) <= 1;
      },
      60_000,
      300,
      'stale active pages compacted',
    );
    expect(await listAll(queue, 'active', 'newest')).toEqual([]);
    await waitFor(() => agrees(queue, 'completed'), 20_000, 200, 'completed after compaction');
  }, 180_000);

  it('after a fold that left them behind (an older leader: counts folded, deltas deleted), lists are read by a scan, and the next leader marks them so', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    client.setMaxListeners(0);
    cleanup.push(() => client.close());
    const ns = client.usingNamespace(namespace);
    const queue = new Queue(client, { namespace, logger });
    const start = async () => {
      const w = new Worker(client, { ok: async () => 1 }, { namespace, logger, sessionTimeoutMs: 4000 });
      cleanup.push(() => w.close({ graceMs: 200 }));
      await w.start();
      return w;
    };
    const first = await start();
    const done = await queue.addBulk(Array.from({ length: 20 }, () => ({ type: 'ok' })));
    await waitFor(async () => (await queue.getJobCounts()).completed === 20, 20_000, 50, 'the first jobs done');
    await waitFor(() => agrees(queue, 'completed'), 20_000, 100, 'completed listed from the index');
    await waitFor(
      async () => (await ns.getData('/counts')).data.length > 0,
      20_000,
      50,
      'the first leader folded the counts',
    );
    await first.close({ graceMs: 200 });

    // With no leader, jobs nobody runs; then a fold as a version before the index made it: the
    // summary takes the deltas, which are deleted; the index root is not touched.
    const idle = await queue.addBulk(Array.from({ length: 5 }, () => ({ type: 'nobody' })));
    const { data, stat } = await ns.getData('/counts');
    // Folded at least once by the first leader (it completed jobs): `{c, through, pruned}`.
    const summary = JSON.parse(data.toString()) as { c: Record<string, Record<string, number>>; through: number };
    const deltas = (await ns.getChildren('/counts')).children
      .filter((n) => n.startsWith('d-') && Number(n.slice(2)) > summary.through)
      .sort();
    expect(deltas.length).toBeGreaterThan(0);
    for (const d of deltas) {
      const doc = JSON.parse((await ns.getData(`/counts/${d}`)).data.toString()) as {
        c: Record<string, Record<string, number>>;
      };
      for (const [type, states] of Object.entries(doc.c))
        for (const [state, n] of Object.entries(states)) {
          const t = (summary.c[type] ??= {});
          t[state] = (t[state] ?? 0) + n;
        }
    }
    const through = Number(deltas.at(-1)!.slice(2));
    const tx = ns.transaction().setData('/counts', JSON.stringify({ ...summary, through }), { version: stat.version });
    for (const d of deltas) tx.delete(`/counts/${d}`);
    await tx.commit();
    const root = JSON.parse((await ns.getData('/index')).data.toString()) as { through: number };
    expect(root.through).toBeLessThan(through);

    // The index does not hold the new jobs and their deltas are gone: a reader of the index
    // alone would miss them. The reader sees the summary ahead of the root and scans.
    const page = await queue.getJobsPage({ state: 'waiting', limit: 10 });
    expect(page.source).toBe('scan');
    expect(page.jobs.map((j) => j.id).sort()).toEqual(idle.map((j) => j.id).sort());
    expect((await queue.getJobCounts()).waiting).toBe(5);

    // The next leader's fold finds the index behind the counts and marks it to be read by a scan.
    await start();
    await queue.add('nobody');
    await waitFor(
      async () => JSON.parse((await ns.getData('/index')).data.toString()).scan === true,
      20_000,
      50,
      'the index root marked {scan: true}',
    );
    const after = await queue.getJobsPage({ state: 'waiting', limit: 10 });
    expect(after.source).toBe('scan');
    expect(after.jobs).toHaveLength(6);
    expect((await queue.getJobsPage({ state: 'completed', limit: 50 })).jobs.map((j) => j.id).sort()).toEqual(
      done.map((j) => j.id).sort(),
    );
  });

  it('refuse a bad state, limit, order or cursor with a named error', async () => {
    const queue = new Queue(zkConnect, { namespace: fileNamespace(import.meta.filename), logger });
    cleanup.push(() => queue.close());
    const bad = [
      [{ state: 'nope' as JobState }, 'state'],
      [{ state: 'waiting' as const, limit: 0 }, 'limit'],
      [{ state: 'waiting' as const, order: 'up' as 'newest' }, 'order'],
      [{ state: 'waiting' as const, cursor: 'x' }, 'cursor'],
      [{ state: 'waiting' as const, order: 'oldest' as const, cursor: 'i:n:5' }, 'cursor'],
    ] as const;
    for (const [opts, field] of bad) {
      const err = await queue.getJobsPage(opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobValidationError);
      expect((err as JobValidationError).field).toBe(field);
    }
  });
});
