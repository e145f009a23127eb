// The job state machine (engine/transitions.ts), without ZooKeeper: every event from every state
// (legal → the next record in one of the event's target states; illegal → IllegalTransitionError),
// what each change resets, and the holder's outcome rules of `settle`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IllegalTransitionError, UnrecoverableError, WorkerClosingError } from '../../packages/worker/src/errors.js';
import { JOB_STATES, MAX_HISTORY, MAX_NOTES, type JobRecord, type JobState } from '../../packages/worker/src/job.js';
import {
  TRANSITIONS,
  addNote,
  cancel,
  claim,
  closeAttempt,
  failDependant,
  finishGang,
  gangTasks,
  hasNote,
  isClaimable,
  isDependantCurrent,
  isHeldBy,
  isLegal,
  isSettledBy,
  newRecord,
  operatorRetry,
  pendingEntry,
  pushHistory,
  requeue,
  goneHolder,
  requeueKind,
  settle,
  startGang,
  submitEntry,
  type Claimer,
  type TransitionEvent,
} from '../../packages/worker/src/engine/transitions.js';
import { active, attempt, opts, record } from './support.js';

const NOW = 50_000;
const BY: Claimer = { worker: 'w-0000000002', session: 's2', process: 'host:2' };
const note = {
  kind: 'refused' as const,
  attempt: 1,
  token: 3,
  worker: 'w-0000000001',
  session: 's1',
  process: 'host:1',
  reason: 'lost claim',
  at: 4_000,
};

/** A record in `state`, shaped so that every event whose row allows `state` applies to it. */
function inState(state: JobState, o: Parameters<typeof record>[0] = {}): JobRecord {
  return state === 'active' ? active({ ...o, state }) : record({ ...o, state, attemptsMade: 1 });
}

/** Each event, applied to a record: the next record. */
const APPLY: Record<TransitionEvent, (rec: JobRecord) => JobRecord> = {
  submit: (rec) => newRecord({ id: rec.id, type: rec.type, data: rec.data, opts: rec.opts, now: NOW }),
  claim: (rec) => claim(rec, BY, 7, NOW).next,
  complete: (rec) => settle(rec, 5, { kind: 'completed', result: 42 }, NOW).next,
  fail: (rec) => settle(rec, 5, { kind: 'failed', error: new UnrecoverableError('no') }, NOW).next,
  retry: (rec) =>
    settle({ ...rec, opts: opts({ attempts: 3 }) }, 5, { kind: 'failed', error: new Error('x') }, NOW).next,
  dead: (rec) => settle(rec, 5, { kind: 'failed', error: new Error('x') }, NOW).next,
  release: (rec) => settle(rec, 5, { kind: 'failed', error: new WorkerClosingError(100) }, NOW).next,
  requeue: (rec) => requeue(rec, 'w-0000000009@3', NOW),
  lost: (rec) => {
    // goneHolder requeues what is not an active claim on its last attempt; only that is `lost`.
    if (rec.state !== 'active') throw new IllegalTransitionError(rec.id, rec.state, 'lost');
    const c = goneHolder(rec, 'w-0000000009@3', NOW);
    if (c.event !== 'lost') throw new IllegalTransitionError(rec.id, rec.state, 'lost');
    return c.next;
  },
  cancel: (rec) => cancel(rec, NOW),
  dependencyFailed: (rec) => failDependant(rec, 'parent', 'dead', NOW),
  gangStart: (rec) => startGang(rec),
  gangFinish: (rec) => finishGang(rec, [record({ id: 'g~0', state: 'completed', result: 1 })], NOW),
  note: (rec) => addNote(rec, note, 9),
  operatorRetry: (rec) => operatorRetry(rec, { process: 'host:9', session: 's9' }, 7, NOW),
};

const EVENTS = Object.keys(TRANSITIONS) as TransitionEvent[];

