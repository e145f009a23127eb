import { InvalidArgumentError, Option, type Command } from 'commander';
import { globalOptions } from '../context.js';

/** The implementation, loaded when the command runs (it pulls in the engine). */
const actions = () => import('../actions/events.js');

/** Parses `--from`: `now`, `earliest` or a cursor (an integer ≥ -1). */
export function fromArg(v: string): 'now' | 'earliest' | number {
  if (v === 'now' || v === 'earliest') return v;
  if (/^-?\d+$/.test(v) && Number(v) >= -1 && Number.isSafeInteger(Number(v))) return Number(v);
  throw new InvalidArgumentError(`expected now, earliest or a cursor (an integer ≥ -1), got '${v}'`);
}

/**
 * `zkjobs events [--from now|earliest|<cursor>]`: follows the job events of the cluster under
 * `--namespace` (`QueueEvents`), one line per event (`--json`: one JSON object per line), until
 * interrupted.
 */
export function registerEventsCommands(program: Command): void {
  program
    .command('events')
    .description(
      'follow the job events under --namespace, one line each, until interrupted (a gap line says what was lost)',
    )
    .addOption(
      new Option(
        '--from <where>',
        'now, earliest (the oldest event kept) or a cursor: the first number of an event id printed before (events after it)',
      )
        .argParser(fromArg)
        .default('now'),
    )
    .action(async (o: { from: 'now' | 'earliest' | number }, cmd: Command) => {
      await (await actions()).followEvents(globalOptions(cmd), o.from);
    });
}
