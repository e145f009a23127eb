import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedQueue, IncompatibleRecipeError, sortQueueItems, ZkClient } from '@zkjobs/core';
import { fileNamespace, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 4000 });

/** Records the number of names of every listing `client` gets. */
function countListings(client: ZkClient): { sizes: number[]; restore(): void } {
  const sizes: number[] = [];
  const original = client.getChildren.bind(client);
  client.getChildren = async (...args: Parameters<ZkClient['getChildren']>) => {
    const r = await original(...args);
    sizes.push(r.children.length);
    return r;
  };
  return { sizes, restore: () => (client.getChildren = original) };
}

describe('DistributedQueue buckets', () => {
  let a: ZkClient;
  let b: ZkClient;
  beforeAll(async () => {
    [a, b] = await Promise.all([connect(), connect()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('items fill buckets of bucketSize in order; a producer whose bucket closed goes on in the next; FIFO per priority holds', async () => {
    const x = new DistributedQueue(a, '/small', { bucketSize: 10 });
    const y = new DistributedQueue(b, '/small', { bucketSize: 10 });
    const offered: string[] = [];
    // x caches bucket 0; y fills it and rolls it over; x's next offer finds bucket 0 closed.
    for (let i = 0; i < 5; i++) offered.push(`x${i}:${await x.offer(`x${i}`)}`);
    for (let i = 0; i < 8; i++) offered.push(`y${i}:${await y.offer(`y${i}`)}`);
    for (let i = 5; i < 30; i++) offered.push(`x${i}:${await x.offer(`x${i}`)}`);
    await x.offer('urgent', { priority: 1 });
    const buckets = (await a.getChildren('/small/items/p-100')).children.sort();
    expect(buckets).toEqual(['b-0000000000', 'b-0000000001', 'b-0000000002', 'b-0000000003']);
    for (const bk of buckets.slice(0, 3)) {
      expect((await a.getChildren(`/small/items/p-100/${bk}`)).children).toHaveLength(10);
      expect((await a.exists(`/small/items/p-100/${bk}`))!.version).toBe(1); // closed
    }
    expect((await a.exists('/small/items/p-100/b-0000000003'))!.version).toBe(0); // open
    expect(await y.size()).toBe(39);

    const taken: string[] = [];
    for (;;) {
      const item = await y.poll();
      if (!item) break;
      taken.push(item.data.toString());
      await item.consume();
    }
    expect(taken).toEqual(['urgent', ...offered.map((o) => o.slice(0, o.indexOf(':')))]);
    expect(sortQueueItems(offered.map((o) => o.slice(o.indexOf(':') + 1)))).toEqual(
      offered.map((o) => o.slice(o.indexOf(':') + 1)),
    );
    expect(await x.size()).toBe(0);
    // Drained closed buckets are deleted by the takes that pass them; the open one stays.
    expect((await a.getChildren('/small/items/p-100')).children).toEqual(['b-0000000003']);
  });

  it('a take from a backlog of 20,000 items lists about one bucket, not the backlog, and serves in offer order', async () => {
    const producer = new DistributedQueue(a, '/backlog');
    const names: string[] = [];
    for (let start = 0; start < 20_000; start += 1000) {
      names.push(...(await Promise.all(Array.from({ length: 1000 }, (_, i) => producer.offer(`item-${start + i}`)))));
    }
    expect(await producer.size()).toBe(20_000);
    const order = sortQueueItems(names);
    const consumer = new DistributedQueue(b, '/backlog');
    const listings = countListings(b);
    try {
      const perTake: number[] = [];
      for (let i = 0; i < 30; i++) {
        listings.sizes.length = 0;
        const item = await consumer.take({ timeoutMs: 10_000 });
        perTake.push(listings.sizes.reduce((s, n) => s + n, 0));
        expect(item!.name).toBe(order[i]);
        await item!.consume();
      }
      // items/ (1 priority), locks/, the priority's ~20 buckets and the first bucket (≤ ~1000 + the offers in flight at its rollover).
      expect(Math.max(...perTake)).toBeLessThan(3000);
    } finally {
      listings.restore();
    }
    expect(await consumer.size()).toBe(19_970);
  }, 120_000);

  it('items of the flat layout of earlier versions are refused, named, and left as they are', async () => {
    await a.mkdirp('/flat/items');
    await a.create('/flat/items/q-100-0000000000', { data: 'old' });
    const q = new DistributedQueue(a, '/flat');
    const err = await q.poll().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncompatibleRecipeError);
    expect((err as Error).message).toMatch(/holds 1 item\(s\) in the flat layout .*\/flat\/items\/q-100-0000000000/);
    await expect(q.take({ timeoutMs: 100 })).rejects.toBeInstanceOf(IncompatibleRecipeError);
    expect((await a.getData('/flat/items/q-100-0000000000')).data.toString()).toBe('old');
    expect((await a.getChildren('/flat/items')).children).toEqual(['q-100-0000000000']);
  });
});
