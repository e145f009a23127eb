/**
 * `--log-format` of the long-running commands (`worker start`, `dashboard`): human lines on a
 * terminal (pino-pretty), JSON lines otherwise — the JSON that `zkjobs verify --history` reads.
 */
import type { Logger } from 'pino';
import type { GlobalOptions } from './context.js';

/** The values of `--log-format`. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
/** A `--log-format` value. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Whether `format` means human lines: `pretty`, or `auto` when stderr is a terminal and the
 * command was not asked for `--json`.
 */
export function wantsPretty(format: LogFormat, json: boolean, stderrIsTTY = Boolean(process.stderr.isTTY)): boolean {
  return format === 'pretty' || (format === 'auto' && stderrIsTTY && !json);
}

/**
 * The logger of a long-running command, on stderr at `--log-level` (else `fallback`): pino-pretty's
 * lines (time, level, message, then the fields), coloured on a terminal, when {@link wantsPretty};
 * else pino's JSON lines.
 */
export async function commandLogger(g: GlobalOptions, fallback: string, format: LogFormat): Promise<Logger> {
  const { pino } = await import('pino');
  const level = g.logLevel ?? fallback;
  if (!wantsPretty(format, g.json)) {
    return pino({ name: 'zkjobs', level }, pino.destination({ fd: 2, sync: true }));
  }
  const { default: pretty } = await import('pino-pretty');
  return pino(
    { name: 'zkjobs', level },
    pretty({
      destination: 2,
      sync: true,
      colorize: Boolean(process.stderr.isTTY),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name',
      singleLine: true,
    }),
  );
}
