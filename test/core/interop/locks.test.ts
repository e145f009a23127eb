// Locks, read-write locks and semaphores shared with the real Apache Curator 5.4 (Java) and
// Kazoo 2.8 (Python) on one path: contenders loop acquire / hold / release and append to one
// ledger; the ledger must never show more holders than the recipe allows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IncompatibleRecipeError, Mutex, ReadWriteLock, Semaphore, ZkClient } from '@zkjobs/core';
import { fileNamespace, sleep, zkConnect } from '../../support/zk.js';
import { curatorCommand, checkKazoo, Driver, Ledger, type Library } from './interop-driver.js';

const namespace = fileNamespace(import.meta.filename);
let admin: ZkClient;
let dir: string;
let drivers: Driver[] = [];
let ledgerCount = 0;

beforeAll(async () => {
  // Fail (not skip) with the reason when Curator, javac or Kazoo is missing.
  curatorCommand();
  checkKazoo();
  dir = mkdtempSync(join(tmpdir(), 'zkjobs-interop-'));
  admin = await ZkClient.connect(zkConnect, { namespace });
  await admin.mkdirp('/locks');
});

afterEach(async () => {
  await Promise.all(drivers.map((d) => d.stop()));
  drivers = [];
});

afterAll(async () => {
  await admin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function newLedger(): Ledger {
  return new Ledger(join(dir, `ledger-${++ledgerCount}`));
}

/** Starts one driver per entry, `<lib>-<n>`, all on `ledger`. */
async function startAll(libs: Library[], ledger: Ledger): Promise<Driver[]> {
  const counts = new Map<Library, number>();
  const started = await Promise.all(
    libs.map((lib) => {
      const n = (counts.get(lib) ?? 0) + 1;
      counts.set(lib, n);
      return Driver.start(lib, `${lib}-${n}`, zkConnect, namespace, ledger.file);
    }),
  );
  drivers.push(...started);
  return started;
}

/** Each driver acquires and releases `rounds` times, holding 0-2 ms; all drivers at once. */
async function loop(ds: Driver[], rounds: number): Promise<void> {
  await Promise.all(
    ds.map(async (d) => {
      for (let i = 0; i < rounds; i++) {
        expect(await d.call('acquire 30000')).toBe('held');
        await sleep(Math.floor(Math.random() * 3));
        expect(await d.call('release')).toBe('released');
      }
    }),
  );
}

const exclusive = (holders: Map<string, string>) => holders.size <= 1;
const byLib = (ledger: Ledger) => new Set(ledger.entries().map((e) => e.id.split('-')[0]));

describe('Mutex beside Curator InterProcessMutex and Kazoo Lock', () => {
  it('a Mutex waits for a Kazoo Lock holding the path (<uuid>__lock__ nodes), and takes it once released', async () => {
    const ledger = newLedger();
    const [kazoo] = await startAll(['kazoo'], ledger);
    await kazoo!.call('mutex /locks/J');
    expect(await kazoo!.call('acquire')).toBe('held');
    const c = await ZkClient.connect(zkConnect, { namespace });
    try {
      const m = new Mutex(c, '/locks/J');
      expect(await m.acquire({ timeoutMs: 500 })).toBe(false);
      const names = (await admin.getChildren('/locks/J')).children;
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^[0-9a-f]{32}__lock__\d{10}$/);
      const pending = m.acquire({ timeoutMs: 20_000 });
      await sleep(200);
      expect(m.isAcquired()).toBe(false);
      expect(await kazoo!.call('release')).toBe('released');
      expect(await pending).toBe(true);
      await m.release();
    } finally {
      await c.close();
    }
  });

  it('a Mutex, an InterProcessMutex (sequence-ordering driver) and a Kazoo Lock (extra_lock_patterns lock-) never hold at once: 360 acquisitions', async () => {
    const ledger = newLedger();
    const ds = await startAll(['zkjobs', 'zkjobs', 'curator', 'curator', 'kazoo', 'kazoo'], ledger);
    for (const d of ds) {
      const opts = d.lib === 'curator' ? ' sorted' : d.lib === 'kazoo' ? ' lock-' : '';
      await d.call(`mutex /locks/three${opts}`);
    }
    await loop(ds, 60);
    const { violations, enters, maxHolders } = ledger.check(exclusive);
    expect(violations).toEqual([]);
    expect(enters).toBe(360);
    expect(maxHolders).toBe(1);
    expect(byLib(ledger)).toEqual(new Set(['zkjobs', 'curator', 'kazoo']));
    expect((await admin.getChildren('/locks/three')).children).toEqual([]);
  });

  it("a Mutex and Curator's InterProcessMutex as it comes (_c_<uuid>-lock- nodes) exclude each other: 160 acquisitions", async () => {
    const ledger = newLedger();
    const ds = await startAll(['zkjobs', 'zkjobs', 'curator', 'curator'], ledger);
    for (const d of ds) await d.call('mutex /locks/curator');
    await loop(ds, 40);
    const { violations, enters } = ledger.check(exclusive);
    expect(violations).toEqual([]);
    expect(enters).toBe(160);
    expect(byLib(ledger)).toEqual(new Set(['zkjobs', 'curator']));
  });

  it("a Mutex with prefix '__lock__' and Kazoo's Lock as it comes exclude each other: 160 acquisitions", async () => {
    const ledger = newLedger();
    const ds = await startAll(['zkjobs', 'zkjobs', 'kazoo', 'kazoo'], ledger);
    for (const d of ds) await d.call(d.lib === 'zkjobs' ? 'mutex /locks/kazoo prefix=__lock__' : 'mutex /locks/kazoo');
    await loop(ds, 40);
    const { violations, enters } = ledger.check(exclusive);
    expect(violations).toEqual([]);
    expect(enters).toBe(160);
    expect(byLib(ledger)).toEqual(new Set(['zkjobs', 'kazoo']));
  });
});

describe('ReadWriteLock beside Curator InterProcessReadWriteLock and Kazoo ReadLock/WriteLock', () => {
  const rwOk = (holders: Map<string, string>) => {
    const kinds = [...holders.values()];
    const writers = kinds.filter((k) => k === 'write').length;
    return writers === 0 || (writers === 1 && kinds.length === 1);
  };

  it("with Curator's names (__READ__, __WRIT__): no writer beside anyone, readers share: 150 acquisitions", async () => {
    const ledger = newLedger();
    const ds = await startAll(['zkjobs', 'zkjobs', 'zkjobs', 'curator', 'curator', 'curator'], ledger);
    const roles = ['read', 'write', 'read', 'read', 'write', 'read'];
    for (const [i, d] of ds.entries()) {
      const names = d.lib === 'zkjobs' ? ' readPrefix=__READ__ writePrefix=__WRIT__' : '';
      await d.call(`${roles[i]} /locks/rw-curator${names}`);
    }
    await loop(ds, 25);
    const { violations, enters } = ledger.check(rwOk);
    expect(violations).toEqual([]);
    expect(enters).toBe(150);
    const kinds = new Set(ledger.entries().map((e) => `${e.id.split('-')[0]} ${e.kind}`));
    expect(kinds).toEqual(new Set(['zkjobs read', 'zkjobs write', 'curator read', 'curator write']));
  });

  it("with Kazoo's names (__rlock__, __lock__): Kazoo WriteLocks beside zkjobs readers and writers, no writer beside anyone: 150 acquisitions", async () => {
    // Kazoo 2.8's ReadLock waits for write nodes made after its own, so a reader and a later
    // writer can wait for each other until one times out (python-zk/kazoo#649, fixed after 2.8):
    // its readers are checked alone, in the next test.
    const ledger = newLedger();
    const ds = await startAll(['zkjobs', 'zkjobs', 'zkjobs', 'zkjobs', 'kazoo', 'kazoo'], ledger);
    const roles = ['read', 'write', 'read', 'read', 'write', 'write'];
    for (const [i, d] of ds.entries()) {
      const names = d.lib === 'zkjobs' ? ' readPrefix=__rlock__ writePrefix=__lock__' : '';
      await d.call(`${roles[i]} /locks/rw-kazoo${names}`);
    }
    await loop(ds, 25);
    const { violations, enters } = ledger.check(rwOk);
    expect(violations).toEqual([]);
    expect(enters).toBe(150);
    const kinds = new Set(ledger.entries().map((e) => `${e.id.split('-')[0]} ${e.kind}`));
    expect(kinds).toEqual(new Set(['zkjobs read', 'zkjobs write', 'kazoo write']));
  });

  it('a Kazoo ReadLock waits for a zkjobs writer, shares with a zkjobs reader, and keeps a zkjobs writer out', async () => {
    const ledger = newLedger();
    const [kazoo] = await startAll(['kazoo'], ledger);
    const c = await ZkClient.connect(zkConnect, { namespace });
    try {
      const names = { readPrefix: '__rlock__', writePrefix: '__lock__' };
      const writer = new ReadWriteLock(c, '/locks/rw-kazoo-read', names).writeLock;
      const reader = new ReadWriteLock(c, '/locks/rw-kazoo-read', names).readLock;
      expect(await writer.acquire()).toBe(true);
      await kazoo!.call('read /locks/rw-kazoo-read');
      expect(await kazoo!.call('acquire 500')).toBe('timeout');
      await writer.release();
      expect(await kazoo!.call('acquire 5000')).toBe('held');
      expect(await reader.acquire({ timeoutMs: 5000 })).toBe(true);
      expect(await writer.acquire({ timeoutMs: 500 })).toBe(false);
      await reader.release();
      expect(await kazoo!.call('release')).toBe('released');
      expect(await writer.acquire({ timeoutMs: 5000 })).toBe(true);
      await writer.release();
    } finally {
      await c.close();
    }
  });
});

describe('Semaphore beside Curator InterProcessSemaphoreV2; refused by and refusing Kazoo Semaphore', () => {
  it('never more than 2 holders of a 2-lease semaphore among zkjobs and Curator contenders: 150 acquisitions', async () => {
    const ledger = newLedger();
    const ds = await startAll(['zkjobs', 'zkjobs', 'zkjobs', 'curator', 'curator', 'curator'], ledger);
    for (const d of ds) await d.call('semaphore /locks/sem 2');
    await loop(ds, 25);
    const { violations, enters } = ledger.check((h) => h.size <= 2);
    expect(violations).toEqual([]);
    expect(enters).toBe(150);
    expect(byLib(ledger)).toEqual(new Set(['zkjobs', 'curator']));
    // Two leases really are shared: one each, and a third contender of either library waits.
    const [z1, z2, , c1, c2] = ds;
    expect(await z1!.call('acquire 5000')).toBe('held');
    expect(await c1!.call('acquire 5000')).toBe('held');
    expect(await z2!.call('acquire 300')).toBe('timeout');
    expect(await c2!.call('acquire 300')).toBe('timeout');
    expect(await z1!.call('release')).toBe('released');
    expect(await c2!.call('acquire 5000')).toBe('held');
    expect(await c1!.call('release')).toBe('released');
    expect(await c2!.call('release')).toBe('released');
  });

  it("a Semaphore on a Kazoo Semaphore's path throws IncompatibleRecipeError; a Kazoo Semaphore on a Semaphore's path raises ValueError", async () => {
    const ledger = newLedger();
    const [k1, k2] = await startAll(['kazoo', 'kazoo'], ledger);
    await k1!.call('semaphore /locks/ksem 2');
    expect(await k1!.call('acquire')).toBe('held');
    const c = await ZkClient.connect(zkConnect, { namespace });
    try {
      const s = new Semaphore(c, '/locks/ksem', 2);
      const err = await s.acquire({ timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IncompatibleRecipeError);
      expect((err as Error).message).toMatch(/Kazoo Semaphore.*lease count 2/);
      expect(s.isAcquired()).toBe(false);
      expect((await admin.getChildren('/locks/ksem')).children).not.toContain('leases');

      // The other way round: the zkjobs semaphore's znode holds '0', which Kazoo refuses.
      const mine = new Semaphore(c, '/locks/zsem', 2);
      expect(await mine.acquire()).toBe(true);
      await k2!.call('semaphore /locks/zsem 2');
      k2!.send('acquire 2000');
      expect(await k2!.reply()).toMatch(/^error ValueError: Inconsistent max leases: 0, expected: 2/);
      await mine.release();
    } finally {
      await c.close();
    }
    expect(await k1!.call('release')).toBe('released');
  });
});
