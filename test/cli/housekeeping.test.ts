// `zkjobs job retry|rm|clean` and `zkjobs queue obliterate`, run as the built bin against the
// shared server; and a command against a port where nothing listens fails at once with a hint.
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, Worker, UnrecoverableError } from '@zkjobs/worker';
import { cleanupAfterAll, sharedClient, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { json, killAll, run } from '../e2e/cli.js';

/** A loopback port where nothing listens (bound once, then closed). */
async function refusedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('zkjobs housekeeping commands', () => {
  const cleanup = cleanupAfterAll();
  afterAll(killAll);

  it('job retry, job rm, job clean and queue obliterate, with --json and their refusals', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename);
    const zk = (...args: string[]) => run(['--connect', zkConnect, '--namespace', namespace, ...args]);
    const queue = new Queue(client, { namespace, logger });
    let failing = true;
    const worker = new Worker(
      client,
      {
        t: async () => {
          if (failing) throw new UnrecoverableError('no');
          return 'ok';
        },
      },
      { namespace, logger },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    const job = await queue.add('t');
    await expect(queue.waitUntilFinished(job.id)).rejects.toThrow(/failed/);

    failing = false;
    const retried = await zk('--json', 'job', 'retry', job.id);
    expect(retried.code, retried.stderr).toBe(0);
    expect(json(retried)).toMatchObject({ id: job.id, retried: true, previousState: 'failed', state: 'waiting' });
    await queue.waitUntilFinished(job.id);
    const explain = await zk('job', 'explain', job.id);
    expect(explain.stdout).toMatch(/retried by the operator/);
    expect(explain.stdout).toMatch(/since the operator's retry/);

    const again = await zk('job', 'retry', job.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot retry job .*: it is completed/);
    const missing = await zk('--json', 'job', 'rm', 'no-such-job');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr.trim().split('\n').pop()!)).toMatchObject({
      error: { message: expect.stringMatching(/no job no-such-job/), exitCode: 1 },
    });

    const waiting = await queue.add('t', {}, { delay: 600_000 });
    const rm = await zk('--json', 'job', 'rm', waiting.id);
    expect(rm.code, rm.stderr).toBe(0);
    expect(json(rm)).toEqual({ id: waiting.id, removed: true, previousState: 'delayed' });
    expect(await queue.getJob(waiting.id)).toBeNull();

    const badClean = await zk('job', 'clean', 'active', '--older-than', '0');
    expect(badClean.code).toBe(2);
    const noAge = await zk('job', 'clean', 'completed');
    expect(noAge.code).toBe(2);
    expect(noAge.stderr).toMatch(/--older-than/);
    const keep = await zk('--json', 'job', 'clean', 'completed', '--older-than', '600000');
    expect(json(keep)).toMatchObject({ removed: 0, ids: [] });
    const cleaned = await zk('--json', 'job', 'clean', 'completed', '--older-than', '0', '--limit', '5');
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(json(cleaned)).toMatchObject({ state: 'completed', removed: 1, ids: [job.id] });

    const noYes = await zk('queue', 'obliterate');
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/pass --yes/);
    const live = await zk('queue', 'obliterate', '--yes');
    expect(live.code).toBe(1);
    expect(live.stderr).toMatch(/cannot obliterate .*: 1 worker is live/);
    expect(await client.exists(namespace)).not.toBeNull();
    await worker.close({ graceMs: 100 });
    const gone = await zk('--json', 'queue', 'obliterate', '--yes');
    expect(gone.code, gone.stderr).toBe(0);
    expect(json(gone)).toMatchObject({ namespace, obliterated: true, force: false });
    expect(await client.exists(namespace)).toBeNull();
  });

  it('a command against a port where nothing listens fails at once, naming the fix', async () => {
    const port = await refusedPort();
    // A connect timeout far longer than the run is allowed: only a fast failure exits with 1.
    const r = await run(['--connect', `127.0.0.1:${port}`, '--connect-timeout', '120000', 'job', 'status', 'x'], {
      timeoutMs: 20_000,
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      `no ZooKeeper server at 127.0.0.1:${port} (connection refused); start one with \`zkjobs server start\` (it prints the export line) or set ZK_CONNECT`,
    );
  });
});
