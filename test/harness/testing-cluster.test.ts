import { expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TestingCluster } from '@zkjobs/core/testing';
import { describeWithServers } from '../support/zk.js';

describeWithServers('TestingCluster', () => {
  it('forms a 3-node ensemble with one leader; after SIGKILL of the leader a survivor leads and a client writes', async () => {
    const cluster = await TestingCluster.start({ size: 3, tickTime: 500 });
    try {
      const modes = await Promise.all(cluster.members.map((m) => m.mode()));
      expect(modes.filter((m) => m === 'leader')).toHaveLength(1);
      expect(modes.filter((m) => m === 'follower')).toHaveLength(2);

      const leader = await cluster.leader();
      const leaderPid = leader.pid!;
      await leader.kill();
      expect(leader.running).toBe(false);
      expect(() => process.kill(leaderPid, 0)).toThrow();

      const next = await cluster.leader(15_000);
      expect(next).not.toBe(leader);
      // a client given only the survivors connects and writes
      const survivors = cluster.members
        .filter((m) => m !== leader)
        .map((m) => m.address)
        .join(',');
      const client = await ZkClient.connect(survivors, { sessionTimeoutMs: 2000 });
      try {
        await client.create('/after-failover', { data: 'ok' });
        expect((await client.getData('/after-failover')).data.toString()).toBe('ok');
      } finally {
        await client.close();
      }
      // the killed member rejoins as a follower
      await leader.start();
      expect(await leader.waitForMode(20_000)).toBe('follower');
    } finally {
      await cluster.close();
    }
    expect(cluster.members.every((m) => !m.running)).toBe(true);
  });
});

describeWithServers('TestingCluster of size 1', () => {
  it('is a standalone server: it starts, leader() returns it, and a client writes', async () => {
    const cluster = await TestingCluster.start({ size: 1, tickTime: 500, startTimeoutMs: 20_000 });
    try {
      expect(await cluster.members[0]!.mode()).toBe('standalone');
      expect(await cluster.leader(5_000)).toBe(cluster.members[0]);
      const client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 2000 });
      try {
        await client.create('/standalone', { data: 'ok' });
        expect((await client.getData('/standalone')).data.toString()).toBe('ok');
      } finally {
        await client.close();
      }
    } finally {
      await cluster.close();
    }
  });
});
