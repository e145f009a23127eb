import { Option, type Command } from 'commander';
import type { DashboardCliOptions } from '../actions/dashboard.js';
import { globalOptions, intArg } from '../context.js';
import { LOG_FORMATS } from '../log-format.js';

/**
 * `zkjobs dashboard`: a web UI over the cluster under `--namespace`, live from ZooKeeper watches,
 * until SIGTERM/SIGINT. Actions (cancel) only with `--allow-actions` and a token.
 */
export function registerDashboardCommands(program: Command): void {
  program
    .command('dashboard')
    .description('serve a web dashboard of the cluster under --namespace (workers, leader, jobs) until Ctrl-C')
    .option('--port <port>', 'TCP port (0: a free one, printed)', intArg(0, 65535), 3000)
    .option('--host <address>', 'address to listen on (anything but loopback exposes the cluster)', '127.0.0.1')
    .option(
      '--allow-actions',
      'allow cancelling jobs from the page, with the token of $ZKJOBS_DASHBOARD_TOKEN or --token-file',
      false,
    )
    .option('--token-file <path>', 'read the action token (16 characters or more) from this file')
    .option(
      '--debounce <ms>',
      'at most one read of the counts, and one scan of the records for the lists, per this many ms while jobs change',
      intArg(0, 600_000, 'ms'),
      1000,
    )
    .addOption(
      new Option('--log-format <format>', 'logs on stderr as human lines (pretty) or JSON lines')
        .choices(LOG_FORMATS)
        .default('auto'),
    )
    .action(async (opts: DashboardCliOptions, cmd: Command) => {
      await (await import('../actions/dashboard.js')).runDashboard(globalOptions(cmd), opts);
    });
}
