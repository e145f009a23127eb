// A leading Worker whose connection drops and comes back within its session keeps leading in the
// same epoch (no leader-lost, no new epoch, the `leader` znode untouched) and keeps scheduling;
// a cut past the session timeout still hands leadership to another worker.
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient, type ConnectionState } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { Queue, Worker, createLogger, type Job } from '@zkjobs/worker';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

describe('a short suspension of the leader', () => {
  it('reconnected in the same session: same epoch, no leader-lost, jobs keep flowing; a long cut: another worker leads', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':');
    const proxy = await TcpProxy.start(host!, Number(port));
    cleanup.push(() => proxy.close());
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup.push(() => client.close());
    const ns = client.usingNamespace(namespace);
    const queue = new Queue(client, { namespace, logger });
    const handlers = { work: async (job: Job<{ ms: number }>) => sleep(job.data.ms) };
    const leader = new Worker(proxy.address, handlers, {
      namespace,
      logger,
      concurrency: 4,
      sessionTimeoutMs: 3000,
      autorun: false, // started first, so it holds the lowest znode
    });
    const other = new Worker(zkConnect, handlers, {
      namespace,
      logger,
      concurrency: 4,
      sessionTimeoutMs: 4000,
      autorun: false,
    });
    cleanup.push(
      () => other.close({ graceMs: 100 }),
      () => leader.close({ graceMs: 100 }),
    );
    const elected: number[] = [];
    const lost: number[] = [];
    leader.on('leader-elected', (e) => elected.push(e));
    leader.on('leader-lost', (e) => lost.push(e));
    await leader.start(); // lowest w- znode: it leads
    await other.start();
    await waitFor(() => elected.length === 1, 15_000, 10, 'the leader elected');
    const epoch = leader.epoch;
    const leaderVersion = (await ns.exists('/leader'))!.version;
    const states: ConnectionState[] = [];
    leader.zk!.on('state', (s) => states.push(s));

    const first = await queue.addBulk(Array.from({ length: 60 }, (_, i) => ({ type: 'work', data: { i, ms: 30 } })));
    for (let i = 0; i < 3; i++) {
      const seen = states.filter((s) => s === 'reconnected').length;
      proxy.reset();
      await waitFor(() => states.filter((s) => s === 'reconnected').length > seen, 15_000, 10, 'reconnected');
      await sleep(300);
    }
    await Promise.all(first.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 40_000 })));
    expect(states.filter((s) => s === 'suspended').length).toBe(3);
    expect(states).not.toContain('lost');
    expect(lost).toEqual([]);
    expect(elected).toEqual([epoch]);
    expect(leader.isLeader()).toBe(true);
    expect(leader.epoch).toBe(epoch);
    expect((await ns.exists('/leader'))!.version).toBe(leaderVersion);
    // It still schedules: jobs submitted now are assigned and completed.
    const second = await queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ type: 'work', data: { i, ms: 10 } })));
    await Promise.all(second.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 40_000 })));

    // Past the session timeout the session is lost, and the other worker takes a new epoch.
    const otherElected: number[] = [];
    other.on('leader-elected', (e) => otherElected.push(e));
    proxy.cut();
    await waitFor(() => lost.length === 1, 20_000, 10, 'leader-lost');
    expect(lost).toEqual([epoch]);
    await waitFor(() => otherElected.length === 1, 20_000, 10, 'the other worker elected');
    expect(otherElected[0]).toBeGreaterThan(epoch);
    proxy.heal();
  }, 120_000);
});
