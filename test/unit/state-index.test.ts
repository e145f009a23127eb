// The lists by state (engine/state-index.ts) as pure functions: the state each event puts its
// job into, the page writes a fold makes from the entries it appends, page and root codecs, and
// a compaction's plan.
import { describe, expect, it } from 'vitest';
import {
  PAGE_MAX_BYTES,
  PAGE_MAX_IDS,
  decodePage,
  decodeRoot,
  encodePage,
  encodeRoot,
  entriesByState,
  isCurrent,
  planAppend,
  planCompaction,
  positionOf,
  stateEntered,
  SCAN_ROOT,
  type IndexEntry,
} from '../../packages/worker/src/engine/state-index.js';
import { indexBudget } from '../../packages/worker/src/scheduler/counts.js';
import { indexPageName, indexPagePosition } from '../../packages/worker/src/layout.js';
import type { JobEvent } from '../../packages/worker/src/engine/event-log.js';
import type { ReadRecord } from '../../packages/worker/src/engine/record.js';
import { record } from './support.js';

const ev = (
  event: JobEvent['event'],
  jobId: string,
  attemptsMade: number | null,
  x: Partial<JobEvent> = {},
): JobEvent => ({
  event,
  jobId,
  type: 't',
  attemptsMade,
  ...x,
});
const entries = (n: number, from = 0): IndexEntry[] =>
  Array.from({ length: n }, (_, i) => ({ id: `j${from + i}`, n: 0 }));

describe('the state an event enters', () => {
  it('maps each event to the state its record is in after it, and the rest to none', () => {
    expect(stateEntered(ev('waiting', 'a', 0))).toBe('waiting');
    expect(stateEntered(ev('delayed', 'a', 0))).toBe('delayed');
    expect(stateEntered(ev('active', 'a', 1))).toBe('active');
    expect(stateEntered(ev('completed', 'a', 1))).toBe('completed');
    expect(stateEntered(ev('failed', 'a', 1))).toBe('failed');
    expect(stateEntered(ev('dead', 'a', 1))).toBe('dead');
    expect(stateEntered(ev('cancelled', 'a', 0))).toBe('cancelled');
    expect(stateEntered(ev('stalled', 'a', 1))).toBe('waiting');
    expect(stateEntered(ev('retrying', 'a', 1, { delay: 500 }))).toBe('delayed');
    expect(stateEntered(ev('retrying', 'a', 1, { delay: 0 }))).toBe('waiting');
    expect(stateEntered(ev('progress', 'a', 1))).toBeNull();
    expect(stateEntered(ev('removed', 'a', null))).toBeNull();
    // Its record went in the same multi (removeOnComplete: true): nothing to list.
    expect(stateEntered(ev('completed', 'a', 1, { removed: true }))).toBeNull();
  });

  it('groups a multi’s entries by state, in commit order, with the attempt of each', () => {
    const m = entriesByState([
      ev('waiting', 'a', 0),
      ev('active', 'b', 1),
      ev('waiting', 'c', 0),
      ev('progress', 'b', 1),
    ]);
    expect([...m.keys()]).toEqual(['waiting', 'active']);
    expect(m.get('waiting')).toEqual([
      { id: 'a', n: 0 },
      { id: 'c', n: 0 },
    ]);
  });
});

