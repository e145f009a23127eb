import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * A pino logger named `zkjobs` writing JSON lines to stdout (or to `destination`, a file path).
 * @param level - pino level: trace, debug, info, warn, error, fatal or silent @defaultValue `$ZKJOBS_LOG_LEVEL`, else `info`
 * @param destination - a file to append to instead of stdout
 */
export function createLogger(level?: string, destination?: string): Logger {
  const lvl = level ?? process.env['ZKJOBS_LOG_LEVEL'] ?? 'info';
  if (destination) return pino({ name: 'zkjobs', level: lvl }, pino.destination({ dest: destination, sync: false }));
  return pino({ name: 'zkjobs', level: lvl });
}

/** The default logger of {@link Worker} and {@link Queue}: {@link createLogger}() with no arguments. */
export function defaultLogger(): Logger {
  return createLogger();
}
