import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Barrier, ZkClient } from '@zkjobs/core';
import { fileNamespace, recordWatches, waitFor, zkConnect } from '../support/zk.js';

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
    const recorders = [recordWatches(a), recordWatches(b)];
    const armed = () => recorders.flatMap((r) => r.armed).filter((w) => w.path === '/hold');
    try {
      let passed = 0;
      const waits = [new Barrier(b, '/hold'), new Barrier(b, '/hold'), new Barrier(a, '/hold')].map((w) =>
        w.wait({ timeoutMs: 10_000 }).then((r) => {
          passed++;
          return r;
        }),
      );
      // Every waiter has seen the barrier raised and sits on its watch: none has passed.
      await waitFor(() => armed().filter((w) => w.found).length === 3 || passed > 0, 10_000, 10, 'three waiters');
      expect(passed).toBe(0);
      await setter.remove();
      // All pass, each woken by its watch (the deletion); a waiter that never passed would
      // resolve false at its 10 s timeout (their re-check safety net is every 2 s).
      expect(await Promise.all(waits)).toEqual([true, true, true]);
      // Each watch saw the deletion, and each waiter then looked again and found the node gone.
      const seen = armed().filter((w) => w.found);
      expect(seen.map((w) => w.events)).toEqual(Array(3).fill([{ type: 'deleted', path: '/hold' }]));
      expect(armed().filter((w) => !w.found)).toHaveLength(3);
    } finally {
      for (const r of recorders) r.restore();
    }
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
    const recorder = recordWatches(b);
    try {
      let done = false;
      const w = new Barrier(b, '/spurious').wait({ timeoutMs: 10_000 }).then((r) => {
        done = true;
        return r;
      });
      await waitFor(() => recorder.armed.length === 1 || done, 5000, 10, 'the waiter to watch the barrier');
      await a.setData('/spurious', 'touched');
      // The change fires the watch; the waiter looks again, finds the node, and waits on.
      await waitFor(() => recorder.armed.length === 2 || done, 5000, 10, 'the waiter to re-check');
      expect(done).toBe(false);
      expect(recorder.armed.map((x) => [x.found, x.events])).toEqual([
        [true, [{ type: 'data-changed', path: '/spurious' }]],
        [true, []],
      ]);
      await barrier.remove();
      expect(await w).toBe(true);
    } finally {
      recorder.restore();
    }
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
