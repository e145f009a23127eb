import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * A pino logger named `zkjobs` writing JSON lines to stderr (or to `destination`, a file path):
 * stdout stays the application's own.
 * @param level - pino level: trace, debug, info, warn, error, fatal or silent @defaultValue `$ZKJOBS_LOG_LEVEL`, else `info`
 * @param destination - a file to append to instead of stderr
 */
export function createLogger(level?: string, destination?: string): Logger {
  const lvl = level ?? process.env['ZKJOBS_LOG_LEVEL'] ?? 'info';
  return pino(
    { name: 'zkjobs', level: lvl },
    destination ? pino.destination({ dest: destination, sync: false }) : pino.destination(2),
  );
}

/**
 * The default logger of {@link Worker} and {@link Queue} when they are given none: JSON lines on
 * stderr at `warn` and above (`$ZKJOBS_LOG_LEVEL` when set), so that a library stays quiet in its
 * application's output. Pass `logger: createLogger('info')` (or any pino logger) to see every
 * job's state changes; `zkjobs verify --history` reads those `info` lines.
 */
export function defaultLogger(): Logger {
  return createLogger(process.env['ZKJOBS_LOG_LEVEL'] ?? 'warn');
}
