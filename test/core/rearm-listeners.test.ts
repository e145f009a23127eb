/**
 * Re-arming watches (watchData / watchChildren, and the engine's waitUntilFinished built on
 * them) add no listeners of their own to the client: many at once stay under EventEmitter's
 * limit, and they are read again after a reconnect and after a new session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killSession, ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { Queue, Worker, createLogger } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
const ns = fileNamespace(import.meta.filename);
const warnings: Error[] = [];
const onWarning = (w: Error): void => void warnings.push(w);

beforeAll(() => {
  process.on('warning', onWarning);
});
afterAll(() => {
  process.off('warning', onWarning);
});

describe('re-arming watches and the client’s listeners', () => {
  it('30 concurrent waitUntilFinished on one Queue: no MaxListenersExceededWarning, no listener per wait, all settle', async () => {
    const client = await ZkClient.connect(zkConnect); // default listener limit (10)
    const wClient = await ZkClient.connect(zkConnect);
    const worker = new Worker(wClient, { echo: async (job: { data: unknown }) => job.data }, { namespace: ns, logger });
    try {
      const queue = new Queue(client, { namespace: ns, logger });
      const jobs = await queue.addBulk(Array.from({ length: 30 }, (_, n) => ({ type: 'echo', data: n })));
      const view = await queue.client();
      const waits = jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 }));
      await new Promise((r) => setTimeout(r, 50)); // the waits have set their watches
      expect(view.listenerCount('connected') + view.listenerCount('reconnected')).toBe(0);
      await worker.start();
      const done = await Promise.all(waits);
      expect(done.map((j) => j.result)).toEqual(jobs.map((_, n) => n));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      await worker.close({ graceMs: 100 });
      await wClient.close();
      await client.close();
    }
  });

  it('50 watches are read again after a reconnect and after a new session; a closed one is not', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const c = await ZkClient.connect(proxy.address, { sessionTimeoutMs: 2000, namespace: `${ns}/w` });
    try {
      const seen = new Map<number, string[]>();
      const handles = Array.from({ length: 50 }, (_, i) =>
        c.watchData(`/n${i}`, (d) => seen.set(i, [...(seen.get(i) ?? []), d ? d.toString() : 'none'])),
      );
      await waitFor(() => seen.size === 50, 10_000, 25, 'the first deliveries');
      handles[49]!.close();

      // Changes made while the connection is down are seen once it is back.
      proxy.cut();
      const writer = await ZkClient.connect(zkConnect, { namespace: `${ns}/w` });
      await Promise.all(Array.from({ length: 50 }, (_, i) => writer.create(`/n${i}`, { data: 'a' })));
      proxy.reset();
      proxy.heal();
      await waitFor(
        () => [...Array(49).keys()].every((i) => seen.get(i)?.at(-1) === 'a'),
        15_000,
        25,
        'values after reconnect',
      );

      const first = c.sessionId;
      proxy.cut();
      await killSession(zkConnect, c.sessionCredentials());
      await Promise.all(Array.from({ length: 50 }, (_, i) => writer.setData(`/n${i}`, 'b')));
      proxy.heal();
      await waitFor(() => c.sessionId !== 0n && c.sessionId !== first, 15_000, 25, 'a new session');
      await waitFor(
        () => [...Array(49).keys()].every((i) => seen.get(i)?.at(-1) === 'b'),
        15_000,
        25,
        'values after the new session',
      );
      expect(seen.get(49)).toEqual(['none']);
      expect(c.listenerCount('connected') + c.listenerCount('reconnected')).toBe(0);
      await writer.close();
      for (const h of handles) h.close();
    } finally {
      await c.close();
      await proxy.close();
    }
  });
});