describe('the transition table', () => {
  it('has a function for every event, and the header table of transitions.ts says the same', () => {
    expect(EVENTS.sort()).toEqual((Object.keys(APPLY) as TransitionEvent[]).sort());
    const src = readFileSync(new URL('../../packages/worker/src/engine/transitions.ts', import.meta.url), 'utf8');
    const rows = new Map<string, { from: string[]; to: string[] }>();
    for (const m of src.matchAll(/^ \* \| `(\w+)`\s*\|([^|]*)\|([^|]*)\|/gm)) {
      const states = (cell: string) =>
        cell
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '' && s !== '(none)' && s !== '(unchanged)');
      rows.set(m[1]!, { from: states(m[2]!), to: states(m[3]!) });
    }
    expect([...rows.keys()].sort()).toEqual(EVENTS.sort());
    for (const ev of EVENTS) {
      expect(rows.get(ev)!.from, ev).toEqual(TRANSITIONS[ev].from);
      // `note` leaves the state unchanged: its target states are its source states.
      expect(ev === 'note' ? TRANSITIONS[ev].from : rows.get(ev)!.to, ev).toEqual(TRANSITIONS[ev].to);
    }
  });

  it('names only real states', () => {
    for (const ev of EVENTS) {
      for (const s of [...TRANSITIONS[ev].from, ...TRANSITIONS[ev].to]) expect(JOB_STATES).toContain(s);
    }
  });

  it('submit has no source state and makes waiting or delayed records', () => {
    expect(TRANSITIONS.submit.from).toEqual([]);
    for (const s of JOB_STATES) expect(isLegal(s, 'submit')).toBe(false);
    const waiting = newRecord({ id: 'a', type: 't', data: 1, opts: opts(), now: NOW });
    const delayed = newRecord({ id: 'a', type: 't', data: 1, opts: opts({ delay: 10 }), now: NOW });
    expect(waiting).toEqual({
      id: 'a',
      type: 't',
      data: 1,
      opts: opts(),
      state: 'waiting',
      attemptsMade: 0,
      createdAt: NOW,
      history: [],
    });
    expect(delayed.state).toBe('delayed');
    expect(TRANSITIONS.submit.to).toContain(waiting.state);
    expect(TRANSITIONS.submit.to).toContain(delayed.state);
  });

  const cases = EVENTS.filter((ev) => ev !== 'submit').flatMap((ev) =>
    JOB_STATES.map((state) => ({ ev, state, legal: TRANSITIONS[ev].from.includes(state) })),
  );

  it.each(cases)('$ev from $state: legal=$legal', ({ ev, state, legal }) => {
    const rec = inState(state);
    const before = structuredClone(rec);
    expect(isLegal(state, ev)).toBe(legal);
    if (legal) {
      const next = APPLY[ev](rec);
      expect(TRANSITIONS[ev].to).toContain(next.state);
      expect(next.id).toBe(rec.id);
    } else {
      let thrown: unknown;
      try {
        APPLY[ev](rec);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(IllegalTransitionError);
      expect(thrown).toMatchObject({ code: 'ILLEGAL_TRANSITION', jobId: rec.id, from: state, event: ev });
    }
    // Pure: the input record is never modified.
    expect(rec).toEqual(before);
  });
});

