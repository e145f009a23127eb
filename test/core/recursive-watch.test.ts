/**
 * `ZkClient.watchRecursive`: a persistent recursive watch (ZooKeeper 3.6+ `addWatch`) against a
 * real server: every create, delete and data change at or below the path, with its path; none
 * for siblings or after close; added again after a reconnect, then `onResync`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient, type RecursiveWatchEvent } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const ns = fileNamespace(import.meta.filename);
let c: ZkClient;

beforeAll(async () => {
  c = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000, namespace: ns });
});
afterAll(async () => {
  await c?.deleteRecursive('/');
  await c?.close();
});

describe('watchRecursive', () => {
  it('hears creates, deletes and data changes at any depth, with their paths, until closed', async () => {
    await c.mkdirp('/rw/tree');
    await c.mkdirp('/rw/sibling');
    const events: RecursiveWatchEvent[] = [];
    const h = await c.watchRecursive('/rw/tree', (e) => events.push(e));
    await c.create('/rw/tree/a', { data: '1' });
    await c.create('/rw/tree/a/b');
    await c.setData('/rw/tree/a', '2');
    await c.create('/rw/sibling/x'); // not under the watch
    await c.delete('/rw/tree/a/b');
    await c.setData('/rw/tree', 'root');
    await waitFor(() => events.length >= 5, 5000, 10, 'five events');
    expect(events).toEqual([
      { type: 'created', path: '/rw/tree/a' },
      { type: 'created', path: '/rw/tree/a/b' },
      { type: 'data-changed', path: '/rw/tree/a' },
      { type: 'deleted', path: '/rw/tree/a/b' },
      { type: 'data-changed', path: '/rw/tree' },
    ]);
    h.close();
    await c.create('/rw/tree/after-close');
    // A one-shot watch set after the change arms behind it on the same connection: once it
    // fires, anything the closed recursive watch would have said has arrived too.
    const fired = new Promise<void>((resolve) => void c.exists('/rw/tree/marker', { watch: () => resolve() }));
    await c.create('/rw/tree/marker');
    await fired;
    expect(events).toHaveLength(5);
  });

  it('is added again after a reconnect and says so (onResync); events go on', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':');
    const proxy = await TcpProxy.start(host!, Number(port));
    const p = await ZkClient.connect(proxy.address, { sessionTimeoutMs: 6000, namespace: ns });
    try {
      await p.mkdirp('/rr');
      const events: RecursiveWatchEvent[] = [];
      let resyncs = 0;
      const h = await p.watchRecursive('/rr', (e) => events.push(e), { onResync: () => resyncs++ });
      await p.create('/rr/one');
      await waitFor(() => events.length === 1, 5000, 10, 'first event');
      proxy.reset(); // drops the connection; the client reconnects to the same session
      await waitFor(() => resyncs === 1, 10_000, 20, 'resync after the reconnect');
      await c.create('/rr/two'); // made by another client
      await waitFor(() => events.length === 2, 5000, 10, 'event after the reconnect');
      expect(events).toEqual([
        { type: 'created', path: '/rr/one' },
        { type: 'created', path: '/rr/two' },
      ]);
      h.close();
    } finally {
      await p.close();
      await proxy.close();
    }
  }, 30_000);

  it('checks its arguments before sending', async () => {
    await expect(c.watchRecursive('no-slash', () => undefined)).rejects.toMatchObject({ name: 'InvalidPathError' });
    await expect(c.watchRecursive('/rw', 'nope' as never)).rejects.toMatchObject({ name: 'BadArgumentsError' });
  });
});
