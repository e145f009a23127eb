// A short suspension (the connection drops, the session survives): a LeaderLatch with
// errorPolicy 'session' keeps leading without a notLeader/isLeader pair, a standby whose
// predecessor watch survived does not list the participants again, and re-arming watches are
// restored by the server instead of re-read — yet miss nothing that changed while away. A lost
// session still ends leadership.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderLatch, ZkClient, type ConnectionState } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);

/** Counts the `getChildren` calls made through `client` (its own method, wrapped). */
function countListings(client: ZkClient): { count: () => number } {
  let n = 0;
  const original = client.getChildren.bind(client);
  client.getChildren = ((...args: Parameters<ZkClient['getChildren']>) => {
    n++;
    return original(...args);
  }) as ZkClient['getChildren'];
  return { count: () => n };
}

function states(client: ZkClient): ConnectionState[] {
  const seen: ConnectionState[] = [];
  client.on('state', (s) => seen.push(s));
  return seen;
}

describe('a short suspension is not a takeover', () => {
  let admin: ZkClient;
  let proxy: TcpProxy;
  const clients: ZkClient[] = [];
  const connect = async (via: string, sessionTimeoutMs = 6000) => {
    const c = await ZkClient.connect(via, { namespace, sessionTimeoutMs });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    admin = await ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 4000 });
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    proxy = await TcpProxy.start(host, Number(port));
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await proxy?.close();
    await admin?.close();
  });

  it("errorPolicy 'session': the leader keeps leading through a reconnect, a standby does not list again; a lost session ends leadership", async () => {
    const path = '/policy';
    const leaderClient = await connect(proxy.address, 3000);
    const standbyClient = await connect(proxy.address);
    const third = await connect(zkConnect);
    const leader = new LeaderLatch(leaderClient, path, { id: 'leader', errorPolicy: 'session' });
    const standby = new LeaderLatch(standbyClient, path, { id: 'standby', errorPolicy: 'session' });
    const outside = new LeaderLatch(third, path, { id: 'outside', errorPolicy: 'session' });
    try {
      await leader.start();
      await standby.start();
      await outside.start();
      expect(leader.hasLeadership()).toBe(true);
      await waitFor(() => standby.watchDeliveries === 0 && standby.ourPath !== null, 5000, 25, 'standby in line');
      const events: string[] = [];
      leader.on('isLeader', () => events.push('isLeader'));
      leader.on('notLeader', () => events.push('notLeader'));
      const leaderStates = states(leaderClient);
      const standbyStates = states(standbyClient);
      const listings = countListings(standbyClient);
      const node = leader.ourPath;

      // Both connections reset: suspended, then reconnected in the same session.
      proxy.reset();
      await waitFor(() => leaderStates.includes('reconnected'), 15_000, 10, 'the leader reconnected');
      await waitFor(() => standbyStates.includes('reconnected'), 15_000, 10, 'the standby reconnected');
      expect(leaderStates.slice(0, 2)).toEqual(['suspended', 'reconnected']);
      expect(leader.hasLeadership()).toBe(true);
      expect(leader.ourPath).toBe(node);
      await sleep(500); // what a reconnect would have set off has run by now
      expect(events).toEqual([]);
      expect(listings.count()).toBe(0);
      expect(standby.hasLeadership()).toBe(false);

      // The standby's restored watch still works: the leader leaves, the standby leads.
      await leader.close();
      expect(events).toEqual(['notLeader']);
      expect(await standby.awaitLeadership({ timeoutMs: 10_000 })).toBe(true);

      // A cut past the session timeout: leadership ends on lost (not on suspended), and the
      // participant next in line takes over.
      const order: string[] = [];
      standbyClient.on('state', (s) => order.push(s));
      standby.on('notLeader', () => order.push(`notLeader while ${standbyClient.state}`));
      proxy.cut();
      await waitFor(() => order.includes('suspended'), 15_000, 10, 'suspended');
      expect(standby.hasLeadership()).toBe(true); // still: the session may be alive
      await waitFor(() => order.some((o) => o.startsWith('notLeader')), 20_000, 10, 'notLeader');
      expect(order.filter((o) => o !== 'lost').slice(0, 2)).toEqual(['suspended', 'notLeader while lost']);
      expect(await outside.awaitLeadership({ timeoutMs: 20_000 })).toBe(true);
      proxy.heal();
    } finally {
      proxy.heal();
      for (const l of [leader, standby, outside]) await l.close().catch(() => undefined);
    }
  }, 90_000);

  it("errorPolicy 'standard' (the default) still drops leadership on suspended; an unknown policy is refused", async () => {
    const path = '/standard';
    const c = await connect(proxy.address);
    const latch = new LeaderLatch(c, path, { id: 'std' });
    try {
      await latch.start();
      expect(latch.hasLeadership()).toBe(true);
      const events: string[] = [];
      latch.on('isLeader', () => events.push('isLeader'));
      latch.on('notLeader', () => events.push('notLeader'));
      proxy.reset();
      await waitFor(() => events.length >= 2, 15_000, 10, 'notLeader then isLeader');
      expect(events.slice(0, 2)).toEqual(['notLeader', 'isLeader']);
    } finally {
      await latch.close();
    }
    expect(() => new LeaderLatch(c, path, { errorPolicy: 'sometimes' as 'session' })).toThrow(RangeError);
  }, 60_000);

  it('re-arming watches: a reconnect in the same session reads nothing again, and a change made while away is still delivered', async () => {
    await admin.create('/watched', { parents: true });
    const c = await connect(proxy.address);
    const seen: string[][] = [];
    const data: (string | null)[] = [];
    const handle = c.watchChildren('/watched', (children) => seen.push(children));
    const dataHandle = c.watchData('/watched', (d) => data.push(d === null ? null : d.toString()));
    try {
      await waitFor(() => seen.length === 1 && data.length === 1, 10_000, 10, 'first deliveries');
      const listings = countListings(c);
      const st = states(c);

      // Nothing changes while away: nothing is read again.
      proxy.reset();
      await waitFor(() => st.includes('reconnected'), 15_000, 10, 'reconnected');
      await sleep(500);
      expect(listings.count()).toBe(0);
      expect(seen).toEqual([[]]);

      // A child and new data while the connection is cut: the restored watches fire on reconnect.
      st.length = 0;
      proxy.cut();
      await waitFor(() => st.includes('suspended'), 15_000, 10, 'suspended');
      await admin.create('/watched/a');
      await admin.setData('/watched', Buffer.from('v1'));
      proxy.heal();
      await waitFor(() => st.includes('reconnected'), 15_000, 10, 'reconnected');
      await waitFor(() => seen.length === 2 && data.length === 2, 10_000, 10, 'the changes made while away');
      expect(seen).toEqual([[], ['a']]);
      expect(data.at(-1)).toBe('v1');
      expect(listings.count()).toBe(1); // the one the restored watch set off
    } finally {
      handle.close();
      dataHandle.close();
    }
  }, 60_000);
});
