import { expect, it } from 'vitest';
import { CreateMode, ZkClient } from '@zkjobs/core';
import { TestingServer, fourLetterWord } from '@zkjobs/core/testing';
import { describeWithServers } from '../support/zk.js';

describeWithServers('TestingServer', () => {
  it('starts a standalone server that accepts a create, and stops it', async () => {
    const server = await TestingServer.start({ tickTime: 500 });
    try {
      expect(server.connectString).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(await server.member.mode()).toBe('standalone');
      const conf = await fourLetterWord('127.0.0.1', server.port, 'conf');
      expect(conf).toMatch(/tickTime=500/);
      const client = await ZkClient.connect(server.connectString, { sessionTimeoutMs: 2000 });
      try {
        const created = await client.create('/harness', { data: 'hello', mode: CreateMode.PERSISTENT });
        expect(created).toBe('/harness');
        expect((await client.getData('/harness')).data.toString()).toBe('hello');
      } finally {
        await client.close();
      }
    } finally {
      await server.close();
    }
    expect(server.member.running).toBe(false);
    expect(await server.member.mode()).toBeNull();
  });

  it('restarts on the same port with its data', async () => {
    const server = await TestingServer.start({ tickTime: 500 });
    try {
      const c1 = await ZkClient.connect(server.connectString, { sessionTimeoutMs: 2000 });
      await c1.create('/kept', { data: 'v1' });
      await c1.close();
      const port = server.port;
      await server.restart({ hard: true });
      expect(server.port).toBe(port);
      const c2 = await ZkClient.connect(server.connectString, { sessionTimeoutMs: 2000 });
      try {
        expect((await c2.getData('/kept')).data.toString()).toBe('v1');
      } finally {
        await c2.close();
      }
    } finally {
      await server.close();
    }
  });

  it('pauses (SIGSTOP) and resumes (SIGCONT) a member', async () => {
    const server = await TestingServer.start({ tickTime: 500 });
    try {
      server.member.pause();
      expect(await server.member.mode(500)).toBeNull();
      server.member.resume();
      expect(await server.member.waitForMode(10_000)).toBe('standalone');
    } finally {
      await server.close();
    }
  });
});
