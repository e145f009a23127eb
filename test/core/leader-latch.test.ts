import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateMode, LeaderLatch, ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, seenByEach, waitFor, zkConnect } from '../support/zk.js';
import { Child } from './fixtures/child.js';

const namespace = fileNamespace(import.meta.filename);
const connect = (connectString = zkConnect) => ZkClient.connect(connectString, { namespace, sessionTimeoutMs: 2000 });

describe('LeaderLatch', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('30 participants: one watch event per departure (no herd), and a leader again within session timeout + 1 s of a SIGKILL', async () => {
    const path = '/herd';
    const clients: ZkClient[] = [];
    const latches: LeaderLatch[] = [];
    const children: Child[] = [];
    const startChild = async (id: string) => {
      const c = Child.spawn('latch-participant.mjs', [zkConnect, namespace, path, id]);
      children.push(c);
      return { child: c, started: await c.waitEvent('started') };
    };
    const startLocal = async (id: string) => {
      const client = await connect();
      clients.push(client);
      const latch = new LeaderLatch(client, path, { id, prefix: 'w-' });
      latches.push(latch);
      await latch.start();
      return latch;
    };
    const deliveries = () => latches.reduce((n, l) => n + l.watchDeliveries, 0);
    // Once every participant's own client has read that a node is gone, every notification of
    // its deletion has reached that client: the delivery counts that follow are final (a herd
    // would show here, with no sleep to give it time).
    const goneForAll = (path: string) =>
      seenByEach(clients, async (c) => (await c.exists(path)) === null, `${path} gone`, 15_000);
    try {
      // Order of joining = order of the line: child A (leader), p1..p14, child B, p15..p28.
      const a = await startChild('A');
      await a.child.waitEvent('isLeader');
      for (let i = 1; i <= 14; i++) await startLocal(`p${i}`);
      const b = await startChild('B');
      for (let i = 15; i <= 28; i++) await startLocal(`p${i}`);
      const byId = (id: string) => latches.find((l) => l.id === id)!;
      expect((await admin.getChildren(path)).children).toHaveLength(30);
      expect(latches.filter((l) => l.hasLeadership())).toHaveLength(0);
      // Each watches exactly its predecessor.
      const participants = await byId('p1').getParticipants();
      expect(participants).toHaveLength(30);
      expect(participants[0]).toBe(a.started['path']);
      expect(participants[15]).toBe(b.started['path']);
      expect(deliveries()).toBe(0);

      // 1. SIGKILL the leader's process: exactly p1 hears of it and leads. (Documented: within
      // the session timeout + 1 s, once the server expires the dead session; the 5× deadline
      // only catches a failover that never comes.)
      const grantedMs = Number(a.started['sessionTimeoutMs']);
      await a.child.kill();
      await waitFor(() => byId('p1').hasLeadership(), 5 * (grantedMs + 1000), 10, 'p1 to lead');
      await goneForAll(String(a.started['path']));
      expect(byId('p1').watchDeliveries).toBe(1);
      expect(deliveries()).toBe(1);
      expect(latches.filter((l) => l.hasLeadership()).map((l) => l.id)).toEqual(['p1']);
      expect((await byId('p5').getLeader())?.data.toString()).toBe('p1');

      // 2. A follower in the middle leaves: only its successor hears of it, and re-targets.
      const p7 = byId('p7');
      const p7Path = p7.ourPath!;
      const p6Path = byId('p6').ourPath;
      const retarget = new Promise<string>((r) => byId('p8').once('watching', r));
      await p7.close();
      expect(await retarget).toBe(p6Path);
      await goneForAll(p7Path);
      expect(byId('p8').watchDeliveries).toBe(1);
      expect(deliveries()).toBe(2);

      // 3. SIGKILL a follower process (child B, between p14 and p15): only p15 hears, after its session expires.
      await b.child.kill();
      await waitFor(() => byId('p15').watchDeliveries === 1, 5 * (grantedMs + 1000), 10, 'p15 to be told');
      await goneForAll(String(b.started['path']));
      expect(deliveries()).toBe(3);
      expect(byId('p15').hasLeadership()).toBe(false);

      // 4. The leader closes (its node is deleted at once): exactly p2 hears and leads.
      const p1Path = byId('p1').ourPath!;
      await byId('p1').close();
      await waitFor(() => byId('p2').hasLeadership(), 5000, 10, 'p2 to lead');
      await goneForAll(p1Path);
      expect(byId('p2').watchDeliveries).toBe(1);
      expect(deliveries()).toBe(4);
      expect(latches.filter((l) => l.hasLeadership()).map((l) => l.id)).toEqual(['p2']);
      expect(await byId('p20').getParticipants()).toHaveLength(26);
    } finally {
      for (const c of children) await c.kill();
      for (const l of latches) await l.close();
      for (const c of clients) await c.close();
    }
  });

  it('orders by the 10-digit suffix as a signed 32-bit integer, whatever the prefix, and ignores foreign children', async () => {
    const path = '/order';
    await admin.mkdirp(path);
    // Foreign children: another prefix (with a lower sequence), no suffix, a bad suffix, another name.
    for (const n of ['other--000000009', 'w-abc', 'w-12345678x0', 'leader']) await admin.create(`${path}/${n}`);
    // Hand-made nodes of the recipe's own form (persistent: owned by no session): -5 < -1 < any
    // real participant < 2147483646 < 2147483647, although '-000000001' < '-000000005' as strings,
    // and the protected-create name (_c_…-w-) sorts by its suffix, not by its '_c_' prefix.
    const protectedName = '_c_0b0e8f7a-6c1d-4f7e-9b8a-2b6e5e4d3c2b-w-2147483646';
    for (const n of ['w-2147483647', protectedName, 'w--000000001', 'w--000000005']) await admin.create(`${path}/${n}`);
    const c1 = await connect();
    const c2 = await connect();
    const l1 = new LeaderLatch(c1, path, { prefix: 'w-', id: 'one' });
    const l2 = new LeaderLatch(c2, path, { prefix: 'w-', id: 'two' });
    try {
      const watching1 = new Promise<string>((r) => l1.once('watching', r));
      await l1.start();
      expect(await watching1).toBe(`${path}/w--000000001`);
      expect(l1.hasLeadership()).toBe(false);
      const mine = l1.ourPath!;
      expect(await l1.getParticipants()).toEqual([
        `${path}/w--000000005`,
        `${path}/w--000000001`,
        mine,
        `${path}/${protectedName}`,
        `${path}/w-2147483647`,
      ]);
      expect((await l1.getLeader())?.path).toBe(`${path}/w--000000005`);
      const watching2 = new Promise<string>((r) => l2.once('watching', r));
      await l2.start();
      expect(await watching2).toBe(mine);
      expect((await l2.getParticipants()).indexOf(l2.ourPath!)).toBe(3);

      // Deleting the lowest wakes nobody (l1 watches -1, not -5); deleting -1 wakes exactly l1, which leads.
      await admin.delete(`${path}/w--000000005`);
      await seenByEach([c1, c2], async (c) => (await c.exists(`${path}/w--000000005`)) === null, '-5 gone');
      expect(l1.watchDeliveries + l2.watchDeliveries).toBe(0);
      expect(l1.hasLeadership()).toBe(false);
      await admin.delete(`${path}/w--000000001`);
      expect(await l1.awaitLeadership({ timeoutMs: 5000 })).toBe(true);
      expect(l1.watchDeliveries).toBe(1);
      expect(l2.watchDeliveries).toBe(0);
      expect(l2.hasLeadership()).toBe(false);
      // Foreign children are still there and were never taken for participants.
      expect((await admin.getChildren(path)).children).toEqual(
        expect.arrayContaining(['other--000000009', 'w-abc', 'leader']),
      );
    } finally {
      await l1.close();
      await l2.close();
      await c1.close();
      await c2.close();
    }
  });

  it('grants leadership only when the lowest node is owned by this session', async () => {
    const path = '/owner';
    await admin.mkdirp(path);
    // A persistent node in the recipe's form, lower than any participant, owned by no session.
    const squatter = await admin.create(`${path}/latch-`, { mode: CreateMode.PERSISTENT_SEQUENTIAL });
    const c = await connect();
    const latch = new LeaderLatch(c, path);
    try {
      const watching = new Promise<string>((r) => latch.once('watching', r));
      await latch.start();
      expect(await watching).toBe(squatter);
      expect(latch.hasLeadership()).toBe(false);
      expect(await latch.awaitLeadership({ timeoutMs: 300 })).toBe(false);
      const lead = latch.awaitLeadership({ timeoutMs: 5000 });
      await admin.delete(squatter);
      expect(await lead).toBe(true);
    } finally {
      await latch.close();
      await c.close();
    }
  });

  it('lifecycle: second start throws, close emits notLeader and deletes the node, abort rejects awaitLeadership', async () => {
    const path = '/lifecycle';
    const c1 = await connect();
    const c2 = await connect();
    const l1 = new LeaderLatch(c1, path, { data: 'payload-1' });
    const l2 = new LeaderLatch(c2, path);
    try {
      await l1.start();
      await expect(l1.start()).rejects.toThrow(/cannot be started/);
      expect(l1.hasLeadership()).toBe(true);
      expect(l1.sessionId).toBe(c1.sessionId);
      expect((await admin.getData(l1.ourPath!)).data.toString()).toBe('payload-1');
      expect((await admin.exists(l1.ourPath!))?.ephemeralOwner).toBe(c1.sessionId);
      await l2.start();
      const ac = new AbortController();
      const waiting = l2.awaitLeadership({ signal: ac.signal });
      ac.abort(new Error('stop waiting'));
      await expect(waiting).rejects.toThrow('stop waiting');
      const lead = l2.awaitLeadership({ timeoutMs: 5000 });
      const events: string[] = [];
      l1.on('notLeader', () => events.push('notLeader'));
      const ourPath = l1.ourPath!;
      await l1.close();
      expect(events).toEqual(['notLeader']);
      expect(await admin.exists(ourPath)).toBeNull();
      expect(await lead).toBe(true);
      expect(await l1.awaitLeadership()).toBe(false);
      await expect(l1.start()).rejects.toThrow(/cannot be started/);
    } finally {
      await l1.close();
      await l2.close();
      await c1.close();
      await c2.close();
    }
  });

  it('drops leadership on suspended, keeps it on reconnect, and rejoins with a new node after the session is lost', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const path = '/sessions';
    const cut = await connect(proxy.address);
    const other = await connect();
    const l1 = new LeaderLatch(cut, path, { id: 'cut' });
    const l2 = new LeaderLatch(other, path, { id: 'other' });
    try {
      await l1.start();
      await l2.start();
      expect(l1.hasLeadership()).toBe(true);
      const firstPath = l1.ourPath!;
      const firstSession = l1.sessionId;

      // A short drop (sockets reset): suspended → notLeader, reconnected in the same session → leader again, same node.
      const events: string[] = [];
      l1.on('isLeader', () => events.push('isLeader'));
      l1.on('notLeader', () => events.push('notLeader'));
      proxy.reset();
      await waitFor(() => events.length >= 2, 10_000, 10, 'notLeader then isLeader');
      expect(events.slice(0, 2)).toEqual(['notLeader', 'isLeader']);
      expect(l1.ourPath).toBe(firstPath);
      expect(l2.hasLeadership()).toBe(false);

      // A long cut: notLeader at once on suspended, the other leads after the session expires,
      // and after healing the participant rejoins with a new node of its new session.
      events.length = 0;
      proxy.cut();
      await waitFor(() => events.includes('notLeader'), 10_000, 10, 'notLeader on suspension');
      expect(l1.hasLeadership()).toBe(false);
      expect(await l2.awaitLeadership({ timeoutMs: 10_000 })).toBe(true);
      proxy.heal();
      await waitFor(() => l1.ourPath !== null && l1.ourPath !== firstPath, 15_000, 25, 'a new node');
      expect(l1.sessionId).not.toBe(firstSession);
      expect(l1.sessionId).toBe(cut.sessionId);
      expect(await admin.exists(firstPath)).toBeNull();
      const parts = await l2.getParticipants();
      expect(parts).toEqual([l2.ourPath, l1.ourPath]);
      expect(l1.hasLeadership()).toBe(false);
      // And it leads again when the other leaves.
      await l2.close();
      expect(await l1.awaitLeadership({ timeoutMs: 5000 })).toBe(true);
    } finally {
      await l1.close();
      await l2.close();
      await cut.close();
      await other.close();
      await proxy.close();
    }
  });
  it("reports each participant's place in line: 0 leads, 1 is next; the next one moves up when the leader leaves", async () => {
    const path = '/position';
    const clients = await Promise.all([connect(), connect(), connect()]);
    const latches = clients.map((c, i) => new LeaderLatch(c, path, { id: `q${i}`, prefix: 'w-' }));
    const seen: number[][] = latches.map(() => []);
    latches.forEach((l, i) => l.on('position', (index) => seen[i]!.push(index)));
    try {
      for (const l of latches) await l.start();
      await waitFor(() => seen.every((s) => s.length > 0), 5000, 10, 'first positions');
      expect(seen.map((s) => s[s.length - 1])).toEqual([0, 1, 2]);
      expect(latches[0]!.hasLeadership()).toBe(true);
      // The leader leaves: the next in line (which watched it) learns it is now 0.
      await latches[0]!.close();
      await waitFor(() => latches[1]!.hasLeadership(), 5000, 10, 'q1 to lead');
      expect(seen[1]![seen[1]!.length - 1]).toBe(0);
      // q2 watches q1, which did not go: its place is only learnt at its next check, so the last
      // index it reported may still be 2 (documented), but never a place it never had.
      expect(seen[2]!.every((i) => i === 1 || i === 2)).toBe(true);
      // q1 leaves too: q2 hears of it and leads.
      await latches[1]!.close();
      await waitFor(() => latches[2]!.hasLeadership(), 5000, 10, 'q2 to lead');
      expect(seen[2]![seen[2]!.length - 1]).toBe(0);
    } finally {
      for (const l of latches) await l.close().catch(() => undefined);
      for (const c of clients) await c.close();
    }
  });
});
