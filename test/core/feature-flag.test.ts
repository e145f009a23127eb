import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureFlag, parseFlag, ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = (connectString = zkConnect) => ZkClient.connect(connectString, { namespace, sessionTimeoutMs: 2000 });

function hostPort(connectString: string): [string, number] {
  const first = connectString.split(',')[0]!;
  const i = first.lastIndexOf(':');
  return [first.slice(0, i), Number(first.slice(i + 1))];
}

describe('FeatureFlag', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('parses the usual spellings', () => {
    expect(parseFlag(Buffer.from(' TRUE\n'))).toBe(true);
    expect(parseFlag(Buffer.from('on'))).toBe(true);
    expect(parseFlag(Buffer.from('0'), true)).toBe(false);
    expect(parseFlag(Buffer.from(''), true)).toBe(true);
    expect(parseFlag(null)).toBe(false);
  });

  it('lives at /app/features/<name>/enabled, created mkdir -p style on set; every watcher sees every change', async () => {
    const clients = await Promise.all([connect(), connect(), connect()]);
    try {
      const watchers = clients.map((c) => new FeatureFlag(c, 'pymk'));
      const seen = watchers.map(() => [] as boolean[]);
      for (const [i, w] of watchers.entries()) {
        w.on('change', (on) => seen[i]!.push(on));
        await w.start();
      }
      expect(watchers.map((w) => w.isEnabled())).toEqual([false, false, false]);
      const setter = new FeatureFlag(admin, 'pymk');
      expect(setter.path).toBe('/app/features/pymk/enabled');
      await setter.enable();
      expect((await admin.getData('/app/features/pymk/enabled')).data.toString()).toBe('true');
      await waitFor(() => watchers.every((w) => w.isEnabled()), 5000, 10, 'all on');
      await setter.disable();
      await waitFor(() => watchers.every((w) => !w.isEnabled()), 5000, 10, 'all off');
      expect(seen).toEqual([
        [false, true, false],
        [false, true, false],
        [false, true, false],
      ]);
      expect(await new FeatureFlag(admin, 'pymk').read()).toBe(false);
      for (const w of watchers) await w.close();
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  for (const [label, cutMs] of [
    ['briefly (same session)', 900],
    ['longer than the session timeout (new session)', 3500],
  ] as const) {
    it(`a watcher cut off ${label} while the flag changes sees the change after healing`, async () => {
      const name = `cut-${cutMs}`;
      const proxy = await TcpProxy.start(...hostPort(zkConnect));
      const client = await connect(proxy.address);
      try {
        const flag = new FeatureFlag(client, name);
        await flag.start();
        expect(flag.isEnabled()).toBe(false);
        const states: string[] = [];
        client.on('state', (s) => states.push(s));

        proxy.cut();
        await sleep(100);
        await new FeatureFlag(admin, name).enable();
        await sleep(cutMs);
        expect(flag.isEnabled()).toBe(false); // it really was cut off during the change
        proxy.heal();
        await waitFor(() => flag.isEnabled(), 10_000, 10, 'the cut-off watcher sees the change');
        expect(states[0]).toBe('suspended');
        if (cutMs > 2000) expect(states).toContain('lost');
        else expect(states).not.toContain('lost');

        // And it keeps watching afterwards.
        await new FeatureFlag(admin, name).disable();
        await waitFor(() => !flag.isEnabled(), 5000, 10, 'a later change');
        await flag.close();
      } finally {
        await client.close();
        await proxy.close();
      }
    });
  }
});
