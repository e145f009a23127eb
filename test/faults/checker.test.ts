// Tests of the history checker itself: hand-made histories that break each invariant must fail
// with the right counterexample, and a deliberately broken build (the completion multi without
// its claim check, switched on in the handlers fixture) must make `zkjobs verify` exit 1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import {
  Queue,
  checkHistory,
  createLogger,
  parseHistoryLine,
  readHistoryLines,
  type AttemptRecord,
  type CheckName,
  type HistoryEvent,
  type JobRecord,
  type JobState,
  type TreeSnapshot,
  type VerifyReport,
} from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { historyFiles, killAll, readJsonLines, runCli, spawnCliWorker, type CliWorker } from './support.js';

const logger = createLogger('silent');

function attempt(
  a: number,
  token: number,
  outcome: AttemptRecord['outcome'],
  worker: string,
  t: number,
): AttemptRecord {
  return {
    attempt: a,
    worker,
    process: 'h:1',
    session: `s-${worker}`,
    token,
    startedAt: t,
    ...(outcome === 'running' ? {} : { endedAt: t + 100 }),
    outcome,
  };
}

function record(id: string, state: JobState, history: AttemptRecord[]): JobRecord {
  return {
    id,
    type: 'work',
    data: {},
    opts: {
      priority: 0,
      delay: 0,
      attempts: 1,
      removeOnComplete: false,
      removeOnFail: false,
      dependsOn: [],
      parallelism: 1,
    },
    state,
    attemptsMade: history.length,
    createdAt: 0,
    history,
  };
}

function tree(records: [JobRecord, number][], more: Partial<TreeSnapshot> = {}): TreeSnapshot {
  return {
    records: new Map(records.map(([rec, version]) => [rec.id, { rec, version }])),
    pending: new Set(),
    assigned: new Map(),
    workers: new Set(['w-0000000001', 'w-0000000002']),
    queues: new Set(),
    gangs: new Set(),
    ...more,
  };
}

const ev = (kind: HistoryEvent['kind'], job: string, token: number, worker: string, at: number): HistoryEvent => ({
  kind,
  job,
  token,
  worker,
  session: `s-${worker}`,
  at,
});

function failed(r: VerifyReport): Partial<Record<CheckName, string[]>> {
  const out: Partial<Record<CheckName, string[]>> = {};
  for (const c of r.checks) if (!c.ok) out[c.name] = c.counterexamples.map((x) => x.job);
  return out;
}

const W1 = 'w-0000000001';
const W2 = 'w-0000000002';

