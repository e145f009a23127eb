// workerMetrics for library users: the metrics follow the worker's client through a lost
// session, one registry holds one worker's metrics, and close() takes them away again.
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient, killSession } from '@zkjobs/core';
import { Queue, Registry, Worker, serveMetrics, workerMetrics } from '@zkjobs/worker';
import { testLogger as logger } from '../support/fixtures.js';
import { parseScrape, scrape } from '../support/prometheus.js';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

describe('workerMetrics', () => {
  const open: { close(): Promise<unknown> }[] = [];
  afterAll(async () => {
    for (const o of open.reverse()) await o.close().catch(() => undefined);
  });

  it('counts a lost session and requests by operation, and follows the worker into its new session', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    open.push(client);
    const worker = new Worker(
      client,
      { echo: async (job) => job.data },
      {
        namespace,
        logger,
        sessionTimeoutMs: 4000,
        autorun: false,
      },
    );
    const registry = new Registry();
    const metrics = workerMetrics(worker, registry); // before start: the client is attached on registration
    const read = async () => parseScrape(await registry.metrics());
    expect((await read()).value('zkjobs_zookeeper_connection_state', { state: 'not-started' })).toBe(1);
    await worker.start();
    open.push(worker);
    const queue = new Queue(client, { namespace, logger });

    const first = await queue.add('echo', 1);
    await queue.waitUntilFinished(first.id, { timeoutMs: 30_000 });
    await waitFor(async () => (await read()).valueOr0('zkjobs_jobs_completed_total', { type: 'echo' }) === 1, 30_000);
    const m1 = await read();
    expect(m1.value('zkjobs_zookeeper_connection_state', { state: 'connected' })).toBe(1);
    expect(
      m1.value('zkjobs_zookeeper_request_duration_seconds_count', { op: 'getData', error: 'none' }),
    ).toBeGreaterThan(0);
    expect(m1.value('zkjobs_zookeeper_sessions_lost_total')).toBe(0);

    const registered = new Promise<string>((r) => worker.once('registered', (_name, session) => r(session)));
    const oldSession = client.sessionIdHex;
    await killSession(zkConnect, client.sessionCredentials());
    const newSession = await registered;
    expect(newSession).not.toBe(oldSession);
    const m2 = await read();
    expect(m2.value('zkjobs_zookeeper_sessions_lost_total')).toBe(1);

    // Still counted after the new session: the same client view, listened to once.
    const second = await queue.add('echo', 2);
    await queue.waitUntilFinished(second.id, { timeoutMs: 30_000 });
    await waitFor(async () => (await read()).valueOr0('zkjobs_jobs_completed_total', { type: 'echo' }) === 2, 30_000);
    expect((await read()).value('zkjobs_zookeeper_connection_state', { state: 'connected' })).toBe(1);

    // Served over HTTP as it is read in-process.
    const server = await serveMetrics(registry, { port: 0 });
    open.push(server);
    expect((await scrape(server.url)).value('zkjobs_jobs_completed_total', { type: 'echo' })).toBe(2);

    expect(() => workerMetrics(worker, registry)).toThrow(/already holds the zkjobs_\* metrics/);
    metrics.close();
    expect(registry.getMetricsAsArray().filter((m) => m.name.startsWith('zkjobs_'))).toEqual([]);
    const again = workerMetrics(worker, registry); // the registry is free again
    expect((await read()).value('zkjobs_leader')).toBe(1);
    again.close();
  });

  it('serveMetrics refuses a port outside 0–65535 and a port in use', async () => {
    await expect(serveMetrics(new Registry(), { port: 65536 })).rejects.toThrow(RangeError);
    const a = await serveMetrics(new Registry(), { port: 0 });
    open.push(a);
    await expect(serveMetrics(new Registry(), { port: a.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
