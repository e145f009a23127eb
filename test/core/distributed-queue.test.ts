import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedQueue, ItemLockLostError, QueueFullError, sortQueueItems, ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, recordWatches, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

/** A consumer in its own process: takes one item, prints its name and data, then hangs. */
const CONSUMER = `
import { DistributedQueue, ZkClient } from '@zkjobs/core';
const client = await ZkClient.connect(process.env.ZK, { namespace: process.env.NS, sessionTimeoutMs: 2000 });
const queue = new DistributedQueue(client, process.env.QUEUE);
const item = await queue.take({ timeoutMs: 10000 });
console.log(JSON.stringify({ taken: item?.name, data: item?.data.toString() }));
setInterval(() => {}, 1000);
`;

describe('DistributedQueue', () => {
  let a: ZkClient;
  let b: ZkClient;
  beforeAll(async () => {
    [a, b] = await Promise.all([connect(), connect()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('serves by priority, then in offer order; names sort into that order', async () => {
    const q = new DistributedQueue(a, '/order');
    const offered = [
      await q.offer('a'),
      await q.offer('b', { priority: 100 }),
      await q.offer('c', { priority: 5 }),
      await q.offer('d', { priority: 999 }),
      await q.offer('e', { priority: 5 }),
    ];
    const names = sortQueueItems(offered);
    const inOrder: string[] = [];
    for (let i = 0; i < names.length; i++) {
      const item = await q.poll();
      inOrder.push(item!.data.toString());
      expect(item!.name).toBe(names[i]);
      await item!.consume();
    }
    expect(inOrder).toEqual(['c', 'e', 'a', 'b', 'd']);
    expect(await q.poll()).toBeNull();
    expect(await q.size()).toBe(0);
    await expect(q.offer('x', { priority: 1000 })).rejects.toThrow(RangeError);
  });

  it('a bounded queue refuses offers past maxSize with QueueFullError, strictly under concurrency', async () => {
    const qa = new DistributedQueue(a, '/bounded', { maxSize: 5 });
    const qb = new DistributedQueue(b, '/bounded', { maxSize: 5 });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? qa : qb).offer(`item-${i}`)),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const full = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(5);
    expect(full).toHaveLength(7);
    for (const r of full) {
      const reason = (r as PromiseRejectedResult).reason as QueueFullError;
      expect(reason).toBeInstanceOf(QueueFullError);
      expect(reason.message).toMatch(/full \(maxSize 5\)/);
    }
    expect(await qa.size()).toBe(5);
    const item = await qa.poll();
    await expect(qa.offer('still full')).rejects.toBeInstanceOf(QueueFullError); // held items count
    await item!.consume();
    await qa.offer('room again');
    expect(await qa.size()).toBe(5);
  });

  it('rejects oversized payloads with a clear error and adds nothing', async () => {
    const q = new DistributedQueue(a, '/big', { maxItemBytes: 1024 });
    await expect(q.offer(Buffer.alloc(1025))).rejects.toThrow(/1025 bytes exceeds maxItemBytes 1024/);
    expect(await q.size()).toBe(0);
  });

  it('take blocks until an item is offered on another client; times out with null; aborts', async () => {
    const consumer = new DistributedQueue(a, '/blocking');
    const producer = new DistributedQueue(b, '/blocking');
    expect(await consumer.take({ timeoutMs: 300 })).toBeNull();
    const recorder = recordWatches(a);
    try {
      let settled = false;
      const t = consumer.take({ timeoutMs: 10_000 }).finally(() => (settled = true));
      // Blocked: it listed the (empty) queue and sits on its watches.
      await waitFor(
        () => recorder.armed.some((w) => w.path === '/blocking/items') || settled,
        5000,
        10,
        'take to wait on the queue',
      );
      expect(settled).toBe(false);
      await producer.offer('hello');
      const item = await t;
      expect(item!.data.toString()).toBe('hello');
      expect(recorder.armed.find((w) => w.path === '/blocking/items')!.events).toEqual([
        { type: 'children-changed', path: '/blocking/items' },
      ]);
      await item!.consume();
    } finally {
      recorder.restore();
    }

    const ac = new AbortController();
    const aborted = consumer.take({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('shutdown')), 100);
    await expect(aborted).rejects.toThrow('shutdown');
  });

  it('a held item is skipped by other consumers; released, it is served again in its place; peek does not take', async () => {
    const qa = new DistributedQueue(a, '/held');
    const qb = new DistributedQueue(b, '/held');
    await qa.offer('first');
    await qa.offer('second');
    expect((await qb.peek())!.data.toString()).toBe('first');
    const x = await qa.take();
    expect(x!.data.toString()).toBe('first');
    expect(await x!.holdsLock()).toBe(true);
    expect((await qb.peek())!.data.toString()).toBe('second');
    const y = await qb.poll();
    expect(y!.data.toString()).toBe('second');
    expect(await qb.poll()).toBeNull();
    // A waiter is woken by the release (a lock deletion, not a new item).
    const recorder = recordWatches(b);
    const waiting = qb.take({ timeoutMs: 10_000 });
    await waitFor(() => recorder.armed.some((w) => w.path === '/held/locks'), 5000, 10, 'take to wait on the locks');
    await x!.release();
    const again = await waiting;
    recorder.restore();
    expect(again!.data.toString()).toBe('first');
    expect(recorder.armed.find((w) => w.path === '/held/locks')!.events).toEqual([
      { type: 'children-changed', path: '/held/locks' },
    ]);
    await again!.consume();
    await y!.consume();
    await expect(y!.consume()).rejects.toThrow(/already consumed/);
    expect(await qa.size()).toBe(0);
  });

  it('concurrent consumers on several clients get each item exactly once', async () => {
    const producer = new DistributedQueue(a, '/many');
    const consumers = [a, b, a, b].map((c) => new DistributedQueue(c, '/many'));
    const got: string[] = [];
    let producing = true;
    const runs = consumers.map(async (q) => {
      for (;;) {
        const item = await q.take({ timeoutMs: producing ? 3000 : 300 });
        if (item === null) {
          if (!producing) return;
          continue;
        }
        got.push(item.data.toString());
        await item.consume();
      }
    });
    const sent: string[] = [];
    for (let i = 0; i < 60; i++) {
      sent.push(`job-${i}`);
      await producer.offer(`job-${i}`, { priority: i % 3 });
    }
    producing = false;
    await Promise.all(runs);
    expect([...got].sort()).toEqual([...sent].sort());
    expect(await producer.size()).toBe(0);
  });

  it('a holder whose session was lost cannot consume: ItemLockLostError, and the item is served again', async () => {
    const first = zkConnect.split(',')[0]!;
    const proxy = await TcpProxy.start(
      first.slice(0, first.lastIndexOf(':')),
      Number(first.slice(first.lastIndexOf(':') + 1)),
    );
    const cut = await ZkClient.connect(proxy.address, { namespace, sessionTimeoutMs: 2000 });
    try {
      const q = new DistributedQueue(cut, '/lost');
      await q.offer('survivor');
      const item = await q.take({ timeoutMs: 5000 });
      expect(item!.data.toString()).toBe('survivor');
      const lost = new Promise((r) => cut.once('lost', () => r(true)));
      proxy.cut();
      await lost;
      // The server expired the session: the item is free for others, though the holder never released it.
      const other = new DistributedQueue(b, '/lost');
      const again = await other.take({ timeoutMs: 8000 });
      expect(again!.data.toString()).toBe('survivor');
      proxy.heal();
      await waitFor(() => cut.state === 'connected' || cut.state === 'reconnected', 10_000, 25, 'new session');
      await expect(item!.consume()).rejects.toBeInstanceOf(ItemLockLostError);
      expect(await other.size()).toBe(1); // nothing was deleted by the stale holder
      await again!.consume();
      expect(await other.size()).toBe(0);
    } finally {
      await cut.close();
      await proxy.close();
    }
  });

  it('close releases the items this instance still holds', async () => {
    const q1 = new DistributedQueue(a, '/close');
    await q1.offer('kept');
    const item = await q1.take();
    expect(item).not.toBeNull();
    await q1.close();
    const q2 = new DistributedQueue(b, '/close');
    const again = await q2.poll();
    expect(again!.data.toString()).toBe('kept');
    await again!.consume();
  });

  it('a consumer SIGKILLed while holding an item does not lose it: another consumer gets it after the session ends', async () => {
    const q = new DistributedQueue(a, '/killed');
    await q.offer('precious');
    const child = spawn(process.execPath, ['--input-type=module', '-e', CONSUMER], {
      cwd: dirname(import.meta.dirname), // test/: resolves @zkjobs/core
      env: { ...process.env, ZK: zkConnect, NS: namespace, QUEUE: '/killed' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const line = await waitFor(
        () => out.split('\n').find((l) => l.startsWith('{')),
        15_000,
        25,
        'child took the item',
      );
      expect(JSON.parse(line!)).toMatchObject({ data: 'precious' });
      // Held by the child: nobody else can take it.
      expect(await q.poll()).toBeNull();
      expect(await q.size()).toBe(1);
      child.kill('SIGKILL');
      // The child's lock goes with its session, 2 s after the kill (its session timeout); the
      // take's 5× deadline only catches an item that is never served again.
      const item = await q.take({ timeoutMs: 5 * (2000 + 1500) });
      expect(item!.data.toString()).toBe('precious');
      await item!.consume();
      expect(await q.size()).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
