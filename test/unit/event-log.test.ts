// The event log carried by the count deltas (engine/event-log.ts, engine/counts.ts): the entry
// encoding, the event of each record change (built from the real transitions), the bound on
// copied values, and the delta and summary documents old and new.
import { describe, expect, it } from 'vitest';
import {
  EVENT_VALUE_MAX_BYTES,
  decodeEvent,
  encodeEvent,
  eventOfWrite,
  type JobEvent,
} from '../../packages/worker/src/engine/event-log.js';
import {
  Tally,
  decodeDelta,
  decodeSummary,
  deltasOf,
  encodeDelta,
  encodeSummary,
  orphanTwins,
  twinName,
} from '../../packages/worker/src/engine/counts.js';
import { cancel, claim, failDependant, goneHolder, settle } from '../../packages/worker/src/engine/transitions.js';
import { UnrecoverableError } from '../../packages/worker/src/errors.js';
import { active, record } from './support.js';

const holder = { worker: 'w-0000000001', session: 's1', process: 'h:1' };

describe('event entries', () => {
  it('round-trip every field, and leave out what is absent', () => {
    const events: JobEvent[] = [
      { event: 'waiting', jobId: 'a', type: 'email', attemptsMade: 0 },
      { event: 'completed', jobId: 'b', type: 'email', attemptsMade: 2, prev: 'active', value: { ok: [1, 2] } },
      { event: 'retrying', jobId: 'c', type: 'x', attemptsMade: 1, prev: 'active', value: 'boom', delay: 250 },
      { event: 'dead', jobId: 'd', type: 'x', attemptsMade: 3, prev: 'active', omitted: true, removed: true },
      { event: 'removed', jobId: 'e', type: '', attemptsMade: null, prev: 'completed' },
      { event: 'progress', jobId: 'f', type: 'x', attemptsMade: 1, value: 0 },
    ];
    for (const e of events) expect(decodeEvent(JSON.parse(JSON.stringify(encodeEvent(e))))).toEqual(e);
    expect(encodeEvent(events[0]!)).toEqual(['a', 'email', 'w', 0, '']);
    expect(encodeEvent(events[1]!)).toEqual(['b', 'email', 'c', 2, 'a', { v: { ok: [1, 2] } }]);
  });

  it('an entry this version does not know is left out, not guessed', () => {
    expect(decodeEvent(['a', 'email', 'zz', 1, ''])).toBeNull();
    expect(decodeEvent({ not: 'an entry' })).toBeNull();
    expect(decodeEvent(['a'])).toBeNull();
  });
});

describe('the event of a record change', () => {
  it('submit, claim, complete (removed by retention), cancel', () => {
    const rec = record({ id: 'j' });
    expect(eventOfWrite(rec, null)).toEqual({ event: 'waiting', jobId: 'j', type: 'email', attemptsMade: 0 });
    const late = record({ id: 'k', state: 'delayed', opts: { delay: 5000 } });
    expect(eventOfWrite(late, null)).toMatchObject({ event: 'delayed', delay: 5000 });
    const { next: claimed } = claim(rec, holder, 4, 10);
    expect(eventOfWrite(claimed, 'waiting')).toMatchObject({ event: 'active', attemptsMade: 1, prev: 'waiting' });
    const done = settle(claimed, 5, { kind: 'completed', result: { n: 7 } }, 20);
    expect(eventOfWrite(done.next, 'active', true)).toEqual({
      event: 'completed',
      jobId: 'j',
      type: 'email',
      attemptsMade: 1,
      prev: 'active',
      value: { n: 7 },
      removed: true,
    });
    expect(eventOfWrite(cancel(rec, 30), 'waiting')).toMatchObject({ event: 'cancelled', prev: 'waiting' });
  });

  it('failures: retrying with its delay, failed, dead, and a failed dependant', () => {
    const a = active({ id: 'j', attemptsMade: 1, opts: { attempts: 2 } });
    const retry = settle(a, 5, { kind: 'failed', error: new Error('no') }, 20, 300);
    expect(eventOfWrite(retry.next, 'active', false, retry.retry!.delay)).toMatchObject({
      event: 'retrying',
      value: 'no',
      delay: 300,
      prev: 'active',
    });
    const unrec = settle(a, 5, { kind: 'failed', error: new UnrecoverableError('never') }, 20);
    expect(eventOfWrite(unrec.next, 'active')).toMatchObject({ event: 'failed', value: 'never' });
    const last = active({ id: 'j', attemptsMade: 2, opts: { attempts: 2 } });
    const dead = settle(last, 5, { kind: 'failed', error: new Error('again') }, 20);
    expect(eventOfWrite(dead.next, 'active')).toMatchObject({ event: 'dead', value: 'again', attemptsMade: 2 });
    const dep = failDependant(record({ id: 'd' }), 'p', 'dead', 20);
    expect(eventOfWrite(dep, 'waiting')).toMatchObject({ event: 'failed', value: 'dependency p ended dead' });
  });

  it('a lost worker: stalled with attempts left, dead on the last one; an unclaimed requeue is no event', () => {
    const a = active({ id: 'j', attemptsMade: 1, opts: { attempts: 2 } });
    expect(eventOfWrite(goneHolder(a, 'w-9@3', 20).next, 'active')).toMatchObject({ event: 'stalled', prev: 'active' });
    const last = active({ id: 'j', attemptsMade: 2, opts: { attempts: 2 } });
    const lost = goneHolder(last, 'w-9@3', 20);
    expect(eventOfWrite(lost.next, 'active')).toMatchObject({ event: 'dead', prev: 'active' });
    expect(String(eventOfWrite(lost.next, 'active')!.value)).toMatch(/worker was lost/);
    const unclaimed = record({ id: 'u' });
    expect(eventOfWrite(goneHolder(unclaimed, 'w-9@3', 20).next, 'waiting')).toBeUndefined();
  });

  it(`copies a value of at most ${EVENT_VALUE_MAX_BYTES} bytes of JSON, and says when it left one out`, () => {
    const fits = 'x'.repeat(EVENT_VALUE_MAX_BYTES - 2); // its JSON has two quotes
    const big = 'x'.repeat(EVENT_VALUE_MAX_BYTES - 1);
    const c = active({ id: 'j' });
    const small = eventOfWrite(settle(c, 5, { kind: 'completed', result: fits }, 1).next, 'active')!;
    expect(small.value).toBe(fits);
    expect(small.omitted).toBeUndefined();
    const large = eventOfWrite(settle(c, 5, { kind: 'completed', result: big }, 1).next, 'active')!;
    expect(large.value).toBeUndefined();
    expect(large.omitted).toBe(true);
    // Multi-byte characters count as bytes, not characters.
    const wide = eventOfWrite(settle(c, 5, { kind: 'completed', result: 'é'.repeat(600) }, 1).next, 'active')!;
    expect(wide.omitted).toBe(true);
  });
});

