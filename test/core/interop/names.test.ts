// The node names of Curator and Kazoo that each recipe counts, on hand-made persistent nodes
// (owned by no session), so every form is checked one by one without the other libraries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CURATOR_NODE_NAMES,
  IncompatibleRecipeError,
  KAZOO_NODE_NAMES,
  LeaderLatch,
  Mutex,
  ReadWriteLock,
  Semaphore,
  ZkClient,
} from '@zkjobs/core';
import { fileNamespace, zkConnect } from '../../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const UUID = '0b0e8f7a-6c1d-4f7e-9b8a-2b6e5e4d3c2b';
const HEX = '3f8672ba42014c2583cd8861a8eeb3b9';
let admin: ZkClient;
let c: ZkClient;
let n = 0;

beforeAll(async () => {
  admin = await ZkClient.connect(zkConnect, { namespace });
  c = await ZkClient.connect(zkConnect, { namespace });
});

afterAll(async () => {
  await c?.close();
  await admin?.close();
});

/** A fresh path holding one hand-made child `name`. */
async function pathWith(name: string): Promise<string> {
  const path = `/p${++n}`;
  await admin.mkdirp(path);
  await admin.create(`${path}/${name}`);
  return path;
}

describe('names of other libraries', () => {
  it('a Mutex waits for every lock node form of Curator, Kazoo and zkjobs, and for its extra patterns', async () => {
    const blocking = [
      `_c_${UUID}-lock-0000000000`,
      `${HEX}__lock__0000000000`,
      `${HEX}__rlock__0000000000`,
      `_c_${UUID}-__READ__0000000000`,
      `_c_${UUID}-__WRIT__0000000000`,
      'read-0000000000',
      'write-0000000000',
    ];
    for (const name of blocking) {
      const m = new Mutex(c, await pathWith(name));
      expect(await m.acquire({ timeoutMs: 0 }), name).toBe(false);
    }
    const custom = await pathWith('job-7-0000000000');
    expect(await new Mutex(c, custom).acquire({ timeoutMs: 0 })).toBe(true);
    expect(await new Mutex(c, custom, { extraPatterns: ['job-7-'] }).acquire({ timeoutMs: 0 })).toBe(false);
    // Not contenders: no sequence suffix, another name.
    for (const name of [`${HEX}__lock__`, 'lock-abc', 'readme', 'latch-0000000000']) {
      const m = new Mutex(c, await pathWith(name));
      expect(await m.acquire({ timeoutMs: 0 }), name).toBe(true);
      await m.release();
    }
  });

  it('a reader waits for exclusive nodes only; a writer waits for readers too', async () => {
    for (const name of [`_c_${UUID}-__READ__0000000000`, `${HEX}__rlock__0000000000`, 'read-0000000000']) {
      const path = await pathWith(name);
      const rw = new ReadWriteLock(c, path, {
        readPrefix: CURATOR_NODE_NAMES.read,
        writePrefix: CURATOR_NODE_NAMES.write,
      });
      expect(await rw.readLock.acquire({ timeoutMs: 0 }), name).toBe(true);
      await rw.readLock.release();
      expect(await rw.writeLock.acquire({ timeoutMs: 0 }), name).toBe(false);
    }
    for (const name of [`_c_${UUID}-__WRIT__0000000000`, `${HEX}__lock__0000000000`, `_c_${UUID}-lock-0000000000`]) {
      const rw = new ReadWriteLock(c, await pathWith(name), {
        readPrefix: KAZOO_NODE_NAMES.read,
        writePrefix: KAZOO_NODE_NAMES.write,
      });
      expect(await rw.readLock.acquire({ timeoutMs: 0 }), name).toBe(false);
    }
    const path = await pathWith('ext-0000000000');
    expect(await new ReadWriteLock(c, path, { extraPatterns: ['ext-'] }).readLock.acquire({ timeoutMs: 0 })).toBe(
      false,
    );
    expect(() => new ReadWriteLock(c, '/x', { readPrefix: 'same-', writePrefix: 'same-' })).toThrow(/must differ/);
  });

  it("a LeaderLatch counts Curator's latch and selector nodes and Kazoo's election nodes, ordered by sequence", async () => {
    for (const name of [`_c_${UUID}-latch-0000000000`, `_c_${UUID}-lock-0000000000`, `${HEX}__lock__0000000000`]) {
      const path = await pathWith(name);
      const latch = new LeaderLatch(c, path, { prefix: 'w-' });
      const watching = new Promise<string>((r) => latch.once('watching', r));
      await latch.start();
      expect(await watching, name).toBe(`${path}/${name}`);
      expect(latch.hasLeadership()).toBe(false);
      expect((await latch.getLeader())?.path).toBe(`${path}/${name}`);
      await admin.delete(`${path}/${name}`);
      expect(await latch.awaitLeadership({ timeoutMs: 10_000 })).toBe(true);
      await latch.close();
    }
    expect(() => new LeaderLatch(c, '/x', { extraPatterns: [''] })).toThrow(RangeError);
  });

  it("a Semaphore refuses each mark of a Kazoo Semaphore, and counts Curator's lease nodes", async () => {
    const marks: [string, () => Promise<void>][] = [
      ['lease count', () => admin.create('/k1', { data: '3' }).then(() => undefined)],
      ['lease node', () => admin.mkdirp(`/k2/${HEX}`)],
      ['lock', () => admin.mkdirp('/k3-__lock__')],
    ];
    for (const [i, [what, make]] of marks.entries()) {
      await make();
      const err = await new Semaphore(c, `/k${i + 1}`, 1).acquire({ timeoutMs: 1000 }).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(IncompatibleRecipeError);
      expect((err as IncompatibleRecipeError).foreign).toBe('Kazoo Semaphore');
    }
    await admin.mkdirp('/s/leases');
    await admin.create(`/s/leases/_c_${UUID}-lease-0000000000`);
    const s = new Semaphore(c, '/s', 1);
    expect(await s.acquire({ timeoutMs: 300 })).toBe(false);
    expect((await admin.getData('/s')).data.toString()).toBe('');
    await admin.mkdirp('/e/leases');
    await admin.create('/e/leases/slot-0000000000');
    const plain = new Semaphore(c, '/e', 1);
    expect(await plain.acquire({ timeoutMs: 0 })).toBe(true);
    await plain.release();
    expect(await new Semaphore(c, '/e', 1, { extraPatterns: ['slot-'] }).acquire({ timeoutMs: 300 })).toBe(false);
    const fresh = new Semaphore(c, '/fresh', 1);
    expect(await fresh.acquire()).toBe(true);
    expect((await admin.getData('/fresh')).data.toString()).toBe('0');
    await fresh.release();
  });
});
