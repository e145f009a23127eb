import { readFileSync } from 'node:fs';
import { Queue } from '../../index.js';
import { startDashboard } from '../../dashboard/app.js';
import { connectZk, jobNamespace, Output, requireCluster, waitForSignal, type GlobalOptions } from '../context.js';
import { OperationError, UsageError } from '../errors.js';
import { commandLogger, type LogFormat } from '../log-format.js';

/** Options of `zkjobs dashboard`. */
export interface DashboardCliOptions {
  port: number;
  host: string;
  allowActions: boolean;
  tokenFile?: string;
  debounce: number;
  logFormat: LogFormat;
}

/** The environment variable that holds the action token. */
export const TOKEN_ENV = 'ZKJOBS_DASHBOARD_TOKEN';

/**
 * The action token: `--token-file`'s first line, else `$ZKJOBS_DASHBOARD_TOKEN`; undefined
 * without `--allow-actions`.
 * @throws UsageError for `--allow-actions` without a token, a token under 16 characters, or a
 *   file that cannot be read
 */
export function actionToken(opts: Pick<DashboardCliOptions, 'allowActions' | 'tokenFile'>): string | undefined {
  if (!opts.allowActions) {
    if (opts.tokenFile !== undefined) throw new UsageError('--token-file: only with --allow-actions');
    return undefined;
  }
  let token: string | undefined;
  if (opts.tokenFile !== undefined) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').split(/\r?\n/)[0]?.trim();
    } catch (err) {
      throw new UsageError(`--token-file: cannot read ${opts.tokenFile}: ${(err as Error).message}`, { cause: err });
    }
  } else token = process.env[TOKEN_ENV]?.trim();
  if (!token) {
    throw new UsageError(`--allow-actions needs a token: set $${TOKEN_ENV} or pass --token-file <path>`);
  }
  if (token.length < 16) {
    throw new UsageError(
      `--allow-actions: the token is ${token.length} characters; use 16 or more (e.g. openssl rand -hex 16)`,
    );
  }
  return token;
}

/** `zkjobs dashboard`: serves until SIGTERM/SIGINT. */
export async function runDashboard(g: GlobalOptions, opts: DashboardCliOptions): Promise<void> {
  const namespace = jobNamespace(g);
  const token = actionToken(opts);
  const log = await commandLogger(g, 'warn', opts.logFormat);
  const client = await connectZk(g, { logger: log });
  const queue = new Queue(client, { namespace, logger: log });
  try {
    await requireCluster(client, namespace);
    let dashboard;
    try {
      dashboard = await startDashboard({
        client,
        queue,
        namespace,
        port: opts.port,
        host: opts.host,
        debounceMs: opts.debounce,
        log,
        ...(token !== undefined ? { actionToken: token } : {}),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
        throw new OperationError(`dashboard: cannot listen on ${opts.host}:${opts.port}: ${code}`, { cause: err });
      }
      throw err;
    }
    const out = new Output(g.json);
    out.result(
      { event: 'listening', url: dashboard.url, namespace, actions: token !== undefined, at: Date.now() },
      `dashboard of ${namespace} at ${dashboard.url} (actions ${token !== undefined ? 'on' : 'off'}; metrics at ${dashboard.url}metrics); stop with Ctrl-C`,
    );
    const sig = await waitForSignal();
    out.result({ event: 'closing', signal: sig, at: Date.now() }, `${sig}: closing the dashboard`);
    await dashboard.close();
  } finally {
    await queue.close().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
}
