import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { JOB_STATES, type BackoffOptions, type JobState } from '../../job.js';
import type { SubmitOptions } from '../actions/job.js';
import { globalOptions, intArg } from '../context.js';

/** The implementations, loaded when a job command runs (they pull in the engine). */
const actions = () => import('../actions/job.js');

/** Parses `fixed:ms` / `exponential:ms` (or a bare number of ms = fixed). */
export function parseBackoff(v: string): BackoffOptions {
  const m = /^(?:(fixed|exponential):)?(\d+)$/.exec(v.trim());
  const delay = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(delay) || delay > 86_400_000) {
    throw new InvalidArgumentError(`must be fixed:<ms> or exponential:<ms> with ms 0–86400000, got '${v}'`);
  }
  return { type: (m[1] as 'fixed' | 'exponential' | undefined) ?? 'fixed', delay };
}

/**
 * `zkjobs job submit|status|list|wait|cancel|retry|rm|clean|explain|logs`: jobs in the cluster under `--namespace`.
 */
export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('submit jobs and inspect them');

  job
    .command('submit')
    .description('submit a job (or --count N of them); --wait waits for the results')
    .argument('<type>', 'job type: the name of a handler of a live worker')
    .option('--data <json>', 'payload: JSON text, or @file to read it from a file', 'null')
    .option('--priority <n>', 'lower runs first (0–1000000)', intArg(0, 1_000_000))
    .option('--delay <ms>', 'do not start before this many ms (ZooKeeper clock)', intArg(0, 31_536_000_000, 'ms'))
    .option(
      '--attempts <n>',
      'how many times the job may run, a lost worker counting as a run (1–1000; default 1: a failure or a killed worker ends it dead)',
      intArg(1, 1000),
    )
    .option('--backoff <spec>', 'wait between attempts: fixed:<ms> or exponential:<ms>', parseBackoff)
    .option('--timeout <ms>', "abort the handler's signal after this many ms", intArg(1, 86_400_000, 'ms'))
    .option('--id <key>', 'job id and idempotency key (with --count: prefix, ids <key>-1 … <key>-N)')
    .option('--count <n>', 'submit N identical jobs (progress bar on a terminal)', intArg(1, 1_000_000), 1)
    .option('--wait', 'wait for the jobs to finish and print their results (exit 1 unless all completed)', false)
    .option('--wait-timeout <ms>', 'with --wait: give up after this many ms', intArg(1, 2 ** 31 - 1, 'ms'))
    .option('--any-type', 'submit even if no live worker advertises a handler for <type>', false)
    .action(async (type: string, opts: SubmitOptions, cmd: Command) => {
      await (await actions()).submitJob(globalOptions(cmd), type, opts);
    });

  job
    .command('status')
    .description('print the state of a job')
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).statusJob(globalOptions(cmd), id);
    });

  job
    .command('list')
    .description('list jobs (an administrative scan of every record)')
    .addOption(
      new Option(
        '--state <state>',
        'only jobs in this state (failed: ended without using its attempts — UnrecoverableError, a failed parent, the backoff strategy; dead: its attempts used up)',
      ).choices(JOB_STATES as JobState[]),
    )
    .option('--type <type>', 'only jobs of this type')
    .option('--limit <n>', 'at most this many jobs: the newest (the oldest with --oldest)', intArg(1))
    .option('--oldest', 'oldest first (default: newest first, by submit time)', false)
    .action(async (opts: { state?: JobState; type?: string; limit?: number; oldest?: boolean }, cmd: Command) => {
      await (await actions()).listJob(globalOptions(cmd), opts);
    });

  job
    .command('wait')
    .description('wait until jobs finish (progress on a terminal); exit 1 unless all completed')
    .argument('<id...>', 'job ids')
    .option('--timeout <ms>', 'give up after this many ms', intArg(1, 2 ** 31 - 1, 'ms'))
    .action(async (ids: string[], opts: { timeout?: number }, cmd: Command) => {
      await (await actions()).waitJob(globalOptions(cmd), ids, opts);
    });

  job
    .command('cancel')
    .description('cancel a job that has not finished (a running handler gets its signal aborted)')
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).cancelJob(globalOptions(cmd), id);
    });

  const housekeeping = () => import('../actions/housekeeping.js');
  job
    .command('retry')
    .description('run a failed or dead job again, with a fresh budget of attempts')
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await housekeeping()).retryJob(globalOptions(cmd), id);
    });

  job
    .command('rm')
    .description('remove a job that is not running (its record, progress, logs and count)')
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await housekeeping()).removeJob(globalOptions(cmd), id);
    });

  job
    .command('clean')
    .description(
      'remove finished jobs in a state, older than --older-than ms (ZooKeeper clock; a scan of every record)',
    )
    .addArgument(
      new Argument('<state>', 'completed, failed, dead or cancelled').choices([
        'completed',
        'failed',
        'dead',
        'cancelled',
      ]),
    )
    .requiredOption(
      '--older-than <ms>',
      'only jobs finished more than this many ms ago',
      intArg(0, Number.MAX_SAFE_INTEGER, 'ms'),
    )
    .option('--limit <n>', 'remove at most n jobs', intArg(1))
    .action(async (state: JobState, opts: { olderThan: number; limit?: number }, cmd: Command) => {
      await (await housekeeping()).cleanJobs(globalOptions(cmd), state, opts);
    });

  job
    .command('explain')
    .description('the attempt history of a job: who ran it, under which session and fencing token, why it ran again')
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).explainJob(globalOptions(cmd), id);
    });

  job
    .command('logs')
    .description("the lines a job's handlers logged (ctx.log), oldest first; --json: the stored lines")
    .argument('<id>', 'job id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).logsJob(globalOptions(cmd), id);
    });
}
