// The assignment plan of a scheduling round (scheduler/assign.ts), on hand-made workers and
// ready heaps: ready order across types, who gets what, chunking, capacity, gangs and the op budget.
import { describe, expect, it } from 'vitest';
import { MAX_OPS, chunkSize, plan, type Plan, type PlanWorker } from '../../packages/worker/src/scheduler/assign.js';
import { Heap } from '../../packages/worker/src/scheduler/heap.js';
import { before, type ReadyEntry } from '../../packages/worker/src/scheduler/ready-queue.js';
import type { PendingEntry } from '../../packages/worker/src/layout.js';
import { entry, marker, readyOf } from './support.js';

function worker(name: string, o: Partial<PlanWorker> = {}): PlanWorker {
  return { name, types: ['email'], prefetch: 8, assigned: 0, ...o };
}

/** The ready heaps (one per type) of these ready entries. */
function heaps(entries: ReadyEntry[]): Map<string, Heap<ReadyEntry>> {
  const m = new Map<string, Heap<ReadyEntry>>();
  for (const r of entries) {
    let h = m.get(r.entry.type);
    if (!h) m.set(r.entry.type, (h = new Heap<ReadyEntry>(before)));
    h.push(r);
  }
  return m;
}

/** Ready entries, one marker each (czxid in the given order): as many single `add`s make. */
function singles(entries: PendingEntry[]): ReadyEntry[] {
  return entries.flatMap((e, i) =>
    readyOf(marker(`/pending/00/m-${String(i).padStart(10, '0')}`, [e], { czxid: BigInt(100 + i) })),
  );
}

/** Ready entries of one marker (as one `addBulk` of ≤ 50 makes). */
function bulk(entries: PendingEntry[], path = '/pending/00/m-0000000001'): ReadyEntry[] {
  return readyOf(marker(path, entries));
}

const ids = (chunks: ReadyEntry[][] | undefined) => (chunks ?? []).map((c) => c.map((r) => r.entry.id));
const flatIds = (chunks: ReadyEntry[][] | undefined) => ids(chunks).flat();
const byName = (p: Plan, name: string) => [...p.assignments].find(([w]) => w.name === name)?.[1];
const remaining = (ready: Map<string, Heap<ReadyEntry>>) => [...ready.values()].reduce((n, h) => n + h.size, 0);

/** The ops of the assign multi this plan makes: fence, an assignment per chunk, a rewrite per marker, 2 per gang. */
function opsOf(p: Plan): number {
  let chunks = 0;
  for (const c of p.assignments.values()) chunks += c.length;
  return 2 + chunks + p.touched.size + 2 * p.gangs.length;
}

describe('chunkSize', () => {
  it('is a quarter of the prefetch, at least 1, rounded up', () => {
    expect(chunkSize({ prefetch: 1 })).toBe(1);
    expect(chunkSize({ prefetch: 4 })).toBe(1);
    expect(chunkSize({ prefetch: 8 })).toBe(2);
    expect(chunkSize({ prefetch: 10 })).toBe(3);
    expect(chunkSize({ prefetch: 0 })).toBe(1);
  });
});

