/**
 * Errors under `--json`: one JSON document on stderr, `{"error":{"name","message","exitCode","kind"}}`
 * (`kind` is `usage` for exit 2, `failed` for exit 1), instead of `zkjobs: <message>` and the
 * pointer to `--help`; stdout keeps only results.
 */
import type { Command } from 'commander';
import { ExitCode } from './errors.js';

/** The error document printed under `--json`. */
export interface ErrorJson {
  error: { name: string; message: string; exitCode: number; kind: 'usage' | 'failed' };
}

/** The document for `err` ending a command with `exitCode`. */
export function errorJson(err: unknown, exitCode: number, message?: string): ErrorJson {
  const named = (err as { name?: unknown } | null)?.name;
  const name = typeof named === 'string' && named !== '' ? named : 'Error';
  const text = message ?? (err instanceof Error ? err.message : String(err));
  return { error: { name, message: text, exitCode, kind: exitCode === ExitCode.USAGE ? 'usage' : 'failed' } };
}

/** True when the root of `cmd` was given `--json`. */
function jsonOf(cmd: Command): boolean {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts<{ json?: boolean }>().json === true;
}

/**
 * Makes commander's own errors (unknown option, missing argument, bad choice) JSON documents on
 * stderr when `--json` was given, without the `--help` pointer that follows them otherwise; else
 * prints them with the CLI's own `zkjobs: ` prefix in place of commander's `error: `.
 */
export function setUpJsonErrors(program: Command): void {
  const walk = (cmd: Command): void => {
    let dropHint = false;
    cmd.configureOutput({
      outputError: (str, write) => {
        // One prefix for every error the CLI prints: commander's `error: ` becomes `zkjobs: `.
        if (!jsonOf(cmd)) return write(str.replace(/^error: /, 'zkjobs: '));
        const message = str.trim().replace(/^error: /, '');
        write(JSON.stringify(errorJson({ name: 'UsageError', message }, ExitCode.USAGE, message)) + '\n');
        dropHint = true;
      },
      writeErr: (str) => {
        if (dropHint && str.startsWith('(see ')) {
          dropHint = false;
          return;
        }
        process.stderr.write(str);
      },
    });
    cmd.commands.forEach(walk);
  };
  walk(program);
}
