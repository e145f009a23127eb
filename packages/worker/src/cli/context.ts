/**
 * What every command shares: the global options, the ZooKeeper connection, the logger, output
 * in human or JSON form, progress bars on a terminal, option parsers and signal handling.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { Logger } from 'pino';
import { ConnectionRefusedError, InvalidPathError, ZkClient, validatePath, type ConnectionState } from '@zkjobs/core';
import { OperationError, UsageError } from './errors.js';
import { isStdoutClosed, onStdoutClosed } from './pipes.js';
import { clientSecurity, type ClientSecurity, type SecurityOptions } from './security.js';

/** The options every command inherits from the root program. */
export interface GlobalOptions extends SecurityOptions {
  /** ZooKeeper connect string `host:port[,host:port…][/chroot]`. */
  connect: string;
  /** Root znode of the zkjobs cluster (job commands only). */
  namespace: string;
  /** Print one JSON document per result. */
  json: boolean;
  /** pino level; undefined = the command's default (info for `worker start`, warn otherwise). */
  logLevel?: string;
  /** Give up connecting after this many ms. */
  connectTimeout: number;
}

/** Reads the root program's options from any (sub)command. */
export function globalOptions(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

/** A plain decimal integer: digits with an optional leading minus; no spaces, exponents, hex or fractions. */
const DECIMAL_INT = /^-?\d+$/;

/**
 * A commander parser for an integer option within `[min, max]`. Only plain decimal integers are
 * accepted (`12`, not `1e3`, `0x1`, ` 1` or `1.5`).
 */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER, unit = ''): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!DECIMAL_INT.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `${min}–${max}`;
      throw new InvalidArgumentError(`must be an integer ${range}${unit ? ` (${unit})` : ''}, got '${v}'`);
    }
    return n;
  };
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * Checks a connect string `host:port[,host:port…][/chroot]`. A chroot is a path every other
 * path is under, on the server (it must exist; ZooKeeper does not create it).
 * @throws UsageError naming the malformed part
 */
export function validateConnectString(s: string): string {
  if (s.trim() === '')
    throw new UsageError('--connect: empty connect string (expected host:port[,host:port…][/chroot])');
  const slash = s.indexOf('/');
  const hosts = slash < 0 ? s : s.slice(0, slash);
  if (slash >= 0 && s.slice(slash) !== '/') {
    const chroot = s.slice(slash);
    try {
      validatePath(chroot);
    } catch (err) {
      const reason = (err as Error).message.replace(/^invalid path "[^"]*": /, '').replace(/ \([^()]*\)$/, '');
      throw new UsageError(`--connect: invalid chroot ${JSON.stringify(chroot)} in ${JSON.stringify(s)}: ${reason}`, {
        cause: err,
      });
    }
  }
  if (hosts.trim() === '') throw new UsageError(`--connect: no servers before the chroot in ${JSON.stringify(s)}`);
  for (const part of hosts.split(',')) {
    const m = HOST_PORT.exec(part.trim());
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new UsageError(
        `--connect: malformed server ${JSON.stringify(part)} in ${JSON.stringify(s)} (expected host:port)`,
      );
    }
  }
  return s;
}

/**
 * Checks an absolute znode path given on the command line.
 * @param what - the argument's name for messages (`path`, `--namespace`)
 * @throws UsageError saying what is wrong with it
 */
export function checkPath(path: string, what: string): string {
  try {
    return validatePath(path);
  } catch (err) {
    if (err instanceof InvalidPathError) {
      const reason = err.message.replace(/^invalid path "[^"]*": /, '').replace(/ \([^()]*\)$/, '');
      throw new UsageError(`${what}: invalid znode path ${JSON.stringify(path)}: ${reason}`, { cause: err });
    }
    throw err;
  }
}

