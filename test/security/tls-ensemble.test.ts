/**
 * A TLS-only 3-node ensemble from the harness: each member serves its own secureClientPort with
 * a certificate of the run's CA; a TLS client moves to a survivor when the leader is killed.
 */
import { expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TestingCluster } from '@zkjobs/core/testing';
import { describeNeeding, opensslUnavailableReason, serversUnavailableReason, waitFor } from '../support/zk.js';

describeNeeding(serversUnavailableReason ?? opensslUnavailableReason, 'TLS ensemble', () => {
  it('forms over TLS-only members, and a TLS client fails over to a survivor in the same session', async () => {
    const cluster = await TestingCluster.start({ tls: true, size: 3, tickTime: 500 });
    try {
      expect(cluster.secureConnectString).toBe(cluster.connectString);
      const modes = await Promise.all(cluster.members.map((m) => m.mode()));
      expect(modes.filter((m) => m === 'leader')).toHaveLength(1);
      const client = await ZkClient.connect(cluster.connectString, {
        tls: cluster.tls!.clientOptions,
        sessionTimeoutMs: 6000,
      });
      try {
        await client.create('/over-tls', { data: 'v' });
        const session = client.sessionId;
        await (await cluster.leader()).kill();
        await waitFor(
          async () => (await client.getData('/over-tls').catch(() => null))?.data.toString() === 'v',
          30_000,
          100,
          'a read after the failover',
        );
        await client.setData('/over-tls', 'w');
        expect(client.sessionId).toBe(session);
      } finally {
        await client.close();
      }
    } finally {
      await cluster.close();
    }
  });
});
