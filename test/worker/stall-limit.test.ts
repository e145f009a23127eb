// A run whose worker is lost (its process dies) uses an attempt: a poison-pill job that kills
// every worker that runs it ends dead once its attempts are used up, instead of being re-run
// forever; `zkjobs verify` explains every run and `job explain` says why it is dead.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { JobFailedError, Queue, createLogger, verify } from '@zkjobs/worker';
import { run } from '../e2e/cli.js';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { killAll, readLedger, spawnWorker, type WorkerProc } from './support-procs.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

describe('stall limit: a lost worker counts the attempt', () => {
  let client: ZkClient;
  let dir: string;
  const procs: WorkerProc[] = [];

  beforeAll(async () => {
    client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    dir = mkdtempSync(join(tmpdir(), 'zkjobs-stall-'));
  });
  afterAll(async () => {
    await killAll(procs);
    await client?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function spawn(namespace: string, ledger: string, i: number): Promise<WorkerProc> {
    const p = await spawnWorker({
      ZK_CONNECT: zkConnect,
      NAMESPACE: namespace,
      LEDGER: ledger,
      CONCURRENCY: '1',
      SESSION_TIMEOUT_MS: '2000',
      LOG_FILE: join(dir, `w${i}.log`),
      LOG_LEVEL: 'info',
    });
    procs.push(p);
    return p;
  }

  it('a poison pill with attempts: 2 ends dead after two worker deaths; a job that kills its first worker completes on its second attempt', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const ledger = join(dir, 'ledger.jsonl');
    const ws: WorkerProc[] = [];
    for (let i = 0; i < 3; i++) ws.push(await spawn(namespace, ledger, i));
    const queue = new Queue(client, { namespace, logger });

    const pill = await queue.add('crash', {}, { jobId: 'pill', attempts: 2 });
    await expect(queue.waitUntilFinished(pill.id, { timeoutMs: 45_000 })).rejects.toThrow(JobFailedError);
    const dead = (await queue.getJob('pill'))!;
    expect(dead.state).toBe('dead');
    expect(dead.attemptsMade).toBe(2);
    expect(dead.history.map((h) => h.outcome)).toEqual(['requeued', 'dead']);
    expect(dead.history[1]!.by).toMatch(/^w-\d+@\d+$/);
    expect(dead.error?.name).toBe('WorkerLostError');
    expect(dead.error?.message).toContain('worker was lost 2 times');
    // Two processes ran it, each died of it; the third lives.
    const starts = readLedger(ledger).filter((l) => l.id === 'pill' && l.phase === 'start');
    expect(starts.map((l) => l.attempt)).toEqual([1, 2]);
    expect(new Set(starts.map((l) => l.pid)).size).toBe(2);
    const codes = await Promise.all(ws.filter((w) => starts.some((l) => l.pid === w.pid)).map((w) => w.exited));
    expect(codes).toEqual([1, 1]);
    const alive = ws.filter((w) => !starts.some((l) => l.pid === w.pid));
    expect(alive).toHaveLength(1);
    expect(alive[0]!.child.exitCode).toBeNull();

    const explain = await run(['--connect', zkConnect, '--namespace', namespace, 'job', 'explain', 'pill']);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('dead after 2 of at most 2 attempt(s)');
    expect(explain.stdout).toContain('WorkerLostError: its worker was lost 2 times');

    // Counted, not fatal while attempts are left: dies on attempt 1, completes on attempt 2.
    await spawn(namespace, ledger, 3);
    const once = await queue.add('crash', { onAttempts: [1] }, { jobId: 'once', attempts: 3 });
    const done = await queue.waitUntilFinished(once.id, { timeoutMs: 45_000 });
    expect(done.attemptsMade).toBe(2);
    expect(done.history.map((h) => h.outcome)).toEqual(['requeued', 'completed']);

    const report = await verify(client.usingNamespace(namespace), { submitted: ['pill', 'once'] });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.stats.requeued).toBe(2);
    // The counts, kept by the requeue and the leader's dead-ending multi too, match the records.
    expect(await queue.getJobCounts('dead', 'completed', 'active', 'waiting')).toEqual({
      dead: 1,
      completed: 1,
      active: 0,
      waiting: 0,
    });
  }, 120_000);
});