describe('claim', () => {
  it('counts the attempt, names the holder, and appends a running attempt with token = version + 1', () => {
    const rec = record({ state: 'delayed', attemptsMade: 2, history: [attempt(1, 3, { outcome: 'retrying' })] });
    const { next, token } = claim(rec, BY, 11, NOW);
    expect(token).toBe(12);
    expect(next.state).toBe('active');
    expect(next.attemptsMade).toBe(3);
    expect(next.claim).toEqual({ worker: BY.worker, session: BY.session, token: 12 });
    expect(next.history).toHaveLength(2);
    expect(next.history[0]).toEqual(rec.history[0]);
    expect(next.history[1]).toEqual({
      attempt: 3,
      worker: BY.worker,
      process: BY.process,
      session: BY.session,
      token: 12,
      startedAt: NOW,
      outcome: 'running',
    });
  });

  it('keeps at most MAX_HISTORY attempts, dropping the oldest', () => {
    const history = Array.from({ length: MAX_HISTORY }, (_, i) => attempt(i + 1, i + 1, { outcome: 'retrying' }));
    const rec = record({ attemptsMade: MAX_HISTORY, history, opts: { attempts: 1000 } });
    const { next } = claim(rec, BY, 200, NOW);
    expect(next.history).toHaveLength(MAX_HISTORY);
    expect(next.history[0]!.attempt).toBe(2);
    expect(next.history[MAX_HISTORY - 1]).toMatchObject({ attempt: MAX_HISTORY + 1, token: 201, outcome: 'running' });
  });

  it('pushHistory caps at MAX_HISTORY, closeAttempt closes only the running attempt of the token', () => {
    const long = Array.from({ length: MAX_HISTORY + 5 }, (_, i) => attempt(i + 1, i + 1));
    expect(pushHistory(long, attempt(99, 99))).toHaveLength(MAX_HISTORY);
    expect(pushHistory([], attempt(1, 1))).toEqual([attempt(1, 1)]);

    const h = [attempt(1, 3), attempt(2, 7, { outcome: 'requeued' }), attempt(3, 9)];
    const closed = closeAttempt(h, 3, { outcome: 'completed' }, NOW);
    expect(closed[0]).toMatchObject({ token: 3, outcome: 'completed', endedAt: NOW });
    expect(closed[2]).toEqual(h[2]);
    // No running attempt with that token: unchanged (a copy).
    const none = closeAttempt(h, 7, { outcome: 'completed' }, NOW);
    expect(none).toEqual(h);
    expect(none).not.toBe(h);
    // Without a token: the last running attempt.
    expect(closeAttempt(h, undefined, { outcome: 'cancelled' }, NOW)[2]).toMatchObject({ outcome: 'cancelled' });
    expect(h[0]!.outcome).toBe('running');
  });

  it('isClaimable: waiting or delayed and not claimed since the assignment', () => {
    expect(isClaimable(record({ attemptsMade: 2 }), 2)).toBe(true);
    expect(isClaimable(record({ state: 'delayed', attemptsMade: 2 }), 2)).toBe(true);
    expect(isClaimable(record({ attemptsMade: 3 }), 2)).toBe(false);
    expect(isClaimable(active({ attemptsMade: 2 }), 2)).toBe(false);
    for (const s of ['completed', 'failed', 'dead', 'cancelled'] as const) {
      expect(isClaimable(record({ state: s, attemptsMade: 2 }), 2)).toBe(false);
    }
  });

  it('isHeldBy: active under that session and token', () => {
    const rec = active({ token: 8 });
    expect(isHeldBy(rec, 's1', 8)).toBe(true);
    expect(isHeldBy(rec, 's1', 7)).toBe(false);
    expect(isHeldBy(rec, 's2', 8)).toBe(false);
    expect(isHeldBy({ ...rec, state: 'completed' }, 's1', 8)).toBe(false);
  });
});

