// The scheduler's binary heap and the ready order `before` (priority, then submission: marker
// czxid, order within its multi, path, position).
import { describe, expect, it } from 'vitest';
import { Heap } from '../../packages/worker/src/scheduler/heap.js';
import { before, type ReadyEntry } from '../../packages/worker/src/scheduler/ready-queue.js';
import { entry, marker } from './support.js';

describe('Heap', () => {
  it('pops in lt order, whatever the push order', () => {
    let seed = 3;
    const xs = Array.from({ length: 500 }, () => (seed = (seed * 48_271) % 2_147_483_647) % 1000);
    const h = new Heap<number>((a, b) => a < b);
    for (const x of xs) h.push(x);
    expect(h.size).toBe(xs.length);
    const out: number[] = [];
    while (h.size > 0) {
      const top = h.peek();
      const popped = h.pop()!;
      expect(popped).toBe(top);
      out.push(popped);
    }
    expect(out).toEqual([...xs].sort((a, b) => a - b));
  });

  it('peek leaves the item; pop and peek of an empty heap are undefined; clear empties it', () => {
    const h = new Heap<string>((a, b) => a > b); // a max-heap
    expect(h.peek()).toBeUndefined();
    expect(h.pop()).toBeUndefined();
    h.push('b');
    h.push('c');
    h.push('a');
    expect(h.peek()).toBe('c');
    expect(h.size).toBe(3);
    expect(h.pop()).toBe('c');
    expect(h.pop()).toBe('b');
    h.push('z');
    expect(h.pop()).toBe('z');
    h.push('q');
    h.clear();
    expect(h.size).toBe(0);
    expect(h.pop()).toBeUndefined();
  });

  it('keeps equal items', () => {
    const h = new Heap<number>((a, b) => a < b);
    for (const x of [2, 1, 2, 1, 2]) h.push(x);
    expect([h.pop(), h.pop(), h.pop(), h.pop(), h.pop(), h.pop()]).toEqual([1, 1, 2, 2, 2, undefined]);
  });
});

describe('before', () => {
  const m = (path: string, czxid: bigint, order = 0) => marker(path, [], { czxid, order });
  const r = (mk: ReturnType<typeof m>, index: number, priority = 0): ReadyEntry => ({
    marker: mk,
    index,
    entry: entry(`${mk.path}#${index}`, { priority }),
  });

  it('lower priority first, whatever the submission order', () => {
    const early = m('/pending/00/m-1', 1n);
    const late = m('/pending/00/m-2', 9n);
    expect(before(r(late, 5, 0), r(early, 0, 1))).toBe(true);
    expect(before(r(early, 0, 1), r(late, 5, 0))).toBe(false);
  });

  it('then the marker czxid (submission order)', () => {
    // Paths and positions point the other way: czxid decides.
    const a = m('/pending/3f/m-9', 10n);
    const b = m('/pending/00/m-1', 11n);
    expect(before(r(a, 9), r(b, 0))).toBe(true);
    expect(before(r(b, 0), r(a, 9))).toBe(false);
  });

  it('then, for markers of one multi (same czxid), their order in it', () => {
    const first = m('/pending/3f/m-9', 10n, 0);
    const second = m('/pending/00/m-1', 10n, 1);
    expect(before(r(first, 49), r(second, 0))).toBe(true);
    expect(before(r(second, 0), r(first, 49))).toBe(false);
  });

  it('then the path, for distinct markers with the same czxid and order', () => {
    const a = m('/pending/00/m-5', 10n);
    const b = m('/pending/01/m-4', 10n);
    expect(before(r(a, 3), r(b, 0))).toBe(true);
    expect(before(r(b, 0), r(a, 3))).toBe(false);
  });

  it('then the position in the marker', () => {
    const a = m('/pending/00/m-5', 10n);
    expect(before(r(a, 0), r(a, 1))).toBe(true);
    expect(before(r(a, 1), r(a, 0))).toBe(false);
    expect(before(r(a, 1), r(a, 1))).toBe(false);
  });

  it('orders a heap of a mixed backlog as the scheduler takes it', () => {
    const bulk0 = m('/pending/07/m-3', 20n, 0);
    const bulk1 = m('/pending/02/m-4', 20n, 1);
    const single = m('/pending/01/m-1', 5n);
    const urgent = m('/pending/09/m-8', 30n);
    const entries = [r(bulk1, 1), r(urgent, 0, -1), r(bulk0, 1), r(single, 0), r(bulk1, 0), r(bulk0, 0)];
    const h = new Heap<ReadyEntry>(before);
    for (const e of entries) h.push(e);
    const out: string[] = [];
    for (let e = h.pop(); e; e = h.pop()) out.push(e.entry.id);
    expect(out).toEqual([
      '/pending/09/m-8#0',
      '/pending/01/m-1#0',
      '/pending/07/m-3#0',
      '/pending/07/m-3#1',
      '/pending/02/m-4#0',
      '/pending/02/m-4#1',
    ]);
  });
});
