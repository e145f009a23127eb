// QueueEvents: the job events carried by the count deltas, followed by a listener in another
// process (every completion, in commit order, once), by one cut off through a proxy (all events
// after healing, or a gap naming the range the retention pruned), and the payloads of
// progress, failures, retention and cancel. Counts stay right across folds that prune.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import {
  EVENT_VALUE_MAX_BYTES,
  JOB_STATES,
  JobValidationError,
  Queue,
  QueueEvents,
  QUEUE_EVENT_NAMES,
  UnrecoverableError,
  Worker,
  type Processor,
} from '@zkjobs/worker';
import { start, run } from '../e2e/cli.js';
import { testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, waitFor, withDeadline, zkConnect } from '../support/zk.js';

const fixture = fileURLToPath(new URL('./fixtures/queue-events-process.mjs', import.meta.url));

interface Line {
  event: string;
  id?: string;
  jobId?: string;
  [k: string]: unknown;
}

/** Every event of `qe`, in the order emitted: `{event, id, ...payload}`. */
function record(qe: QueueEvents): Line[] {
  const seen: Line[] = [];
  for (const name of QUEUE_EVENT_NAMES)
    qe.on(name as 'waiting', (p, id) => seen.push({ event: name, id, ...(p as unknown as Record<string, unknown>) }));
  qe.on('gap', (g) => seen.push({ event: 'gap', ...g }));
  return seen;
}

/** The summary of `counts/` (empty before the first fold). */
async function summaryOf(ns: ZkClient): Promise<{ through?: number; pruned?: number }> {
  const { data } = await ns.getData('/counts');
  return data.length > 0 ? (JSON.parse(data.toString()) as { through?: number; pruned?: number }) : {};
}

/** `<seq>-<index>` as a pair of numbers. */
const idOf = (l: Line): [number, number] => l.id!.split('-').map(Number) as [number, number];
const before = (a: [number, number], b: [number, number]): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

