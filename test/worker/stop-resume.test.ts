// SIGSTOP of a worker process that holds a job, for longer than its session timeout, then
// SIGCONT: the job is re-run elsewhere, the late completion is refused, and the record shows one
// completion, with the newer fencing token.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TestingCluster } from '@zkjobs/core/testing';
import { Queue, createLogger } from '@zkjobs/worker';
import { describeWithServers, fileNamespace, waitFor } from '../support/zk.js';
import { killAll, readLedger, spawnWorker, type WorkerProc } from './support-procs.js';

const SESSION_TIMEOUT_MS = 2000;
const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

describeWithServers('a stopped worker', () => {
  let cluster: TestingCluster;
  let client: ZkClient;
  let dir: string;
  const procs: WorkerProc[] = [];

  beforeAll(async () => {
    cluster = await TestingCluster.start({ size: 3, tickTime: 500 });
    client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 4000 });
    dir = mkdtempSync(join(tmpdir(), 'zkjobs-stop-'));
  });
  afterAll(async () => {
    await killAll(procs);
    await client?.close();
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('SIGSTOP past the session timeout, SIGCONT: re-run elsewhere, late completion refused, one completion with the newer token', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const ledger = join(dir, 'ledger.jsonl');
    for (let i = 0; i < 3; i++) {
      procs.push(
        await spawnWorker({
          ZK_CONNECT: cluster.connectString,
          NAMESPACE: namespace,
          LEDGER: ledger,
          CONCURRENCY: '2',
          SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
          LOG_FILE: join(dir, `w${i}.log`),
        }),
      );
    }
    const queue = new Queue(client, { namespace, logger });
    // The handler ignores its signal, so the stopped worker really finishes and tries to complete.
    // Two attempts: the stopped holder's run counts as one.
    const job = await queue.add('work', { ms: 3000, ignoreSignal: true }, { attempts: 2 });
    const first = (await waitFor(
      async () => {
        const j = await queue.getJob(job.id);
        return j?.state === 'active' ? j : null;
      },
      15_000,
      20,
      'job active',
    ))!;
    const claim1 = first.history[first.history.length - 1]!;
    // The claim is held by one of this test's three worker processes.
    expect(procs.map((p) => p.name)).toContain(claim1.worker);
    const holder = procs.find((p) => p.name === claim1.worker)!;
    process.kill(holder.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    // Requeued ("owner session gone") and claimed again by another worker, with a larger token.
    const second = (await waitFor(
      async () => {
        const j = await queue.getJob(job.id);
        const last = j?.history[j.history.length - 1];
        return j?.state === 'active' && last && last.token > claim1.token ? j : null;
      },
      15_000,
      20,
      'job re-claimed elsewhere',
    ))!;
    const claim2 = second.history[second.history.length - 1]!;
    expect(claim2.worker).not.toBe(claim1.worker);
    expect(second.history.find((h) => h.token === claim1.token)?.outcome).toBe('requeued');
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(SESSION_TIMEOUT_MS - 100);
    process.kill(holder.pid, 'SIGCONT');
    // The resumed worker finishes its run and its completion is refused (a lost claim).
    const stalled = await holder.waitLine((l) => l.event === 'stalled' && l['jobId'] === job.id, 15_000);
    expect(stalled['token']).toBe(claim1.token);
    const done = await queue.waitUntilFinished(job.id, { timeoutMs: 15_000 });
    const completions = done.history.filter((h) => h.outcome === 'completed');
    expect(completions).toHaveLength(1);
    expect(completions[0]!.token).toBe(claim2.token);
    expect(completions[0]!.token).toBeGreaterThan(claim1.token);
    expect((done.result as { by: number }).by).not.toBe(holder.pid);
    // The ledger shows the job ran twice: once on the stopped worker (late), once elsewhere.
    await waitFor(
      () => readLedger(ledger).filter((l) => l.id === job.id && l.phase === 'end').length === 2,
      10_000,
      50,
      'both runs ended',
    );
    const runs = readLedger(ledger).filter((l) => l.id === job.id && l.phase === 'end');
    expect(runs.map((r) => r.token).sort((a, b) => a - b)).toEqual([claim1.token, claim2.token]);
    expect(runs.find((r) => r.token === claim1.token)!.pid).toBe(holder.pid);
    // The resumed worker re-registered with a new session and a new w- znode.
    await waitFor(
      async () => {
        const { children } = await client.usingNamespace(namespace).getChildren('/workers');
        return children.length === 3 && !children.includes(holder.name!);
      },
      15_000,
      50,
      'stopped worker re-registered',
    );
  }, 80_000);
});
