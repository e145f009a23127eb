// Every multi of the engine (engine/ops.ts), built against a client that never sends: the op
// types, paths, versions and order of each, the fences first, and the accessors and failure
// predicates on hand-made results and TransactionErrors.
import { describe, expect, it } from 'vitest';
import {
  BadVersionError,
  CreateMode,
  NoNodeError,
  NodeExistsError,
  TransactionError,
  type OpResult,
  type Stat,
  type TransactionOp,
} from '@zkjobs/core';
import {
  HOLDER_FENCE_OPS,
  type CompletionItem,
  LEADER_FENCE_OPS,
  MARKER_ENTRIES,
  assignOps,
  cancelOps,
  claimOps,
  completionOps,
  epochOps,
  failDependantOps,
  finishGangOps,
  isCancelSignalFailure,
  isHolderFenceFailure,
  isIdTaken,
  isLeaderFenceFailure,
  isOpFailure,
  pruneOps,
  requeueOps,
  submitOps,
  zxidOf,
  type LeaderFence,
} from '../../packages/worker/src/engine/ops.js';
import { parseRecord } from '../../packages/worker/src/engine/record.js';
import { TWIN_EVENT_BYTES, decodeDelta } from '../../packages/worker/src/engine/counts.js';
import { encodeEvent } from '../../packages/worker/src/engine/event-log.js';
import {
  COUNTS,
  COUNT_DELTA_PREFIX,
  COUNT_TWIN_PREFIX,
  LEADER,
  assignmentPrefix,
  cancelSignalPath,
  decodeAssignment,
  decodeGangDoc,
  decodeMarkerDoc,
  decodeRetentionMarker,
  gangPath,
  jobPath,
  pendingMarkerPrefix,
  queueDir,
  retentionMarkerPrefix,
  workerPath,
} from '../../packages/worker/src/layout.js';
import { active, entry, offlineClient, record } from './support.js';

/** The count delta every multi that changes job states ends with (`engine/counts.ts`). */
const DELTA = `${COUNTS}/${COUNT_DELTA_PREFIX}`;
const client = offlineClient();
const FENCE: LeaderFence = { self: 'w-0000000004', epoch: 12 };

/** The ops without their data and ACLs: type, path, version (or mode for a create). */
function shape(ops: readonly TransactionOp[]): string[] {
  return ops.map((op) =>
    op.type === 'create' ? `create ${op.path} mode=${op.mode}` : `${op.type} ${op.path} v=${op.version}`,
  );
}

function dataOf(op: TransactionOp | undefined): Buffer {
  if (!op || (op.type !== 'create' && op.type !== 'setData') || !op.data) throw new Error('op has no data');
  return op.data;
}

const holderFenceShape = (holder: string) => [`check ${workerPath(holder)} v=-1`];
const leaderFenceShape = [`check ${workerPath(FENCE.self)} v=-1`, `check ${LEADER} v=${FENCE.epoch}`];
const SEQ = CreateMode.PERSISTENT_SEQUENTIAL;
const PERSISTENT = CreateMode.PERSISTENT;

function stat(mzxid: bigint, version = 1): Stat {
  return {
    czxid: 1n,
    mzxid,
    pzxid: 1n,
    ctime: 0,
    mtime: 0,
    version,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: 0n,
    dataLength: 0,
    numChildren: 0,
  };
}

function txError(failedIndex: number, code: number, n = failedIndex + 2): TransactionError {
  const results = Array.from({ length: n }, (_, i) => ({
    type: 'check' as const,
    path: `/op/${i}`,
    err: i < failedIndex ? 0 : code,
  }));
  return new TransactionError(failedIndex, { type: 'check', path: `/op/${failedIndex}` }, code, results);
}