describe('QueueEvents', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  async function connect(connectString = zkConnect): Promise<ZkClient> {
    const c = await ZkClient.connect(connectString, { sessionTimeoutMs: 4000 });
    c.setMaxListeners(0);
    cleanup.push(() => c.close());
    return c;
  }

  async function startWorker(
    client: ZkClient,
    namespace: string,
    handlers: Record<string, Processor>,
    opts: { maxEventDeltas?: number; concurrency?: number } = {},
  ): Promise<Worker> {
    const w = new Worker(client, handlers, { namespace, logger, sessionTimeoutMs: 4000, concurrency: 8, ...opts });
    cleanup.push(() => w.close({ graceMs: 200 }));
    await w.start();
    return w;
  }

  it('a listener in another process gets the completed event of each of 1,000 jobs once, in commit order', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    await queue.client();
    const child = spawn(process.execPath, [fixture], {
      env: { ...process.env, ZK_CONNECT: zkConnect, NAMESPACE: namespace, FROM: 'now' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cleanup.push(async () => {
      child.stdin!.end();
      child.kill();
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines: Line[] = [];
    createInterface({ input: child.stdout! }).on('line', (s) => lines.push(JSON.parse(s) as Line));
    await waitFor(() => lines.some((l) => l.event === 'ready'), 20_000, 20, `listener ready (stderr: ${stderr})`);

    await startWorker(client, namespace, { n: async (job) => ({ n: (job.data as { i: number }).i }) });
    const jobs = await queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ type: 'n', data: { i } })));
    const ids = new Set(jobs.map((j) => j.id));
    const completed = (): Line[] => lines.filter((l) => l.event === 'completed');
    await waitFor(() => completed().length >= 1000, 60_000, 50, 'the listener saw 1,000 completions');
    // Exactly once each.
    expect(completed().length).toBe(1000);
    expect(new Set(completed().map((l) => l.jobId)).size).toBe(1000);
    for (const l of completed()) expect(ids.has(l.jobId!)).toBe(true);
    expect(lines.filter((l) => l.event === 'gap')).toEqual([]);
    // In commit order: the event ids increase, and so do the zxids of the completing writes.
    const evIds = lines.filter((l) => l.id !== undefined).map(idOf);
    for (let i = 1; i < evIds.length; i++) expect(before(evIds[i - 1]!, evIds[i]!)).toBe(true);
    const zxids = await Promise.all(completed().map(async (l) => BigInt((await queue.getJob(l.jobId!))!.zxid)));
    for (let i = 1; i < zxids.length; i++) expect(zxids[i]! >= zxids[i - 1]!).toBe(true);
    // Each job's own events in its life's order: waiting, active, completed (with its result).
    const byJob = new Map<string, Line[]>();
    for (const l of lines) if (l.jobId) byJob.set(l.jobId, [...(byJob.get(l.jobId) ?? []), l]);
    const first = jobs[0]!;
    expect(byJob.get(first.id)!.map((l) => l.event)).toEqual(['waiting', 'active', 'completed']);
    expect(byJob.get(first.id)![2]).toMatchObject({
      type: 'n',
      attemptsMade: 1,
      prev: 'active',
      returnvalue: { n: 0 },
    });
    for (const [, ls] of byJob) expect(ls.map((l) => l.event)).toEqual(['waiting', 'active', 'completed']);
  }, 90_000);

  /** Runs `count` jobs one submit at a time (one delta each), and waits for them. */
  async function runJobs(queue: Queue, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await queue.add('n', { i })).id);
    for (const id of ids) await queue.waitUntilFinished(id, { timeoutMs: 20_000 });
    return ids;
  }

  /** A listener connected through a proxy, following from now, with what it emitted. */
  async function cutListener(namespace: string): Promise<{ qe: QueueEvents; proxy: TcpProxy; seen: Line[] }> {
    const [host, port] = zkConnect.split(',')[0]!.split(':');
    const proxy = await TcpProxy.start(host!, Number(port));
    cleanup.push(() => proxy.close());
    const listenerClient = await connect(proxy.address);
    const qe = new QueueEvents(listenerClient, { namespace, logger });
    cleanup.push(() => qe.close());
    const seen = record(qe);
    await qe.waitUntilReady();
    return { qe, proxy, seen };
  }

  it('a listener cut off while the retention prunes the deltas after its cursor is told of the gap, then goes on', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    await startWorker(client, namespace, { n: async () => 1 }, { maxEventDeltas: 2 });
    const { qe, proxy, seen } = await cutListener(namespace);
    const [early] = await runJobs(queue, 1);
    await waitFor(() => seen.some((l) => l.event === 'completed' && l.jobId === early), 10_000, 20, 'first event');
    proxy.cut();
    const cursorAtCut = qe.cursor!;
    const lost = await runJobs(queue, 10);
    // Pruning is certain once the summary says deltas past the listener's cursor are deleted.
    const ns = client.usingNamespace(namespace);
    const pruned = async (): Promise<number> => (await summaryOf(ns)).pruned ?? -1;
    await waitFor(async () => (await pruned()) > cursorAtCut, 15_000, 50, 'deltas after the cursor pruned');
    await waitFor(async () => (await ns.exists('/counts'))!.numChildren <= 3, 15_000, 50, 'pruned to the bound');
    proxy.heal();
    const gap = await waitFor(() => seen.find((l) => l.event === 'gap'), 30_000, 20, 'gap');
    expect(gap.from).toBe(cursorAtCut);
    expect(gap.to as number).toBeGreaterThan(cursorAtCut);
    expect(gap.reason).toMatch(/pruned/);
    // It goes on: a job run after healing is delivered, after the gap.
    const [later] = await runJobs(queue, 1);
    await waitFor(() => seen.some((l) => l.event === 'completed' && l.jobId === later), 15_000, 20, 'later event');
    const gapAt = seen.indexOf(gap);
    const after = seen.slice(gapAt + 1);
    for (const l of after) expect(idOf(l)[0]).toBeGreaterThan(gap.to as number);
    // Nothing before the cut is delivered again, and no lost job's completion is invented.
    const beforeGap = seen.slice(0, gapAt);
    for (const l of beforeGap) expect(idOf(l)[0]).toBeLessThanOrEqual(cursorAtCut);
    const delivered = new Set(seen.filter((l) => l.event === 'completed').map((l) => l.jobId));
    expect(lost.filter((id) => delivered.has(id)).length).toBeLessThan(lost.length);
    // Counts stay right across the folds that pruned.
    await waitFor(async () => (await ns.exists('/counts'))!.numChildren <= 3, 10_000, 50, 'pruned to the bound');
    const scan = Object.fromEntries(JOB_STATES.map((s) => [s, 0]));
    for (const j of await queue.getJobs()) scan[j.state]!++;
    expect(await queue.getJobCounts()).toEqual(scan);
    expect(scan['completed']).toBe(12);
  }, 90_000);

  it('a listener cut off while the deltas are kept gets every event after healing, and no gap', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    await startWorker(client, namespace, { n: async () => 1 }, { maxEventDeltas: 100_000 });
    const { proxy, seen } = await cutListener(namespace);
    const [early] = await runJobs(queue, 1);
    await waitFor(() => seen.some((l) => l.event === 'completed' && l.jobId === early), 10_000, 20, 'first event');
    proxy.cut();
    const ids = await runJobs(queue, 10);
    // The leader folded past what the listener read (readers of counts no longer need those deltas).
    const ns = client.usingNamespace(namespace);
    await waitFor(
      async () => {
        const { children } = await ns.getChildren('/counts');
        const newest = Math.max(...children.map((c) => Number(c.slice(2))));
        return (await summaryOf(ns)).through === newest;
      },
      15_000,
      50,
      'deltas folded',
    );
    proxy.heal();
    await waitFor(
      () => ids.every((id) => seen.some((l) => l.event === 'completed' && l.jobId === id)),
      30_000,
      20,
      'every completion after healing',
    );
    expect(seen.filter((l) => l.event === 'gap')).toEqual([]);
    for (const id of ids)
      expect(seen.filter((l) => l.jobId === id).map((l) => l.event)).toEqual(['waiting', 'active', 'completed']);
  }, 90_000);

  it('progress, retrying, dead, failed, cancelled and removed, with their payloads; large values are omitted and said so', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    const qe = new QueueEvents(client, { namespace, logger, from: 'now' });
    cleanup.push(() => qe.close());
    const seen = record(qe);
    await qe.waitUntilReady();
    const big = 'x'.repeat(EVENT_VALUE_MAX_BYTES + 10);
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    await startWorker(client, namespace, {
      prog: async (_job, ctx) => {
        await ctx.progress({ pct: 50 });
        await ctx.progress(big);
        return big;
      },
      flaky: async () => Promise.reject(new Error('flaky says no')),
      doomed: async () => Promise.reject(new UnrecoverableError(big)),
      ok: async () => 'fine',
      block: async (_j, ctx) =>
        Promise.race([
          blocker,
          new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
        ]),
    });
    const prog = await queue.add('prog');
    const flaky = await queue.add('flaky', {}, { attempts: 2, backoff: 100 });
    const doomed = await queue.add('doomed', {}, { attempts: 3 });
    const gone = await queue.add('ok', {}, { removeOnComplete: true });
    const later = await queue.add('ok', {}, { delay: 600_000 });
    const running = await queue.add('block');
    for (const j of [prog, flaky, doomed, gone])
      await queue.waitUntilFinished(j.id, { timeoutMs: 15_000 }).catch(() => undefined);
    await waitFor(() => seen.some((l) => l.event === 'active' && l.jobId === running.id), 10_000, 20, 'block active');
    await queue.cancel(later.id);
    await queue.cancel(running.id);
    release();
    const of = (id: string) => seen.filter((l) => l.jobId === id);
    await waitFor(() => of(running.id).some((l) => l.event === 'cancelled'), 10_000, 20, 'cancelled');
    await waitFor(() => of(gone.id).some((l) => l.event === 'removed'), 10_000, 20, 'removed');
    await waitFor(() => of(flaky.id).some((l) => l.event === 'dead'), 10_000, 20, 'dead');

    const progress = of(prog.id).filter((l) => l.event === 'progress');
    // Coalesced writes may skip the first value; the last one is always written.
    expect(progress.at(-1)).toEqual({
      event: 'progress',
      id: progress.at(-1)!.id,
      jobId: prog.id,
      type: 'prog',
      attemptsMade: 1,
      dataOmitted: true,
    });
    for (const p of progress.slice(0, -1)) expect(p).toMatchObject({ data: { pct: 50 } });
    expect(of(prog.id).find((l) => l.event === 'completed')).toMatchObject({ returnvalueOmitted: true });
    expect(of(prog.id).find((l) => l.event === 'completed')).not.toHaveProperty('returnvalue');

    expect(of(flaky.id).map((l) => l.event)).toEqual(['waiting', 'active', 'retrying', 'active', 'dead']);
    expect(of(flaky.id)[2]).toMatchObject({
      type: 'flaky',
      attemptsMade: 1,
      prev: 'active',
      failedReason: 'flaky says no',
      delay: 100,
    });
    expect(of(flaky.id)[4]).toMatchObject({ attemptsMade: 2, failedReason: 'flaky says no' });

    expect(of(doomed.id).map((l) => l.event)).toEqual(['waiting', 'active', 'failed']);
    expect(of(doomed.id)[2]).toMatchObject({ failedReasonOmitted: true, attemptsMade: 1 });
    expect(of(doomed.id)[2]).not.toHaveProperty('failedReason');

    expect(of(gone.id).map((l) => l.event)).toEqual(['waiting', 'active', 'completed', 'removed']);
    expect(of(gone.id)[3]).toMatchObject({ prev: 'completed', withOutcome: true });

    expect(of(later.id).map((l) => l.event)).toEqual(['delayed', 'cancelled']);
    expect(of(later.id)[0]).toMatchObject({ delay: 600_000 });
    expect(of(later.id)[1]).toMatchObject({ prev: 'delayed' });
    expect(of(running.id).map((l) => l.event)).toEqual(['waiting', 'active', 'cancelled']);
    expect(of(running.id)[2]).toMatchObject({ prev: 'active' });
  }, 60_000);

  it('a worker lost while running a job: stalled, then dead on its last attempt', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    const qe = new QueueEvents(client, { namespace, logger });
    cleanup.push(() => qe.close());
    const seen = record(qe);
    await qe.waitUntilReady();
    // The leader on one connection; the worker that runs the job on another, closed under it.
    await startWorker(client, namespace, { other: async () => 1 });
    const runs = async (): Promise<void> => {
      const doomedClient = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
      const w = new Worker(doomedClient, { hang: () => new Promise(() => undefined) }, { namespace, logger });
      await w.start();
      await waitFor(() => seen.filter((l) => l.event === 'active').length > runsSeen, 10_000, 20, 'claimed');
      runsSeen++;
      await doomedClient.close(); // the session ends: its worker znode goes, and the leader requeues
      void w.close({ graceMs: 0 }).catch(() => undefined);
    };
    let runsSeen = 0;
    const job = await queue.add('hang', {}, { attempts: 2 });
    await runs();
    await waitFor(() => seen.some((l) => l.event === 'stalled'), 15_000, 20, 'stalled');
    await runs();
    await waitFor(() => seen.some((l) => l.event === 'dead'), 15_000, 20, 'dead');
    const mine = seen.filter((l) => l.jobId === job.id);
    expect(mine.map((l) => l.event)).toEqual(['waiting', 'active', 'stalled', 'active', 'dead']);
    expect(mine[2]).toMatchObject({ prev: 'active', attemptsMade: 1 });
    expect(mine[4]).toMatchObject({ prev: 'active', attemptsMade: 2 });
    expect(String(mine[4]!['failedReason'])).toMatch(/worker was lost/);
  }, 60_000);

  it('zkjobs events follows the stream: one line per event, --json one object per line; a bad --from is a usage error', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    await startWorker(client, namespace, { n: async () => ({ ok: true }) });
    const base = ['--connect', zkConnect, '--namespace', namespace];
    const json = start([...base, '--json', 'events']);
    const human = start([...base, 'events', '--from', 'earliest']);
    cleanup.push(async () => {
      json.child.kill('SIGKILL');
      human.child.kill('SIGKILL');
    });
    await waitFor(() => json.stderr.includes('"following"'), 15_000, 20, `json ready: ${json.stderr}`);
    await waitFor(() => human.stderr.includes('following'), 15_000, 20, `human ready: ${human.stderr}`);
    const [id] = await runJobs(queue, 1);
    await json.waitForLine((l) => l.includes('"completed"'), 15_000, 'a completed line');
    const docs = json.docs().filter((d) => d['jobId'] === id);
    expect(docs.map((d) => d['event'])).toEqual(['waiting', 'active', 'completed']);
    expect(docs[2]).toMatchObject({ type: 'n', attemptsMade: 1, prev: 'active', returnvalue: { ok: true } });
    expect(String(docs[2]!['id'])).toMatch(/^\d+-\d+$/);
    const line = await human.waitForLine((l) => l.includes(` completed ${id} n`), 15_000, 'a human line');
    expect(line).toMatch(/attempt 1, from active, returnvalue: \{"ok":true\}/);
    json.child.kill('SIGTERM');
    human.child.kill('SIGTERM');
    expect(await json.exited).toBe(0);
    expect(await human.exited).toBe(0);
    const bad = await run([...base, 'events', '--from', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from.*expected now, earliest or a cursor/);
  }, 60_000);

  it('resumes after a saved cursor; from earliest starts at the oldest delta kept; bad options are refused', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await connect();
    const queue = new Queue(client, { namespace, logger });
    await startWorker(client, namespace, { n: async () => 1 });
    const first = new QueueEvents(client, { namespace, logger });
    cleanup.push(() => first.close());
    const seenFirst = record(first);
    await first.waitUntilReady();
    const [a] = await runJobs(queue, 1);
    await waitFor(() => seenFirst.some((l) => l.event === 'completed' && l.jobId === a), 10_000, 20, 'a completed');
    const saved = first.cursor!;
    await first.close();
    const [b] = await runJobs(queue, 1);
    const resumed = new QueueEvents(client, { namespace, logger, from: saved });
    cleanup.push(() => resumed.close());
    const seenResumed = record(resumed);
    await waitFor(() => seenResumed.some((l) => l.event === 'completed' && l.jobId === b), 10_000, 20, 'b resumed');
    expect(seenResumed.filter((l) => l.jobId === a)).toEqual([]);
    expect(seenResumed.filter((l) => l.jobId === b).map((l) => l.event)).toEqual(['waiting', 'active', 'completed']);

    const earliest = new QueueEvents(client, { namespace, logger, from: 'earliest' });
    cleanup.push(() => earliest.close());
    const seenEarliest = record(earliest);
    await waitFor(() => seenEarliest.some((l) => l.event === 'completed' && l.jobId === b), 10_000, 20, 'earliest');
    expect(seenEarliest.filter((l) => l.jobId === a).map((l) => l.event)).toEqual(['waiting', 'active', 'completed']);

    expect(() => new QueueEvents(client, { namespace, from: 'yesterday' as never })).toThrow(JobValidationError);
    expect(() => new QueueEvents(client, { namespace: 'relative' })).toThrow(JobValidationError);
    await withDeadline(resumed.close(), 5000, 'close');
  }, 60_000);
});
