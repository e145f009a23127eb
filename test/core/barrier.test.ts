import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Barrier, ZkClient } from '@zkjobs/core';
import { fileNamespace, sleep, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

describe('Barrier', () => {
  let a: ZkClient;
  let b: ZkClient;
  beforeAll(async () => {
    [a, b] = await Promise.all([connect(), connect()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('set and remove report whether they changed anything, and create parents', async () => {
    const barrier = new Barrier(a, '/deep/er/set-remove');
    expect(await barrier.isSet()).toBe(false);
    expect(await barrier.set()).toBe(true);
    expect(await barrier.set()).toBe(false);
    expect(await barrier.isSet()).toBe(true);
    expect(await a.exists('/deep/er/set-remove')).not.toBeNull();
    expect(await barrier.remove()).toBe(true);
    expect(await barrier.remove()).toBe(false);
  });

  it('wait passes at once when the barrier is not set', async () => {
    expect(await new Barrier(a, '/never-set').wait({ timeoutMs: 100 })).toBe(true);
  });

  it('waiters on other clients are held until the barrier is removed, then all pass', async () => {
    const setter = new Barrier(a, '/hold');
    await setter.set();
    let passed = 0;
    const waits = [new Barrier(b, '/hold'), new Barrier(b, '/hold'), new Barrier(a, '/hold')].map((w) =>
      w.wait({ timeoutMs: 10_000 }).then((r) => {
        passed++;
        return r;
      }),
    );
    await sleep(600);
    expect(passed).toBe(0);
    const removedAt = Date.now();
    await setter.remove();
    expect(await Promise.all(waits)).toEqual([true, true, true]);
    expect(Date.now() - removedAt).toBeLessThan(1000);
  });

  it('wait times out with false while the barrier stays set', async () => {
    const barrier = new Barrier(a, '/stays');
    await barrier.set();
    const t0 = Date.now();
    expect(await new Barrier(b, '/stays').wait({ timeoutMs: 500 })).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(480);
    await barrier.remove();
  });

  it('a data change on the barrier node wakes the waiter but does not pass it (re-check)', async () => {
    const barrier = new Barrier(a, '/spurious');
    await barrier.set();
    let done = false;
    const w = new Barrier(b, '/spurious').wait({ timeoutMs: 5000 }).then((r) => {
      done = true;
      return r;
    });
    await sleep(200);
    await a.setData('/spurious', 'touched');
    await sleep(400);
    expect(done).toBe(false);
    await barrier.remove();
    expect(await w).toBe(true);
  });

  it('an aborted wait rejects with the signal reason', async () => {
    const barrier = new Barrier(a, '/abort');
    await barrier.set();
    const ac = new AbortController();
    const w = new Barrier(b, '/abort').wait({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop waiting')), 200);
    await expect(w).rejects.toThrow('stop waiting');
    await barrier.remove();
  });
});
