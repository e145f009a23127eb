import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElection, ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = (connectString = zkConnect) => ZkClient.connect(connectString, { namespace, sessionTimeoutMs: 2000 });

describe('LeaderElection', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('runs one callback at a time; a term ends when it returns, and participants requeue', async () => {
    const clients = [await connect(), await connect(), await connect()];
    let running = 0;
    let maxRunning = 0;
    const terms: string[] = [];
    const elections = clients.map(
      (c, i) =>
        new LeaderElection(c, '/rotate', {
          id: `e${i}`,
          onLeadership: async (signal, election) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            terms.push(election.id);
            expect(election.hasLeadership()).toBe(true);
            expect(signal.aborted).toBe(false);
            await sleep(100);
            running--;
          },
        }),
    );
    try {
      for (const e of elections) await e.start();
      await waitFor(() => terms.length >= 7, 15_000, 10, 'seven terms');
      expect(maxRunning).toBe(1);
      // Each participant requeues at the back, so terms rotate: e0 e1 e2 e0 e1 e2 …
      expect(terms.slice(0, 6)).toEqual(['e0', 'e1', 'e2', 'e0', 'e1', 'e2']);
      expect(elections.map((e) => e.termCount).every((n) => n >= 2)).toBe(true);
    } finally {
      for (const e of elections) await e.close();
      for (const c of clients) await c.close();
    }
    expect((await admin.getChildren('/rotate')).children).toEqual([]);
  });

  it('without requeue a participant leads once; close() aborts a running term and waits for it', async () => {
    const c1 = await connect();
    const c2 = await connect();
    let aborted: unknown = null;
    let finished = false;
    const e1 = new LeaderElection(c1, '/once', { requeue: false, onLeadership: () => sleep(50) });
    const e2 = new LeaderElection(c2, '/once', {
      onLeadership: async (signal) => {
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        aborted = signal.reason;
        await sleep(100);
        finished = true;
      },
    });
    try {
      await e1.start();
      await e2.start();
      await waitFor(() => e2.hasLeadership(), 5000, 10, 'e2 to lead');
      expect(e1.termCount).toBe(1);
      expect(e1.ourPath).toBeNull();
      expect(await e2.getParticipants()).toEqual([e2.ourPath]);
      await expect(e2.start()).rejects.toThrow(/cannot be started/);
      await e2.close();
      expect(finished).toBe(true);
      expect(String(aborted)).toMatch(/closed/);
      expect((await admin.getChildren('/once')).children).toEqual([]);
    } finally {
      await e1.close();
      await e2.close();
      await c1.close();
      await c2.close();
    }
  });

  it('aborts the term when the connection is suspended, and the other participant takes over after the session is lost', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const cut = await connect(proxy.address);
    const other = await connect();
    const events: string[] = [];
    const mk = (c: ZkClient, id: string) =>
      new LeaderElection(c, '/suspend', {
        id,
        onLeadership: async (signal) => {
          events.push(`${id}:start`);
          await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
          events.push(`${id}:aborted`);
        },
      });
    const e1 = mk(cut, 'cut');
    const e2 = mk(other, 'other');
    try {
      await e1.start();
      await waitFor(() => events.includes('cut:start'), 5000, 10, 'cut to lead');
      await e2.start();
      proxy.cut();
      await waitFor(() => events.includes('cut:aborted'), 5000, 10, 'the term to be aborted');
      await waitFor(() => events.includes('other:start'), 10_000, 10, 'other to lead');
      // The aborted term ended before the other began.
      expect(events.indexOf('cut:aborted')).toBeLessThan(events.indexOf('other:start'));
      proxy.heal();
      await waitFor(async () => (await e2.getParticipants()).length === 2, 15_000, 50, 'cut to requeue');
      expect(e1.hasLeadership()).toBe(false);
      expect(e2.hasLeadership()).toBe(true);
    } finally {
      proxy.heal();
      await e1.close();
      await e2.close();
      await cut.close();
      await other.close();
      await proxy.close();
    }
  });

  it('the example workers print whom they watch and when they lead', async () => {
    const script = fileURLToPath(new URL('../../examples/leader-election/worker.js', import.meta.url));
    const out = new Map<string, string[]>();
    const start = (name: string) => {
      const lines: string[] = [];
      out.set(name, lines);
      const p = spawn(
        process.execPath,
        [
          script,
          '--connect',
          zkConnect,
          '--namespace',
          `${namespace}/example`,
          '--name',
          name,
          '--session-timeout',
          '2000',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      p.stdout.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
      p.stderr.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
      return p;
    };
    const has = (name: string, re: RegExp) => out.get(name)!.some((l) => re.test(l));
    // Bob starts once Alice leads: two processes started together may join in either order.
    const alice = start('alice');
    let bob: ReturnType<typeof start> | undefined;
    try {
      await waitFor(() => has('alice', /LEADING now/), 10_000, 25, 'alice to lead');
      bob = start('bob');
      await waitFor(() => has('bob', /watching w-\d{10} \(alice\)/), 10_000, 25, 'bob to watch alice');
      expect(has('bob', /LEADING/)).toBe(false);
      alice.kill('SIGTERM');
      await waitFor(() => has('bob', /LEADING now/), 5000, 25, 'bob to lead');
    } finally {
      alice.kill('SIGKILL');
      bob?.kill('SIGKILL');
    }
  });
});