/** A pino logger writing JSON lines to stderr (stdout is for results). */
export async function cliLogger(g: GlobalOptions, fallback: string): Promise<Logger> {
  const { pino } = await import('pino'); // loaded only by the commands that log
  const dest = pino.destination({ fd: 2, sync: true });
  // stderr's reader may go away too (`2>&1 | head`): a log line that cannot be written is dropped.
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`zkjobs: cannot write the log: ${err.message}\n`);
  });
  return pino({ name: 'zkjobs', level: g.logLevel ?? fallback }, dest);
}

/**
 * Connects to ZooKeeper (no namespace: callers take `usingNamespace` where they need one),
 * failing with a ConnectTimeoutError (exit 1) after `--connect-timeout`.
 */
export async function connectZk(
  g: GlobalOptions,
  opts: { sessionTimeoutMs?: number; logger?: Logger } = {},
): Promise<ZkClient> {
  validateConnectString(g.connect);
  const sec = await security(g);
  try {
    // A command fails at once when nothing listens (every server refused the connection): a
    // mistake to report, unlike a library's connect to a server that may still be starting.
    return await ZkClient.connect(g.connect, {
      connectTimeoutMs: g.connectTimeout,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000,
      failFastWhenRefused: true,
      ...sec.options,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  } catch (err) {
    if (err instanceof ConnectionRefusedError) {
      throw new OperationError(
        `no ZooKeeper server at ${g.connect} (connection refused); start one with \`zkjobs server start\` ` +
          '(it prints the export line) or set ZK_CONNECT',
        { cause: err },
      );
    }
    throw err;
  }
}

const securityOf = new WeakMap<GlobalOptions, Promise<ClientSecurity>>();

/**
 * The connection's credentials, default ACL and TLS from the global options, read once per
 * command. @throws UsageError naming the option whose value or file is wrong
 */
export function security(g: GlobalOptions): Promise<ClientSecurity> {
  let p = securityOf.get(g);
  if (!p) {
    p = clientSecurity(g);
    securityOf.set(g, p);
  }
  return p;
}

/** Connects, runs `fn`, and closes the connection whatever happens. */
export async function withZk<T>(g: GlobalOptions, fn: (client: ZkClient) => Promise<T>): Promise<T> {
  const client = await connectZk(g);
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** True when `path` is ZooKeeper's reserved tree `/zookeeper` or under it. */
export function isReservedPath(path: string): boolean {
  return path === '/zookeeper' || path.startsWith('/zookeeper/');
}

/**
 * The namespace of job commands, checked: a valid path, not `/` (a cluster needs its own root)
 * and not under `/zookeeper` (ZooKeeper's reserved tree).
 * @throws UsageError naming the problem
 */
export function jobNamespace(g: GlobalOptions): string {
  const ns = checkPath(g.namespace, '--namespace');
  if (ns === '/')
    throw new UsageError('--namespace: / cannot hold a zkjobs cluster; give it its own root, e.g. /zkjobs/prod');
  if (isReservedPath(ns)) throw new UsageError(`--namespace: ${ns} is under /zookeeper, ZooKeeper's reserved tree`);
  return ns;
}

/**
 * Checks, without writing anything, that `namespace` holds a zkjobs cluster (`<ns>/jobs` or
 * `<ns>/workers` exists). Read-only commands call it first, on the root client: a namespaced
 * view may create its namespace, and the engine creates a cluster's tree on first use.
 * @param root - a client without a namespace
 * @throws OperationError `no zkjobs cluster at <ns>` (exit 1)
 */
export async function requireCluster(root: ZkClient, namespace: string): Promise<void> {
  const [jobs, workers] = await Promise.all([root.exists(`${namespace}/jobs`), root.exists(`${namespace}/workers`)]);
  if (jobs === null && workers === null) {
    throw new OperationError(
      `no zkjobs cluster at ${namespace} (neither ${namespace}/jobs nor ${namespace}/workers exists; check --namespace)`,
    );
  }
}

/** What {@link reportConnection} prints about. */
export interface ConnectionReportOptions {
  /** Print JSON lines (on stderr) instead of text. */
  json: boolean;
  /** Added to the `suspended` line, e.g. `the list below may be stale`. */
  suspendedNote?: string;
  /** Added to the `lost` line, e.g. `the registration is gone with it`. */
  lostNote?: string;
}

/**
 * Prints the client's connection-state changes on stderr while a long-running command runs
 * (`config watch`, `services watch`, `services register`): `suspended`, `reconnected`, `lost`
 * and the new session that follows. Human text, or with `--json` one JSON line per change
 * `{"event":"connection","state":…,"session":"0x…","at":…}`; stdout keeps only results.
 * @returns a function that stops reporting
 */
export function reportConnection(client: ZkClient, opts: ConnectionReportOptions): () => void {
  let lastSession = client.sessionIdHex;
  let suspendedAt = 0;
  const say = (state: string, text: string, extra: Record<string, unknown> = {}): void => {
    if (opts.json) {
      process.stderr.write(
        JSON.stringify({ event: 'connection', state, session: client.sessionIdHex, at: Date.now(), ...extra }) + '\n',
      );
    } else process.stderr.write(`zkjobs: ${fmtTime(Date.now())} ${text}\n`);
  };
  const onState = (s: ConnectionState): void => {
    switch (s) {
      case 'suspended':
        suspendedAt = Date.now();
        say(
          s,
          `connection to ZooKeeper suspended; session ${lastSession} may still be alive (expires after ` +
            `${client.sessionTimeoutMs} ms without a server)` +
            (opts.suspendedNote ? `; ${opts.suspendedNote}` : ''),
        );
        return;
      case 'reconnected':
        say(s, `reconnected after ${fmtDuration(Date.now() - suspendedAt)}; session ${lastSession} kept`);
        return;
      case 'lost':
        say(
          s,
          `session ${lastSession} lost (expired, or no server for the session timeout)` +
            (opts.lostNote ? `; ${opts.lostNote}` : '') +
            '; making a new session',
          { session: lastSession },
        );
        return;
      case 'connected':
        if (client.sessionIdHex !== lastSession) {
          const previous = lastSession;
          lastSession = client.sessionIdHex;
          say('new-session', `new session ${lastSession} (was ${previous})`, { previous });
        }
        return;
      default:
        return;
    }
  };
  client.on('state', onState);
  return () => client.off('state', onState);
}

/** Prints results: one JSON document per line with `--json`, else human text. */
export class Output {
  constructor(readonly json: boolean) {}

  /** Prints one result: `doc` as a JSON line with `--json`, else `human` (a line or lines). Nothing once stdout's reader has gone. */
  result(doc: unknown, human: string | (() => string)): void {
    if (isStdoutClosed()) return;
    if (this.json) process.stdout.write(JSON.stringify(doc) + '\n');
    else {
      const text = typeof human === 'function' ? human() : human;
      process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    }
  }

  /** Prints human text only (nothing with `--json`). */
  human(text: string): void {
    if (isStdoutClosed()) return;
    if (!this.json) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** Output of {@link progressBar}. */
export interface Progress {
  /** Adds `n` done items. */
  increment(n?: number): void;
  /** Removes the bar. */
  stop(): void;
}

/**
 * A progress bar on stderr when it is a terminal and the output is for humans; otherwise a no-op.
 * @param total - number of items
 * @param label - what is counted, e.g. `submitted`
 */
export async function progressBar(total: number, label: string, json: boolean): Promise<Progress> {
  if (json || !process.stderr.isTTY || total < 2) return { increment: () => undefined, stop: () => undefined };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} {percentage}% | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    increment: (n = 1) => bar.increment(n),
    stop: () => bar.stop(),
  };
}

/**
 * Resolves with the name of the first SIGINT or SIGTERM received, or `SIGPIPE` when the reader
 * of stdout went away (a long-running command then stops as if interrupted).
 */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let stopPipe = (): void => undefined;
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      stopPipe();
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    stopPipe = onStdoutClosed(() => on('SIGPIPE'));
  });
}

/** A timestamp for human output: ISO without milliseconds, local offset as Z (UTC). */
export function fmtTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration for human output: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`. */
export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.floor((ms % 3_600_000) / 60_000)} min`;
}

/** Left-aligned columns for human tables. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