describe('leaving active: claim cleared, running attempt closed with the outcome', () => {
  const leaving: { ev: TransitionEvent; outcome: string; final: boolean }[] = [
    { ev: 'complete', outcome: 'completed', final: true },
    { ev: 'fail', outcome: 'failed', final: true },
    { ev: 'dead', outcome: 'dead', final: true },
    { ev: 'retry', outcome: 'retrying', final: false },
    { ev: 'release', outcome: 'released', final: false },
    { ev: 'requeue', outcome: 'requeued', final: false },
    { ev: 'cancel', outcome: 'cancelled', final: true },
  ];

  it.each(leaving)('$ev → attempt $outcome', ({ ev, outcome, final }) => {
    const rec = active({ token: 5, history: [attempt(1, 2, { outcome: 'retrying', endedAt: 10 }), attempt(2, 5)] });
    const next = APPLY[ev](rec);
    expect(next.claim).toBeNull();
    expect(next.history).toHaveLength(2);
    expect(next.history[0]).toEqual(rec.history[0]);
    expect(next.history[1]).toMatchObject({ token: 5, outcome, endedAt: NOW });
    if (final) expect(next.finishedAt).toBe(NOW);
    else expect(next.finishedAt).toBeUndefined();
  });

  it('requeue names the leader and the reason; an unclaimed job keeps its history', () => {
    const next = requeue(active({ token: 5 }), 'w-0000000009@3', NOW);
    expect(next.state).toBe('waiting');
    expect(next.history[0]).toMatchObject({ outcome: 'requeued', by: 'w-0000000009@3', error: 'owner session gone' });
    const waiting = record({ state: 'delayed', history: [attempt(1, 2, { outcome: 'retrying' })] });
    const again = requeue(waiting, 'w-0000000009@3', NOW);
    expect(again.state).toBe('waiting');
    expect(again.history).toEqual(waiting.history);
  });

  it('cancel of a waiting job is final with its history unchanged', () => {
    const rec = record({ history: [attempt(1, 2, { outcome: 'retrying' })] });
    const next = cancel(rec, NOW);
    expect(next).toMatchObject({ state: 'cancelled', finishedAt: NOW, claim: null });
    expect(next.history).toEqual(rec.history);
  });

  it('reaching a final state sets finishedAt; failDependant and finishGang too', () => {
    for (const ev of EVENTS) {
      if (ev === 'submit' || ev === 'note') continue;
      const from = TRANSITIONS[ev].from[0]!;
      const next = APPLY[ev](inState(from));
      if (['completed', 'failed', 'dead', 'cancelled'].includes(next.state)) expect(next.finishedAt, ev).toBe(NOW);
      else expect(next.finishedAt, ev).toBeUndefined();
    }
  });
});

