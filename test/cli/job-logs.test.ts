// `zkjobs job logs`, run as the built bin against the shared server: a job's stored lines, one
// per line (a note on stderr counts the dropped), the stored objects with --json, and a job that
// does not exist refused.
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, Worker, type Job } from '@zkjobs/worker';
import { cleanupAfterAll, sharedClient, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { json, killAll, run } from '../e2e/cli.js';

describe('zkjobs job logs', () => {
  const cleanup = cleanupAfterAll();
  afterAll(killAll);

  it('prints the lines a handler logged, --json the stored lines, says when there are none, and refuses a job that does not exist', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename);
    const zk = (...args: string[]) => run(['--connect', zkConnect, '--namespace', namespace, ...args]);
    const queue = new Queue(client, { namespace, logger });
    const worker = new Worker(
      client,
      {
        t: async (_job: Job, ctx) => {
          for (const l of ['one', 'two', 'three', 'four']) await ctx.log(l);
          return 'ok';
        },
        quiet: async () => 'ok',
      },
      { namespace, logger, keepLogs: 3 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    const job = await queue.add('t');
    await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });

    const human = await zk('job', 'logs', job.id);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toBe('two\nthree\nfour\n');
    expect(human.stderr).toContain('(1 older line(s) dropped)');

    const machine = await zk('--json', 'job', 'logs', job.id);
    expect(machine.code, machine.stderr).toBe(0);
    expect(json(machine)).toEqual({
      id: job.id,
      namespace,
      count: 3,
      dropped: 1,
      lines: ['two', 'three', 'four'].map((line) => ({
        at: expect.any(Number),
        attempt: 1,
        token: expect.any(Number),
        line,
      })),
    });

    // A job whose handler logged nothing: no lines on stdout, and stderr says why.
    const silent = await queue.add('quiet');
    await queue.waitUntilFinished(silent.id, { timeoutMs: 10_000 });
    const none = await zk('job', 'logs', silent.id);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(`no log lines: the handlers of job ${silent.id} did not call ctx.log`);
    expect(json(await zk('--json', 'job', 'logs', silent.id))).toMatchObject({ id: silent.id, count: 0, lines: [] });

    const missing = await zk('job', 'logs', 'no-such-job');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no job no-such-job/);
  });
});
