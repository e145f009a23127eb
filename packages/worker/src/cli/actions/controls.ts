import { JobValidationError, type LimitsDoc, type PausedDoc, type TypeLimits } from '../../index.js';
import { Output, table, type GlobalOptions } from '../context.js';
import { OperationError, UsageError } from '../errors.js';
import { withQueue } from '../jobs-common.js';

const OPTION_OF_FIELD: Record<string, string> = {
  type: '<type>',
  'limits.max': '--max',
  'limits.duration': '--duration',
  'limits.concurrency': '--concurrency',
  limits: '--max/--duration/--concurrency',
};

/** A validation error of the engine, said in terms of the command line (exit 2). */
function asUsage(err: unknown): unknown {
  if (!(err instanceof JobValidationError)) return err;
  const opt = OPTION_OF_FIELD[err.field] ?? err.field;
  return new UsageError(`${opt}: ${err.message.slice(err.field.length + 2)}`, { cause: err });
}

function pausedText(p: PausedDoc): string {
  if (p.all) return `everything is paused${p.types.length ? ` (and by name: ${p.types.join(', ')})` : ''}`;
  return p.types.length ? `paused: ${p.types.join(', ')}` : 'nothing is paused';
}

/** `zkjobs queue pause [type]`. */
export async function pauseQueue(g: GlobalOptions, type: string | undefined): Promise<void> {
  await withQueue(g, async ({ queue, namespace }) => {
    const p = await queue.pause(type).catch((e: unknown) => Promise.reject(asUsage(e)));
    new Output(g.json).result(
      { namespace, paused: p },
      `paused ${type ?? 'every type'} in ${namespace}; ${pausedText(p)}`,
    );
  });
}

/** `zkjobs queue resume [type]`. */
export async function resumeQueue(g: GlobalOptions, type: string | undefined): Promise<void> {
  await withQueue(g, async ({ queue, namespace }) => {
    const p = await queue.resume(type).catch((e: unknown) => Promise.reject(asUsage(e)));
    const still = type !== undefined && (p.all || p.types.includes(type));
    new Output(g.json).result(
      { namespace, paused: p },
      `resumed ${type ?? 'everything'} in ${namespace}; ${pausedText(p)}` +
        (still ? ` (${type} stays paused while everything is: zkjobs queue resume)` : ''),
    );
  });
}

/** `zkjobs queue status`. */
export async function queueStatus(g: GlobalOptions): Promise<void> {
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const p = await queue.getPaused();
      new Output(g.json).result({ namespace, paused: p }, pausedText(p));
    },
    { existing: true },
  );
}

function limitsText(l: LimitsDoc): string {
  const types = Object.keys(l).sort();
  if (types.length === 0) return 'no limits';
  return table([
    ['TYPE', 'RATE', 'CONCURRENCY'],
    ...types.map((t) => [
      t,
      l[t]!.max !== undefined ? `${l[t]!.max} per ${l[t]!.duration} ms` : '-',
      l[t]!.concurrency !== undefined ? String(l[t]!.concurrency) : '-',
    ]),
  ]);
}

/** `zkjobs limits set`. */
export async function setLimits(
  g: GlobalOptions,
  type: string,
  o: { max?: number; duration?: number; concurrency?: number },
): Promise<void> {
  const limits: TypeLimits = {
    ...(o.max !== undefined ? { max: o.max } : {}),
    ...(o.duration !== undefined ? { duration: o.duration } : {}),
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
  };
  await withQueue(g, async ({ queue, namespace }) => {
    const all = await queue.setLimits(type, limits).catch((e: unknown) => Promise.reject(asUsage(e)));
    new Output(g.json).result({ namespace, type, limits: all[type], all }, `limits of ${type} set\n${limitsText(all)}`);
  });
}

/** `zkjobs limits ls`. */
export async function listLimits(g: GlobalOptions): Promise<void> {
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const all = await queue.getLimits();
      new Output(g.json).result({ namespace, limits: all }, limitsText(all));
    },
    { existing: true },
  );
}

/** `zkjobs limits rm`. */
export async function removeLimits(g: GlobalOptions, type: string): Promise<void> {
  await withQueue(g, async ({ queue, namespace }) => {
    const before = await queue.getLimits();
    if (before[type] === undefined) throw new OperationError(`${type} has no limits in ${namespace}`);
    const all = await queue.setLimits(type, null).catch((e: unknown) => Promise.reject(asUsage(e)));
    new Output(g.json).result({ namespace, type, removed: true, all }, `limits of ${type} removed`);
  });
}
