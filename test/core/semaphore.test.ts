import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Semaphore, ZkClient } from '@zkjobs/core';
import { fileNamespace, seenByEach, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

describe('Semaphore', () => {
  let admin: ZkClient;
  const clients: ZkClient[] = [];
  beforeAll(async () => {
    admin = await connect();
    for (let i = 0; i < 6; i++) clients.push(await connect());
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await admin?.close();
  });

  it('grants at most maxLeases leases, to the lowest nodes; a release admits exactly one waiter', async () => {
    const sems = clients.slice(0, 5).map((c, i) => new Semaphore(c, '/leases', 3, { data: `s${i}` }));
    try {
      for (const s of sems.slice(0, 3)) expect(await s.acquire({ timeoutMs: 1000 })).toBe(true);
      expect(await sems[0]!.acquire({ timeoutMs: 0 })).toBe(true); // already holds: no second lease
      expect(await sems[3]!.acquire({ timeoutMs: 300 })).toBe(false);
      // The timed-out waiter left nothing: neither a lease nor a node of the internal lock.
      expect((await admin.getChildren('/leases/leases')).children).toHaveLength(3);
      expect((await admin.getChildren('/leases/locks')).children).toHaveLength(0);
      const w3 = sems[3]!.acquire({ timeoutMs: 10_000 });
      const w4 = sems[4]!.acquire({ timeoutMs: 10_000 });
      // One waiter holds the internal lock with a lease node; the other waits on the lock.
      await waitFor(
        async () => (await admin.getChildren('/leases/leases')).children.length === 4,
        5000,
        10,
        'a waiting lease',
      );
      await waitFor(
        async () => (await admin.getChildren('/leases/locks')).children.length === 2,
        5000,
        10,
        'two lock nodes',
      );
      expect(await sems[0]!.getLeaseHolders()).toEqual(sems.slice(0, 3).map((s) => s.lockPath));
      const deliveries = () => sems.reduce((n, s) => n + s.watchDeliveries, 0);
      expect(deliveries()).toBe(0);
      const released = sems[1]!.lockPath!.split('/').pop()!;
      await sems[1]!.release();
      const first = await Promise.race([w3.then(() => 3), w4.then(() => 4)]);
      const [next, nextP] = first === 3 ? [sems[4]!, w4] : [sems[3]!, w3];
      const admitted = first === 3 ? sems[3]! : sems[4]!;
      // Settled: the admitted waiter freed the internal lock, and the other one holds it with a
      // lease node of its own (4 leases, 1 lock node). Once every client has read that, every
      // notification of these changes has reached it: the counts below are final.
      await seenByEach(
        clients.slice(0, 5),
        async (c) => {
          const leases = (await c.getChildren('/leases/leases')).children;
          const locks = (await c.getChildren('/leases/locks')).children;
          return leases.length === 4 && !leases.includes(released) && locks.length === 1;
        },
        'the admitted waiter in, the other waiting with the internal lock',
      );
      // The release woke only the waiter that watched the leases (one delivery); that one then
      // freed the internal lock, waking only the other waiter (one delivery), which now waits again.
      expect(admitted.watchDeliveries).toBe(1);
      expect(next.watchDeliveries).toBe(1);
      expect(deliveries()).toBe(2);
      expect(next.isAcquired()).toBe(false);
      await sems[0]!.release();
      expect(await nextP).toBe(true);
      expect(next.watchDeliveries).toBe(2);
      expect(deliveries()).toBe(3);
      expect(sems.filter((s) => s.isAcquired())).toHaveLength(3);
    } finally {
      for (const s of sems) await s.close();
    }
    expect((await admin.getChildren('/leases/leases')).children).toEqual([]);
    expect((await admin.getChildren('/leases/locks')).children).toEqual([]);
  });

  it('never more than maxLeases holders while 6 clients loop', async () => {
    const sems = clients.map((c) => new Semaphore(c, '/loop', 2));
    let inside = 0;
    let maxInside = 0;
    let rounds = 0;
    const stopAt = Date.now() + 4000;
    try {
      await Promise.all(
        sems.map(async (s) => {
          while (Date.now() < stopAt) {
            if (!(await s.acquire({ timeoutMs: 5000 }))) continue;
            inside++;
            maxInside = Math.max(maxInside, inside);
            await sleep(5 + Math.random() * 15);
            inside--;
            rounds++;
            await s.release();
          }
        }),
      );
    } finally {
      for (const s of sems) await s.close();
    }
    expect(maxInside).toBe(2);
    expect(rounds).toBeGreaterThan(20);
  });

  it('rejects a bad maxLeases', () => {
    expect(() => new Semaphore(admin, '/bad', 0)).toThrow(RangeError);
    expect(() => new Semaphore(admin, '/bad', 1.5)).toThrow(RangeError);
  });

  it('20 rounds of 8 candidates for 3 leases, each releasing at once: all acquire in turn by their watches alone', async () => {
    // The safety re-check is set far beyond the test's bounds: a candidate is woken by the watch
    // on its gate predecessor, then by the leases' children watch (see the Mutex test).
    const cs = clients.slice(0, 4);
    const sems = Array.from(
      { length: 8 },
      (_, i) => new Semaphore(cs[i % 4]!, '/watch-alone', 3, { recheckMs: 600_000 }),
    );
    let acquisitions = 0;
    try {
      for (let round = 0; round < 20; round++) {
        await Promise.all(
          sems.map(async (s) => {
            expect(await s.acquire({ signal: AbortSignal.timeout(20_000) })).toBe(true);
            acquisitions++;
            await s.release();
          }),
        );
      }
      expect((await admin.getChildren('/watch-alone/leases')).children).toEqual([]);
      expect((await admin.getChildren('/watch-alone/locks')).children).toEqual([]);
    } finally {
      for (const s of sems) await s.close();
    }
    expect(acquisitions).toBe(160);
  });

  it('20 rounds of 8 candidates for 3 leases, each holding until a candidate waits for a lease: admitted by the leases watch alone', async () => {
    // Each holder keeps its lease until a fourth lease node shows that a candidate (the one that
    // holds the gate) waits on the leases' children watch, or until the round's last has acquired:
    // every round admits at least five candidates through that watch.
    const cs = clients.slice(0, 4);
    const sems = Array.from(
      { length: 8 },
      (_, i) => new Semaphore(cs[i % 4]!, '/leases-watch-alone', 3, { recheckMs: 600_000 }),
    );
    const leaseNodes = async () => (await admin.getChildren('/leases-watch-alone/leases')).children.length;
    let acquisitions = 0;
    let deliveries = 0;
    try {
      for (let round = 0; round < 20; round++) {
        let acquiredThisRound = 0;
        await Promise.all(
          sems.map(async (s) => {
            expect(await s.acquire({ signal: AbortSignal.timeout(20_000) })).toBe(true);
            acquisitions++;
            acquiredThisRound++;
            await waitFor(
              async () => acquiredThisRound === sems.length || (await leaseNodes()) > 3,
              20_000,
              5,
              'a candidate waiting for a lease, or the end of the round',
            );
            await s.release();
          }),
        );
      }
      deliveries = sems.reduce((n, s) => n + s.watchDeliveries, 0);
      expect(await leaseNodes()).toBe(0);
    } finally {
      for (const s of sems) await s.close();
    }
    expect(acquisitions).toBe(160);
    expect(deliveries).toBeGreaterThan(0);
  });
});