describe('deltas and the summary', () => {
  it('a tally encodes its counts and its events in the order they were made', () => {
    const t = new Tally();
    const r1 = record({ id: 'a' });
    const r2 = record({ id: 'b', type: 'sms' });
    t.write(r1, null).write(r2, null).event({ event: 'progress', jobId: 'c', type: 'sms', attemptsMade: 1, value: 5 });
    const d = decodeDelta(t.encode());
    expect(d.counts).toEqual({ email: { waiting: 1 }, sms: { waiting: 1 } });
    expect(d.events.map((e) => `${e.event}:${e.jobId}`)).toEqual(['waiting:a', 'waiting:b', 'progress:c']);
  });

  it('a progress delta has no count change, and is not empty', () => {
    const t = new Tally().event({ event: 'progress', jobId: 'c', type: 'sms', attemptsMade: 1, value: 5 });
    expect(t.isEmpty()).toBe(false);
    expect(decodeDelta(t.encode()).counts).toEqual({});
    expect(new Tally().isEmpty()).toBe(true);
  });

  it('reads deltas written before the events (bare counts), a job type named c included', () => {
    expect(decodeDelta(Buffer.from('{"email":{"waiting":2}}'))).toEqual({
      counts: { email: { waiting: 2 } },
      events: [],
    });
    expect(decodeDelta(Buffer.from('{"c":{"waiting":1,"active":-1}}'))).toEqual({
      counts: { c: { waiting: 1, active: -1 } },
      events: [],
    });
    expect(decodeDelta(encodeDelta({ c: { waiting: 1 } }, []))).toEqual({ counts: { c: { waiting: 1 } }, events: [] });
    expect(decodeDelta(Buffer.alloc(0))).toEqual({ counts: {}, events: [] });
  });

  it('the summary keeps its folded and pruned marks; an older one has none', () => {
    expect(decodeSummary(encodeSummary({ a: { completed: 3 } }, 41, 12), 7)).toEqual({
      counts: { a: { completed: 3 } },
      scan: false,
      version: 7,
      through: 41,
      pruned: 12,
    });
    expect(decodeSummary(Buffer.from('{"c":{"a":{"waiting":1}}}'), 2)).toMatchObject({ through: -1, pruned: -1 });
    expect(decodeSummary(Buffer.from('{"scan":true}'), 2)).toMatchObject({ scan: true });
  });

  it('deltas are ordered by their sequence number, and other children are left out', () => {
    expect(deltasOf(['d-0000000010', 'x', 'd-0000000002', 'd-zz', 'd-0000000100'])).toEqual([
      { name: 'd-0000000002', seq: 2 },
      { name: 'd-0000000010', seq: 10 },
      { name: 'd-0000000100', seq: 100 },
    ]);
  });

  it('a twin is named after its delta (one sequence lower), is left out of the deltas unless asked for, and stands for its delta', () => {
    expect(twinName(42)).toBe('c-0000000041');
    expect(twinName(1)).toBe('c-0000000000');
    const children = ['c-0000000041', 'd-0000000042', 'd-0000000043', 'c-0000000009', 'x'];
    expect(deltasOf(children)).toEqual([
      { name: 'd-0000000042', seq: 42 },
      { name: 'd-0000000043', seq: 43 },
    ]);
    expect(deltasOf(['c-0000000041', 'd-0000000043'], true)).toEqual([
      { name: 'c-0000000041', seq: 42 },
      { name: 'd-0000000043', seq: 43 },
    ]);
    // c-0000000009's delta (d-0000000010) is gone: an orphan; c-0000000041's is listed.
    expect(orphanTwins(children)).toEqual(['c-0000000009']);
  });
});
