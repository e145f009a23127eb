import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedValue, ZkClient } from '@zkjobs/core';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const namespace = fileNamespace(import.meta.filename);
const connect = () => ZkClient.connect(zkConnect, { namespace, sessionTimeoutMs: 2000 });

describe('SharedValue', () => {
  const clients: ZkClient[] = [];
  beforeAll(async () => {
    clients.push(...(await Promise.all([connect(), connect(), connect()])));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  const c = (i: number) => clients[i]!;

  it('is seeded once, and every holder sees a change', async () => {
    const a = new SharedValue(c(0), '/config/limit', { seed: '100' });
    const b = new SharedValue(c(1), '/config/limit', { seed: 'ignored: already seeded' });
    await a.start();
    await b.start();
    expect(a.getValue().toString()).toBe('100');
    expect(b.getVersionedValue()).toEqual({ value: Buffer.from('100'), version: 0 });
    const seen: string[] = [];
    b.on('change', (v) => seen.push(`${v.value.toString()}@${v.version}`));
    expect(await a.setValue('200')).toBe(1);
    await waitFor(() => b.getValue().toString() === '200', 5000, 10, 'b sees 200');
    await a.setValue('300');
    await waitFor(() => b.getValue().toString() === '300', 5000, 10, 'b sees 300');
    expect(seen).toEqual(['200@1', '300@2']);
    await a.close();
    await b.close();
  });

  it('trySetValue is a compare-and-set on the version', async () => {
    const a = new SharedValue(c(0), '/cas', { seed: 'x' });
    await a.start();
    const { version } = a.getVersionedValue();
    expect(await a.trySetValue('y', version)).toBe(true);
    expect(await a.trySetValue('z', version)).toBe(false); // stale version
    expect((await c(2).getData('/cas')).data.toString()).toBe('y');
    await a.close();
  });

  it('concurrent CAS increments from three clients lose no update', async () => {
    const values = [0, 1, 2].map((i) => new SharedValue(c(i), '/counter', { seed: '0' }));
    for (const v of values) await v.start();
    // The version each compare-and-set expected, by outcome.
    const won: number[] = [];
    const lost: number[] = [];
    await Promise.all(
      values.map(async (v) => {
        for (let n = 0; n < 15; n++) {
          for (;;) {
            const { data, stat } = await v.client.getData(v.path);
            if (await v.trySetValue(String(Number(data.toString()) + 1), stat.version)) {
              won.push(stat.version);
              break;
            }
            lost.push(stat.version);
          }
        }
      }),
    );
    const final = await c(0).getData('/counter');
    expect(final.data.toString()).toBe('45');
    // No lost update: every version from the seed's 0 to 44 was won exactly once, so the 45
    // writes are 45 successive versions.
    expect(final.stat.version).toBe(45);
    expect([...won].sort((x, y) => x - y)).toEqual(Array.from({ length: 45 }, (_, i) => i));
    // A refused compare-and-set is a real conflict: another client won the version it expected.
    expect(lost.filter((version) => !won.includes(version))).toEqual([]);
    // Every cached copy must converge: a data-watch notification lost under write load would
    // leave one stuck on an old value for good.
    for (const [i, v] of values.entries()) {
      await waitFor(
        () => v.getValue().toString() === '45',
        5000,
        10,
        `holder ${i} sees 45 (has ${v.getValue().toString()})`,
      );
    }
    for (const v of values) await v.close();
  });

  it('reports the seed with version -1 while the node is deleted, and the new value when re-created', async () => {
    const a = new SharedValue(c(0), '/deleted', { seed: 'seed' });
    await a.start();
    await a.setValue('live');
    await waitFor(() => a.getValue().toString() === 'live');
    await c(1).delete('/deleted');
    await waitFor(() => a.getVersionedValue().version === -1, 5000, 10, 'deletion seen');
    expect(a.getValue().toString()).toBe('seed');
    expect(await a.trySetValue('back', -1)).toBe(true);
    await waitFor(() => a.getValue().toString() === 'back', 5000, 10, 're-creation seen');
    await a.close();
    await expect(a.start()).rejects.toThrow(/already closed/);
  });
});
