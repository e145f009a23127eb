import { afterAll, beforeAll, expect, it } from 'vitest';
import { CreateMode, ZkClient, type ConnectionState } from '@zkjobs/core';
import { TestingCluster } from '@zkjobs/core/testing';
import { describeWithServers, waitFor, withDeadline } from '../support/zk.js';

describeWithServers('3-node ensemble', () => {
  let cluster: TestingCluster | undefined;
  beforeAll(async () => {
    cluster = await TestingCluster.start({ tickTime: 500 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('SIGKILL of the leader member: the client moves to a survivor and writes again in the same session', async () => {
    const cl = cluster!;
    const leader = await cl.leader();
    // Connect through the leader first, so that killing it really cuts the client's connection.
    const others = cl.members.filter((m) => m !== leader).map((m) => m.address);
    const c = await ZkClient.connect([leader.address, ...others].join(','), {
      sessionTimeoutMs: 4000,
      namespace: '/ensemble',
    });
    try {
      const states: ConnectionState[] = [];
      c.on('state', (s) => states.push(s));
      const session = c.sessionId;
      await c.create('/eph', { mode: CreateMode.EPHEMERAL });
      await c.setData('/eph', 'before');
      await leader.kill();
      // Documented: every call settles within the session timeout + 1 s. What matters is that this
      // one succeeds (on a survivor, in the same session); the deadline only catches a hang.
      const deadline = 5 * (c.sessionTimeoutMs + 1000);
      await withDeadline(c.setData('/eph', 'after'), deadline, 'the write to succeed on a survivor');
      expect(c.sessionId).toBe(session);
      expect(states).not.toContain('lost');
      await waitFor(() => states.includes('reconnected'), 5000, 25, 'reconnected');
      const { data, stat } = await c.getData('/eph');
      expect(data.toString()).toBe('after');
      expect(stat.ephemeralOwner).toBe(session);
    } finally {
      await c.close();
    }
  });
});
