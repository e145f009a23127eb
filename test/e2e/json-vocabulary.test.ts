// One --json vocabulary across the job commands: attemptsMade (a count), maxAttempts (allowed),
// attempts (the records); job list --limit keeps the newest; errors under --json are one JSON
// document on stderr.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { exampleHandlers, json, killAll, run, runAll, start } from './cli.js';

const ns = fileNamespace(import.meta.filename);
const zk = (...args: string[]) => run(['--connect', zkConnect, '--namespace', ns, ...args]);

interface Summary {
  id: string;
  attemptsMade: number;
  maxAttempts: number;
  attempts?: unknown;
}
interface Attempt {
  attempt: number;
  outcome: string;
  token: number;
  why?: string;
}

describe('the job commands speak one JSON vocabulary', () => {
  beforeAll(async () => {
    const w = start([
      '--connect',
      zkConnect,
      '--namespace',
      ns,
      '--json',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
    ]);
    await w.waitForLine((l) => l.includes('"event":"leader-elected"'), 30_000, 'leadership');
  });
  afterAll(killAll);

  it('attemptsMade, maxAttempts and attempts mean the same in submit, list, status and explain', async () => {
    const sub = await zk(
      '--json',
      'job',
      'submit',
      'flaky',
      '--id',
      'twice',
      '--data',
      '{"failures":1}',
      '--attempts',
      '3',
    );
    expect(sub.code, sub.stderr).toBe(0);
    const submitted = json(sub);
    expect(submitted).toMatchObject({ id: 'twice', attemptsMade: 0, maxAttempts: 3, created: true });
    expect(submitted).not.toHaveProperty('attempts');
    const waited = await zk('--json', 'job', 'wait', 'twice');
    expect(json(waited)).toMatchObject({ id: 'twice', state: 'completed', attemptsMade: 2 });
    const [list, status, explain] = await runAll([
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'list', '--type', 'flaky'],
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'status', 'twice'],
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'explain', 'twice'],
    ]);
    const listed = json<{ jobs: Summary[] }>(list).jobs;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: 'twice', attemptsMade: 2, maxAttempts: 3 });
    expect(listed[0]).not.toHaveProperty('attempts');
    const st = json<Summary & { attempts: Attempt[]; history?: unknown; opts: { attempts: number } }>(status);
    const ex = json<Summary & { attempts: Attempt[] }>(explain);
    for (const doc of [st, ex]) {
      expect(doc).toMatchObject({ id: 'twice', attemptsMade: 2, maxAttempts: 3 });
      expect(doc.attempts.map((a) => a.outcome)).toEqual(['retrying', 'completed']);
      expect(doc.attempts[1]!.why).toMatch(/^attempt 1 failed: flaky/);
    }
    expect(st.attempts).toEqual(ex.attempts);
    expect(st).not.toHaveProperty('history');
    expect(st.opts.attempts).toBe(3); // the submitted option keeps its name inside opts
  });

  it('job list --limit N lists the newest N, newest first (--oldest: the oldest)', async () => {
    for (const id of ['order-1', 'order-2', 'order-3']) {
      const r = await zk('job', 'submit', 'echo', '--id', id, '--wait');
      expect(r.code, r.stderr).toBe(0);
    }
    const [newest, oldest, all] = await runAll([
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'list', '--type', 'echo', '--limit', '2'],
      [
        '--connect',
        zkConnect,
        '--namespace',
        ns,
        '--json',
        'job',
        'list',
        '--type',
        'echo',
        '--limit',
        '2',
        '--oldest',
      ],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'list', '--type', 'echo'],
    ]);
    const ids = (r: typeof newest) => json<{ jobs: Summary[]; total: number }>(r).jobs.map((j) => j.id);
    expect(ids(newest)).toEqual(['order-3', 'order-2']);
    expect(json<{ total: number; count: number }>(newest)).toMatchObject({ total: 3, count: 2 });
    expect(ids(oldest)).toEqual(['order-1', 'order-2']);
    const rows = all.stdout.trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['order-3', 'order-2', 'order-1']);
  });

  it('under --json an error is one JSON document on stderr, and stdout stays empty', async () => {
    const [missing, usage, bad] = await runAll([
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'status', 'no-such-job'],
      ['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'list', '--frobnicate'],
      ['--connect', zkConnect, '--namespace', ns, 'job', 'submit', 'echo', '--data', '{x', '--json'],
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr)).toEqual({
      error: { name: 'OperationError', message: `no job no-such-job in ${ns}`, exitCode: 1, kind: 'failed' },
    });
    expect(usage.code).toBe(2);
    expect(usage.stdout).toBe('');
    expect(JSON.parse(usage.stderr)).toEqual({
      error: { name: 'UsageError', message: "unknown option '--frobnicate'", exitCode: 2, kind: 'usage' },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect((JSON.parse(bad.stderr) as { error: { message: string; kind: string } }).error).toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(/^malformed JSON in --data at line 1, column 2/) as unknown,
    });
  });
});