describe('settle', () => {
  const ok = { kind: 'completed', result: { sum: 3 } } as const;
  const failed = (error: unknown) => ({ kind: 'failed', error }) as const;

  it('completed: result and state, kept by default', () => {
    const s = settle(active(), 5, ok, NOW);
    expect(s).toMatchObject({ event: 'complete', outcome: 'completed', remove: false });
    expect(s.keepFor).toBeUndefined();
    expect(s.retry).toBeUndefined();
    expect(s.next).toMatchObject({ state: 'completed', result: { sum: 3 }, finishedAt: NOW, claim: null });
  });

  it('completed with removeOnComplete true → remove; { age } → keepFor', () => {
    expect(settle(active({ opts: { removeOnComplete: true } }), 5, ok, NOW)).toMatchObject({ remove: true });
    const aged = settle(active({ opts: { removeOnComplete: { age: 3_600 } } }), 5, ok, NOW);
    expect(aged.remove).toBe(false);
    expect(aged.keepFor).toBe(3_600);
    // removeOnFail does not apply to a completion.
    expect(settle(active({ opts: { removeOnFail: true } }), 5, ok, NOW).remove).toBe(false);
  });

  it('WorkerClosingError → release: waiting, a retry entry of delay 0, no backoff, never dead', () => {
    const rec = active({ attemptsMade: 3, opts: { attempts: 3, backoff: 5_000, priority: 4 } });
    const s = settle(rec, 5, failed(new WorkerClosingError(1_000)), NOW);
    expect(s).toMatchObject({ event: 'release', outcome: 'released', remove: false });
    expect(s.next.state).toBe('waiting');
    expect(s.next.error).toBeUndefined();
    expect(s.next.history[0]).toMatchObject({ outcome: 'released', error: expect.stringContaining('shutting down') });
    expect(s.retry).toEqual({ id: rec.id, type: rec.type, priority: 4, attemptsMade: 3, delay: 0 });
  });

  it('UnrecoverableError → failed, even with attempts left; removeOnFail applies', () => {
    const rec = active({ opts: { attempts: 5, removeOnFail: { age: 60 } } });
    const s = settle(rec, 5, failed(new UnrecoverableError('bad input')), NOW);
    expect(s).toMatchObject({ event: 'fail', outcome: 'failed', remove: false, keepFor: 60 });
    expect(s.retry).toBeUndefined();
    expect(s.next).toMatchObject({ state: 'failed', finishedAt: NOW, claim: null });
    expect(s.next.error).toMatchObject({ name: 'UnrecoverableError', message: 'bad input' });
    expect(s.next.history[0]).toMatchObject({ outcome: 'failed', error: 'bad input' });
  });

  it('attempts used up → dead; removeOnFail true → remove', () => {
    const rec = active({ attemptsMade: 2, opts: { attempts: 2, removeOnFail: true } });
    const s = settle(rec, 5, failed(new Error('boom')), NOW);
    expect(s).toMatchObject({ event: 'dead', outcome: 'dead', remove: true });
    expect(s.next).toMatchObject({ state: 'dead', finishedAt: NOW, error: { name: 'Error', message: 'boom' } });
    expect(s.retry).toBeUndefined();
  });

  it('a non-Error failure is stored by its string', () => {
    const s = settle(active(), 5, failed('plain string'), NOW);
    expect(s.next.error).toEqual({ name: 'Error', message: 'plain string' });
    expect(s.next.history[0]!.error).toBe('plain string');
  });

  const backoffs = [
    { name: 'none', backoff: undefined, made: 1, delay: 0 },
    { name: 'fixed number', backoff: 1_500, made: 2, delay: 1_500 },
    { name: 'fixed object', backoff: { type: 'fixed' as const, delay: 200 }, made: 3, delay: 200 },
    { name: 'exponential, 1st retry', backoff: { type: 'exponential' as const, delay: 100 }, made: 1, delay: 100 },
    { name: 'exponential, 3rd retry', backoff: { type: 'exponential' as const, delay: 100 }, made: 3, delay: 400 },
    { name: 'custom, 1st', backoff: { type: 'custom' as const, delays: [10, 20] }, made: 1, delay: 10 },
    { name: 'custom, last repeats', backoff: { type: 'custom' as const, delays: [10, 20] }, made: 4, delay: 20 },
    { name: 'custom zero', backoff: { type: 'custom' as const, delays: [0] }, made: 1, delay: 0 },
  ];

  it.each(backoffs)('attempts left → retry after the backoff ($name)', ({ backoff, made, delay }) => {
    const rec = active({
      attemptsMade: made,
      opts: { attempts: 10, priority: 2, removeOnFail: true, ...(backoff === undefined ? {} : { backoff }) },
    });
    const s = settle(rec, 5, failed(new Error('flaky')), NOW);
    expect(s).toMatchObject({ event: 'retry', outcome: 'retrying', remove: false });
    expect(s.keepFor).toBeUndefined();
    expect(s.next.state).toBe(delay > 0 ? 'delayed' : 'waiting');
    expect(s.next.finishedAt).toBeUndefined();
    expect(s.next.claim).toBeNull();
    expect(s.next.error).toMatchObject({ message: 'flaky' });
    expect(s.next.history[0]).toMatchObject({ outcome: 'retrying', error: 'flaky', endedAt: NOW });
    expect(s.retry).toEqual({ id: rec.id, type: rec.type, priority: 2, attemptsMade: made, delay });
  });

  it('closes the attempt of the given token only', () => {
    const rec = active({ token: 9, history: [attempt(1, 4), attempt(1, 9)] });
    const s = settle(rec, 9, ok, NOW);
    expect(s.next.history.map((a) => a.outcome)).toEqual(['running', 'completed']);
  });
});

