import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadArgumentsError,
  CreateMode,
  ListingTooLargeError,
  NoWatcherError,
  ZkClient,
  type WatchEvent,
} from '@zkjobs/core';
import { fileNamespace, serverWatches, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 4000 });

describe('ZkClient.removeWatches', () => {
  let a: ZkClient;
  let b: ZkClient;
  beforeAll(async () => {
    [a, b] = await Promise.all([connect(), connect()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('removes a data watch from the server and the client: a later change calls nobody', async () => {
    await a.create('/rw-data', { data: 'v1' });
    const events: WatchEvent[] = [];
    await a.getData('/rw-data', { watch: (e) => events.push(e) });
    expect(await serverWatches(a)).toContain(`${namespace}/rw-data`);
    expect(a.watchersForTesting().library.data).toContain(`${namespace}/rw-data`);

    await a.removeWatches('/rw-data', { type: 'data' });

    expect(await serverWatches(a)).not.toContain(`${namespace}/rw-data`);
    expect(a.watchersForTesting()).toEqual({
      client: { data: [], exist: [], child: [] },
      library: { data: [], exist: [], child: [] },
    });
    await b.setData('/rw-data', 'v2');
    // A client sees a watch event before the data that triggered it: this read comes after it.
    expect((await a.getData('/rw-data')).data.toString()).toBe('v2');
    expect(events).toEqual([]);
  });

  it('a path without a watch of that type is a NoWatcherError, and nothing is sent', async () => {
    await a.create('/rw-none', { data: 'x' });
    await expect(a.removeWatches('/rw-none')).rejects.toBeInstanceOf(NoWatcherError);
    await expect(a.removeWatches('/rw-none')).rejects.toThrow(/holds no any watch on \/rw-none/);
    // A child watch is not a data watch.
    await a.getChildren('/rw-none', { watch: () => undefined });
    const err = await a.removeWatches('/rw-none', { type: 'data' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoWatcherError);
    expect((err as NoWatcherError).code).toBe(-121);
    await a.removeWatches('/rw-none', { type: 'children' });
    expect(a.watchersForTesting().library.child).toEqual([]);
    await expect(a.removeWatches('/rw-none', { type: 'everything' as 'any' })).rejects.toBeInstanceOf(
      BadArgumentsError,
    );
    await expect(a.removeWatches('/rw-none', { watcher: 'w' as never })).rejects.toBeInstanceOf(BadArgumentsError);
  });

  it('one watcher of two: the server keeps its watch for the other, which is still called', async () => {
    await a.create('/rw-two', { data: 'v1' });
    const first: WatchEvent[] = [];
    const second: WatchEvent[] = [];
    const w1 = (e: WatchEvent) => first.push(e);
    const w2 = (e: WatchEvent) => second.push(e);
    await a.getData('/rw-two', { watch: w1 });
    await a.exists('/rw-two', { watch: w2 });
    await a.removeWatches('/rw-two', { watcher: w1 });
    expect(await serverWatches(a)).toContain(`${namespace}/rw-two`);
    await expect(a.removeWatches('/rw-two', { watcher: w1 })).rejects.toBeInstanceOf(NoWatcherError);
    await b.setData('/rw-two', 'v2');
    await a.getData('/rw-two');
    expect(first).toEqual([]);
    expect(second).toEqual([{ type: 'data-changed', path: '/rw-two' }]);
  });

  it('a closed watchData handle leaves no watch behind', async () => {
    await a.create('/rw-handle', { data: 'v1' });
    const seen: string[] = [];
    let handle: { close(): void } | undefined;
    await new Promise<void>((resolve) => {
      handle = a.watchData('/rw-handle', (data) => {
        seen.push(String(data));
        resolve();
      });
    });
    expect(await serverWatches(a)).toContain(`${namespace}/rw-handle`);
    handle!.close();
    expect(await serverWatches(a)).not.toContain(`${namespace}/rw-handle`);
    expect(a.watchersForTesting().client.data).not.toContain(`${namespace}/rw-handle`);
    expect(seen).toEqual(['v1']);
  });
});

describe('replies over the packet limit', () => {
  let a: ZkClient;
  beforeAll(async () => {
    a = await connect();
  });
  afterAll(async () => {
    await a?.close();
  });

  it('a listing over jute.maxbuffer is a ListingTooLargeError naming the path and size; the connection is kept', async () => {
    await a.create('/wide', { data: '' });
    // 5,500 names of 200 characters: about 1.1 MB of names, over ZooKeeper's 1,048,575-byte default.
    const stem = 'n'.repeat(190);
    for (let start = 0; start < 5500; start += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          a.create(`/wide/${stem}${String(start + i).padStart(10, '0')}`, { mode: CreateMode.PERSISTENT }),
        ),
      );
    }
    const session = a.sessionId;
    const states: string[] = [];
    a.on('state', (s) => states.push(s));
    const err = await a.getChildren('/wide').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ListingTooLargeError);
    const e = err as ListingTooLargeError;
    expect(e.path).toBe('/wide');
    expect(e.bytes).toBeGreaterThan(5500 * 200);
    expect(e.limit).toBe(1_048_575);
    expect(e.message).toMatch(/the listing of \/wide is \d+ bytes, over the client's packet limit of 1048575 bytes/);
    // Same connection, same session: nothing was dropped.
    expect((await a.exists('/wide'))!.numChildren).toBe(5500);
    expect(a.sessionId).toBe(session);
    expect(states).toEqual([]);
  }, 60_000);
});
