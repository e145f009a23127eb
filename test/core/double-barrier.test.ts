import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DoubleBarrier, ZkClient } from '@zkjobs/core';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

async function childrenOf(client: ZkClient, path: string): Promise<string[]> {
  const stat = await client.exists(path);
  return stat === null ? [] : (await client.getChildren(path)).children.sort();
}

describe('DoubleBarrier', () => {
  const clients: ZkClient[] = [];
  beforeAll(async () => {
    clients.push(...(await Promise.all([connect(), connect(), connect(), connect()])));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  const c = (i: number) => clients[i]!;

  it('nobody enters before all N arrive; all leave together; nothing is left behind; reusable', async () => {
    const path = '/full';
    for (let round = 0; round < 2; round++) {
      const members = [0, 1, 2].map((i) => new DoubleBarrier(c(i), path, 3, { memberId: `m${i}` }));
      const entered: number[] = [];
      const e0 = members[0]!.enter({ timeoutMs: 10_000 }).then((r) => (entered.push(0), r));
      const e1 = members[1]!.enter({ timeoutMs: 10_000 }).then((r) => (entered.push(1), r));
      // Both have arrived (their nodes exist) and wait; only a third arrival can make `ready`,
      // and the `ready` node below names all three, so nobody entered before.
      await waitFor(
        async () => (await childrenOf(c(3), path)).join() === 'm0,m1' || entered.length > 0,
        5000,
        10,
        'm0 and m1 to arrive',
      );
      expect(entered).toEqual([]);
      const e2 = members[2]!.enter({ timeoutMs: 10_000 });
      expect(await Promise.all([e0, e1, e2])).toEqual([true, true, true]);
      expect(await childrenOf(c(3), path)).toEqual(['m0', 'm1', 'm2', 'ready']);
      expect(JSON.parse((await c(3).getData(`${path}/ready`)).data.toString())).toEqual(['m0', 'm1', 'm2']);

      // Leave: the lowest (m0) waits for the others; so does m1 until m2 leaves.
      const left: string[] = [];
      const l0 = members[0]!.leave({ timeoutMs: 10_000 }).then((r) => (left.push('m0'), r));
      const l1 = members[1]!.leave({ timeoutMs: 10_000 }).then((r) => (left.push('m1'), r));
      // m1 has deleted its node and waits for m0; m0 waits for m2, the highest, which is still in.
      await waitFor(
        async () => (await childrenOf(c(3), path)).join() === 'm0,m2,ready' || left.length > 0,
        5000,
        10,
        'm1 to leave its node',
      );
      expect(left).toEqual([]);
      const l2 = members[2]!.leave({ timeoutMs: 10_000 });
      expect(await Promise.all([l0, l1, l2])).toEqual([true, true, true]);
      expect(await childrenOf(c(3), path)).toEqual([]);
    }
  });

  it('partial arrival: all early members return false and leave nothing; a late member does not pass alone', async () => {
    const path = '/partial';
    const early = [0, 1].map((i) => new DoubleBarrier(c(i), path, 3, { memberId: `early${i}` }));
    const t0 = Date.now();
    const results = await Promise.all(early.map((m, i) => m.enter({ timeoutMs: 800 + i * 300 })));
    expect(results).toEqual([false, false]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1050);
    expect(await childrenOf(c(3), path)).toEqual([]);

    const late = new DoubleBarrier(c(2), path, 3, { memberId: 'late' });
    expect(await late.enter({ timeoutMs: 700 })).toBe(false);
    expect(await childrenOf(c(3), path)).toEqual([]);
  });

  it('a member arriving while another times out: every member agrees (all true or all false)', async () => {
    // Member a times out at about the moment b arrives; whatever the interleaving, the barrier
    // must never be passed by some members while a counted member reports false.
    for (let i = 0; i < 6; i++) {
      const path = `/race-${i}`;
      const a = new DoubleBarrier(c(0), path, 2, { memberId: 'a' });
      const b = new DoubleBarrier(c(1), path, 2, { memberId: 'b' });
      const ea = a.enter({ timeoutMs: 300 });
      await sleep(260 + i * 15);
      const eb = b.enter({ timeoutMs: 600 });
      const [ra, rb] = await Promise.all([ea, eb]);
      expect(ra).toBe(rb);
      if (ra) await Promise.all([a.leave({ timeoutMs: 5000 }), b.leave({ timeoutMs: 5000 })]);
      expect(await childrenOf(c(3), path)).toEqual([]);
    }
  });

  it('an aborted enter removes the member node and rejects with the reason', async () => {
    const path = '/abort';
    const ac = new AbortController();
    const m = new DoubleBarrier(c(0), path, 2, { memberId: 'x' });
    const e = m.enter({ signal: ac.signal });
    await waitFor(async () => (await childrenOf(c(3), path)).join() === 'x', 5000, 10, 'the member node');
    ac.abort(new Error('cancelled'));
    await expect(e).rejects.toThrow('cancelled');
    expect(await childrenOf(c(3), path)).toEqual([]);
  });

  it('leave times out with false when a member never leaves, removing its own node', async () => {
    const path = '/stuck';
    const a = new DoubleBarrier(c(0), path, 2, { memberId: 'a' });
    const b = new DoubleBarrier(c(1), path, 2, { memberId: 'b' });
    expect(await Promise.all([a.enter({ timeoutMs: 5000 }), b.enter({ timeoutMs: 5000 })])).toEqual([true, true]);
    expect(await a.leave({ timeoutMs: 500 })).toBe(false);
    expect(await childrenOf(c(3), path)).toEqual(['b', 'ready']);
    expect(await b.leave({ timeoutMs: 2000 })).toBe(true);
    expect(await childrenOf(c(3), path)).toEqual([]);
  });

  it('a member of a closed session does not count', async () => {
    const path = '/closed';
    const extra = await connect();
    const gone = new DoubleBarrier(extra, path, 2, { memberId: 'gone' });
    const pending = gone.enter({ timeoutMs: 3000 }).catch((e: unknown) => e);
    await waitFor(async () => (await childrenOf(c(3), path)).join() === 'gone', 5000, 10, 'the member node');
    await extra.close();
    await pending;
    const alone = new DoubleBarrier(c(0), path, 2, { memberId: 'alone' });
    expect(await alone.enter({ timeoutMs: 600 })).toBe(false);
    expect(await childrenOf(c(3), path)).toEqual([]);
  });
});
