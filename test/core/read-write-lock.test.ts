import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadWriteLock, ZkClient } from '@zkjobs/core';
import { fileNamespace, seenByEach, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

describe('ReadWriteLock', () => {
  let admin: ZkClient;
  const clients: ZkClient[] = [];
  beforeAll(async () => {
    admin = await connect();
    for (let i = 0; i < 5; i++) clients.push(await connect());
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await admin?.close();
  });

  it('readers share; a writer waits for them; readers behind a waiting writer wait for it', async () => {
    const [r1, r2, w, r3, r4] = clients.map((c) => new ReadWriteLock(c, '/rw')) as [
      ReadWriteLock,
      ReadWriteLock,
      ReadWriteLock,
      ReadWriteLock,
      ReadWriteLock,
    ];
    try {
      expect(await r1.readLock.acquire({ timeoutMs: 1000 })).toBe(true);
      expect(await r2.readLock.acquire({ timeoutMs: 1000 })).toBe(true);
      expect(await w.writeLock.acquire({ timeoutMs: 300 })).toBe(false);
      expect((await admin.getChildren('/rw')).children).toHaveLength(2);
      const writing = w.writeLock.acquire({ timeoutMs: 10_000 });
      await waitFor(async () => (await admin.getChildren('/rw')).children.length === 3, 5000, 10, 'the writer node');
      // Readers arriving after a waiting writer queue behind it (no writer starvation).
      const reading3 = r3.readLock.acquire({ timeoutMs: 10_000 });
      const reading4 = r4.readLock.acquire({ timeoutMs: 10_000 });
      await waitFor(async () => (await admin.getChildren('/rw')).children.length === 5, 5000, 10, 'two more readers');
      // Once a client has read that a node is gone, every notification of its deletion has
      // reached that client: the delivery counts below are final, no sleep needed.
      const goneFor = async (cs: ZkClient[], path: string) =>
        seenByEach(cs, async (c) => (await c.exists(path)) === null, `${path} gone`);
      const [r1Path, r2Path] = [r1.readLock.lockPath!, r2.readLock.lockPath!];
      await r1.readLock.release();
      // The writer watches r2's node (its predecessor), so r1 leaving does not even wake it.
      await goneFor([clients[2]!], r1Path);
      expect(w.writeLock.watchDeliveries).toBe(0);
      expect(w.writeLock.isAcquired()).toBe(false);
      await r2.readLock.release();
      expect(await writing).toBe(true);
      // Each late reader watches only the writer's node: the readers leaving woke neither.
      await goneFor([clients[3]!, clients[4]!], r2Path);
      expect(r3.readLock.isAcquired() || r4.readLock.isAcquired()).toBe(false);
      expect(r3.readLock.watchDeliveries + r4.readLock.watchDeliveries).toBe(0);
      await w.writeLock.release();
      expect(await reading3).toBe(true);
      expect(await reading4).toBe(true);
      expect(r3.readLock.watchDeliveries).toBe(1);
      expect(r4.readLock.watchDeliveries).toBe(1);
    } finally {
      for (const l of [r1, r2, w, r3, r4]) await l.close();
    }
    expect((await admin.getChildren('/rw')).children).toEqual([]);
  });

  it('the write holder may also read (re-entrant downgrade), and other readers wait', async () => {
    const mine = new ReadWriteLock(clients[0]!, '/downgrade');
    const other = new ReadWriteLock(clients[1]!, '/downgrade');
    try {
      expect(await mine.writeLock.acquire()).toBe(true);
      expect(await mine.readLock.acquire({ timeoutMs: 1000 })).toBe(true);
      expect(await other.readLock.acquire({ timeoutMs: 300 })).toBe(false);
      const reading = other.readLock.acquire({ timeoutMs: 10_000 });
      // The reader has lined up behind the writer (3 nodes: write, read, other's read).
      await waitFor(
        async () => (await clients[0]!.getChildren('/downgrade')).children.length === 3,
        5000,
        10,
        'the other reader to line up',
      );
      expect(other.readLock.isAcquired()).toBe(false);
      await mine.writeLock.release();
      expect(await reading).toBe(true); // readers share once no writer is ahead
      expect(mine.readLock.isAcquired()).toBe(true);
    } finally {
      await mine.close();
      await other.close();
    }
  });

  it('writers exclude everyone while 2 writers and 3 readers loop', async () => {
    const locks = clients.map((c) => new ReadWriteLock(c, '/loop'));
    let readers = 0;
    let writers = 0;
    const violations: string[] = [];
    let maxReaders = 0;
    let writes = 0;
    const stopAt = Date.now() + 4000;
    try {
      await Promise.all(
        locks.map(async (l, i) => {
          const isWriter = i < 2;
          while (Date.now() < stopAt) {
            const lock = isWriter ? l.writeLock : l.readLock;
            if (!(await lock.acquire({ timeoutMs: 5000 }))) continue;
            if (isWriter) {
              writers++;
              if (writers > 1 || readers > 0) violations.push(`writer with ${writers - 1} writers, ${readers} readers`);
            } else {
              readers++;
              maxReaders = Math.max(maxReaders, readers);
              if (writers > 0) violations.push(`reader with ${writers} writers`);
            }
            await sleep(5 + Math.random() * 15);
            if (isWriter) {
              writers--;
              writes++;
            } else readers--;
            await lock.release();
          }
        }),
      );
    } finally {
      for (const l of locks) await l.close();
    }
    expect(violations).toEqual([]);
    expect(writes).toBeGreaterThan(5);
    expect(maxReaders).toBeGreaterThan(1);
  });

  it('20 rounds of 3 writers and 6 readers, each releasing at once: all acquire in turn by their watch alone', async () => {
    // The safety re-check is set far beyond the test's bounds (see the Mutex test of the same name).
    const cs = [await connect(), await connect(), await connect()];
    const locks = Array.from(
      { length: 9 },
      (_, i) => new ReadWriteLock(cs[i % 3]!, '/watch-alone', { recheckMs: 600_000 }),
    );
    let reads = 0;
    let writes = 0;
    try {
      for (let round = 0; round < 20; round++) {
        await Promise.all(
          locks.map(async (l, i) => {
            const write = i % 3 === 0;
            const lock = write ? l.writeLock : l.readLock;
            expect(await lock.acquire({ signal: AbortSignal.timeout(20_000) })).toBe(true);
            if (write) writes++;
            else reads++;
            await lock.release();
          }),
        );
      }
      expect(await admin.getChildren('/watch-alone').then((r) => r.children)).toEqual([]);
    } finally {
      for (const l of locks) await l.close();
      for (const c of cs) await c.close();
    }
    expect(writes).toBe(60);
    expect(reads).toBe(120);
  });

  it("a read asked for while the same object's write is pending is granted once the write is held, without a re-check", async () => {
    // The reader's node comes after the write node of its own lock: it waits on that node until
    // the write is held, which changes nothing in ZooKeeper (no watch fires).
    const c = clients[0]!;
    const rw = new ReadWriteLock(c, '/own-write', { recheckMs: 600_000 });
    const other = new ReadWriteLock(clients[1]!, '/own-write', { recheckMs: 600_000 });
    try {
      for (let round = 0; round < 20; round++) {
        const [w, r] = await Promise.all([
          rw.writeLock.acquire({ signal: AbortSignal.timeout(20_000) }),
          rw.readLock.acquire({ signal: AbortSignal.timeout(20_000) }),
        ]);
        expect([w, r]).toEqual([true, true]);
        expect(await other.readLock.acquire({ timeoutMs: 0 })).toBe(false);
        await rw.readLock.release();
        await rw.writeLock.release();
      }
    } finally {
      await rw.close();
      await other.close();
    }
  });
});