describe('checkHistory', () => {
  it('passes a correct history: a requeued claim, a re-run elsewhere, one completion', () => {
    const rec = record('a', 'completed', [attempt(1, 1, 'requeued', W1, 1000), attempt(2, 3, 'completed', W2, 4000)]);
    const events = [
      ev('claim', 'a', 1, W1, 1000),
      ev('effect', 'a', 1, W1, 1001),
      ev('requeue', 'a', 1, W2, 3000),
      ev('claim', 'a', 3, W2, 4000),
      ev('effect', 'a', 3, W2, 4001),
      ev('complete', 'a', 3, W2, 4100),
      ev('refuse', 'a', 1, W1, 5000),
      { kind: 'submit', job: 'a' } as HistoryEvent,
    ];
    const r = checkHistory({ tree: tree([[rec, 4]]), events });
    expect(failed(r)).toEqual({});
    expect(r.ok).toBe(true);
    expect(r.stats).toMatchObject({ claims: 2, completions: 1, refused: 1, requeued: 1, reruns: 1 });
  });

  it('a completion accepted from a stale claim (the record overwritten by the stale holder) fails', () => {
    // w1 claimed (token 1), was requeued (version 2), w2 claimed (token 3) and completed (version 4);
    // then w1's completion was written without its claim check: the record is w1's copy, version 5.
    const rec = record('b', 'completed', [attempt(1, 1, 'completed', W1, 1000)]);
    const events = [
      ev('claim', 'b', 1, W1, 1000),
      ev('requeue', 'b', 1, W2, 3000),
      ev('claim', 'b', 3, W2, 4000),
      ev('complete', 'b', 3, W2, 4100),
      ev('complete', 'b', 1, W1, 9000),
    ];
    const r = checkHistory({ tree: tree([[rec, 5]]), events });
    expect(r.ok).toBe(false);
    expect(failed(r)).toMatchObject({
      'stale-completion': ['b'],
      'double-completion': ['b'],
      'history-complete': ['b'],
      'overlapping-claims': ['b'],
    });
    const stale = r.checks.find((c) => c.name === 'stale-completion')!.counterexamples[0]!;
    expect(stale.message).toContain('completion accepted from claim 1 although claim 3');
  });

  it('a stale completion seen in the tree alone: completed at a version that is not token + 1', () => {
    const rec = record('c', 'completed', [attempt(1, 1, 'completed', W1, 1000)]);
    const r = checkHistory({ tree: tree([[rec, 3]]) });
    expect(failed(r)).toEqual({ 'stale-completion': ['c'] });
    expect(r.checks.find((c) => c.name === 'stale-completion')!.counterexamples[0]!.message).toContain(
      'record is at version 3, not 2',
    );
  });

  it('a completion after the leader requeued that claim fails', () => {
    const rec = record('d', 'completed', [attempt(1, 1, 'completed', W1, 1000)]);
    const events = [ev('claim', 'd', 1, W1, 1000), ev('requeue', 'd', 1, W2, 3000), ev('complete', 'd', 1, W1, 5000)];
    const r = checkHistory({ tree: tree([[rec, 2]]), events });
    expect(failed(r)).toEqual({ 'stale-completion': ['d'] });
  });

  it('two completion records fail', () => {
    const rec = record('e', 'completed', [attempt(1, 1, 'completed', W1, 1000), attempt(2, 3, 'completed', W2, 2000)]);
    const r = checkHistory({ tree: tree([[rec, 4]]) });
    expect(failed(r)).toMatchObject({ 'double-completion': ['e'] });
  });

  it('a non-increasing fencing token fails', () => {
    const rec = record('f', 'completed', [attempt(1, 5, 'requeued', W1, 1000), attempt(2, 3, 'completed', W2, 2000)]);
    const events = [ev('claim', 'g', 7, W1, 1000), { ...ev('claim', 'g', 7, W2, 2000), attempt: 2 }];
    const r = checkHistory({
      tree: tree([
        [rec, 4],
        [record('g', 'active', [attempt(1, 7, 'running', W1, 1000)]), 7],
      ]),
      events,
    });
    expect(failed(r)['token-order']).toEqual(['f', 'g']);
    const msgs = r.checks.find((c) => c.name === 'token-order')!.counterexamples.map((x) => x.message);
    expect(msgs[0]).toContain('attempt 2 got token 3, not larger than attempt 1');
    expect(msgs[1]).toContain('token 7 was handed out to 2 different claims');
  });

  it('two claims current at once fail', () => {
    const h = [attempt(1, 1, 'running', W1, 1000), attempt(2, 2, 'running', W2, 2000)];
    const h2 = [{ ...attempt(1, 1, 'requeued', W1, 1000), endedAt: 5000 }, attempt(2, 3, 'completed', W2, 2000)];
    const r = checkHistory({
      tree: tree([
        [{ ...record('h', 'active', h), claim: { worker: W2, session: 's', token: 2 } }, 2],
        [record('i', 'completed', h2), 4],
      ]),
    });
    expect(failed(r)).toEqual({ 'overlapping-claims': ['h', 'i'] });
  });

  it('lost jobs fail: waiting in no marker or queue, claimed by a gone worker with no queue, submitted without a record', () => {
    const waiting = record('j', 'waiting', []);
    const queued = record('k', 'waiting', []);
    const orphan = {
      ...record('l', 'active', [attempt(1, 1, 'running', 'w-0000000009', 1000)]),
      claim: { worker: 'w-0000000009', session: 's', token: 1 },
    };
    const requeueable = {
      ...record('m', 'active', [attempt(1, 1, 'running', 'w-0000000008', 1000)]),
      claim: { worker: 'w-0000000008', session: 's', token: 1 },
    };
    const r = checkHistory({
      tree: tree(
        [
          [waiting, 0],
          [queued, 0],
          [orphan, 1],
          [requeueable, 1],
        ],
        {
          pending: new Set(['k@0']),
          assigned: new Map([['m@0', ['w-0000000008']]]),
          queues: new Set(['w-0000000008']),
        },
      ),
      submitted: ['j', 'k', 'l', 'm', 'n'],
    });
    expect(failed(r)).toEqual({ lost: ['n', 'j', 'l'] });
  });

  it('a re-run nothing explains fails', () => {
    const rec = record('o', 'completed', [attempt(1, 3, 'completed', W2, 2000)]);
    const events = [ev('effect', 'o', 1, W1, 1000), ev('effect', 'o', 3, W2, 2000), ev('complete', 'o', 3, W2, 2100)];
    const r = checkHistory({ tree: tree([[rec, 4]]), events });
    expect(failed(r)).toEqual({ 'rerun-explained': ['o'] });
    expect(r.stats.reruns).toBe(1);
  });

  it("a re-run is explained by the record's notes alone; a note written after the completion is no stale write", () => {
    const note = (token: number, over: number) => ({
      kind: 'refused' as const,
      attempt: 1,
      token,
      worker: W1,
      session: `s-${W1}`,
      process: 'h:1',
      reason: 'claim no longer current',
      at: 2500,
      over,
    });
    // Claim 1's attempt is closed as requeued; claim 3 completed (version 4); then the holder of
    // claim 1 noted its refusal (version 5).
    const rec = {
      ...record('p', 'completed', [attempt(1, 1, 'requeued', W1, 1000), attempt(2, 3, 'completed', W2, 2000)]),
      notes: [note(1, 4)],
    };
    const r = checkHistory({ tree: tree([[rec, 5]]) });
    expect(failed(r)).toEqual({});
    expect(r.stats).toMatchObject({ reruns: 1, refused: 1 });
    expect(r.checks.every((c) => c.ran || c.name === 'history-complete')).toBe(true);
    // Without the note's write, version 5 means something else wrote after the completion.
    const bare = record('q', 'completed', [attempt(1, 1, 'requeued', W1, 1000), attempt(2, 3, 'completed', W2, 2000)]);
    expect(failed(checkHistory({ tree: tree([[bare, 5]]) }))).toEqual({ 'stale-completion': ['q'] });
    // A run under a claim the record shows neither closed nor noted is not explained.
    const effects = [ev('effect', 'r', 1, W1, 1000), ev('effect', 'r', 3, W2, 2000)];
    const r2 = record('r', 'completed', [attempt(2, 3, 'completed', W2, 2000)]);
    expect(failed(checkHistory({ tree: tree([[r2, 4]]), events: effects }))).toEqual({ 'rerun-explained': ['r'] });
    expect(
      failed(
        checkHistory({
          tree: tree([[{ ...r2, notes: [{ ...note(1, 4), kind: 'lost' as const }] }, 5]]),
          events: effects,
        }),
      ),
    ).toEqual({});
  });

  it('reads pino logs, worker start --json events and native lines', () => {
    const pino = parseHistoryLine(
      '{"level":30,"time":5,"jobId":"x","attempt":2,"token":7,"worker":"w-1","session":"ab","reason":"r","msg":"completion refused: lost claim"}',
    );
    expect(pino).toEqual({ kind: 'refuse', job: 'x', token: 7, attempt: 2, worker: 'w-1', session: 'ab', at: 5 });
    const lines = [
      '{"event":"active","at":1,"worker":"w-2","session":"cd","jobId":"y","type":"work","token":4,"attempt":1}',
      '{"event":"completed","at":2,"worker":"w-2","session":"cd","jobId":"y","type":"work"}',
      '{"event":"stalled","at":3,"worker":"w-2","jobId":"z","error":"lost claim on job z (token 9): session lost"}',
      '{"kind":"effect","job":"y","token":4,"at":1}',
      'not json',
    ].join('\n');
    const evs = readHistoryLines(lines, 'f');
    expect(evs.map((e) => [e.kind, e.job, e.token])).toEqual([
      ['claim', 'y', 4],
      ['complete', 'y', 4],
      ['stall', 'z', 9],
      ['effect', 'y', 4],
    ]);
    expect(evs[1]!.source).toBe('f:2');
  });
});