describe('fences', () => {
  it('have the documented sizes', () => {
    expect(HOLDER_FENCE_OPS).toBe(1);
    expect(LEADER_FENCE_OPS).toBe(2);
  });

  it('the holder fence starts the claim, completion and epoch multis', () => {
    const claimTx = claimOps(client, 'w-0000000001', [{ next: active(), version: 4 }]).tx;
    const doneTx = completionOps(client, 'w-0000000001', [{ next: active(), token: 5, from: 'active', remove: false }]);
    const epochTx = epochOps(
      client,
      'w-0000000001',
      { worker: 'w-0000000001', session: 's', host: 'h', pid: 1, since: 0 },
      3,
    ).tx;
    for (const tx of [claimTx, doneTx, epochTx]) {
      expect(shape(tx.operations).slice(0, HOLDER_FENCE_OPS)).toEqual(holderFenceShape('w-0000000001'));
    }
  });

  it('the leader fence (own znode, leader at the epoch) starts every leader multi', () => {
    const txs = [
      assignOps(client, FENCE, [{ worker: 'w-0000000001', jobs: [['a', 0, 0]] }], [], []).tx,
      requeueOps(client, FENCE, 'w-0000000001', [], [], []),
      failDependantOps(client, FENCE, undefined, []),
      finishGangOps(client, FENCE, 'g', undefined),
      pruneOps(client, FENCE, [{ id: 'a' }], undefined),
    ];
    for (const tx of txs) expect(shape(tx.operations).slice(0, LEADER_FENCE_OPS)).toEqual(leaderFenceShape);
  });
});

describe('the producer', () => {
  it('submit: each record then its gang tasks, then markers of at most MARKER_ENTRIES in order', () => {
    const a = record({ id: 'a' });
    const g = record({ id: 'g', opts: { parallelism: 2 } });
    const tasks = [record({ id: 'g~0' }), record({ id: 'g~1' })];
    const entries = Array.from({ length: 2 * MARKER_ENTRIES + 20 }, (_, i) => entry(`e${i}`));
    const tx = submitOps(
      client,
      [
        { rec: a, bytes: Buffer.from('{"pre":"encoded"}') },
        { rec: g, tasks },
      ],
      entries,
    );
    const ops = tx.operations;
    expect(MARKER_ENTRIES).toBe(50);
    expect(shape(ops)).toEqual([
      `create ${jobPath('a')} mode=${PERSISTENT}`,
      `create ${jobPath('g')} mode=${PERSISTENT}`,
      `create ${jobPath('g~0')} mode=${PERSISTENT}`,
      `create ${jobPath('g~1')} mode=${PERSISTENT}`,
      `create ${pendingMarkerPrefix('e0')} mode=${SEQ}`,
      `create ${pendingMarkerPrefix('e50')} mode=${SEQ}`,
      `create ${pendingMarkerPrefix('e100')} mode=${SEQ}`,
      `create ${DELTA} mode=${SEQ}`,
    ]);
    // The given encoding is used as is; the others are encoded from the record.
    expect(dataOf(ops[0]).toString()).toBe('{"pre":"encoded"}');
    expect(parseRecord(dataOf(ops[1]))).toEqual(g);
    expect(parseRecord(dataOf(ops[3]))).toEqual(tasks[1]);
    const markers = ops.slice(4, 7).map((op) => decodeMarkerDoc(dataOf(op)));
    // The count delta of the multi: every record it creates, by type and state.
    const delta = decodeDelta(dataOf(ops[7]));
    expect(delta.counts).toEqual({ email: { waiting: 4 } });
    // … and its events, in the order of the records.
    expect(delta.events.map((e) => [e.event, e.jobId, e.prev])).toEqual([
      ['waiting', 'a', undefined],
      ['waiting', 'g', undefined],
      ['waiting', 'g~0', undefined],
      ['waiting', 'g~1', undefined],
    ]);
    expect(markers.map((m) => m.order)).toEqual([0, 1, 2]);
    expect(markers.map((m) => m.entries.length)).toEqual([50, 50, 20]);
    expect(markers.flatMap((m) => m.entries)).toEqual(entries);
  });

  it('a submit whose events pass TWIN_EVENT_BYTES is preceded by a counts-only twin, right before its delta', () => {
    const recs = Array.from({ length: 200 }, (_, i) => ({ rec: record({ id: `job-${i}` }) }));
    const small = submitOps(client, recs.slice(0, 20), []);
    expect(small.operations.some((op) => op.path.startsWith(`${COUNTS}/${COUNT_TWIN_PREFIX}`))).toBe(false);
    const ops = submitOps(client, recs, []).operations;
    expect(shape(ops.slice(-2))).toEqual([
      `create ${COUNTS}/${COUNT_TWIN_PREFIX} mode=${SEQ}`,
      `create ${DELTA} mode=${SEQ}`,
    ]);
    const twin = decodeDelta(dataOf(ops.at(-2)));
    const delta = decodeDelta(dataOf(ops.at(-1)));
    expect(twin).toEqual({ counts: { email: { waiting: 200 } }, events: [] });
    expect(delta.counts).toEqual(twin.counts);
    expect(delta.events).toHaveLength(200);
    expect(Buffer.byteLength(JSON.stringify(delta.events.map(encodeEvent)))).toBeGreaterThan(TWIN_EVENT_BYTES);
  });

  it('submit without entries writes no marker', () => {
    const tx = submitOps(client, [{ rec: record({ id: 'a' }) }], []);
    expect(shape(tx.operations)).toEqual([`create ${jobPath('a')} mode=${PERSISTENT}`, `create ${DELTA} mode=${SEQ}`]);
  });

  it('cancel: the record over its version, and the holder’s signal only when running', () => {
    const next = record({ id: 'c', state: 'cancelled' });
    const running = cancelOps(client, { next, version: 8 }, 'w-0000000003');
    expect(shape(running.operations)).toEqual([
      `setData ${jobPath('c')} v=8`,
      `create ${cancelSignalPath('w-0000000003', 'c')} mode=${PERSISTENT}`,
    ]);
    expect(cancelSignalPath('w-0000000003', 'c')).toBe('/queue/w-0000000003/x-c');
    expect(parseRecord(dataOf(running.operations[0]))).toEqual(next);
    expect(shape(cancelOps(client, { next, version: 8 }, undefined).operations)).toEqual([
      `setData ${jobPath('c')} v=8`,
    ]);
  });
});

