import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { exampleHandlers, json, jsonLines, killAll, run, start, type Running, runAll } from './cli.js';

const ns = fileNamespace(import.meta.filename);
const zk = (...args: string[]) => run(['--connect', zkConnect, '--namespace', ns, ...args]);
const dir = mkdtempSync(join(tmpdir(), 'zkjobs-e2e-'));

interface ClusterDoc {
  namespace: string;
  leader: { worker: string; epoch: number; alive: boolean; since: number; pid: number } | null;
  workers: { name: string; pid: number; types: string[]; leader: boolean; session: string }[];
  jobs: Record<string, number>;
  pendingMarkers: number;
}
const cluster = async (): Promise<ClusterDoc> => json<ClusterDoc>(await zk('--json', 'cluster', 'status'));
const totalJobs = (c: ClusterDoc): number => Object.values(c.jobs).reduce((a, b) => a + b, 0);

function startWorker(): Running {
  return start([
    '--connect',
    zkConnect,
    '--namespace',
    ns,
    '--json',
    '--log-level',
    'warn',
    'worker',
    'start',
    '--handlers',
    exampleHandlers,
    '--concurrency',
    '4',
    '--session-timeout',
    '4000',
    '--grace',
    '3000',
  ]);
}

describe('zkjobs worker start + job commands + cluster status', () => {
  const workers: Running[] = [];
  let early = '';

  beforeAll(async () => {
    // Before any worker: an unknown type is refused and nothing is written …
    const refused = await zk('job', 'submit', 'echo', '--data', '{"n":1}');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `unknown job type "echo": no live worker in ${ns} has a handler for it (no live workers)`,
    );
    const none = await zk('cluster', 'status');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no zkjobs cluster at ${ns}`);
    // … unless --any-type: the job waits for a worker that can run it.
    const any = await zk('--json', 'job', 'submit', 'echo', '--any-type', '--id', 'early', '--data', '{"n":0}');
    expect(any.code).toBe(0);
    early = json<{ id: string }>(any).id;

    workers.push(startWorker(), startWorker());
    await Promise.all(
      workers.map((w) => w.waitForLine((l) => l.includes('"event":"started"'), 30_000, 'worker started')),
    );
  });

  afterAll(async () => {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
    const c = await ZkClient.connect(zkConnect);
    await c.deleteRecursive(ns);
    await c.close();
  });

  it('job submit --wait runs a job on a worker and prints its result; --any-type job ran once a worker came', async () => {
    const r = await zk('--json', 'job', 'submit', 'echo', '--data', '{"hello":"world"}', '--wait');
    expect(r.code).toBe(0);
    const doc = json<{ id: string; state: string; result: { echo: unknown; worker: string; token: number } }>(r);
    expect(doc.state).toBe('completed');
    expect(doc.result.echo).toEqual({ hello: 'world' });
    expect(doc.result.worker).toMatch(/^w-\d{10}$/);
    const human = await zk('job', 'submit', 'square', '--data', '{"n":7}', '--wait');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^\S+ {2}completed {2}attempts 1 {2}result 49\n$/);
    const w = await zk('job', 'wait', early);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain(`early  completed  attempts 1  result {"echo":{"n":0}`);
  });

  it('bulk submit with --count, then job wait on every id and job list', async () => {
    const sub = await zk(
      '--json',
      'job',
      'submit',
      'sleep',
      '--data',
      '{"ms":20}',
      '--count',
      '30',
      '--id',
      'bulk',
      '--priority',
      '5',
    );
    expect(sub.code).toBe(0);
    const subs = jsonLines<{ id: string; state: string; created: boolean }>(sub);
    expect(subs.map((s) => s.id)).toEqual(Array.from({ length: 30 }, (_, i) => `bulk-${i + 1}`));
    expect(subs.every((s) => s.created && s.state === 'waiting')).toBe(true);
    const wait = await zk('--json', 'job', 'wait', ...subs.map((s) => s.id));
    expect(wait.code).toBe(0);
    const outcomes = jsonLines<{ id: string; state: string; result: { slept: number } }>(wait);
    expect(outcomes).toHaveLength(30);
    expect(outcomes.every((o) => o.state === 'completed' && o.result.slept === 20)).toBe(true);
    // idempotency: the same ids again write nothing
    const again = await zk('job', 'submit', 'sleep', '--count', '30', '--id', 'bulk');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('submitted 0 job(s) of type sleep: bulk-1 … bulk-30 (30 existed already)');
    const one = await zk('job', 'submit', 'sleep', '--id', 'bulk-3');
    expect(one.stdout).toBe('job bulk-3 already exists (state completed); nothing submitted\n');

    const list = json<{ count: number; jobs: { id: string; type: string; state: string; priority: number }[] }>(
      await zk('--json', 'job', 'list', '--state', 'completed', '--type', 'sleep'),
    );
    expect(list.count).toBe(30);
    expect(list.jobs.every((j) => j.state === 'completed' && j.priority === 5)).toBe(true);
    const human = await zk('job', 'list', '--state', 'completed', '--limit', '3');
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')[0]).toMatch(/^ID\s+TYPE\s+STATE\s+ATTEMPTS\s+CREATED\s+FINISHED$/);
    const none = await zk('job', 'list', '--state', 'dead', '--type', 'nothing');
    expect(none.stdout).toBe(`no jobs of type nothing in state dead in ${ns}\n`);
    const noType = await zk('job', 'list', '--type', 'nosuch');
    expect(noType).toMatchObject({ code: 0, stdout: `no jobs of type nosuch in ${ns}\n` });
    const badState = await zk('job', 'list', '--state', 'finished');
    expect(badState.code).toBe(2);
    expect(badState.stderr).toMatch(
      /--state.*Allowed choices are waiting, delayed, active, completed, failed, dead, cancelled/s,
    );
  });

  it('retries with backoff, and job explain tells who ran each attempt, its session and token, and why it ran again', async () => {
    const sub = await zk(
      'job',
      'submit',
      'flaky',
      '--id',
      'flaky-1',
      '--data',
      '{"failures":2}',
      '--attempts',
      '3',
      '--backoff',
      'fixed:50',
      '--wait',
    );
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/^flaky-1 {2}completed {2}attempts 3 {2}result \{"attempt":3/);
    const ex = json<{
      state: string;
      maxAttempts: number;
      attempts: { attempt: number; worker: string; session: string; token: number; outcome: string; why?: string }[];
    }>(await zk('--json', 'job', 'explain', 'flaky-1'));
    expect(ex.state).toBe('completed');
    expect(ex.maxAttempts).toBe(3);
    expect(ex.attempts.map((a) => a.outcome)).toEqual(['retrying', 'retrying', 'completed']);
    const tokens = ex.attempts.map((a) => a.token);
    expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(3);
    for (const a of ex.attempts) {
      expect(a.worker).toMatch(/^w-\d{10}$/);
      expect(a.session).toMatch(/^0x[0-9a-f]+$/);
    }
    expect(ex.attempts[0]!.why).toBeUndefined();
    expect(ex.attempts[1]!.why).toBe('attempt 1 failed: flaky: attempt 1 of 2 planned failures; retried (attempts 3)');
    const human = await zk('job', 'explain', 'flaky-1');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('job flaky-1 (type flaky): completed after 3 of at most 3 attempt(s)');
    expect(human.stdout).toMatch(/#\s+WORKER\s+PROCESS\s+SESSION\s+TOKEN\s+STARTED\s+TOOK\s+OUTCOME/);
    expect(human.stdout).toContain('why it ran again:\n  attempt 2: attempt 1 failed');
  });

  it('a job that uses up its attempts: wait and --wait exit 1, status says dead and why', async () => {
    const sub = await zk(
      'job',
      'submit',
      'fail',
      '--id',
      'doomed',
      '--data',
      '{"message":"disk full"}',
      '--attempts',
      '2',
      '--wait',
    );
    expect(sub.code).toBe(1);
    expect(sub.stdout).toBe('doomed  dead       attempts 2  error disk full\n');
    expect(sub.stderr).toContain('1 of 1 job(s) did not complete (1 dead)');
    const [wait, status, statusJson] = await runAll([
      ['--connect', zkConnect, '--namespace', ns, 'job', 'wait', 'doomed'],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'status', 'doomed'],
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'status', 'doomed'],
    ]);
    expect(wait.code).toBe(1);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^state\s+dead$/m);
    expect(status.stdout).toMatch(/^attempts\s+2 of 2$/m);
    expect(status.stdout).toMatch(/^error\s+Error: disk full$/m);
    expect(json(statusJson)).toMatchObject({
      id: 'doomed',
      state: 'dead',
      attemptsMade: 2,
      error: { message: 'disk full' },
    });
    const unrec = await zk(
      '--json',
      'job',
      'submit',
      'fail',
      '--data',
      '{"unrecoverable":true}',
      '--attempts',
      '5',
      '--wait',
    );
    expect(unrec.code).toBe(1);
    expect(json(unrec)).toMatchObject({ state: 'failed', attemptsMade: 1 });
  });

  it('job cancel stops a running job; a second cancel says already cancelled (exit 0); unknown ids fail with exit 1', async () => {
    expect((await zk('job', 'submit', 'sleep', '--id', 'long', '--data', '{"ms":20000}')).code).toBe(0);
    await waitFor(
      async () => json(await zk('--json', 'job', 'status', 'long'))['state'] === 'active',
      15_000,
      100,
      'long to start',
    );
    const c = await zk('job', 'cancel', 'long');
    expect(c).toMatchObject({ code: 0, stdout: 'cancelled job long (was active)\n' });
    const [again, wait, missing, missingStatus, missingExplain, badId] = await runAll([
      ['--connect', zkConnect, '--namespace', ns, 'job', 'cancel', 'long'],
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'wait', 'long'],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'cancel', 'no-such-job'],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'status', 'no-such-job'],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'explain', 'no-such-job'],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'status', '../etc'],
    ]);
    expect(again).toMatchObject({ code: 0, stdout: 'job long already cancelled\n' });
    expect(wait.code).toBe(1);
    expect(json(wait)).toMatchObject({ id: 'long', state: 'cancelled' });
    for (const r of [missing, missingStatus, missingExplain]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no job no-such-job in ${ns}`);
    }
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('invalid job id "../etc"');
    const ex = json<{ attempts: { outcome: string }[] }>(await zk('--json', 'job', 'explain', 'long'));
    expect(ex.attempts.map((a) => a.outcome)).toEqual(['cancelled']);
  });

  it('bad input is refused with exit 2, naming what is wrong, and writes nothing', async () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, JSON.stringify({ blob: 'x'.repeat(300_000) }));
    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, '{\n  "to": "a@b.c",\n  "n": 1,,\n}\n');
    const before = await cluster();
    const cases: [string[], RegExp][] = [
      [
        ['job', 'submit', 'echo', '--data', '{"to": "a@b.c", }'],
        /malformed JSON in --data at line 1, column 17: expected a double-quoted property name but found '}'/,
      ],
      [
        ['job', 'submit', 'echo', '--data', `@${badFile}`],
        /malformed JSON in --data file .*bad\.json at line 3, column 10: expected a double-quoted property name but found ','/,
      ],
      [
        ['job', 'submit', 'echo', '--data', `@${join(dir, 'missing.json')}`],
        /cannot read --data file .*missing\.json: ENOENT/,
      ],
      [
        ['job', 'submit', 'email', '--data', '{}'],
        /unknown job type "email": no live worker in \S+ has a handler for it \(live workers handle: echo, fail, flaky, sleep, square\)/,
      ],
      [['job', 'submit', 'echo', '--data', `@${big}`], /--data: payload is 300\d+ bytes, over the cap of 262144 bytes/],
      [['job', 'submit', 'echo', '--count', '3', '--data', `@${big}`], /--data: payload is 300\d+ bytes, over the cap/],
      [
        ['job', 'submit', 'echo', '--backoff', 'linear:5', '--attempts', '2'],
        /--backoff.*must be fixed:<ms> or exponential:<ms>/s,
      ],
      [['job', 'submit', 'echo', '--priority', '-1'], /--priority/],
      // integer options take plain decimal integers only
      [['job', 'submit', 'echo', '--priority', '1e3'], /--priority.*must be an integer 0–1000000, got '1e3'/s],
      [['job', 'submit', 'echo', '--priority', '0x10'], /--priority.*got '0x10'/s],
      [['job', 'submit', 'echo', '--priority', '1.5'], /--priority.*got '1\.5'/s],
      [['job', 'submit', 'echo', '--id', '..'], /invalid job id "\.\.": '\.' and '\.\.' are not allowed/],
      [['job', 'submit', 'echo', '--attempts', '0'], /--attempts.*must be an integer 1–1000/s],
      [['job', 'submit', 'echo', '--id', 'a/b'], /invalid job id "a\/b"/],
      [['job', 'submit', 'bad type!'], /<type>: "bad type!" must be 1-100 characters/],
      [['job', 'wait'], /missing required argument 'id'/],
    ];
    const results = await runAll(cases.map(([args]) => ['--connect', zkConnect, '--namespace', ns, ...args]));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr, cases[i]![0].join(' ')).toMatch(cases[i]![1]);
      expect(r.stdout).toBe('');
    });
    const after = await cluster();
    expect(after.jobs).toEqual(before.jobs);
    expect(totalJobs(after)).toBe(totalJobs(before));
    expect(after.pendingMarkers).toBe(before.pendingMarkers);
  });

  it('cluster status: the workers, which leads since when, the epoch, jobs by state', async () => {
    const c = await cluster();
    expect(c.namespace).toBe(ns);
    expect(c.workers).toHaveLength(2);
    const pids = workers.map((w) => w.child.pid);
    expect(c.workers.map((w) => w.pid).sort()).toEqual([...pids].sort());
    expect(c.leader).not.toBeNull();
    expect(c.leader!.alive).toBe(true);
    expect(c.leader!.epoch).toBeGreaterThanOrEqual(1);
    expect(c.leader!.since).toBeLessThanOrEqual(Date.now());
    expect(c.workers.filter((w) => w.leader).map((w) => w.name)).toEqual([c.leader!.worker]);
    expect(c.workers[0]!.types.sort()).toEqual(['echo', 'fail', 'flaky', 'sleep', 'square']);
    expect(c.jobs['completed']).toBeGreaterThanOrEqual(34);
    expect(c.jobs['dead']).toBe(1);
    expect(c.jobs['cancelled']).toBe(1);
    const human = await zk('cluster', 'status');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`cluster ${ns}`);
    expect(human.stdout).toMatch(
      new RegExp(
        `^leader +${c.leader!.worker} \\(.+:${c.leader!.pid}\\) since \\S+ \\(.+ ago\\), epoch ${c.leader!.epoch}$`,
        'm',
      ),
    );
    expect(human.stdout).toMatch(/^workers +2$/m);
    expect(human.stdout).toMatch(new RegExp(`^\\* ${c.leader!.worker} `, 'm'));
    expect(human.stdout).toMatch(
      /^jobs +waiting \d+, delayed \d+, active \d+, completed \d+, failed \d+, dead 1, cancelled 1$/m,
    );
  });

  it('SIGTERM: workers close gracefully, exit 0, and their w- znodes are gone', async () => {
    const names = workers.map((w) => w.docs().find((d) => d['event'] === 'started')!['worker'] as string);
    const client = await ZkClient.connect(zkConnect);
    try {
      for (const n of names) expect(await client.exists(`${ns}/workers/${n}`)).not.toBeNull();
      for (const w of workers) w.child.kill('SIGTERM');
      const codes = await Promise.all(workers.map((w) => w.exited));
      expect(codes).toEqual([0, 0]);
      for (const w of workers) {
        const events = w.docs().map((d) => d['event']);
        expect(events).toContain('closing');
        expect(events.at(-1)).toBe('closed');
      }
      for (const n of names) expect(await client.exists(`${ns}/workers/${n}`)).toBeNull();
      expect((await client.getChildren(`${ns}/workers`)).children.filter((c) => c.startsWith('w-'))).toEqual([]);
    } finally {
      await client.close();
    }
    const c = await cluster();
    expect(c.workers).toEqual([]);
    expect(c.leader?.alive).toBe(false);
  });
});