describe('zkjobs verify against real worker processes', () => {
  let client: ZkClient;
  let dir: string;
  const procs: CliWorker[] = [];

  beforeAll(async () => {
    client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    dir = mkdtempSync(join(tmpdir(), 'zkjobs-checker-'));
  });
  afterAll(async () => {
    await killAll(procs);
    await client?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Worker A claims a job and freezes (event loop and all) past its session timeout right before
   * writing the completion; worker B becomes leader, requeues and re-runs it. Then A thaws and
   * tries to complete.
   */
  async function frozenHolder(broken: boolean): Promise<{ namespace: string; files: string[] }> {
    const namespace = fileNamespace(import.meta.filename);
    const run = mkdtempSync(join(dir, broken ? 'broken-' : 'sound-'));
    const common = { connect: zkConnect, namespace, dir: run, sessionTimeoutMs: 2000 };
    const a = await spawnCliWorker({
      ...common,
      label: 'a',
      env: { FREEZE_MS: '6000', ...(broken ? { ZKJOBS_BROKEN_COMPLETION: '1' } : {}) },
    });
    procs.push(a);
    const queue = new Queue(client, { namespace, logger });
    // Attempts to spare: A's lost claim counts one (the stall limit), and B runs the second.
    await queue.add('freeze', {}, { jobId: 'frozen-1', attempts: 2 });
    await waitFor(() => readJsonLines(join(run, `ledger-${a.pid}.jsonl`)).length > 0, 20_000, 50, 'A runs the job');
    const b = await spawnCliWorker({ ...common, label: 'b' });
    procs.push(b);
    // B re-runs it; A thaws and its completion is either refused or (broken) accepted.
    await waitFor(() => readJsonLines(join(run, `ledger-${b.pid}.jsonl`)).length > 0, 30_000, 50, 'B re-runs it');
    const aDone = (): boolean =>
      readJsonLines(a.logFile).some(
        (l) =>
          l['jobId'] === 'frozen-1' && (l['msg'] === 'job completed' || l['msg'] === 'completion refused: lost claim'),
      );
    await waitFor(aDone, 30_000, 100, "A's completion written or refused");
    await waitFor(async () => (await queue.getJob('frozen-1'))?.state === 'completed', 20_000, 100, 'job completed');
    if (!broken) {
      // The refused holder notes its refusal in the record (once the record is final).
      await waitFor(
        async () => ((await queue.getJob('frozen-1'))?.notes ?? []).some((n) => n.kind === 'refused'),
        20_000,
        100,
        "A's refusal noted in the record",
      );
    }
    await killAll([a, b]);
    return { namespace, files: historyFiles(run) };
  }

  it('a sound build: the thawed holder is refused; verify passes and explains the re-run', async () => {
    const { namespace, files } = await frozenHolder(false);
    const res = await runCli([
      '--connect',
      zkConnect,
      '--namespace',
      namespace,
      '--json',
      'verify',
      '--history',
      ...files,
    ]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as VerifyReport;
    expect(report.ok).toBe(true);
    expect(report.stats.reruns).toBe(1);
    expect(report.stats.refused + report.stats.stalled).toBeGreaterThanOrEqual(1);
    expect(report.checks.every((c) => c.ran)).toBe(true);
    // The tree alone explains the re-run: the record holds the refused holder's note.
    const treeOnly = await runCli(['--connect', zkConnect, '--namespace', namespace, '--json', 'verify']);
    expect(treeOnly.code).toBe(0);
    const alone = JSON.parse(treeOnly.stdout) as VerifyReport;
    expect(alone.ok).toBe(true);
    expect(alone.stats.reruns).toBe(1);
    expect(alone.stats.refused).toBe(1);
    expect(alone.checks.find((c) => c.name === 'rerun-explained')!.ran).toBe(true);
  }, 90_000);

  it('a broken build (completion multi without its claim check): verify fails with a stale completion', async () => {
    const { namespace, files } = await frozenHolder(true);
    const res = await runCli([
      '--connect',
      zkConnect,
      '--namespace',
      namespace,
      '--json',
      'verify',
      '--history',
      ...files,
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('stale-completion');
    const report = JSON.parse(res.stdout) as VerifyReport;
    expect(report.ok).toBe(false);
    const stale = report.checks.find((c) => c.name === 'stale-completion')!;
    expect(stale.counterexamples.map((x) => x.job)).toEqual(['frozen-1']);
    console.log(`broken build caught: ${stale.counterexamples[0]!.message}`);
    // The human form names it too.
    const human = await runCli(['--connect', zkConnect, '--namespace', namespace, 'verify', '--history', ...files]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/FAIL/);
    expect(human.stdout).toContain('frozen-1');
  }, 90_000);
});
