/**
 * Errors of the command line and how they map to exit codes: 0 ok, 1 the operation failed
 * (ZooKeeper errors, connect timeouts, a job that failed, a compare-and-set that lost), 2 the
 * input is wrong (malformed JSON, unknown job type, payload over the cap, bad path or option).
 */
import { CommanderError } from 'commander';
import {
  BadArgumentsError,
  InvalidPathError,
  NoAuthError,
  TlsError,
  TransactionError,
  type ZkError,
} from '@zkjobs/core';
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

/** What the command was authenticated as, for messages. */
export interface Credentials {
  /** `digest:alice`, or null without `--auth`. */
  identity: string | null;
}

const VERB: Record<string, string> = {
  getData: 'read',
  getChildren: 'read',
  exists: 'read',
  create: 'create',
  mkdirp: 'create',
  setData: 'write',
  delete: 'delete',
  getACL: 'read the ACL of',
  setACL: 'change the ACL of',
};

/** `not authorised to read /zkjobs/prod/jobs (NoAuth); pass --auth …`. */
function noAuthMessage(e: ZkError, creds: Credentials): string {
  const op = e.op ?? '';
  const verb = VERB[op] ?? (op === 'multi' ? 'write' : 'use');
  const path = e.fullPath ?? e.path ?? '?';
  const hint =
    creds.identity === null
      ? 'pass --auth digest:<user>:<password> (or set ZK_AUTH, or --auth-file <path>) with an identity its ACL grants'
      : `its ACL does not grant ${creds.identity} (from --auth) the permission; check the user and password, or ask the tree's owner`;
  return `not authorised to ${verb} ${path} (NoAuth); ${hint}`;
}

const TLS_HINT: Record<TlsError['kind'], string> = {
  'untrusted-server': "pass --tls-ca with the CA certificate that signed the servers' certificates",
  hostname: '--connect with a name the certificate carries, or pass --tls-no-verify-hostname',
  'client-certificate': 'pass --tls-cert and --tls-key with a certificate the server trusts',
  handshake: 'check the TLS settings of client and server',
  'tls-port': 'pass --tls (with --tls-ca, and --tls-cert/--tls-key if the server wants a client certificate)',
  'plain-port': "drop --tls, or --connect to the servers' secureClientPort",
};

/** The message printed for an error that ends a command (`zkjobs: <message>`). */
export function messageFor(err: unknown, creds: Credentials): string {
  if (err instanceof NoAuthError) return noAuthMessage(err, creds);
  if (err instanceof TransactionError && err.opError instanceof NoAuthError) return noAuthMessage(err.opError, creds);
  if (err instanceof TlsError) return `${err.detail}; ${TLS_HINT[err.kind]}`;
  return err instanceof Error ? err.message : String(err);
}
