import { Command, CommanderError, Option } from 'commander';
import { registerServerCommands } from './commands/server.js';

/** Exit codes of every `zkjobs` command. */
export const ExitCode = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** The options every command inherits from the root program. */
export interface GlobalOptions {
  connect: string;
  namespace: string;
  json: boolean;
  logLevel: string;
}

/** An error that is the user's input, not the operation: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Reads the root program's options from any (sub)command. */
export function globalOptions(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

/** Builds the `zkjobs` program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('zkjobs')
    .description('Distributed jobs coordinated through Apache ZooKeeper')
    .addOption(
      new Option('--connect <hosts>', 'ZooKeeper connect string host:port,...')
        .env('ZK_CONNECT')
        .default('127.0.0.1:2181'),
    )
    .option('--namespace <path>', 'root znode of this zkjobs cluster', '/zkjobs/default')
    .option('--json', 'print one JSON document per result', false)
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
        .default('info'),
    )
    .showHelpAfterError()
    .exitOverride();
  registerServerCommands(program);
  return program;
}

/**
 * Parses argv and runs the command; sets the exit code: 2 for usage errors (commander's and
 * {@link UsageError}), 1 for failed operations.
 */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; everything else commander reports is a usage error
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`zkjobs: ${err.message}\n`);
      process.exitCode = ExitCode.USAGE;
      return;
    }
    const e = err as Error;
    process.stderr.write(`zkjobs: ${e.message}\n`);
    process.exitCode = ExitCode.FAILED;
  }
}
