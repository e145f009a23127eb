import { Option, type Command } from 'commander';
import type { WorkerStartOptions } from '../actions/worker.js';
import { globalOptions, intArg } from '../context.js';
import { LOG_FORMATS } from '../log-format.js';

/**
 * `zkjobs worker start --handlers <module>`: one worker process of the cluster under
 * `--namespace`. Runs until SIGTERM/SIGINT, then closes gracefully (running jobs get `--grace`
 * ms, then their signals are aborted), leaves the election and exits 0; a second signal exits
 * at once with 1. Prints lifecycle events (with `--json`: one JSON line per event, per-job
 * events included); logs go to stderr. With `--metrics-port`, serves Prometheus metrics.
 */
export function registerWorkerCommands(program: Command): void {
  const worker = program.command('worker').description('run jobs');
  worker
    .command('start')
    .description('run a worker with the handlers of a module until SIGTERM/SIGINT')
    .requiredOption('--handlers <module>', 'module exporting handlers by job type (file path or package)')
    .option('--concurrency <n>', 'jobs run at the same time', intArg(1, 10_000), 1)
    .option('--prefetch <n>', 'jobs assigned ahead of time (default max(4 × concurrency, 32))', intArg(1, 100_000))
    .option(
      '--session-timeout <ms>',
      'ZooKeeper session timeout (the server clamps it to 2–20 × tickTime)',
      intArg(1000, 600_000, 'ms'),
      10_000,
    )
    .option(
      '--grace <ms>',
      'on shutdown, how long running jobs may take before their signals are aborted',
      intArg(0, 3_600_000, 'ms'),
      10_000,
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at http://<metrics-host>:<port>/metrics (0: a free port, printed)',
      intArg(0, 65535),
    )
    .option('--metrics-host <address>', 'address of the metrics server', '127.0.0.1')
    .addOption(
      new Option(
        '--log-format <format>',
        'logs on stderr as human lines (pretty) or JSON lines; auto: pretty on a terminal without --json',
      )
        .choices(LOG_FORMATS)
        .default('auto'),
    )
    .action(async (opts: WorkerStartOptions, cmd: Command) => {
      await (await import('../actions/worker.js')).startWorker(globalOptions(cmd), opts);
    });
}
