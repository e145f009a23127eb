import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killSession, NodeExistsError, ServiceDiscovery, type ServiceInstance, ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

const idsOf = (list: ServiceInstance[]) => list.map((i) => i.id).join(',');

describe('ServiceDiscovery', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it("registers the talk's /servers/cache/c6 as an ephemeral node with its host and port; query and unregister", async () => {
    const client = await connect();
    try {
      const d = new ServiceDiscovery(client, '/servers');
      const inst = await d.register({ name: 'cache', id: 'c6', host: '10.0.0.6', port: 11211, payload: { zone: 'a' } });
      const { data, stat } = await admin.getData('/servers/cache/c6');
      expect(stat.ephemeralOwner).toBe(client.sessionId);
      expect(JSON.parse(data.toString())).toMatchObject({ name: 'cache', id: 'c6', host: '10.0.0.6', port: 11211 });

      const q = new ServiceDiscovery(admin, '/servers');
      expect(await q.queryNames()).toEqual(['cache']);
      expect(await q.queryInstances('cache')).toEqual([inst]);
      expect(await q.queryInstance('cache', 'c6')).toEqual(inst);
      expect(await q.queryInstances('nothing-here')).toEqual([]);
      // Foreign nodes that are not instances are skipped.
      await admin.create('/servers/cache/junk', { data: 'not json' });
      expect(idsOf(await q.queryInstances('cache'))).toBe('c6');
      await admin.delete('/servers/cache/junk');

      expect(await d.unregister({ name: 'cache', id: 'c6' })).toBe(true);
      expect(await admin.exists('/servers/cache/c6')).toBeNull();
      await expect(d.register({ name: 'a/b', host: 'h', port: 1 })).rejects.toThrow(RangeError);
      await expect(d.register({ name: 'cache', host: 'h', port: 70000 })).rejects.toThrow(RangeError);
      await d.close();
    } finally {
      await client.close();
    }
  });

  it('a watch sees instances come and go, including one whose session ends', async () => {
    const [c1, c2] = await Promise.all([connect(), connect()]);
    try {
      const watcher = new ServiceDiscovery(admin, '/svc');
      const cache = await watcher.watch('web');
      expect(cache.instances()).toEqual([]);
      const d1 = new ServiceDiscovery(c1, '/svc');
      const d2 = new ServiceDiscovery(c2, '/svc');
      await d1.register({ name: 'web', id: 'w1', host: 'h1', port: 80 });
      await d2.register({ name: 'web', id: 'w2', host: 'h2', port: 80 });
      await waitFor(() => idsOf(cache.instances()) === 'w1,w2', 5000, 25, 'both');
      await c2.close();
      await waitFor(() => idsOf(cache.instances()) === 'w1', 5000, 25, 'w2 gone');
      await d1.close();
      await waitFor(() => idsOf(cache.instances()) === '', 5000, 25, 'none');
      await watcher.close();
    } finally {
      await Promise.all([c1.close(), c2.close()]);
    }
  });

  it('re-registers after session loss, owned by the new session', async () => {
    const client = await connect();
    try {
      const d = new ServiceDiscovery(client, '/servers');
      await d.register({ name: 'cache', id: 'c7', host: 'h', port: 1 });
      const old = client.sessionId;
      let reregistered = 0;
      d.on('reregistered', () => reregistered++);
      await killSession(zkConnect, client.sessionCredentials());
      await waitFor(() => client.sessionId !== old, 10_000, 25, 'a new session');
      await waitFor(
        async () => (await admin.exists('/servers/cache/c7'))?.ephemeralOwner === client.sessionId,
        10_000,
        25,
        'the instance owned by the new session',
      );
      expect(reregistered).toBeGreaterThanOrEqual(1);
      await d.close();
      expect(await admin.exists('/servers/cache/c7')).toBeNull();
    } finally {
      await client.close();
    }
  });

  it('cut off past its session timeout, an instance comes back owned by its new session and stays so', async () => {
    const first = zkConnect.split(',')[0]!;
    const i = first.lastIndexOf(':');
    const proxy = await TcpProxy.start(first.slice(0, i), Number(first.slice(i + 1)));
    const client = await ZkClient.connect(proxy.address, { namespace, sessionTimeoutMs: 2000 });
    try {
      const d = new ServiceDiscovery(client, '/servers');
      await d.register({ name: 'cache', id: 'c9', host: 'h', port: 9 });
      const watcher = await new ServiceDiscovery(admin, '/servers').watch('cache');
      await waitFor(() => idsOf(watcher.instances()).includes('c9'));
      const old = client.sessionId;
      proxy.cut();
      await waitFor(
        () => !idsOf(watcher.instances()).includes('c9'),
        10_000,
        25,
        'the instance gone with the old session',
      );
      proxy.heal();
      await waitFor(() => client.sessionId !== old, 10_000, 25, 'a new session');
      await waitFor(
        async () => (await admin.exists('/servers/cache/c9'))?.ephemeralOwner === client.sessionId,
        10_000,
        25,
        'owned by the new session',
      );
      await waitFor(() => idsOf(watcher.instances()).includes('c9'), 5000, 25, 'watchers see it again');
      await sleep(1000);
      expect((await admin.exists('/servers/cache/c9'))!.ephemeralOwner).toBe(client.sessionId);
      watcher.close();
      await d.close();
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('replaces a node of the same id left by another session rather than adopting it', async () => {
    const [c1, c2] = await Promise.all([connect(), connect()]);
    try {
      await new ServiceDiscovery(c1, '/servers').register({ name: 'cache', id: 'c8', host: 'old', port: 1 });
      const d2 = new ServiceDiscovery(c2, '/servers');
      await d2.register({ name: 'cache', id: 'c8', host: 'new', port: 2 });
      const { data, stat } = await admin.getData('/servers/cache/c8');
      expect(stat.ephemeralOwner).toBe(c2.sessionId);
      expect(JSON.parse(data.toString()).host).toBe('new');
      await d2.close();
    } finally {
      await Promise.all([c1.close(), c2.close()]);
    }
  });

  it('the displaced registrant is told (displaced, by the new session), stops re-registering and leaves the node alone', async () => {
    const [c1, c2] = await Promise.all([connect(), connect()]);
    try {
      const d1 = new ServiceDiscovery(c1, '/servers');
      const displaced: { by: bigint | null; path: string }[] = [];
      d1.on('displaced', (e) => displaced.push({ by: e.by, path: e.path }));
      await d1.register({ name: 'cache', id: 'c9', host: 'first', port: 1 });
      const d2 = new ServiceDiscovery(c2, '/servers');
      await d2.register({ name: 'cache', id: 'c9', host: 'second', port: 2 });
      await waitFor(() => displaced.length > 0, 10_000, 25, 'displaced');
      expect(displaced).toEqual([{ by: c2.sessionId, path: '/servers/cache/c9' }]);
      expect(d1.registered()).toEqual([]);
      // a reconnect of the displaced one does not take the id back, and its close leaves it alone
      await sleep(300);
      await d1.close();
      const { data, stat } = await admin.getData('/servers/cache/c9');
      expect(stat.ephemeralOwner).toBe(c2.sessionId);
      expect(JSON.parse(data.toString()).host).toBe('second');
      expect(displaced).toHaveLength(1);
      await d2.close();
    } finally {
      await Promise.all([c1.close(), c2.close()]);
    }
  });

  it('a registration deleted by another client is reported displaced (by null), not re-created', async () => {
    const c1 = await connect();
    try {
      const d1 = new ServiceDiscovery(c1, '/servers');
      const displaced: (bigint | null)[] = [];
      d1.on('displaced', (e) => displaced.push(e.by));
      await d1.register({ name: 'cache', id: 'c10', host: 'h', port: 1 });
      await admin.delete('/servers/cache/c10');
      await waitFor(() => displaced.length > 0, 10_000, 25, 'displaced');
      expect(displaced).toEqual([null]);
      expect(await admin.exists('/servers/cache/c10')).toBeNull();
      await d1.close();
    } finally {
      await c1.close();
    }
  });

  it('replace: false refuses an id held by another live session, naming that session', async () => {
    const [c1, c2] = await Promise.all([connect(), connect()]);
    try {
      const d1 = new ServiceDiscovery(c1, '/servers');
      await d1.register({ name: 'cache', id: 'c11', host: 'first', port: 1 });
      const d2 = new ServiceDiscovery(c2, '/servers', { replace: false });
      const err = await d2.register({ name: 'cache', id: 'c11', host: 'second', port: 2 }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(NodeExistsError);
      expect((err as Error).message).toContain(
        `instance c11 of service cache is registered by another live session (0x${c1.sessionId.toString(16)})`,
      );
      expect(d2.registered()).toEqual([]);
      const { stat } = await admin.getData('/servers/cache/c11');
      expect(stat.ephemeralOwner).toBe(c1.sessionId);
      // its own previous registration is not "another session": registering again is fine
      await d1.register({ name: 'cache', id: 'c11', host: 'first', port: 3 });
      await d1.close();
      await d2.close();
    } finally {
      await Promise.all([c1.close(), c2.close()]);
    }
  });

  it('close() names the reason when unregistering fails', async () => {
    const c1 = await connect();
    const d1 = new ServiceDiscovery(c1, '/servers');
    await d1.register({ name: 'cache', id: 'c12', host: 'h', port: 1 });
    await c1.close(); // every call now fails
    const err = await d1.close().catch((e: Error) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as Error).message).toMatch(/^ServiceDiscovery \/servers: unregistering failed: \S.*/);
  });

  it('under churn (instances leaving and joining several times a second) never throws and settles on the live set', async () => {
    const clients = await Promise.all([connect(), connect(), connect()]);
    const watcherClient = await connect();
    try {
      const discos = clients.map((c) => new ServiceDiscovery(c, '/churn'));
      const watcher = new ServiceDiscovery(watcherClient, '/churn');
      const cacheErrors: Error[] = [];
      const changes: string[] = [];
      const cache = await watcher.watch('api', (list) => changes.push(idsOf(list)));
      cache.on('error', (e) => cacheErrors.push(e));

      const live = new Map<string, number>(); // id → index of the discovery that registered it
      const queryErrors: unknown[] = [];
      let stop = false;
      const querier = (async () => {
        let queries = 0;
        while (!stop) {
          try {
            await watcher.queryInstances('api');
            queries++;
          } catch (err) {
            queryErrors.push(err);
          }
        }
        return queries;
      })();

      const deadline = Date.now() + 4000;
      let n = 0;
      while (Date.now() < deadline) {
        const id = `i${n % 8}`;
        const owner = n % 3;
        const d = discos[owner]!;
        if (live.has(id)) {
          const prevOwner = live.get(id)!;
          live.delete(id);
          await discos[prevOwner]!.unregister({ name: 'api', id });
        } else {
          live.set(id, owner);
          await d.register({ name: 'api', id, host: `host-${id}`, port: 8000 + (n % 8) });
        }
        n++;
        await sleep(20 + (n % 5) * 10);
      }
      stop = true;
      const queries = await querier;
      const expected = [...live.keys()].sort().join(',');
      await waitFor(() => idsOf(cache.instances()) === expected, 5000, 25, `cache settles on ${expected}`);
      expect(idsOf(await watcher.queryInstances('api'))).toBe(expected);
      expect(queryErrors).toEqual([]);
      expect(cacheErrors).toEqual([]);
      expect(n).toBeGreaterThan(40); // well over several changes a second
      expect(queries).toBeGreaterThan(10);
      expect(changes.length).toBeGreaterThan(5);
      for (const inst of cache.instances()) expect(inst.host).toBe(`host-${inst.id}`);
      await watcher.close();
      await Promise.all(discos.map((d) => d.close()));
      await waitFor(async () => (await watcher.queryInstances('api')).length === 0, 5000);
    } finally {
      await Promise.all([...clients, watcherClient].map((c) => c.close()));
    }
  });
});
