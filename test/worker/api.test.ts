// The public surface around a job's life: what add/addBulk say about creation, what the
// completed/failed/stalled events carry, the notes a refused holder leaves in the record, the
// exported limits, and a worker's name after close.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  JOB_ID_RE,
  JOB_TYPE_RE,
  JobValidationError,
  Queue,
  Worker,
  bucketOf,
  createLogger,
  type EventClaim,
  type JobRecord,
  type Processor,
} from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
let client: ZkClient;
const open: Worker[] = [];

async function setup(handlers: Record<string, Processor>) {
  client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  const namespace = fileNamespace(import.meta.filename);
  const queue = new Queue(client, { namespace, logger });
  const worker = new Worker(client, handlers, { namespace, logger, concurrency: 2, sessionTimeoutMs: 4000 });
  open.push(worker);
  await worker.start();
  return { queue, worker, namespace };
}

afterEach(async () => {
  for (const w of open.splice(0)) await w.close({ graceMs: 200 }).catch(() => undefined);
});
afterAll(async () => {
  await client?.close();
});

describe('public API', () => {
  it('exports the id and type patterns and the default payload cap, and enforces the cap', async () => {
    expect(JOB_ID_RE.test('order-17:a@b')).toBe(true);
    expect(JOB_ID_RE.test('..')).toBe(false);
    expect(JOB_TYPE_RE.test('mail/send')).toBe(true);
    expect(JOB_TYPE_RE.test('bad type')).toBe(false);
    expect(DEFAULT_MAX_PAYLOAD_BYTES).toBe(262_144);
    client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    const queue = new Queue(client, { namespace: fileNamespace(import.meta.filename), logger });
    await expect(queue.add('t', 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES))).rejects.toThrow(JobValidationError);
  });

  it('add and addBulk tell a created job from an existing one returned for its jobId', async () => {
    client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    const queue = new Queue(client, { namespace: fileNamespace(import.meta.filename), logger });
    const first = await queue.add('t', { n: 1 }, { jobId: 'key-1' });
    expect(first.created).toBe(true);
    const again = await queue.add('t', { n: 2 }, { jobId: 'key-1' });
    expect(again.created).toBe(false);
    expect(again.data).toEqual({ n: 1 });
    const bulk = await queue.addBulk([
      { type: 't', opts: { jobId: 'key-1' } },
      { type: 't', opts: { jobId: 'key-2' } },
      { type: 't' },
    ]);
    expect(bulk.map((j) => j.created)).toEqual([false, true, true]);
  });

  it('completed and failed events carry the claim (token, attempt, worker, session); the name survives close', async () => {
    const { queue, worker } = await setup({
      ok: async () => 'fine',
      bad: async () => {
        throw new Error('nope');
      },
    });
    const active = new Map<string, number>();
    const claims: [string, string, EventClaim][] = [];
    worker.on('active', (job, token) => active.set(job.id, token));
    worker.on('completed', (job, _r, c) => claims.push(['completed', job.id, c]));
    worker.on('failed', (job, _e, _f, c) => claims.push(['failed', job.id, c]));
    const ok = await queue.add('ok');
    const bad = await queue.add('bad');
    await waitFor(() => claims.length === 2, 10_000, 20, 'both events');
    for (const [, id, c] of claims) {
      expect(c).toEqual({ token: active.get(id), attempt: 1, worker: worker.name, session: worker.zk!.sessionIdHex });
    }
    expect(claims.map(([k, id]) => [k, id]).sort()).toEqual(
      [
        ['completed', ok.id],
        ['failed', bad.id],
      ].sort(),
    );
    const name = worker.name;
    expect(name).toMatch(/^w-\d{10}$/);
    await worker.close();
    expect(worker.name).toBe(name);
  });

  it('a refused completion emits stalled with its claim and is noted in the record by a compare-and-set once the record is final', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { queue, worker, namespace } = await setup({ slow: async () => gate.then(() => 'late') });
    const stalled: [string, EventClaim][] = [];
    worker.on('stalled', (id, _err, c) => stalled.push([id, c]));
    let token = -1;
    worker.on('active', (_job, t) => (token = t));
    const job = await queue.add('slow');
    await waitFor(() => token > 0, 10_000, 20, 'claimed');
    // Someone else finishes the job meanwhile (as a newer claim would): the record moves on.
    const ns = client.usingNamespace(namespace);
    const path = `/jobs/${bucketOf(job.id)}/${job.id}`;
    const { data, stat } = await ns.getData(path);
    const rec = JSON.parse(data.toString('utf8')) as JobRecord;
    await ns.setData(path, JSON.stringify({ ...rec, state: 'cancelled', claim: null }), { version: stat.version });
    release();
    await waitFor(() => stalled.length === 1, 10_000, 20, 'stalled');
    expect(stalled[0]).toEqual([job.id, { token, attempt: 1, worker: worker.name, session: worker.zk!.sessionIdHex }]);
    await waitFor(async () => ((await queue.getJob(job.id))?.notes ?? []).length > 0, 10_000, 50, 'note written');
    const after = (await queue.getJob(job.id))!;
    expect(after.state).toBe('cancelled');
    expect(after.notes).toHaveLength(1);
    expect(after.notes![0]).toMatchObject({
      kind: 'refused',
      token,
      attempt: 1,
      worker: worker.name,
      session: worker.zk!.sessionIdHex,
      over: stat.version + 1,
    });
    expect(after.version).toBe(stat.version + 2);
  });
});