describe('the consumer', () => {
  it('claim: fence, then each record over the version read, in order', () => {
    const r1 = active({ id: 'a' });
    const r2 = active({ id: 'b' });
    const { tx } = claimOps(client, 'w-0000000001', [
      { next: r1, version: 3 },
      { next: r2, version: 0 },
    ]);
    expect(shape(tx.operations)).toEqual([
      ...holderFenceShape('w-0000000001'),
      `setData ${jobPath('a')} v=3`,
      `setData ${jobPath('b')} v=0`,
    ]);
    expect(parseRecord(dataOf(tx.operations[1]))).toEqual(r1);
    expect(parseRecord(dataOf(tx.operations[2]))).toEqual(r2);
  });

  it('claim zxids: the Stat of each record write, after the fence', () => {
    const { zxids } = claimOps(client, 'w-1', [
      { next: active({ id: 'a' }), version: 3 },
      { next: active({ id: 'b' }), version: 0 },
    ]);
    const res: OpResult[] = [
      { type: 'check', path: '/workers/w-1' },
      { type: 'setData', path: jobPath('a'), stat: stat(0x101n) },
      { type: 'setData', path: jobPath('b'), stat: stat(0x102n) },
    ];
    expect(zxids(res)).toEqual(['257', '258']);
    expect(zxids(res.slice(0, 2))).toEqual(['257', '']);
  });

  it('completion: fence; delete at version=token for remove, else setData at token; one retry marker; one retention marker per age', () => {
    const items: CompletionItem[] = [
      { next: record({ id: 'a', state: 'completed' }), token: 5, remove: true, from: 'active' },
      {
        next: record({ id: 'b', state: 'waiting' }),
        token: 7,
        remove: false,
        from: 'active',
        retry: entry('b', { attemptsMade: 1 }),
      },
      { next: record({ id: 'c', state: 'completed' }), token: 9, remove: false, from: 'active', keepFor: 1_000 },
      {
        next: record({ id: 'd', state: 'delayed' }),
        token: 2,
        remove: false,
        from: 'active',
        retry: entry('d', { delay: 50 }),
      },
      { next: record({ id: 'e', state: 'dead' }), token: 4, remove: false, from: 'active', keepFor: 2_000 },
      { next: record({ id: 'f', state: 'failed' }), token: 6, remove: false, from: 'active', keepFor: 1_000 },
    ];
    const tx = completionOps(client, 'w-0000000002', items);
    const ops = tx.operations;
    expect(shape(ops)).toEqual([
      ...holderFenceShape('w-0000000002'),
      `delete ${jobPath('a')} v=5`,
      `setData ${jobPath('b')} v=7`,
      `setData ${jobPath('c')} v=9`,
      `setData ${jobPath('d')} v=2`,
      `setData ${jobPath('e')} v=4`,
      `setData ${jobPath('f')} v=6`,
      `create ${pendingMarkerPrefix('b')} mode=${SEQ}`,
      `create ${retentionMarkerPrefix('c')} mode=${SEQ}`,
      `create ${retentionMarkerPrefix('e')} mode=${SEQ}`,
      `create ${DELTA} mode=${SEQ}`,
    ]);
    expect(parseRecord(dataOf(ops[3]))).toEqual(items[2]!.next);
    expect(decodeMarkerDoc(dataOf(ops[7]))).toEqual({ entries: [items[1]!.retry, items[3]!.retry], order: 0 });
    expect(decodeRetentionMarker(dataOf(ops[8]))).toEqual({
      age: 1_000,
      ids: ['c', 'f'],
      states: [
        ['email', 'completed'],
        ['email', 'failed'],
      ],
      // The versions after the finishing writes (token + 1) and the attempts made.
      versions: [
        [10, 0],
        [7, 0],
      ],
    });
    expect(decodeRetentionMarker(dataOf(ops[9]))).toEqual({
      age: 2_000,
      ids: ['e'],
      states: [['email', 'dead']],
      versions: [[5, 0]],
    });
  });

  it('completion without retries or retention: fence and the record writes only', () => {
    const tx = completionOps(client, 'w-1', [
      { next: record({ id: 'a', state: 'completed' }), token: 3, remove: false, from: 'active' },
    ]);
    expect(shape(tx.operations)).toEqual([
      ...holderFenceShape('w-1'),
      `setData ${jobPath('a')} v=3`,
      `create ${DELTA} mode=${SEQ}`,
    ]);
  });
});

