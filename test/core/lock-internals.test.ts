import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockInternals, Mutex, ZkClient, killSession, standardLockDriver } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, recordWatches, seenByEach, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = (connectString = zkConnect) => ZkClient.connect(connectString, { namespace, sessionTimeoutMs: 2000 });

describe('LockInternals', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('the standard driver: the maxLeases lowest hold, the others watch the node maxLeases places before', () => {
    const names = ['lock--000000005', 'lock--000000001', 'lock-0000000003', 'lock-2147483647'];
    const one = standardLockDriver(['lock-'], 1);
    expect(one.verdict(names, 'lock--000000005')).toEqual({ acquired: true, watch: null });
    expect(one.verdict(names, 'lock-0000000003')).toEqual({ acquired: false, watch: 'lock--000000001' });
    const two = standardLockDriver(['lock-'], 2);
    expect(two.verdict(names, 'lock--000000001')).toEqual({ acquired: true, watch: null });
    expect(two.verdict(names, 'lock-2147483647')).toEqual({ acquired: false, watch: 'lock--000000001' });
    expect(() => standardLockDriver(['lock-'], 0)).toThrow(RangeError);
    expect(() => one.verdict(names, 'lock-0000000009')).toThrow(/not among/);
  });

  it('orders by the signed 32-bit suffix and ignores foreign children', async () => {
    const base = '/order';
    await admin.mkdirp(base);
    // Foreign: other prefix with a lower sequence, no suffix, a bad suffix.
    for (const n of ['other--000000009', 'lock-abc', 'lock-00000000x1', 'readme']) await admin.create(`${base}/${n}`);
    const c = await connect();
    const internals = new LockInternals(c, base, 'lock-', standardLockDriver(['lock-'], 1));
    try {
      const held = await internals.attempt({ timeoutMs: 2000 });
      expect(held).not.toBeNull();
      await internals.release(held!.path);
      // Hand-made own-form nodes: -5 < -1 < a real one; '-000000001' < '-000000005' as strings.
      await admin.create(`${base}/lock--000000001`);
      await admin.create(`${base}/lock--000000005`);
      const sorted = await internals.sortedChildren();
      expect(sorted).toEqual(['lock--000000005', 'lock--000000001']);
      const recorder = recordWatches(c);
      const pending = internals.attempt({ timeoutMs: 10_000 });
      await waitFor(() => recorder.armed.length > 0, 5000, 10, 'the contender to watch');
      recorder.restore();
      expect(recorder.armed.map((w) => w.path)).toEqual([`${base}/lock--000000001`]);
      // Deleting -5 wakes nobody (the contender watches -1); deleting -1 wakes it, and it holds.
      await admin.delete(`${base}/lock--000000005`);
      // Once the contender's own client has read the deletion, any notification of it is in.
      await seenByEach([c], async (x) => (await x.exists(`${base}/lock--000000005`)) === null, '-5 gone');
      expect(internals.watchDeliveries).toBe(0);
      await admin.delete(`${base}/lock--000000001`);
      const got = await pending;
      expect(got?.sessionId).toBe(c.sessionId);
      expect(internals.watchDeliveries).toBe(1);
      await internals.release(got!.path);
      expect((await admin.getChildren(base)).children.sort()).toEqual(
        ['lock-00000000x1', 'lock-abc', 'other--000000009', 'readme'].sort(),
      );
    } finally {
      await c.close();
    }
  });

  it('a waiter whose session expires makes a new node in its new session and still acquires', async () => {
    const c1 = await connect();
    const c2 = await connect();
    const holder = new Mutex(c1, '/expire');
    const waiter = new Mutex(c2, '/expire');
    try {
      await holder.acquire();
      const oldSession = c2.sessionId;
      const pending = waiter.acquire({ timeoutMs: 15_000 });
      await waitFor(
        async () => (await admin.getChildren('/expire')).children.length === 2,
        5000,
        10,
        'the waiter node',
      );
      const [, oldNode] = await holder.getParticipantNodes();
      await killSession(zkConnect, c2.sessionCredentials());
      await waitFor(() => c2.sessionId !== oldSession && c2.sessionId !== 0n, 10_000, 10, 'a new session');
      await waitFor(
        async () => {
          const nodes = await holder.getParticipantNodes();
          return nodes.length === 2 && nodes[1] !== oldNode;
        },
        10_000,
        25,
        'the waiter to line up again',
      );
      await holder.release();
      expect(await pending).toBe(true);
      expect((await admin.exists(waiter.lockPath!))?.ephemeralOwner).toBe(c2.sessionId);
      expect(await admin.exists(oldNode!)).toBeNull();
      await waiter.release();
    } finally {
      await holder.close();
      await waiter.close();
      await c1.close();
      await c2.close();
    }
  });

  it('a waiter that times out while disconnected removes its node once connected again (the clean-up is retried)', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const c1 = await connect();
    const c2 = await connect(proxy.address);
    const holder = new Mutex(c1, '/cleanup');
    const waiter = new Mutex(c2, '/cleanup');
    try {
      await holder.acquire();
      const session = c2.sessionId;
      const pending = waiter.acquire({ timeoutMs: 400 });
      await waitFor(
        async () => (await admin.getChildren('/cleanup')).children.length === 2,
        5000,
        10,
        'the waiter node',
      );
      const [, node] = await holder.getParticipantNodes();
      // Black-hole the connection: the timeout passes and the delete is sent into the cut; heal
      // before the session could expire, so only a retried delete can remove the node.
      proxy.cut();
      const t0 = Date.now();
      setTimeout(() => proxy.heal(), 1000);
      expect(await pending).toBe(false);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(c2.sessionId).toBe(session); // same session: only the explicit delete removed the node
      expect(await admin.exists(node!)).toBeNull();
      expect(await holder.getParticipantNodes()).toEqual([holder.lockPath]);
    } finally {
      await holder.close();
      await waiter.close();
      await c1.close();
      await c2.close();
      await proxy.close();
    }
  });
});
