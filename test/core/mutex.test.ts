import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockLostError, Mutex, ZkClient } from '@zkjobs/core';
import { TcpProxy, TestingCluster } from '@zkjobs/core/testing';
import { fileNamespace, itWithServers, recordWatches, sleep, waitFor, zkConnect } from '../support/zk.js';
import { Child } from './fixtures/child.js';

const namespace = fileNamespace(import.meta.filename);
const connect = (connectString = zkConnect) => ZkClient.connect(connectString, { namespace, sessionTimeoutMs: 2000 });

interface Entry {
  what: string;
  pid: number;
  t: number;
  rest: string;
}

function readLedger(file: string): Entry[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [what, pid, t, ...rest] = l.split(' ');
      return { what: what!, pid: Number(pid), t: Number(t), rest: rest.join(' ') };
    });
}

/** Pairs of critical sections (enter..exit) of different processes that overlap in time. */
function overlaps(entries: Entry[]): string[] {
  const open = new Map<number, number>();
  const sections: { pid: number; from: number; to: number }[] = [];
  for (const e of entries) {
    if (e.what === 'enter') open.set(e.pid, e.t);
    if (e.what === 'exit' && open.has(e.pid)) {
      sections.push({ pid: e.pid, from: open.get(e.pid)!, to: e.t });
      open.delete(e.pid);
    }
  }
  for (const [pid, from] of open) sections.push({ pid, from, to: Infinity });
  sections.sort((a, b) => a.from - b.from);
  const bad: string[] = [];
  for (let i = 1; i < sections.length; i++) {
    const a = sections[i - 1]!;
    const b = sections[i]!;
    if (a.pid !== b.pid && b.from < a.to)
      bad.push(`${a.pid} [${a.from}, ${a.to}] overlaps ${b.pid} [${b.from}, ${b.to}]`);
  }
  return bad;
}

