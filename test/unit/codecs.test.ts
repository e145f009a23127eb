// The codecs of the znode layout (layout.ts) and of the job record (engine/record.ts), and the
// namespace check (options.ts): what is written must read back the same, and what is not a
// record must be refused.
import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../packages/worker/src/errors.js';
import { encodeRecord, parseRecord, storeError, toJob } from '../../packages/worker/src/engine/record.js';
import {
  BUCKETS,
  BUCKET_NAMES,
  bucketOf,
  cancelledJobOf,
  decodeAssignment,
  decodeEntry,
  decodeGangDoc,
  decodeMarker,
  decodeMarkerDoc,
  decodeRetentionMarker,
  encodeAssignment,
  encodeEntry,
  encodeGangDoc,
  encodeMarker,
  encodeRetentionMarker,
  gangTaskId,
  isAssignmentNode,
  isWorkerNode,
  jobPath,
  markerFirstId,
  pendingMarkerPrefix,
  retentionMarkerPrefix,
  type PendingEntry,
} from '../../packages/worker/src/layout.js';
import { namespaceProblem } from '../../packages/worker/src/options.js';
import { active, attempt, entry, record } from './support.js';

describe('pending entries and markers', () => {
  const entries: PendingEntry[] = [
    entry('plain', { priority: 3, attemptsMade: 2, delay: 1_000 }),
    entry('deps', { dependsOn: ['a', 'b'] }),
    entry('gang', { parallelism: 4 }),
    entry('both', { dependsOn: ['x'], parallelism: 2 }),
  ];

  it.each(entries)('entry $id round-trips', (e) => {
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    // Through JSON, as it is stored.
    expect(decodeEntry(JSON.parse(JSON.stringify(encodeEntry(e))))).toEqual(e);
  });

  it('encodes an entry compactly: defaults are left out', () => {
    expect(encodeEntry(entry('a', { type: 't', priority: 1, attemptsMade: 2, delay: 3 }))).toEqual(['a', 't', 1, 2, 3]);
    expect(encodeEntry(entry('a', { dependsOn: [], parallelism: 1 }))).toEqual(['a', 'email', 0, 0, 0]);
    expect(encodeEntry(entry('g', { parallelism: 3 }))).toEqual(['g', 'email', 0, 0, 0, [], 3]);
    expect(decodeEntry(['g', 'email', 0, 0, 0, [], 3])).toEqual(entry('g', { parallelism: 3 }));
  });

  it('a marker round-trips with its order; order 0 is not written', () => {
    const doc = decodeMarkerDoc(encodeMarker(entries, 3));
    expect(doc).toEqual({ entries, order: 3 });
    expect(decodeMarker(encodeMarker(entries, 3))).toEqual(entries);
    const first = encodeMarker(entries);
    expect(JSON.parse(first.toString())).not.toHaveProperty('o');
    expect(decodeMarkerDoc(first)).toEqual({ entries, order: 0 });
    expect(decodeMarkerDoc(Buffer.from('{}'))).toEqual({ entries: [], order: 0 });
    expect(() => decodeMarkerDoc(Buffer.from('not json'))).toThrow(SyntaxError);
  });

  it('an assignment round-trips its jobs and carries the epoch', () => {
    const jobs: [string, number, number?][] = [
      ['a', 0, 5],
      ['b', 2, 0],
    ];
    const data = encodeAssignment(jobs, 17);
    expect(decodeAssignment(data)).toEqual(jobs);
    expect(JSON.parse(data.toString())).toEqual({ epoch: 17, j: jobs });
    expect(decodeAssignment(Buffer.from('{"epoch":1}'))).toEqual([]);
  });

  it('a retention marker round-trips; a malformed one throws', () => {
    const m = { age: 86_400_000, ids: ['a', 'b~0'] };
    expect(decodeRetentionMarker(encodeRetentionMarker(m))).toEqual(m);
    expect(() => decodeRetentionMarker(Buffer.from('{"age":"1","ids":[]}'))).toThrow(SyntaxError);
    expect(() => decodeRetentionMarker(Buffer.from('{"age":1}'))).toThrow(SyntaxError);
    expect(() => decodeRetentionMarker(Buffer.from('{"age":1,"ids":"a"}'))).toThrow(SyntaxError);
    expect(() => decodeRetentionMarker(Buffer.from('r-garbage'))).toThrow(SyntaxError);
  });

  it('a gang document round-trips; missing fields read as no tasks, epoch -1', () => {
    const g = { tasks: ['g~0', 'g~1'], epoch: 4 };
    expect(decodeGangDoc(encodeGangDoc(g))).toEqual(g);
    expect(decodeGangDoc(Buffer.from('{}'))).toEqual({ tasks: [], epoch: -1 });
    expect(gangTaskId('g', 3)).toBe('g~3');
  });
});

