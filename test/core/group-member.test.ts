import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupMember, killSession, NodeExistsError, ZkClient } from '@zkjobs/core';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

const ids = (m: GroupMember) => [...m.getCurrentMembers().keys()];

describe('GroupMember', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('members see each other join and leave (close, and a closed session), with their data', async () => {
    const [ca, cb, cc] = await Promise.all([connect(), connect(), connect()]);
    try {
      const a = new GroupMember(ca, '/g1', { memberId: 'a', data: 'host-a:1' });
      const b = new GroupMember(cb, '/g1', { memberId: 'b', data: 'host-b:2' });
      const c = new GroupMember(cc, '/g1', { memberId: 'c' });
      await a.start();
      await b.start();
      await c.start();
      for (const m of [a, b, c]) await waitFor(() => ids(m).join() === 'a,b,c', 5000, 25, `view of ${m.memberId}`);
      expect(a.getCurrentMembers().get('b')!.toString()).toBe('host-b:2');
      expect(c.getCurrentMembers().get('a')!.toString()).toBe('host-a:1');

      const changes: string[][] = [];
      a.on('change', (m) => changes.push([...m.keys()]));
      await b.close();
      await waitFor(() => ids(a).join() === 'a,c', 5000, 25, 'b gone from a');
      expect(await admin.exists('/g1/b')).toBeNull();

      await cc.close(); // c's session ends: its node goes, without c.close()
      await waitFor(() => ids(a).join() === 'a', 5000, 25, 'c gone from a');
      expect(changes).toEqual([['a', 'c'], ['a']]);
      await a.close();
      expect(await admin.exists('/g1/a')).toBeNull();
    } finally {
      await Promise.all([ca.close(), cb.close(), cc.close()]);
    }
  });

  it('a member id held by another live session is refused', async () => {
    const [ca, cb] = await Promise.all([connect(), connect()]);
    try {
      const a = new GroupMember(ca, '/g2', { memberId: 'same' });
      await a.start();
      const dup = new GroupMember(cb, '/g2', { memberId: 'same' });
      await expect(dup.start()).rejects.toBeInstanceOf(NodeExistsError);
      expect((await admin.exists('/g2/same'))!.ephemeralOwner).toBe(ca.sessionId);
      await a.close();
      await dup.close();
    } finally {
      await Promise.all([ca.close(), cb.close()]);
    }
  });

  it('after its session expires a member re-joins with a node of its new session', async () => {
    const ca = await connect();
    try {
      const a = new GroupMember(ca, '/g3', { memberId: 'phoenix', data: 'v1' });
      await a.start();
      const oldSession = ca.sessionId;
      const watcher = new GroupMember(admin, '/g3', { memberId: 'watcher' });
      await watcher.start();
      await waitFor(() => ids(watcher).join() === 'phoenix,watcher');
      const seen: string[][] = [];
      watcher.on('change', (m) => seen.push([...m.keys()]));

      await killSession(zkConnect, ca.sessionCredentials());
      await waitFor(() => ca.sessionId !== oldSession, 10_000, 25, 'a new session');
      await waitFor(
        async () => (await admin.exists('/g3/phoenix'))?.ephemeralOwner === ca.sessionId,
        10_000,
        25,
        're-join',
      );
      expect((await admin.getData('/g3/phoenix')).data.toString()).toBe('v1');
      await waitFor(() => ids(watcher).join() === 'phoenix,watcher');
      expect(seen).toContainEqual(['watcher']); // it was seen leaving, then back
      await a.close();
      await watcher.close();
    } finally {
      await ca.close();
    }
  });
});
