import type { Command } from 'commander';
import { globalOptions, intArg } from '../context.js';

/** The implementations, loaded when a command runs (they pull in the engine). */
const actions = () => import('../actions/controls.js');

/**
 * `zkjobs queue pause|resume|status [type]`: pause and resume a job type, or every type, in the
 * cluster under `--namespace` (stored in `<ns>/control/paused`; kept across leader changes);
 * `zkjobs queue obliterate [--force] --yes`: delete the namespace.
 */
export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('pause and resume job types under --namespace');
  queue
    .command('pause')
    .description('stop starting jobs of a type (or of every type); running jobs finish, waiting ones wait')
    .argument('[type]', 'job type (default: every type)')
    .action(async (type: string | undefined, _o: unknown, cmd: Command) => {
      await (await actions()).pauseQueue(globalOptions(cmd), type);
    });
  queue
    .command('resume')
    .description('start jobs of a type again (without a type: everything paused, by name or as a whole)')
    .argument('[type]', 'job type (default: everything)')
    .action(async (type: string | undefined, _o: unknown, cmd: Command) => {
      await (await actions()).resumeQueue(globalOptions(cmd), type);
    });
  queue
    .command('status')
    .description('what is paused')
    .action(async (_o: unknown, cmd: Command) => {
      await (await actions()).queueStatus(globalOptions(cmd));
    });
  queue
    .command('obliterate')
    .description('delete the whole namespace (refused while workers are live, unless --force); needs --yes')
    .option('--force', 'delete even while workers are live', false)
    .option('--yes', 'confirm: everything under --namespace is deleted', false)
    .action(async (opts: { force: boolean; yes: boolean }, cmd: Command) => {
      await (await import('../actions/housekeeping.js')).obliterateQueue(globalOptions(cmd), opts);
    });
}

/**
 * `zkjobs limits set|ls|rm`: rate limits and cluster-wide concurrency per job type, applied by
 * whichever worker leads (stored in `<ns>/control/limits`).
 */
export function registerLimitsCommands(program: Command): void {
  const limits = program.command('limits').description('rate limits and cluster-wide concurrency per job type');
  limits
    .command('set')
    .description("set a type's limits (replacing its earlier ones): --max with --duration, and/or --concurrency")
    .argument('<type>', 'job type')
    .option('--max <n>', 'rate limit: at most n jobs start per --duration', intArg(1, 1_000_000))
    .option('--duration <ms>', "the rate limit's window", intArg(1, 86_400_000, 'ms'))
    .option('--concurrency <n>', 'at most n jobs of the type active at once across all workers', intArg(1, 1_000_000))
    .action(async (type: string, opts: { max?: number; duration?: number; concurrency?: number }, cmd: Command) => {
      await (await actions()).setLimits(globalOptions(cmd), type, opts);
    });
  limits
    .command('ls')
    .description("every type's limits")
    .action(async (_o: unknown, cmd: Command) => {
      await (await actions()).listLimits(globalOptions(cmd));
    });
  limits
    .command('rm')
    .description("remove a type's limits")
    .argument('<type>', 'job type')
    .action(async (type: string, _o: unknown, cmd: Command) => {
      await (await actions()).removeLimits(globalOptions(cmd), type);
    });
}
