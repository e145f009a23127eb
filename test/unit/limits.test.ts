// The leader's limit arithmetic and assignment plan, pure (no server).
import { describe, expect, it } from 'vitest';
import { plan, type PlanWorker } from '../../packages/worker/src/scheduler/assign.js';
import { Heap } from '../../packages/worker/src/scheduler/heap.js';
import { freeSlots, nextFree } from '../../packages/worker/src/scheduler/limits.js';
import { before, type Marker, type ReadyEntry } from '../../packages/worker/src/scheduler/ready-queue.js';

function readyOf(types: Record<string, number>): Map<string, Heap<ReadyEntry>> {
  const marker: Marker = {
    path: '/pending/00/m-0000000001',
    version: 0,
    czxid: 1n,
    ctime: 0,
    entries: [],
    order: 0,
    taken: new Set(),
    done: new Set(),
  };
  const ready = new Map<string, Heap<ReadyEntry>>();
  let index = 0;
  for (const [type, n] of Object.entries(types)) {
    const h = new Heap<ReadyEntry>(before);
    for (let i = 0; i < n; i++) {
      const entry = { id: `${type}-${i}`, type, priority: 0, attemptsMade: 0, delay: 0 };
      marker.entries.push(entry);
      h.push({ marker, index: index++, entry });
    }
    ready.set(type, h);
  }
  return ready;
}

describe('freeSlots', () => {
  it('concurrency: the limit less the jobs in flight, started or not', () => {
    expect(freeSlots({ concurrency: 2 }, [], [], 10_000, 0)).toBe(2);
    expect(freeSlots({ concurrency: 2 }, [{}], [], 10_000, 0)).toBe(1);
    expect(freeSlots({ concurrency: 2 }, [{ startedAt: 1 }, {}, {}], [], 10_000, 0)).toBe(0);
  });

  it('rate: unstarted jobs in flight, and starts within the window, take slots; older starts do not', () => {
    const l = { max: 3, duration: 1000 };
    const now = 10_000;
    expect(freeSlots(l, [], [], now, 0)).toBe(3);
    expect(freeSlots(l, [{}], [], now, 0)).toBe(2); // may start at any moment
    expect(freeSlots(l, [{ startedAt: now - 999 }], [now - 500], now, 0)).toBe(1);
    expect(freeSlots(l, [{ startedAt: now - 1000 }], [now - 1000, now - 5000], now, 0)).toBe(3);
    expect(freeSlots(l, [{}, {}, {}, {}], [], now, 0)).toBe(0);
  });

  it('rate: none for one window after a takeover; both limits: the smaller', () => {
    expect(freeSlots({ max: 5, duration: 1000 }, [], [], 10_500, 10_000)).toBe(0);
    expect(freeSlots({ max: 5, duration: 1000 }, [], [], 11_000, 10_000)).toBe(5);
    expect(freeSlots({ max: 5, duration: 1000, concurrency: 2 }, [{ startedAt: 1 }], [], 20_000, 0)).toBe(1);
  });

  it('nextFree: when the oldest start in the window leaves it', () => {
    const l = { max: 2, duration: 1000 };
    expect(nextFree(l, [{ startedAt: 9_500 }], [9_200], 10_000, 0)).toBe(10_200);
    expect(nextFree(l, [{}], [], 10_000, 0)).toBeUndefined();
    expect(nextFree(l, [], [], 10_200, 10_000)).toBe(11_000);
    expect(nextFree({ concurrency: 1 }, [{}], [], 10_000, 0)).toBeUndefined();
  });
});

describe('plan with limits', () => {
  const workers = (): PlanWorker[] => [
    { name: 'w-1', types: ['a', 'b'], prefetch: 32, assigned: 0 },
    { name: 'w-2', types: ['a', 'b'], prefetch: 32, assigned: 0 },
  ];

  it('a limited type gets at most its free slots, one job per assignment; other types are not held back', () => {
    const p = plan(workers(), readyOf({ a: 10, b: 10 }), undefined, new Map([['a', 3]]));
    const chunks = [...p.assignments.values()].flat();
    const aChunks = chunks.filter((c) => c.some((r) => r.entry.type === 'a'));
    expect(aChunks).toHaveLength(3);
    expect(aChunks.every((c) => c.length === 1 && p.limited.has(c))).toBe(true);
    const bJobs = chunks.filter((c) => !p.limited.has(c)).flat();
    expect(bJobs).toHaveLength(10);
    expect(bJobs.every((r) => r.entry.type === 'b')).toBe(true);
  });

  it('no free slot: nothing of the type is assigned (it stays ready)', () => {
    const ready = readyOf({ a: 4 });
    const p = plan(workers(), ready, undefined, new Map([['a', 0]]));
    expect(p.assignments.size).toBe(0);
    expect(ready.get('a')!.size).toBe(4);
  });
});
