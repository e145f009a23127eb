/**
 * Errors of the command line and how they map to exit codes: 0 ok, 1 the operation failed
 * (ZooKeeper errors, connect timeouts, a job that failed, a compare-and-set that lost), 2 the
 * input is wrong (malformed JSON, unknown job type, payload over the cap, bad path or option).
 */
import { CommanderError } from 'commander';
import { BadArgumentsError, InvalidPathError } from '@zkjobs/core';
import { JobValidationError } from '../errors.js';

/** Exit codes of every `zkjobs` command. */
export const ExitCode = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** An error that is the user's input, not the operation: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An operation that ran and failed (e.g. a job ended dead, a version did not match): exit code 1. */
export class OperationError extends Error {
  override readonly name = 'OperationError';
}

/** The exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  if (
    err instanceof UsageError ||
    err instanceof JobValidationError ||
    err instanceof InvalidPathError ||
    err instanceof BadArgumentsError ||
    err instanceof RangeError
  ) {
    return ExitCode.USAGE;
  }
  return ExitCode.FAILED;
}