describe('a fold’s page writes', () => {
  it('create the first page at position 0', () => {
    const w = planAppend(null, 0, entries(3));
    expect(w.rewrite).toBeUndefined();
    expect(w.creates).toEqual([{ name: indexPageName(0), entries: entries(3) }]);
  });

  it('rewrite the newest page over its version until it is full, then create pages named by their first position', () => {
    const newest = { name: indexPageName(1000), version: 7, entries: entries(PAGE_MAX_IDS - 2, 1000) };
    const w = planAppend(newest, 1000 + PAGE_MAX_IDS - 2, entries(PAGE_MAX_IDS + 5, 5000));
    expect(w.rewrite?.version).toBe(7);
    expect(w.rewrite?.entries).toHaveLength(PAGE_MAX_IDS);
    expect(w.creates.map((c) => c.name)).toEqual([
      indexPageName(1000 + PAGE_MAX_IDS),
      indexPageName(1000 + 2 * PAGE_MAX_IDS),
    ]);
    expect(w.creates.map((c) => c.entries.length)).toEqual([PAGE_MAX_IDS, 3]);
    // Every entry once, in order.
    const all = [...w.rewrite!.entries.slice(PAGE_MAX_IDS - 2), ...w.creates.flatMap((c) => c.entries)];
    expect(all).toEqual(entries(PAGE_MAX_IDS + 5, 5000));
  });

  it('keep every page’s data within the byte budget (long ids)', () => {
    const long = Array.from({ length: 300 }, (_, i) => ({ id: `${'x'.repeat(400)}-${i}`, n: 3 }));
    const w = planAppend(null, 0, long);
    expect(w.creates.length).toBeGreaterThan(1);
    for (const c of w.creates) expect(encodePage(c).length).toBeLessThanOrEqual(PAGE_MAX_BYTES);
    expect(w.creates.flatMap((c) => c.entries)).toEqual(long);
  });

  it('take fewer deltas when their entries pass the fold’s byte budget, but at least one', () => {
    const delta = (k: number, n: number) => ({
      name: `d-${k}`,
      seq: k,
      counts: {},
      events: Array.from({ length: n }, (_, i) => ev('waiting', `${'y'.repeat(200)}-${k}-${i}`, 0)),
    });
    expect(indexBudget([delta(1, 10), delta(2, 10)])).toBe(2);
    expect(indexBudget(Array.from({ length: 300 }, (_, k) => delta(k, 200)))).toBeLessThan(300);
    expect(indexBudget([delta(1, 5000)])).toBe(1);
  });
});

describe('pages and the root', () => {
  it('round-trip, with the original offsets of a compacted page', () => {
    const p = decodePage(500, encodePage({ entries: entries(2), offsets: [3, 9] }));
    expect(p).toEqual({ at: 500, entries: entries(2), offsets: [3, 9] });
    expect(positionOf(p, 1)).toBe(509);
    expect(indexPagePosition(indexPageName(12345))).toBe(12345);
    expect(indexPagePosition('x-1')).toBeNull();
    expect(decodeRoot(encodeRoot(41, { waiting: 3 }), 2)).toEqual({
      scan: false,
      through: 41,
      counts: { waiting: 3 },
      version: 2,
    });
    expect(decodeRoot(SCAN_ROOT, 0).scan).toBe(true);
  });
});

describe('compaction', () => {
  const page = { at: 0, entries: entries(4) };
  it('keeps a page whose entries are all current, deletes one with none, and rewrites the rest keeping positions', () => {
    expect(planCompaction(page, [true, true, true, true])).toBe('keep');
    expect(planCompaction(page, [false, false, false, false])).toBe('delete');
    const c = planCompaction(page, [false, true, false, true]);
    expect(c).toEqual({ at: 0, entries: [entries(4)[1], entries(4)[3]], offsets: [1, 3] });
    // Compacted again: the original offsets stay.
    const again = planCompaction(c as typeof page & { offsets: number[] }, [false, true]);
    expect(again).toEqual({ at: 0, entries: [entries(4)[3]], offsets: [3] });
  });

  it('calls an entry current only while its record is in the state with the entry’s attempt', () => {
    const found = (state: ReadRecord['rec']['state'], attemptsMade: number) =>
      ({ rec: { ...record(), state, attemptsMade }, stat: {} }) as unknown as ReadRecord;
    expect(isCurrent({ id: 'a', n: 1 }, 'waiting', found('waiting', 1))).toBe(true);
    expect(isCurrent({ id: 'a', n: 0 }, 'waiting', found('waiting', 1))).toBe(false); // re-entered since
    expect(isCurrent({ id: 'a', n: 1 }, 'waiting', found('active', 1))).toBe(false); // moved on
    expect(isCurrent({ id: 'a', n: 1 }, 'waiting', null)).toBe(false); // deleted
  });
});
