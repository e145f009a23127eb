/**
 * What `zkjobs` says about itself: its version (`--version`, from the package's own
 * package.json), the exit codes at the end of `--help`, and after a usage error the error and one
 * line pointing to the `--help` of the command that was given.
 */
import { createRequire } from 'node:module';
import { Help, Option, type Command } from 'commander';
import { ExitCode } from './errors.js';

/** The version of `@zkjobs/worker` (and so of the `zkjobs` command). */
export function cliVersion(): string {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return pkg.version;
}

/** The exit codes, as printed at the end of `zkjobs --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  ${ExitCode.OK}  success
  ${ExitCode.FAILED}  the operation failed: ZooKeeper unreachable or an error from it, a job that ended failed,
     dead or cancelled (job wait, submit --wait), a compare-and-set that lost, a check that found a problem
  ${ExitCode.USAGE}  usage error: unknown command or option, bad argument, malformed JSON, invalid path or job
     option (nothing was written)`;

/** `zkjobs job submit` for the `submit` command under `job`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The line printed after a usage error of `cmd`. */
export function helpHint(cmd: Command): string {
  return `(see '${commandPath(cmd)} --help' for usage)`;
}

/**
 * Sets up `program` and every command under it: `--version` on the root, the exit codes after
 * the root's help, and after a usage error found by commander (unknown option, missing or bad
 * argument) the error and {@link helpHint} instead of the whole help.
 * @returns the command whose action ran last (or the root), for the hint after a usage error
 *   that the action itself raised
 */
export function setUpUsage(program: Command): () => Command {
  // Not a commander option: a root option is taken wherever it appears, and `config set` has a
  // `--version` of its own. `-V`/`--version` before any command is answered by versionRequested.
  const versionOption = new Option('-V, --version', 'print the version of zkjobs (before any command)');
  const defaultOptions = Help.prototype.visibleOptions;
  program.configureHelp({
    visibleOptions(cmd) {
      const shown = defaultOptions.call(this, cmd);
      if (cmd !== program) return shown;
      const help = shown.findIndex((o) => o.long === '--help');
      return [
        ...shown.slice(0, help < 0 ? shown.length : help),
        versionOption,
        ...shown.slice(help < 0 ? shown.length : help),
      ];
    },
  });
  program.addHelpText('after', EXIT_CODES_HELP);
  const walk = (cmd: Command): void => {
    cmd.showHelpAfterError(helpHint(cmd));
    cmd.commands.forEach(walk);
  };
  walk(program);
  let current: Command = program;
  program.hook('preAction', (_root, action) => {
    current = action;
  });
  return () => current;
}

/**
 * True when `-V` or `--version` comes before any command in `args` (the arguments after the
 * script): `zkjobs --version`, `zkjobs --json -V`. After a command it belongs to that command
 * (`config set <path> <value> --version <n>`).
 */
export function versionRequested(program: Command, args: readonly string[]): boolean {
  const names = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  for (const a of args) {
    if (a === '--version' || a === '-V') return true;
    if (names.has(a)) return false;
  }
  return false;
}