describe('the leader', () => {
  it('epoch: holder fence, leader over its version; the epoch is the new version', () => {
    const info = { worker: 'w-0000000001', session: 'abc', host: 'h', pid: 9, since: 5 };
    const { tx, epoch } = epochOps(client, 'w-0000000001', info, 6);
    expect(shape(tx.operations)).toEqual([...holderFenceShape('w-0000000001'), `setData ${LEADER} v=6`]);
    expect(JSON.parse(dataOf(tx.operations[1]).toString())).toEqual(info);
    expect(
      epoch([
        { type: 'check', path: '/workers/w-0000000001' },
        { type: 'setData', path: LEADER, stat: stat(1n, 7) },
      ]),
    ).toBe(7);
  });

  it('assign: fence, assignments, marker rewrites/deletes, gang parents and documents', () => {
    const parent = record({ id: 'g', state: 'active', opts: { parallelism: 2 } });
    const { tx, createdNodes } = assignOps(
      client,
      FENCE,
      [
        {
          worker: 'w-0000000001',
          jobs: [
            ['a', 0, 3],
            ['b', 1, 0],
          ],
        },
        { worker: 'w-0000000002', jobs: [['g~0', 0, 0]] },
        { worker: 'w-0000000001', jobs: [['g~1', 0, 0]] },
      ],
      [
        { path: '/pending/00/m-0000000001', version: 2, remaining: [], order: 0 },
        { path: '/pending/01/m-0000000002', version: 0, remaining: [entry('z')], order: 3 },
      ],
      [
        { id: 'g', tasks: ['g~0', 'g~1'], parent: { next: parent, version: 4 } },
        { id: 'h', tasks: ['h~0', 'h~1'] },
      ],
    );
    const ops = tx.operations;
    expect(shape(ops)).toEqual([
      ...leaderFenceShape,
      `create ${assignmentPrefix('w-0000000001')} mode=${SEQ}`,
      `create ${assignmentPrefix('w-0000000002')} mode=${SEQ}`,
      `create ${assignmentPrefix('w-0000000001')} mode=${SEQ}`,
      `delete /pending/00/m-0000000001 v=2`,
      `setData /pending/01/m-0000000002 v=0`,
      `setData ${jobPath('g')} v=4`,
      `create ${gangPath('g')} mode=${PERSISTENT}`,
      `create ${gangPath('h')} mode=${PERSISTENT}`,
    ]);
    expect(decodeAssignment(dataOf(ops[2]))).toEqual([
      ['a', 0, 3],
      ['b', 1, 0],
    ]);
    expect(JSON.parse(dataOf(ops[2]).toString()).epoch).toBe(FENCE.epoch);
    expect(decodeMarkerDoc(dataOf(ops[6]))).toEqual({ entries: [entry('z')], order: 3 });
    expect(parseRecord(dataOf(ops[7]))).toEqual(parent);
    expect(decodeGangDoc(dataOf(ops[8]))).toEqual({ tasks: ['g~0', 'g~1'], epoch: FENCE.epoch });

    const res: OpResult[] = [
      { type: 'check', path: workerPath(FENCE.self) },
      { type: 'check', path: LEADER },
      { type: 'create', path: assignmentPrefix('w-0000000001'), createdPath: '/queue/w-0000000001/a-0000000010' },
      { type: 'create', path: assignmentPrefix('w-0000000002'), createdPath: '/queue/w-0000000002/a-0000000003' },
      { type: 'create', path: assignmentPrefix('w-0000000001'), createdPath: '/queue/w-0000000001/a-0000000011' },
      { type: 'delete', path: '/pending/00/m-0000000001' },
    ];
    expect(createdNodes(res)).toEqual(['a-0000000010', 'a-0000000003', 'a-0000000011']);
    expect(createdNodes(res.slice(0, 3))).toEqual(['a-0000000010', undefined, undefined]);
  });

  it("assign with claims for the leader's own consumer: each record over its version, after the rest", () => {
    const waiting = record({ id: 'a' });
    const claimed = { ...waiting, state: 'active' as const, attemptsMade: 1 };
    const { tx, claimZxids, isClaimFailure } = assignOps(
      client,
      FENCE,
      [{ worker: FENCE.self, jobs: [['a', 0, 0]] }],
      [{ path: '/pending/00/m-0000000001', version: 0, remaining: [], order: 0 }],
      [],
      [{ next: claimed, version: 0, from: 'waiting' }],
    );
    const ops = tx.operations;
    expect(shape(ops).slice(0, 5)).toEqual([
      ...leaderFenceShape,
      `create ${assignmentPrefix(FENCE.self)} mode=${SEQ}`,
      `delete /pending/00/m-0000000001 v=0`,
      `setData ${jobPath('a')} v=0`,
    ]);
    expect(parseRecord(dataOf(ops[4]))).toEqual(claimed);
    // One count delta, with the claim's change (waiting → active).
    expect(ops.filter((o) => o.type === 'create' && o.path.startsWith(`${COUNTS}/`))).toHaveLength(1);
    const res: OpResult[] = [
      { type: 'check', path: workerPath(FENCE.self) },
      { type: 'check', path: LEADER },
      { type: 'create', path: assignmentPrefix(FENCE.self), createdPath: `/queue/${FENCE.self}/a-0000000001` },
      { type: 'delete', path: '/pending/00/m-0000000001' },
      { type: 'setData', path: jobPath('a'), stat: stat(42n, 1) },
    ];
    expect(claimZxids(res)).toEqual(['42']);
    expect(isClaimFailure(txError(4, -103))).toBe(true);
    expect(isClaimFailure(txError(3, -101))).toBe(false);
    expect(isClaimFailure(txError(1, -103))).toBe(false);
    expect(isClaimFailure(new Error('connection loss'))).toBe(false);
  });

  it('requeue: fence, records, one marker, the queue’s children, then the queue', () => {
    const w1 = record({ id: 'a' });
    const tx = requeueOps(
      client,
      FENCE,
      'w-0000000007',
      [
        { next: w1, version: 5 },
        { next: record({ id: 'b' }), version: 2 },
      ],
      [entry('a', { attemptsMade: 1 }), entry('b')],
      ['a-0000000001', 'x-b'],
    );
    expect(shape(tx.operations)).toEqual([
      ...leaderFenceShape,
      `setData ${jobPath('a')} v=5`,
      `setData ${jobPath('b')} v=2`,
      `create ${pendingMarkerPrefix('a')} mode=${SEQ}`,
      `delete ${queueDir('w-0000000007')}/a-0000000001 v=-1`,
      `delete ${queueDir('w-0000000007')}/x-b v=-1`,
      `delete ${queueDir('w-0000000007')} v=-1`,
    ]);
    expect(decodeMarkerDoc(dataOf(tx.operations[4])).entries).toEqual([entry('a', { attemptsMade: 1 }), entry('b')]);
    // Nothing to requeue: no marker, the queue still goes.
    expect(shape(requeueOps(client, FENCE, 'w-0000000007', [], [], []).operations)).toEqual([
      ...leaderFenceShape,
      `delete ${queueDir('w-0000000007')} v=-1`,
    ]);
  });

  it('failDependant: fence, the record when current, the markers', () => {
    const next = record({ id: 'd', state: 'failed' });
    const markers = [{ path: '/pending/02/m-0000000005', version: 1, remaining: [], order: 0 }];
    expect(shape(failDependantOps(client, FENCE, { next, version: 3 }, markers).operations)).toEqual([
      ...leaderFenceShape,
      `setData ${jobPath('d')} v=3`,
      `delete /pending/02/m-0000000005 v=1`,
    ]);
    expect(shape(failDependantOps(client, FENCE, undefined, markers).operations)).toEqual([
      ...leaderFenceShape,
      `delete /pending/02/m-0000000005 v=1`,
    ]);
  });

  it('finishGang: fence, the parent when not final, the gang document', () => {
    const next = record({ id: 'g', state: 'completed' });
    expect(shape(finishGangOps(client, FENCE, 'g', { next, version: 6 }).operations)).toEqual([
      ...leaderFenceShape,
      `setData ${jobPath('g')} v=6`,
      `delete ${gangPath('g')} v=-1`,
    ]);
    expect(shape(finishGangOps(client, FENCE, 'g', undefined).operations)).toEqual([
      ...leaderFenceShape,
      `delete ${gangPath('g')} v=-1`,
    ]);
  });

  it('prune: fence, the records, then the retention marker, then the delta', () => {
    expect(shape(pruneOps(client, FENCE, [{ id: 'a' }, { id: 'b' }], '/retention/03/r-0000000001').operations)).toEqual(
      [
        ...leaderFenceShape,
        `delete ${jobPath('a')} v=-1`,
        `delete ${jobPath('b')} v=-1`,
        `delete /retention/03/r-0000000001 v=-1`,
        `create ${DELTA} mode=${SEQ}`,
      ],
    );
    // A record deleted is a `removed` event, even when its type and state are not known (no count change).
    const tx = pruneOps(client, FENCE, [{ id: 'a' }, { id: 'b', type: 'email', state: 'completed' }], undefined);
    const delta = decodeDelta(dataOf(tx.operations.at(-1)));
    expect(delta.counts).toEqual({ email: { completed: -1 } });
    expect(delta.events).toEqual([
      { event: 'removed', jobId: 'a', type: '', attemptsMade: null },
      { event: 'removed', jobId: 'b', type: 'email', attemptsMade: null, prev: 'completed' },
    ]);
    expect(shape(pruneOps(client, FENCE, [], '/retention/03/r-0000000001').operations)).toEqual([
      ...leaderFenceShape,
      `delete /retention/03/r-0000000001 v=-1`,
    ]);
  });

  it('a built multi is never sent by the offline client', async () => {
    await expect(pruneOps(client, FENCE, [], undefined).commit()).rejects.toThrow('not sent');
  });
});