describe('isSettledBy', () => {
  it('a deleted record was settled by a removing outcome only', () => {
    expect(isSettledBy(null, 5, { outcome: 'completed', remove: true })).toBe(true);
    expect(isSettledBy(null, 5, { outcome: 'completed', remove: false })).toBe(false);
  });

  it('the claim attempt ended with the outcome and the claim is no longer current', () => {
    const s = settle(active({ token: 5 }), 5, { kind: 'completed', result: 1 }, NOW);
    expect(isSettledBy(s.next, 5, s)).toBe(true);
    expect(isSettledBy(s.next, 5, { outcome: 'dead', remove: false })).toBe(false);
    expect(isSettledBy(s.next, 6, s)).toBe(false);
    // Not applied: still active under the same claim.
    expect(isSettledBy(active({ token: 5 }), 5, s)).toBe(false);
    // The claim is still the record's current one: not settled, whatever its attempt says.
    expect(isSettledBy({ ...s.next, claim: { worker: 'w-0000000001', session: 's1', token: 5 } }, 5, s)).toBe(false);
    // Applied, then claimed again by someone else: still settled by us.
    const retried = settle(active({ token: 5, opts: { attempts: 3 } }), 5, { kind: 'failed', error: 'x' }, NOW);
    const reclaimed = claim(retried.next, BY, 6, NOW).next;
    expect(isSettledBy(reclaimed, 5, retried)).toBe(true);
    // The claim's attempt was closed by someone else (requeued), not by this outcome.
    const requeued = requeue(active({ token: 5 }), 'w-9@1', NOW);
    expect(isSettledBy(requeued, 5, retried)).toBe(false);
  });
});

describe('requeueKind', () => {
  it.each([
    { name: 'waiting, never claimed', rec: record({ attemptsMade: 2 }), kind: 'unclaimed' },
    { name: 'delayed, never claimed', rec: record({ state: 'delayed', attemptsMade: 2 }), kind: 'unclaimed' },
    { name: 'waiting, claimed since', rec: record({ attemptsMade: 3 }), kind: null },
    { name: 'active under the dead worker', rec: active({ attemptsMade: 3 }), kind: 'claimed' },
    {
      name: 'active under another worker',
      rec: active({ attemptsMade: 3, claim: { worker: 'w-0000000007', session: 's7', token: 5 } }),
      kind: null,
    },
    { name: 'active, claimed twice since', rec: active({ attemptsMade: 4 }), kind: null },
    { name: 'active, same attempts as assigned', rec: active({ attemptsMade: 2 }), kind: null },
    { name: 'completed', rec: record({ state: 'completed', attemptsMade: 3 }), kind: null },
    { name: 'cancelled unclaimed', rec: record({ state: 'cancelled', attemptsMade: 2 }), kind: null },
  ])('$name → $kind', ({ rec, kind }) => {
    expect(requeueKind(rec, 'w-0000000001', 2)).toBe(kind);
  });
});

describe('notes', () => {
  it('addNote only on a final record, with the version it was written over', () => {
    const rec = record({ state: 'completed' });
    const next = addNote(rec, note, 9);
    expect(next.notes).toEqual([{ ...note, over: 9 }]);
    expect(next.state).toBe('completed');
    expect(() => addNote(active(), note, 9)).toThrow(IllegalTransitionError);
  });

  it('keeps the last MAX_NOTES notes', () => {
    let rec = record({ state: 'dead' });
    for (let i = 0; i < MAX_NOTES + 3; i++) rec = addNote(rec, { ...note, token: i }, 100 + i);
    expect(rec.notes).toHaveLength(MAX_NOTES);
    expect(rec.notes![0]).toMatchObject({ token: 3, over: 103 });
    expect(rec.notes![MAX_NOTES - 1]).toMatchObject({ token: MAX_NOTES + 2 });
  });

  it('hasNote matches token, kind and session', () => {
    const rec = addNote(record({ state: 'failed' }), note, 9);
    expect(hasNote(rec, note)).toBe(true);
    expect(hasNote(rec, { ...note, token: 4 })).toBe(false);
    expect(hasNote(rec, { ...note, kind: 'lost' })).toBe(false);
    expect(hasNote(rec, { ...note, session: 's9' })).toBe(false);
    expect(hasNote(record({ state: 'failed' }), note)).toBe(false);
  });
});

