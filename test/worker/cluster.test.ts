// Multi-process tests of the job engine on a real 3-node ensemble: 3 worker processes, 500 jobs
// completing exactly once; SIGKILL of the leader's process mid-run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TestingCluster } from '@zkjobs/core/testing';
import { Queue, createLogger, type Job } from '@zkjobs/worker';
import { describeWithServers, fileNamespace, waitFor } from '../support/zk.js';
import { killAll, readLedger, spawnWorker, type WorkerProc } from './support-procs.js';

const SESSION_TIMEOUT_MS = 2000;
const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

/** Every record completed, with exactly one `completed` attempt. */
function expectCompletedOnce(jobs: Job[], n: number): void {
  expect(jobs.length).toBe(n);
  const bad = jobs.filter(
    (j) => j.state !== 'completed' || j.history.filter((h) => h.outcome === 'completed').length !== 1,
  );
  expect(bad.map((j) => ({ id: j.id, state: j.state, history: j.history }))).toEqual([]);
}

describeWithServers('worker processes on a 3-node ensemble', () => {
  let cluster: TestingCluster;
  let client: ZkClient;
  let dir: string;
  const procs: WorkerProc[] = [];

  beforeAll(async () => {
    cluster = await TestingCluster.start({ size: 3, tickTime: 500 });
    client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 4000 });
    dir = mkdtempSync(join(tmpdir(), 'zkjobs-cluster-'));
  });
  afterAll(async () => {
    await killAll(procs);
    await client?.close();
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function start3(namespace: string, ledger: string): Promise<WorkerProc[]> {
    const out: WorkerProc[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await spawnWorker({
        ZK_CONNECT: cluster.connectString,
        NAMESPACE: namespace,
        LEDGER: ledger,
        CONCURRENCY: '8',
        SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
        LOG_FILE: join(dir, `${namespace.replace(/\//g, '_')}-${i}.log`),
        LOG_LEVEL: 'info',
      });
      procs.push(p);
      out.push(p);
    }
    return out;
  }

  it('3 workers process 500 jobs; each completes exactly once; the leader is the lowest w- znode', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const ledger = join(dir, 'ledger-500.jsonl');
    const ws = await start3(namespace, ledger);
    const ns = client.usingNamespace(namespace);
    const queue = new Queue(client, { namespace, logger });
    const t0 = Date.now();
    const jobs = await queue.addBulk(Array.from({ length: 500 }, (_, i) => ({ type: 'work', data: { i } })));
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 60_000 })));
    const elapsed = Date.now() - t0;
    const all = await queue.getJobs();
    expectCompletedOnce(all, 500);
    // The ledger: each job ran at least once; the record's token is the token of a ledger run.
    const ledgerLines = readLedger(ledger).filter((l) => l.phase === 'end');
    const ran = new Set(ledgerLines.map((l) => l.id));
    expect(ran.size).toBe(500);
    // Leader = lowest w- znode = the first process started.
    const { children } = await ns.getChildren('/workers');
    const lowest = [...children].sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)))[0];
    const leader = JSON.parse((await ns.getData('/leader')).data.toString()) as { worker: string; pid: number };
    expect(leader.worker).toBe(lowest);
    expect(leader.worker).toBe(ws[0]!.name);
    expect(leader.pid).toBe(ws[0]!.pid);
    await ws[0]!.waitLine((l) => l.event === 'leader');
    // Work was spread over the three processes.
    const byPid = new Map<number, number>();
    for (const l of ledgerLines) byPid.set(l.pid, (byPid.get(l.pid) ?? 0) + 1);
    console.log(
      `500 jobs, 3 processes, 3-node ensemble: ${elapsed} ms (${Math.round(500_000 / elapsed)} jobs/s); runs by pid`,
      Object.fromEntries(byPid),
    );
    expect(byPid.size).toBe(3);
    await killAll(ws);
  }, 80_000);

  it('SIGKILL of the leader mid-run: a new leader (the next lowest) takes over; every job completes once; its running jobs re-run elsewhere', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const ledger = join(dir, 'ledger-kill.jsonl');
    const ws = await start3(namespace, ledger);
    const queue = new Queue(client, { namespace, logger });
    // A run whose worker dies uses an attempt: 3 leave room for the kill.
    const jobs = await queue.addBulk(
      Array.from({ length: 200 }, (_, i) => ({ type: 'work', data: { i, ms: 150 }, opts: { attempts: 3 } })),
    );
    const leaderProc = ws[0]!;
    await leaderProc.waitLine((l) => l.event === 'leader');
    // Wait until the leader's process is running jobs, then kill it.
    await waitFor(
      () => readLedger(ledger).filter((l) => l.pid === leaderProc.pid && l.phase === 'start').length >= 10,
      20_000,
      10,
      'leader running jobs',
    );
    const killedAt = Date.now();
    leaderProc.child.kill('SIGKILL');
    await leaderProc.exited;
    // Documented: a new leader within the session timeout + 1 s (once ZooKeeper expires the dead
    // process's session). The 5× deadline only catches a failover that never comes.
    const elected = await Promise.race(
      ws
        .slice(1)
        .map((p) => p.waitLine((l) => l.event === 'leader' && l.t >= killedAt, 5 * (SESSION_TIMEOUT_MS + 1000))),
    );
    console.log(
      `leader killed; new leader ${String(elected['worker'])} (pid ${elected.pid}) after ${elected.t - killedAt} ms (session timeout ${SESSION_TIMEOUT_MS} ms)`,
    );
    expect(elected.pid).toBe(ws[1]!.pid); // the next lowest w- znode takes over
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 60_000 })));
    const all = await queue.getJobs();
    expectCompletedOnce(all, 200);
    // Counted by the multis (claims, completions, the requeue of the killed worker): no scan.
    expect(await queue.getJobCounts('completed', 'active', 'waiting')).toEqual({
      completed: 200,
      active: 0,
      waiting: 0,
    });
    // Jobs that started on the killed process and did not end there were re-run elsewhere and
    // carry a "requeued: owner session gone" attempt.
    const lines = readLedger(ledger);
    const endedOnKilled = new Set(lines.filter((l) => l.pid === leaderProc.pid && l.phase === 'end').map((l) => l.id));
    const interrupted = lines
      .filter((l) => l.pid === leaderProc.pid && l.phase === 'start' && !endedOnKilled.has(l.id))
      .map((l) => l.id);
    const byId = new Map(all.map((j) => [j.id, j]));
    for (const id of interrupted) {
      const j = byId.get(id)!;
      const completed = j.history.find((h) => h.outcome === 'completed')!;
      expect(completed.worker).not.toBe(leaderProc.name);
      const requeued = j.history.find((h) => h.outcome === 'requeued');
      if (requeued) expect(requeued.worker).toBe(leaderProc.name);
      expect(completed.token).toBeGreaterThan(requeued?.token ?? 0);
    }
    expect(interrupted.length).toBeGreaterThan(0);
    const requeuedJobs = all.filter((j) => j.history.some((h) => h.outcome === 'requeued'));
    console.log(
      `interrupted on the killed worker: ${interrupted.length}; records with a requeued attempt: ${requeuedJobs.length}`,
    );
    expect(requeuedJobs.length).toBeGreaterThan(0);
    expect(requeuedJobs.every((j) => j.history.filter((h) => h.outcome === 'completed').length === 1)).toBe(true);
    await killAll(ws);
  }, 80_000);
});
