/**
 * The assignment plan of a scheduling round (pure: no I/O). Entries are taken in ready order
 * among the types that a worker with room handles, each to the worker with the most room that
 * handles its type (among equals the leader's own worker, `prefer`: its assignments are handed
 * over in-process, without a watch notification and a read), in assignments of at most
 * `prefetch / 4` jobs; a gang job takes one slot on
 * `parallelism` distinct workers at once, or waits. A type with limits (`limits`: its free
 * slots, see `limits.ts`) is taken only while it has a free slot, one job per assignment (whose
 * data then names the type), so the leader can count its jobs in flight; gang jobs are not
 * limited. The plan stops before its multi would pass {@link MAX_OPS} ops.
 */
import { gangTaskId } from '../layout.js';
import type { Heap } from './heap.js';
import { before, type Marker, type ReadyEntry } from './ready-queue.js';

/** Ops per scheduling multi. */
export const MAX_OPS = 400;

/** A live worker as the plan sees it. */
export interface PlanWorker {
  name: string;
  /** The job types it handles. */
  types: readonly string[];
  /** Jobs the leader keeps assigned to it. */
  prefetch: number;
  /** Jobs in its queue now. */
  assigned: number;
}

/** What a round assigns. */
export interface Plan {
  /** Per worker (in the order first planned), its new assignments, each a list of entries. */
  assignments: Map<PlanWorker, ReadyEntry[][]>;
  /** Gang jobs started (their tasks are in `assignments`, one per worker). */
  gangs: ReadyEntry[];
  /** The markers entries were taken from (each entry is in its marker's `taken`). */
  touched: Set<Marker>;
  /** Entries popped but not planned (a gang without enough workers): push them back. */
  held: ReadyEntry[];
  /** The assignments (of one job each) of limited types. */
  limited: Set<ReadyEntry[]>;
}

/** Jobs per assignment for a worker: a quarter of its prefetch. */
export function chunkSize(w: Pick<PlanWorker, 'prefetch'>): number {
  return Math.max(1, Math.ceil(w.prefetch / 4));
}

/**
 * Plans a round: pops entries from `ready` (one heap per type) and marks them taken in their
 * markers. The caller pushes `held` back and, when the multi fails, clears the markers' `taken`.
 * @param prefer - the worker that gets an entry when it has as much room as the best other one
 */
export function plan(
  workers: readonly PlanWorker[],
  ready: Map<string, Heap<ReadyEntry>>,
  maxOps = MAX_OPS,
  limits: ReadonlyMap<string, number> = new Map(),
  prefer?: string,
): Plan {
  const out: Plan = { assignments: new Map(), gangs: [], touched: new Set(), held: [], limited: new Set() };
  const slots = new Map(limits);
  if (workers.length === 0 || ready.size === 0) return out;
  const cap = new Map<PlanWorker, number>();
  for (const w of workers) cap.set(w, Math.max(0, w.prefetch - w.assigned));
  if (![...cap.values()].some((c) => c > 0)) return out;
  let ops = 2; // the leader fence
  const handles = (w: PlanWorker, type: string) => cap.get(w)! > 0 && w.types.includes(type);
  // The next entry: the first in ready order among the types that a worker with room handles.
  const next = (): ReadyEntry | undefined => {
    let best: Heap<ReadyEntry> | undefined;
    for (const [type, h] of ready) {
      const top = h.peek();
      if (!top || (best && !before(top, best.peek()!))) continue;
      if ((slots.get(type) ?? 1) <= 0 && (top.entry.parallelism ?? 1) <= 1) continue;
      if (workers.some((w) => handles(w, type))) best = h;
    }
    return best?.pop();
  };
  const add = (w: PlanWorker, chunk: ReadyEntry[]) => {
    const chunks = out.assignments.get(w) ?? [];
    chunks.push(chunk);
    out.assignments.set(w, chunks);
  };
  // The budget is checked before an entry is popped: one popped is always planned or held.
  for (let r = ops < maxOps - 4 ? next() : undefined; r; r = ops < maxOps - 4 ? next() : undefined) {
    const size = r.entry.parallelism ?? 1;
    if (size > 1) {
      // A gang: one task on each of `size` different workers with room, at the same time.
      const members = workers
        .filter((w) => handles(w, r!.entry.type))
        .sort((a, b) => cap.get(b)! - cap.get(a)!)
        .slice(0, size);
      if (members.length < size || ops + 2 * size + 3 > maxOps) {
        out.held.push(r);
        if (out.held.length > 1000) break;
        continue;
      }
      members.forEach((w, index) => {
        cap.set(w, cap.get(w)! - 1);
        add(w, [
          {
            marker: r!.marker,
            index: r!.index,
            entry: { ...r!.entry, id: gangTaskId(r!.entry.id, index), parallelism: 1 },
          },
        ]);
      });
      out.gangs.push(r);
      ops += size + 3;
      out.touched.add(r.marker);
      r.marker.taken.add(r.entry.id);
      continue;
    }
    let best: PlanWorker | undefined;
    let bestCap = 0;
    for (const w of workers) {
      const c = cap.get(w)!;
      if ((c > bestCap || (c === bestCap && c > 0 && w.name === prefer)) && w.types.includes(r.entry.type)) {
        best = w;
        bestCap = c;
      }
    }
    if (!best) {
      out.held.push(r); // not reached: next() only returns types a worker with room handles
      continue;
    }
    cap.set(best, bestCap - 1);
    const slot = slots.get(r.entry.type);
    if (slot !== undefined) {
      // A limited type: one job per assignment, counted against its slots.
      slots.set(r.entry.type, slot - 1);
      const chunk = [r];
      add(best, chunk);
      out.limited.add(chunk);
      ops++;
    } else {
      const chunks = out.assignments.get(best);
      const last = chunks?.[chunks.length - 1];
      if (last && last.length < chunkSize(best) && !out.limited.has(last)) last.push(r);
      else {
        add(best, [r]);
        ops++;
      }
    }
    if (!out.touched.has(r.marker)) ops++;
    out.touched.add(r.marker);
    r.marker.taken.add(r.entry.id);
    if ([...cap.values()].every((c) => c <= 0)) break;
  }
  return out;
}