describe('results and failures', () => {
  it('zxidOf: the zxid of the first op with a Stat', () => {
    expect(
      zxidOf([
        { type: 'check', path: '/x' },
        { type: 'setData', path: '/a', stat: stat(0x20n) },
        { type: 'setData', path: '/b', stat: stat(0x30n) },
      ]),
    ).toBe('32');
    expect(zxidOf([{ type: 'create', path: '/c', createdPath: '/c' }])).toBeUndefined();
  });

  it('holder fence failure: op 0 only', () => {
    expect(isHolderFenceFailure(txError(0, NoNodeError.CODE))).toBe(true);
    expect(isHolderFenceFailure(txError(1, BadVersionError.CODE))).toBe(false);
    expect(isHolderFenceFailure(new Error('failedIndex 0'))).toBe(false);
    expect(isHolderFenceFailure(Object.assign(new Error('x'), { failedIndex: 0 }))).toBe(false);
  });

  it('leader fence failure: ops 0 and 1', () => {
    expect(isLeaderFenceFailure(txError(0, NoNodeError.CODE))).toBe(true);
    expect(isLeaderFenceFailure(txError(1, BadVersionError.CODE))).toBe(true);
    expect(isLeaderFenceFailure(txError(2, BadVersionError.CODE))).toBe(false);
    expect(isLeaderFenceFailure(undefined)).toBe(false);
  });

  it('op failure: at or after the fence', () => {
    expect(isOpFailure(txError(1, BadVersionError.CODE), HOLDER_FENCE_OPS)).toBe(true);
    expect(isOpFailure(txError(0, NoNodeError.CODE), HOLDER_FENCE_OPS)).toBe(false);
    expect(isOpFailure(txError(1, BadVersionError.CODE), LEADER_FENCE_OPS)).toBe(false);
    expect(isOpFailure(txError(2, NoNodeError.CODE), LEADER_FENCE_OPS)).toBe(true);
    expect(isOpFailure(new BadVersionError(), 0)).toBe(false);
  });

  it('cancel signal failure: op 1 with NoNode or NodeExists', () => {
    expect(isCancelSignalFailure(txError(1, NoNodeError.CODE))).toBe(true);
    expect(isCancelSignalFailure(txError(1, NodeExistsError.CODE))).toBe(true);
    expect(isCancelSignalFailure(txError(1, BadVersionError.CODE))).toBe(false);
    expect(isCancelSignalFailure(txError(0, BadVersionError.CODE))).toBe(false);
    expect(isCancelSignalFailure(txError(0, NoNodeError.CODE))).toBe(false);
    expect(isCancelSignalFailure(new NoNodeError())).toBe(false);
  });

  it('id taken: a submit that failed with NodeExists', () => {
    expect(isIdTaken(txError(0, NodeExistsError.CODE))).toBe(true);
    expect(isIdTaken(txError(3, NodeExistsError.CODE))).toBe(true);
    expect(isIdTaken(txError(0, NoNodeError.CODE))).toBe(false);
    expect(isIdTaken(new NodeExistsError())).toBe(false);
  });
});