describe('buckets and names', () => {
  it('bucketOf is FNV-1a mod 64: stable across versions (records are found by it)', () => {
    // FNV-1a 32-bit test vectors: '' → 0x811c9dc5, 'a' → 0xe40c292c, 'foobar' → 0xbf9cf968.
    expect(bucketOf('')).toBe('05');
    expect(bucketOf('a')).toBe('2c');
    expect(bucketOf('foobar')).toBe('28');
    expect(bucketOf('job-42')).toBe(bucketOf('job-42'));
  });

  it('bucketOf is one of the 64 bucket names and spreads ids over them', () => {
    expect(BUCKETS).toBe(64);
    expect(BUCKET_NAMES).toHaveLength(64);
    expect(BUCKET_NAMES[0]).toBe('00');
    expect(BUCKET_NAMES[63]).toBe('3f');
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const b = bucketOf(`job-${i}`);
      expect(b).toMatch(/^[0-9a-f]{2}$/);
      expect(BUCKET_NAMES).toContain(b);
      seen.add(b);
    }
    expect(seen.size).toBe(64);
  });

  it('paths put a job’s record, markers and retention markers in its bucket', () => {
    const b = bucketOf('order-1');
    expect(jobPath('order-1')).toBe(`/jobs/${b}/order-1`);
    expect(pendingMarkerPrefix('order-1')).toBe(`/pending/${b}/m-order-1-`);
    expect(retentionMarkerPrefix('order-1')).toBe(`/retention/${b}/r-`);
  });

  it('markerFirstId reads the first id from a marker name; an older name (no id) or another node gives null', () => {
    const name = (id: string, seq = 42) =>
      `${pendingMarkerPrefix(id).split('/').pop()!}${String(seq).padStart(10, '0')}`;
    for (const id of ['order-1', 'a', 'mx67cjrk-00ixv8xo', 'x-0000000001', 'a.b:c@d', 'z'.repeat(128)])
      expect(markerFirstId(name(id))).toBe(id);
    expect(markerFirstId('m-0000000042')).toBeNull(); // an older version's marker
    expect(markerFirstId('m--0000000042')).toBeNull(); // an empty id
    expect(markerFirstId('m-order-1-000000042')).toBeNull(); // 9 digits
    expect(markerFirstId('m-order-1_0000000042')).toBeNull();
    expect(markerFirstId('r-order-1-0000000042')).toBeNull();
    expect(markerFirstId('m-..-0000000042')).toBeNull();
    expect(markerFirstId(`m-${'z'.repeat(129)}-0000000042`)).toBeNull();
  });

  it('isWorkerNode, isAssignmentNode, cancelledJobOf', () => {
    expect(isWorkerNode('w-0000000003')).toBe(true);
    expect(isWorkerNode('leader')).toBe(false);
    expect(isWorkerNode('x-w-1')).toBe(false);
    expect(isAssignmentNode('a-0000000001')).toBe(true);
    expect(isAssignmentNode('x-a-1')).toBe(false);
    expect(cancelledJobOf('x-order-1')).toBe('order-1');
    expect(cancelledJobOf('x-a-b:c@d')).toBe('a-b:c@d');
    expect(cancelledJobOf('a-0000000001')).toBeNull();
    expect(cancelledJobOf('order-1')).toBeNull();
  });
});