describe('Mutex', () => {
  let admin: ZkClient;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(async () => {
    await admin?.close();
  });

  it('excludes other holders, is re-entrant for its holder, and hands over on release', async () => {
    const c1 = await connect();
    const c2 = await connect();
    const m1 = new Mutex(c1, '/basic');
    const m2 = new Mutex(c2, '/basic');
    try {
      expect(await m1.acquire()).toBe(true);
      expect(m1.isAcquired()).toBe(true);
      expect(m1.signal.aborted).toBe(false);
      expect(await m1.acquire({ timeoutMs: 0 })).toBe(true); // re-entrant: counted
      expect(await m2.acquire({ timeoutMs: 300 })).toBe(false);
      expect(await m1.getParticipantNodes()).toEqual([m1.lockPath]);
      const recorder = recordWatches(c2);
      const waiting = m2.acquire({ timeoutMs: 10_000 });
      await waitFor(async () => (await m1.getParticipantNodes()).length === 2, 5000, 10, 'm2 to line up');
      // …and to sit on its watch of m1's node (else the release could come before the watch).
      await waitFor(
        () => recorder.armed.some((w) => w.op === 'getData' && w.path === m1.lockPath && w.found),
        10_000,
        10,
        "m2 watching m1's node",
      );
      await m1.release(); // still held once: its node stays, so m2 keeps waiting
      expect(m1.isAcquired()).toBe(true);
      expect(await admin.exists(m1.lockPath!)).not.toBeNull();
      expect(m2.isAcquired()).toBe(false);
      const firstPath = m1.lockPath!;
      const firstSignal = m1.signal;
      await m1.release();
      expect(firstSignal.aborted).toBe(true);
      expect(m1.lockPath).toBeNull();
      expect(await admin.exists(firstPath)).toBeNull();
      expect(await waiting).toBe(true);
      expect(m2.isAcquired()).toBe(true);
      expect(m2.watchDeliveries).toBe(1);
      recorder.restore();
      await expect(m1.release()).rejects.toThrow(/not held/);
      await m2.release();
      expect(await m2.getParticipantNodes()).toEqual([]);
    } finally {
      await m1.close();
      await m2.close();
      await c1.close();
      await c2.close();
    }
  });

  it('a waiter that times out or is aborted removes its own node', async () => {
    const c1 = await connect();
    const c2 = await connect();
    const holder = new Mutex(c1, '/waiters');
    const waiter = new Mutex(c2, '/waiters');
    try {
      expect(await holder.acquire()).toBe(true);
      const t0 = Date.now();
      expect(await waiter.acquire({ timeoutMs: 500 })).toBe(false);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(490);
      expect((await admin.getChildren('/waiters')).children).toHaveLength(1);

      const ac = new AbortController();
      const p = waiter.acquire({ signal: ac.signal });
      await waitFor(
        async () => (await admin.getChildren('/waiters')).children.length === 2,
        5000,
        10,
        'the waiter node',
      );
      ac.abort(new Error('no longer needed'));
      await expect(p).rejects.toThrow('no longer needed');
      expect((await admin.getChildren('/waiters')).children).toEqual([holder.lockPath!.split('/').pop()]);
      await expect(waiter.acquire({ signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
      expect((await admin.getChildren('/waiters')).children).toHaveLength(1);
    } finally {
      await holder.close();
      await waiter.close();
      await c1.close();
      await c2.close();
    }
  });

  it('a holder whose session is lost is told (event + aborted signal) before another client acquires', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const cutClient = await connect(proxy.address);
    const other = await connect();
    const m1 = new Mutex(cutClient, '/lost');
    const m2 = new Mutex(other, '/lost');
    try {
      expect(await m1.acquire()).toBe(true);
      const signal = m1.signal;
      let lostAt = 0;
      let lostErr: LockLostError | undefined;
      let abortedAt = 0;
      m1.on('lost', (err) => {
        lostAt = performance.now();
        lostErr = err;
      });
      signal.addEventListener('abort', () => (abortedAt = performance.now()));
      let acquiredAt = 0;
      const acquiring = m2.acquire({ timeoutMs: 20_000 }).then((ok) => {
        acquiredAt = performance.now();
        return ok;
      });
      await waitFor(async () => (await m1.getParticipantNodes()).length === 2, 5000, 10, 'm2 to line up');
      proxy.cut();
      expect(await acquiring).toBe(true);
      expect(lostAt).toBeGreaterThan(0);
      expect(abortedAt).toBeGreaterThan(0);
      expect(lostAt).toBeLessThan(acquiredAt);
      expect(abortedAt).toBeLessThanOrEqual(lostAt);
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(LockLostError);
      expect(lostErr?.path).toBe(m1.lockPath);
      expect(m1.isAcquired()).toBe(false);
      proxy.heal();
      await m1.release(); // resets; the node went with the session
      expect(m1.lockPath).toBeNull();
      expect(await m2.getParticipantNodes()).toEqual([m2.lockPath]);
    } finally {
      proxy.heal();
      await m1.close().catch(() => undefined);
      await m2.close();
      await cutClient.close();
      await other.close();
      await proxy.close();
    }
  });

  itWithServers(
    'mutual exclusion under churn: 3 processes loop on one Mutex while each member of a 3-node ensemble restarts',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'zkjobs-mutex-'));
      const ledger = join(dir, 'ledger');
      const ownerFile = join(dir, 'owner');
      const cluster = await TestingCluster.start({ size: 3, tickTime: 500 });
      const children: Child[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          children.push(
            Child.spawn('mutex-looper.mjs', [cluster.connectString, namespace, '/churn', ledger, ownerFile]),
          );
        }
        for (const c of children) await c.waitEvent('started');
        const enters = () => readLedger(ledger).filter((e) => e.what === 'enter');
        await waitFor(() => new Set(enters().map((e) => e.pid)).size === 3, 15_000, 50, 'every process to enter');
        for (const member of cluster.members) {
          await member.restart();
          const after = performance.timeOrigin + performance.now();
          await waitFor(
            () => enters().some((e) => e.t > after),
            15_000,
            50,
            `an acquisition after restarting member ${member.address}`,
          );
          await sleep(500);
        }
        for (const c of children) await c.kill();
        const entries = readLedger(ledger);
        expect(entries.filter((e) => e.what === 'VIOLATION')).toEqual([]);
        expect(overlaps(entries)).toEqual([]);
        expect(entries.filter((e) => e.what === 'enter').length).toBeGreaterThan(20);
      } finally {
        for (const c of children) await c.kill();
        await cluster.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('20 rounds of 8 waiters on one Mutex, each releasing at once: all acquire in turn by their watch alone', async () => {
    // The safety re-check is set far beyond the test's bounds: every wake-up must come from a
    // watch (or the wait finds its predecessor already gone). A lost one hangs a waiter until
    // its signal aborts it.
    const clients = [await connect(), await connect(), await connect(), await connect()];
    const mutexes = Array.from(
      { length: 8 },
      (_, i) => new Mutex(clients[i % 4]!, '/watch-alone', { recheckMs: 600_000 }),
    );
    let acquisitions = 0;
    try {
      for (let round = 0; round < 20; round++) {
        await Promise.all(
          mutexes.map(async (m) => {
            expect(await m.acquire({ signal: AbortSignal.timeout(20_000) })).toBe(true);
            acquisitions++;
            await m.release();
          }),
        );
      }
      expect(await admin.getChildren('/watch-alone').then((r) => r.children)).toEqual([]);
    } finally {
      for (const m of mutexes) await m.close();
      for (const c of clients) await c.close();
    }
    expect(acquisitions).toBe(160);
  });

  it('rejects a bad recheckMs', () => {
    for (const recheckMs of [0, -1, 1.5, Infinity, 2 ** 31])
      expect(() => new Mutex(admin, '/bad', { recheckMs })).toThrow(RangeError);
  });
});
