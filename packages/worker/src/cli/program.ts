import { Command, CommanderError, Option } from 'commander';
import { registerAclCommands } from './commands/acl.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDashboardCommands } from './commands/dashboard.js';
import { registerEventsCommands } from './commands/events.js';
import { registerJobCommands } from './commands/job.js';
import { registerLimitsCommands, registerQueueCommands } from './commands/queue.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerServerCommands } from './commands/server.js';
import { registerServicesCommands } from './commands/services.js';
import { registerVerifyCommands } from './commands/verify.js';
import { registerWorkerCommands } from './commands/worker.js';
import { globalOptions, intArg, security } from './context.js';
import { ExitCode, exitCodeFor, messageFor } from './errors.js';
import { errorJson, setUpJsonErrors } from './json-errors.js';
import { installPipeGuards } from './pipes.js';
import { cliVersion, helpHint, setUpUsage, versionRequested } from './usage.js';

export { ExitCode, UsageError, OperationError, exitCodeFor } from './errors.js';
export { globalOptions, type GlobalOptions } from './context.js';

/** Builds the `zkjobs` program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('zkjobs')
    .description('Distributed jobs coordinated through Apache ZooKeeper')
    .addOption(
      new Option('--connect <hosts>', 'ZooKeeper connect string host:port,...[/chroot]')
        .env('ZK_CONNECT')
        .default('127.0.0.1:2181'),
    )
    .addOption(
      new Option(
        '--auth <credentials>',
        'digest:<user>:<password> for every connection; the nodes a command creates then get an ACL only that ' +
          'identity (and --read-only-identity) may use (visible to ps: prefer ZK_AUTH or --auth-file)',
      ).env('ZK_AUTH'),
    )
    .option('--auth-file <path>', 'read the --auth credentials (one line digest:<user>:<password>) from a file')
    .option(
      '--read-only-identity <id>',
      'with --auth: an identity that may read what is created, e.g. digest:<user>:<base64 sha1> (zkjobs acl digest ' +
        'prints it) or x509:<subject DN>; repeat for more',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--tls', "connect with TLS (to the servers' secureClientPort)")
    .option('--tls-ca <file>', "CA certificate(s), PEM, that signed the servers' certificates (implies --tls)")
    .option('--tls-cert <file>', 'client certificate, PEM, for servers that want one (implies --tls; needs --tls-key)')
    .option('--tls-key <file>', 'private key of --tls-cert, PEM (encrypted: set ZK_TLS_KEY_PASSPHRASE)')
    .option('--tls-insecure', "do not verify the servers' certificates (encrypted, but anyone may pose as the server)")
    .option('--tls-no-verify-hostname', "do not check that the server's certificate names the host connected to")
    .option(
      '--namespace <path>',
      'root znode of this zkjobs cluster (job, worker and cluster commands; config and services take absolute paths)',
      '/zkjobs/default',
    )
    .option('--json', 'print one JSON document per result (per line for streams)', false)
    .addOption(
      new Option(
        '--log-level <level>',
        'log level of the logs on stderr (default: info for worker start, warn otherwise)',
      )
        .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
        .env('ZKJOBS_LOG_LEVEL'),
    )
    .option(
      '--connect-timeout <ms>',
      'give up connecting to ZooKeeper after this many ms',
      intArg(1, 600_000, 'ms'),
      10_000,
    )
    .exitOverride();
  registerServerCommands(program);
  registerWorkerCommands(program);
  registerJobCommands(program);
  registerQueueCommands(program);
  registerLimitsCommands(program);
  registerScheduleCommands(program);
  registerClusterCommands(program);
  registerConfigCommands(program);
  registerServicesCommands(program);
  registerVerifyCommands(program);
  registerAclCommands(program);
  registerDashboardCommands(program);
  registerEventsCommands(program);
  // Subcommands inherit exitOverride only when set before they are added: set it everywhere.
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  ranCommand.set(program, setUpUsage(program));
  setUpJsonErrors(program);
  return program;
}

/** The command each program last ran an action of (for the hint after a usage error). */
const ranCommand = new WeakMap<Command, () => Command>();

/**
 * Parses argv and runs the command; sets the exit code: 0 ok, 2 for usage errors (commander's,
 * {@link UsageError}, invalid job options, paths and arguments), 1 for failed operations
 * (ZooKeeper errors, connect timeouts, failed jobs).
 */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  installPipeGuards();
  if (versionRequested(program, argv.slice(2))) {
    process.stdout.write(`${cliVersion()}\n`);
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = exitCodeFor(err);
    // commander has printed its own message (and the help for usage errors)
    if (!(err instanceof CommanderError)) {
      const g = globalOptions(program);
      const identity = await security(g).then(
        (s) => s.identity,
        () => null,
      );
      const msg = messageFor(err, { identity });
      if (program.opts<{ json?: boolean }>().json)
        process.stderr.write(JSON.stringify(errorJson(err, code, msg)) + '\n');
      else {
        process.stderr.write(`zkjobs: ${msg}\n`);
        if (code === ExitCode.USAGE) process.stderr.write(`${helpHint(ranCommand.get(program)?.() ?? program)}\n`);
      }
    }
    process.exitCode = code;
  }
}