describe('dependants and gangs', () => {
  it('failDependant: failed, naming the dependency and how it ended', () => {
    const next = failDependant(record({ state: 'delayed' }), 'parent-1', 'cancelled', NOW);
    expect(next).toMatchObject({
      state: 'failed',
      finishedAt: NOW,
      error: { name: 'DependencyFailedError', message: 'dependency parent-1 ended cancelled' },
    });
    expect(isDependantCurrent(record({ attemptsMade: 0 }), 0)).toBe(true);
    expect(isDependantCurrent(record({ attemptsMade: 1 }), 0)).toBe(false);
    expect(isDependantCurrent(active(), 1)).toBe(false);
  });

  it('startGang: the parent is active (without a claim of its own)', () => {
    const next = startGang(record({ id: 'g', opts: { parallelism: 2 } }));
    expect(next.state).toBe('active');
    expect(next.claim).toBeUndefined();
  });

  it('finishGang: completed with the tasks’ results in task order', () => {
    const tasks = [0, 1, 2].map((i) => record({ id: `g~${i}`, state: 'completed', result: i * 10 }));
    const next = finishGang(record({ id: 'g', state: 'active' }), tasks, NOW);
    expect(next).toMatchObject({ state: 'completed', finishedAt: NOW, result: [0, 10, 20] });
  });

  it('finishGang: failed, naming the first task that did not complete', () => {
    const tasks = [
      record({ id: 'g~0', state: 'completed', result: 1 }),
      record({ id: 'g~1', state: 'dead', error: { name: 'Error', message: 'disk full' } }),
      record({ id: 'g~2', state: 'failed', error: { name: 'Error', message: 'other' } }),
    ];
    const next = finishGang(record({ id: 'g', state: 'active' }), tasks, NOW);
    expect(next.state).toBe('failed');
    expect(next.finishedAt).toBe(NOW);
    expect(next.error).toEqual({ name: 'GangTaskFailedError', message: 'task g~1 ended dead: disk full' });
    expect(next.result).toBeUndefined();
  });

  it('gangTasks: none for parallelism 1, else `<id>~<index>` tasks of parallelism 1', () => {
    expect(gangTasks(record({ opts: { parallelism: 1 } }))).toEqual([]);
    const parent = record({ id: 'g', opts: { parallelism: 3, priority: 7 } });
    const tasks = gangTasks(parent);
    expect(tasks.map((t) => t.id)).toEqual(['g~0', 'g~1', 'g~2']);
    tasks.forEach((t, index) => {
      expect(t.gang).toEqual({ parent: 'g', index, size: 3 });
      expect(t.opts).toEqual({ ...parent.opts, parallelism: 1 });
      expect(t.state).toBe(parent.state);
      expect(t.data).toEqual(parent.data);
    });
    expect(parent.opts.parallelism).toBe(3);
  });

  it('submitEntry: the delay, and dependsOn / parallelism only when set', () => {
    expect(submitEntry(record({ id: 'a', opts: { delay: 500, priority: 3 } }))).toEqual({
      id: 'a',
      type: 'email',
      priority: 3,
      attemptsMade: 0,
      delay: 500,
    });
    expect(submitEntry(record({ id: 'b', opts: { dependsOn: ['a'] } }))).toEqual({
      id: 'b',
      type: 'email',
      priority: 0,
      attemptsMade: 0,
      delay: 0,
      dependsOn: ['a'],
    });
    const gang = submitEntry(record({ id: 'g', opts: { parallelism: 4 } }));
    expect(gang.parallelism).toBe(4);
    expect(gang.dependsOn).toBeUndefined();
    expect(pendingEntry(record({ attemptsMade: 2 }), 30)).toMatchObject({ attemptsMade: 2, delay: 30 });
  });
});