describe('plan', () => {
  it('plans nothing without workers, entries or room', () => {
    const ready = heaps(bulk([entry('a')]));
    expect(plan([], ready).assignments.size).toBe(0);
    expect(plan([worker('w-1')], new Map()).assignments.size).toBe(0);
    const full = plan([worker('w-1', { prefetch: 2, assigned: 2 })], ready);
    expect(full.assignments.size).toBe(0);
    expect(full.touched.size).toBe(0);
    expect(remaining(ready)).toBe(1);
  });

  it('takes entries in ready order across types: priority, then submission', () => {
    const w = worker('w-1', { types: ['a', 'b'], prefetch: 1000 });
    const ready = heaps(
      singles([
        entry('a1', { type: 'a', priority: 5 }),
        entry('b1', { type: 'b', priority: 5 }),
        entry('a2', { type: 'a', priority: 1 }),
        entry('b2', { type: 'b', priority: 0 }),
        entry('a3', { type: 'a', priority: 5 }),
      ]),
    );
    const p = plan([w], ready);
    expect(flatIds(p.assignments.get(w))).toEqual(['b2', 'a2', 'a1', 'b1', 'a3']);
    expect(p.touched.size).toBe(5);
    expect(remaining(ready)).toBe(0);
  });

  it('only takes the types that a worker with room handles; the others stay ready', () => {
    const full = worker('w-1', { types: ['x'], prefetch: 4, assigned: 4 });
    const free = worker('w-2', { types: ['y'], prefetch: 4 });
    const ready = heaps(
      singles([
        entry('x1', { type: 'x', priority: 0 }),
        entry('z1', { type: 'z', priority: 0 }),
        entry('y1', { type: 'y', priority: 9 }),
        entry('y2', { type: 'y', priority: 9 }),
      ]),
    );
    const p = plan([full, free], ready);
    expect([...p.assignments.keys()]).toEqual([free]);
    expect(flatIds(p.assignments.get(free))).toEqual(['y1', 'y2']);
    expect(p.held).toEqual([]);
    expect(ready.get('x')!.peek()!.entry.id).toBe('x1');
    expect(ready.get('z')!.peek()!.entry.id).toBe('z1');
    expect(ready.get('y')!.size).toBe(0);
  });

  it('gives each entry to the handling worker with the most room (the first on a tie)', () => {
    const w1 = worker('w-1', { prefetch: 4, assigned: 0 }); // room 4
    const w2 = worker('w-2', { prefetch: 4, assigned: 2 }); // room 2
    const w3 = worker('w-3', { types: ['other'], prefetch: 100 }); // most room, wrong type
    const p = plan([w1, w2, w3], heaps(singles(['a', 'b', 'c', 'd', 'e'].map((id) => entry(id)))));
    // Room before each: a w1 4/2, b w1 3/2, c w1 2/2 (tie: first), d w2 1/2, e w1 1/1.
    expect(flatIds(byName(p, 'w-1'))).toEqual(['a', 'b', 'c', 'e']);
    expect(flatIds(byName(p, 'w-2'))).toEqual(['d']);
    expect(byName(p, 'w-3')).toBeUndefined();
  });

  it('prefers the named worker (the leader itself) on a tie, never over one with more room', () => {
    const w1 = worker('w-1', { prefetch: 4, assigned: 0 });
    const w2 = worker('w-2', { prefetch: 4, assigned: 0 });
    const w3 = worker('w-3', { prefetch: 4, assigned: 0 });
    // An idle cluster: the single job goes to the preferred worker, not the first.
    expect(
      flatIds(byName(plan([w1, w2, w3], heaps(singles([entry('a')])), undefined, undefined, 'w-2'), 'w-2')),
    ).toEqual(['a']);
    // Room before each: a w2 4/4/4 (tie: preferred), b w1 4/3/4, c w3 3/3/4, d w2 3/3/3 (tie: preferred).
    const p = plan(
      [w1, w2, w3],
      heaps(singles(['a', 'b', 'c', 'd'].map((id) => entry(id)))),
      undefined,
      undefined,
      'w-2',
    );
    expect(flatIds(byName(p, 'w-1'))).toEqual(['b']);
    expect(flatIds(byName(p, 'w-2'))).toEqual(['a', 'd']);
    expect(flatIds(byName(p, 'w-3'))).toEqual(['c']);
    // A preferred worker with less room gets nothing while another has more.
    const busy = worker('w-2', { prefetch: 4, assigned: 3 });
    expect(byName(plan([w1, busy], heaps(singles([entry('a')])), undefined, undefined, 'w-2'), 'w-2')).toBeUndefined();
  });

  it('makes assignments of at most prefetch/4 jobs each', () => {
    const w = worker('w-1', { prefetch: 8 }); // chunks of 2
    const p = plan([w], heaps(bulk(['a', 'b', 'c', 'd', 'e'].map((id) => entry(id)))));
    expect(ids(p.assignments.get(w))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('never assigns a worker more than its prefetch; the rest stays ready, in order', () => {
    const w = worker('w-1', { prefetch: 4, assigned: 1 });
    const ready = heaps(bulk(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => entry(id))));
    const p = plan([w], ready);
    expect(flatIds(p.assignments.get(w))).toEqual(['a', 'b', 'c']);
    expect(p.held).toEqual([]);
    expect(remaining(ready)).toBe(3);
    expect(ready.get('email')!.peek()!.entry.id).toBe('d');
  });

  it('marks the planned entries taken in their markers, and touches each marker once', () => {
    const m1 = bulk([entry('a'), entry('b')], '/pending/00/m-0000000001');
    const m2 = bulk([entry('c')], '/pending/01/m-0000000002');
    const w = worker('w-1', { prefetch: 3, assigned: 0 });
    const p = plan([w], heaps([...m1, ...m2]));
    expect([...p.touched].map((m) => m.path).sort()).toEqual(['/pending/00/m-0000000001', '/pending/01/m-0000000002']);
    expect([...m1[0]!.marker.taken]).toEqual(['a', 'b']);
    expect([...m2[0]!.marker.taken]).toEqual(['c']);
  });

  it('runs a gang on parallelism distinct workers at once, one task each', () => {
    const ws = [worker('w-1', { prefetch: 4 }), worker('w-2', { prefetch: 8 }), worker('w-3', { prefetch: 2 })];
    const g = bulk([entry('g', { parallelism: 2, priority: 1 })]);
    const p = plan(ws, heaps(g));
    expect(p.gangs.map((r) => r.entry.id)).toEqual(['g']);
    expect(p.held).toEqual([]);
    // The two workers with the most room, task 0 on the roomiest.
    expect(ids(byName(p, 'w-2'))).toEqual([['g~0']]);
    expect(ids(byName(p, 'w-1'))).toEqual([['g~1']]);
    expect(byName(p, 'w-3')).toBeUndefined();
    const task = byName(p, 'w-2')![0]![0]!;
    expect(task.entry).toEqual({ ...g[0]!.entry, id: 'g~0', parallelism: 1 });
    expect(task.marker).toBe(g[0]!.marker);
    expect([...g[0]!.marker.taken]).toEqual(['g']);
  });

  it('holds a gang back when fewer workers with room handle its type, and goes on with the rest', () => {
    const ws = [
      worker('w-1', { prefetch: 4 }),
      worker('w-2', { prefetch: 4, assigned: 4 }),
      worker('w-3', { prefetch: 4, types: ['other'] }),
    ];
    const ready = heaps(singles([entry('g', { parallelism: 2 }), entry('a', { priority: 1 })]));
    const p = plan(ws, ready);
    expect(p.held.map((r) => r.entry.id)).toEqual(['g']);
    expect(p.gangs).toEqual([]);
    expect(p.held[0]!.marker.taken.size).toBe(0);
    expect(flatIds(byName(p, 'w-1'))).toEqual(['a']);
  });

  it('stops before the multi would pass maxOps', () => {
    const w = worker('w-1', { prefetch: 10_000 });
    const n = 50;
    const ready = heaps(singles(Array.from({ length: n }, (_, i) => entry(`e${i}`))));
    const p = plan([w], ready, 20);
    const planned = flatIds(p.assignments.get(w));
    expect(planned.length).toBeGreaterThan(0);
    expect(planned.length).toBeLessThan(n);
    expect(opsOf(p)).toBeLessThanOrEqual(20);
    // What was planned is the front of the ready order.
    expect(planned).toEqual(Array.from({ length: planned.length }, (_, i) => `e${i}`));
  });

  it('loses no entry where the op budget stops a round: each one is planned, held or still ready', () => {
    const w = worker('w-1', { prefetch: 10_000 });
    const n = 20;
    const ready = heaps(singles(Array.from({ length: n }, (_, i) => entry(`e${i}`))));
    const p = plan([w], ready, 10);
    const left = [...ready.values()].reduce((k, h) => k + h.size, 0);
    expect(flatIds(p.assignments.get(w)).length + p.held.length + left).toBe(n);
  });

  it('a gang uses up the room of its members: what comes after it waits', () => {
    const ws = [worker('w-1', { prefetch: 1 }), worker('w-2', { prefetch: 1 })];
    const ready = heaps(singles([entry('g', { parallelism: 2 }), entry('a', { priority: 1 })]));
    const p = plan(ws, ready);
    expect(p.gangs.map((r) => r.entry.id)).toEqual(['g']);
    expect(
      [...p.assignments.values()]
        .flat(2)
        .map((r) => r.entry.id)
        .sort(),
    ).toEqual(['g~0', 'g~1']);
    expect(remaining(ready)).toBe(1); // 'a' is still ready
  });

  it('fills the op budget exactly: entries of their own markers cost a rewrite each, up to maxOps - 4', () => {
    const w = worker('w-1', { prefetch: 10_000 });
    const ready = heaps(singles(Array.from({ length: 50 }, (_, i) => entry(`e${i}`))));
    const p = plan([w], ready, 20);
    // fence 2 + one assignment 1 + one marker rewrite per entry: the 13th entry brings it to 16.
    expect(flatIds(p.assignments.get(w))).toHaveLength(13);
    expect(opsOf(p)).toBe(16);
    expect(remaining(ready)).toBe(37);
  });

  it('entries of one marker share its rewrite: a whole bulk fits a small budget', () => {
    const w = worker('w-1', { prefetch: 10_000 });
    const ready = heaps(bulk(Array.from({ length: 30 }, (_, i) => entry(`b${i}`))));
    const p = plan([w], ready, 20);
    expect(flatIds(p.assignments.get(w))).toHaveLength(30);
    expect(opsOf(p)).toBe(4);
  });

  it('holds a gang that does not fit in the op budget', () => {
    const ws = Array.from({ length: 8 }, (_, i) => worker(`w-${i}`, { prefetch: 4 }));
    const p = plan(ws, heaps(bulk([entry('g', { parallelism: 8 })])), 12);
    expect(p.gangs).toEqual([]);
    expect(p.held.map((r) => r.entry.id)).toEqual(['g']);
    expect(p.assignments.size).toBe(0);
  });

  it('keeps to the default MAX_OPS, capacity and types on a mixed random load', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    expect(MAX_OPS).toBe(400);
    let byBudget = 0;
    for (let round = 0; round < 20; round++) {
      const types = ['a', 'b', 'c'];
      const ws = Array.from({ length: 1 + rand(6) }, (_, i) =>
        worker(`w-${i}`, {
          types: types.filter(() => rand(2) === 0).concat(types[rand(3)]!),
          prefetch: 1 + rand(1000),
          assigned: rand(50),
        }),
      );
      const entries = Array.from({ length: 500 + rand(1000) }, (_, i) =>
        entry(`j${i}`, { type: types[rand(3)]!, priority: rand(3), ...(rand(20) === 0 ? { parallelism: 2 } : {}) }),
      );
      // Mixed markers: mostly single adds, some bulks of up to 50.
      const ready: ReadyEntry[] = [];
      for (let i = 0, k = 0; i < entries.length; k++) {
        const run = entries.slice(i, i + (rand(10) === 0 ? 1 + rand(50) : 1));
        ready.push(...readyOf(marker(`/pending/00/m-${k}`, run, { czxid: BigInt(k) })));
        i += run.length;
      }
      const h = heaps(ready);
      const p = plan(ws, h);
      expect(opsOf(p)).toBeLessThanOrEqual(MAX_OPS);
      // Stopped with work left that a worker with room could take: the op budget stopped it.
      const room = (w: PlanWorker) => w.prefetch - w.assigned - (p.assignments.get(w) ?? []).flat().length;
      if ([...h].some(([type, q]) => q.size > 0 && ws.some((w) => room(w) > 0 && w.types.includes(type)))) byBudget++;
      const gangIds = new Set(p.gangs.map((r) => r.entry.id));
      const problems: string[] = [];
      for (const [w, chunks] of p.assignments) {
        const jobs = chunks.flat();
        if (jobs.length > Math.max(0, w.prefetch - w.assigned)) problems.push(`${w.name}: over its prefetch`);
        if (chunks.some((c) => c.length > chunkSize(w))) problems.push(`${w.name}: chunk over prefetch/4`);
        if (jobs.some((r) => !w.types.includes(r.entry.type))) problems.push(`${w.name}: a type it does not handle`);
        // At most one task of a gang per worker.
        const parents = jobs.map((r) => /^(.*)~\d+$/.exec(r.entry.id)?.[1]).filter((g) => g && gangIds.has(g));
        if (new Set(parents).size !== parents.length) problems.push(`${w.name}: two tasks of one gang`);
      }
      expect(problems).toEqual([]);
    }
    // The load is large enough that some rounds are stopped by the op budget.
    expect(byBudget).toBeGreaterThan(0);
  });
});