describe('the job record', () => {
  it('round-trips through encodeRecord / parseRecord', () => {
    const rec = active({
      id: 'r1',
      result: { ok: true },
      error: { name: 'Error', message: 'm' },
      history: [attempt(1, 5)],
      notes: [],
    });
    expect(parseRecord(encodeRecord(rec))).toEqual(rec);
  });

  it.each([
    { name: 'not JSON', data: '{"id":', reason: 'not JSON' },
    { name: 'an array', data: '[]', reason: 'not an object' },
    { name: 'null', data: 'null', reason: 'not an object' },
    { name: 'no id', data: { ...record(), id: 3 }, reason: 'no id' },
    { name: 'no type', data: { ...record(), type: undefined }, reason: 'no type' },
    { name: 'an unknown state', data: { ...record(), state: 'paused' }, reason: 'unknown state paused' },
    { name: 'no attemptsMade', data: { ...record(), attemptsMade: '1' }, reason: 'no attemptsMade' },
    { name: 'no history', data: { ...record(), history: {} }, reason: 'no history' },
    { name: 'no opts', data: { ...record(), opts: null }, reason: 'no opts' },
  ])('refuses $name with CorruptRecordError', ({ data, reason }) => {
    const buf = Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
    let thrown: unknown;
    try {
      parseRecord(buf, '/jobs/00/x');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CorruptRecordError);
    expect(thrown).toMatchObject({ code: 'CORRUPT_RECORD', path: '/jobs/00/x' });
    expect((thrown as Error).message).toContain(reason);
  });

  it('toJob: the public view, with version and zxid, without claim or gang, optional fields only when set', () => {
    const rec = record({ id: 'v', attemptsMade: 1, history: [attempt(1, 2, { outcome: 'completed' })] });
    const job = toJob({ ...rec, claim: null, gang: { parent: 'p', index: 0, size: 2 } }, 3, '99');
    expect(job).toEqual({
      id: 'v',
      type: rec.type,
      data: rec.data,
      opts: rec.opts,
      state: rec.state,
      attemptsMade: 1,
      createdAt: rec.createdAt,
      history: rec.history,
      version: 3,
      zxid: '99',
    });
    expect(Object.keys(job)).not.toContain('result');
    expect(Object.keys(job)).not.toContain('notes');
    // An empty notes list is left out too.
    expect(Object.keys(toJob({ ...rec, notes: [] }, 3, '99'))).not.toContain('notes');

    const notes = [
      {
        kind: 'lost' as const,
        attempt: 1,
        token: 2,
        worker: 'w-1',
        session: 's',
        process: 'h:1',
        reason: 'r',
        at: 1,
        over: 4,
      },
    ];
    const done = toJob(
      { ...rec, state: 'completed', result: 0, error: { name: 'E', message: 'm' }, finishedAt: 7, notes },
      5,
      '',
    );
    expect(done).toMatchObject({ result: 0, error: { name: 'E', message: 'm' }, finishedAt: 7, notes, version: 5 });
  });

  it('storeError: name, message and at most 8 lines of stack; non-errors by their string', () => {
    const err = new TypeError('bad');
    err.stack = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    const s = storeError(err);
    expect(s).toMatchObject({ name: 'TypeError', message: 'bad' });
    expect(s.stack!.split('\n')).toHaveLength(8);
    expect(storeError(42)).toEqual({ name: 'Error', message: '42' });
  });
});

describe('namespaceProblem', () => {
  it.each([
    { ns: '/', problem: /cannot hold/ },
    { ns: '/zookeeper', problem: /reserved/ },
    { ns: '/zookeeper/x', problem: /reserved/ },
    { ns: 'rel', problem: /absolute/ },
    { ns: '', problem: /absolute/ },
    { ns: '/a/', problem: /ends with \// },
    { ns: '/a//b', problem: /empty, \. or \.\. segment/ },
    { ns: '/a/./b', problem: /segment/ },
    { ns: '/a/..', problem: /segment/ },
    { ns: '/a\0b', problem: /NUL/ },
  ])('$ns is refused', ({ ns, problem }) => {
    expect(namespaceProblem(ns)).toMatch(problem);
  });

  it.each(['/ok/ns', '/zkjobs/default', '/zookeeperish', '/a/zookeeper', '/a.b/c-d'])('%s is fine', (ns) => {
    expect(namespaceProblem(ns)).toBeNull();
  });
});
