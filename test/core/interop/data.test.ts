// Data other clients read: service instances with the real Curator 5.4 x-discovery (Java),
// values with Curator's SharedValue and Kazoo's plain get/set, feature flags with both.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FeatureFlag, parseServiceInstance, ServiceDiscovery, SharedValue, ZkClient } from '@zkjobs/core';
import { fileNamespace, waitFor, zkConnect } from '../../support/zk.js';
import { checkKazoo, curatorCommand, Driver, Ledger, type Library } from './interop-driver.js';

const namespace = fileNamespace(import.meta.filename);
const b64 = (s: string) => Buffer.from(s).toString('base64');
let admin: ZkClient;
let dir: string;
let drivers: Driver[] = [];

beforeAll(async () => {
  curatorCommand();
  checkKazoo();
  dir = mkdtempSync(join(tmpdir(), 'zkjobs-interop-'));
  admin = await ZkClient.connect(zkConnect, { namespace });
  await admin.mkdirp('/ready');
});

afterEach(async () => {
  await Promise.all(drivers.map((d) => d.stop()));
  drivers = [];
});

afterAll(async () => {
  await admin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(lib: Library): Promise<Driver> {
  const d = await Driver.start(
    lib,
    `${lib}-${drivers.length + 1}`,
    zkConnect,
    namespace,
    new Ledger(join(dir, 'l')).file,
  );
  drivers.push(d);
  return d;
}

describe('ServiceDiscovery and Curator x-discovery', () => {
  it('a Java ServiceDiscovery finds a service registered here in Curator form, and this one finds the Java instance', async () => {
    const java = await start('curator');
    const c = await ZkClient.connect(zkConnect, { namespace });
    const discovery = new ServiceDiscovery(c, '/services', { format: 'curator' });
    const cache = await discovery.watch('api');
    try {
      // Java registers: the node is what the real JsonInstanceSerializer writes.
      expect(await java.call('register /services api j1 127.0.0.1 8080 {"zone":"a","weight":3}')).toBe('registered');
      const raw = JSON.parse((await admin.getData('/services/api/j1')).data.toString('utf8')) as Record<
        string,
        unknown
      >;
      expect(raw).toMatchObject({ name: 'api', id: 'j1', address: '127.0.0.1', port: 8080, serviceType: 'DYNAMIC' });
      expect(typeof raw['registrationTimeUTC']).toBe('number');
      const fromJava = await discovery.queryInstance('api', 'j1');
      expect(fromJava).toMatchObject({ name: 'api', id: 'j1', host: '127.0.0.1', port: 8080 });
      // Jackson types the payload (@JsonTypeInfo(use = CLASS)): the class name is kept.
      expect(fromJava!.payload).toEqual({ '@class': 'java.util.LinkedHashMap', zone: 'a', weight: 3 });
      expect(fromJava!.registeredAt).toBe(raw['registrationTimeUTC']);
      expect(fromJava!.curator).toMatchObject({ serviceType: 'DYNAMIC', sslPort: null });
      await waitFor(() => cache.instances().some((i) => i.id === 'j1'), 10_000, 25, 'the cache to see j1');

      // This side registers in Curator form: Java's queryForInstances finds both.
      await discovery.register({ name: 'api', id: 'n1', host: '127.0.0.2', port: 9090, payload: { zone: 'b' } });
      const reply = await java.call('query /services api');
      const found = JSON.parse(reply.slice('instances '.length)) as {
        id: string;
        host: string;
        port: number;
        payload: Record<string, unknown>;
      }[];
      const byId = new Map(found.map((i) => [i.id, i]));
      expect([...byId.keys()].sort()).toEqual(['j1', 'n1']);
      expect(byId.get('n1')).toMatchObject({ host: '127.0.0.2', port: 9090, payload: { zone: 'b' } });
      const ours = parseServiceInstance((await admin.getData('/services/api/n1')).data);
      expect(ours?.curator?.serviceType).toBe('DYNAMIC');
      expect(JSON.parse((await admin.getData('/services/api/n1')).data.toString('utf8'))).toHaveProperty('address');

      // A zkjobs-form instance on the same service still reads here (both forms are read).
      const plain = new ServiceDiscovery(c, '/services');
      await plain.register({ name: 'api', id: 'z1', host: '127.0.0.3', port: 7070 });
      expect((await discovery.queryInstances('api')).map((i) => i.id).sort()).toEqual(['j1', 'n1', 'z1']);
      await plain.close();
    } finally {
      cache.close();
      await discovery.close();
      await c.close();
    }
  });
});

describe('SharedValue and FeatureFlag with Curator SharedValue and Kazoo get/set', () => {
  it("a SharedValue sees Curator's and Kazoo's writes, and they see its writes, byte for byte", async () => {
    const java = await start('curator');
    const kazoo = await start('kazoo');
    const c = await ZkClient.connect(zkConnect, { namespace });
    const value = new SharedValue(c, '/config/limit', { seed: '100' });
    try {
      await value.start();
      expect(await java.call(`shared /config/limit ${b64('ignored seed')}`)).toBe(`value ${b64('100')}`);
      expect(await kazoo.call('get /config/limit')).toBe(`value ${b64('100')}`);
      expect(await kazoo.call('watch /config/limit')).toBe('ok');

      await value.setValue(Buffer.from([0, 1, 2, 255]));
      const bin = Buffer.from([0, 1, 2, 255]).toString('base64');
      await java.waitChange(bin);
      await kazoo.waitChange(bin);

      expect(await java.call(`set ${b64('from curator')}`)).toBe('ok');
      await waitFor(() => value.getValue().toString() === 'from curator', 10_000, 20, "Curator's value");
      await kazoo.waitChange(b64('from curator'));

      expect(await kazoo.call(`set /config/limit ${b64('from kazoo')}`)).toBe('ok');
      await waitFor(() => value.getValue().toString() === 'from kazoo', 10_000, 20, "Kazoo's value");
      await java.waitChange(b64('from kazoo'));
      expect(await java.call('get')).toBe(`value ${b64('from kazoo')}`);
    } finally {
      await value.close();
      await c.close();
    }
  });

  it('a FeatureFlag reads what Kazoo and Curator write (true/false text), and they read what it writes', async () => {
    const java = await start('curator');
    const kazoo = await start('kazoo');
    const c = await ZkClient.connect(zkConnect, { namespace });
    const flag = new FeatureFlag(c, 'pymk', { root: '/app/features' });
    try {
      await flag.start();
      expect(flag.isEnabled()).toBe(false);
      expect(await kazoo.call(`set /app/features/pymk/enabled ${b64('true')}`)).toBe('ok');
      await waitFor(() => flag.isEnabled(), 10_000, 20, 'the flag on');
      expect(await java.call(`shared /app/features/pymk/enabled ${b64('false')}`)).toBe(`value ${b64('true')}`);

      await flag.set(false);
      await java.waitChange(b64('false'));
      expect(await kazoo.call('get /app/features/pymk/enabled')).toBe(`value ${b64('false')}`);

      expect(await java.call(`set ${b64('true')}`)).toBe('ok');
      await waitFor(() => flag.isEnabled(), 10_000, 20, 'the flag on again');
    } finally {
      await flag.close();
      await c.close();
    }
  });
});
