import { Option, type Command } from 'commander';
import { globalOptions, intArg } from '../context.js';
import { parseBackoff } from './job.js';
import type { ScheduleAddOptions } from '../actions/schedule.js';

/** The implementations, loaded when a command runs (they pull in the engine). */
const actions = () => import('../actions/schedule.js');

/**
 * `zkjobs schedule add|ls|rm|pause|resume`: jobs created by the leader at the slots of a cron
 * pattern or a fixed period, in the cluster under `--namespace` (`<ns>/schedules/<id>`).
 */
export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('jobs created at cron or fixed-period slots');
  schedule
    .command('add')
    .description('create or update a schedule (same timing: keeps its next slot); one slot, one job <id>@<slot ms>')
    .argument('<id>', 'schedule id: 1-100 characters of [A-Za-z0-9._:-]')
    .argument('<type>', 'job type of the jobs it creates')
    .option('--cron <pattern>', "cron pattern, 5 fields or 6 with seconds first (e.g. '*/10 * * * * *')")
    .option('--every <ms>', 'or a fixed period', intArg(100, 31_536_000_000, 'ms'))
    .option('--tz <zone>', 'IANA time zone of --cron (default UTC)')
    .option('--start-at <time>', 'no slot before this (ISO 8601 with a zone, or ms since the epoch)')
    .option('--end-at <time>', 'no slot at or after this')
    .option('--limit <n>', 'fire at most n slots in all', intArg(1, 1_000_000_000))
    .addOption(
      new Option('--misfire <policy>', 'slots more than the threshold late: skip, or one catch-up job')
        .choices(['skip', 'run-once'])
        .default('skip'),
    )
    .option('--misfire-threshold <ms>', 'how late a slot may fire and be on time', intArg(0, 31_536_000_000, 'ms'))
    .option('--data <json>', 'payload of each job: JSON text, or @file', 'null')
    .option('--priority <n>', 'job priority (0–1000000)', intArg(0, 1_000_000))
    .option('--attempts <n>', 'attempts of each job (1–1000)', intArg(1, 1000))
    .option('--backoff <spec>', 'wait between attempts: fixed:<ms> or exponential:<ms>', parseBackoff)
    .option('--timeout <ms>', "abort each job's handler after this many ms", intArg(1, 86_400_000, 'ms'))
    .action(async (id: string, type: string, opts: ScheduleAddOptions, cmd: Command) => {
      await (await actions()).addSchedule(globalOptions(cmd), id, type, opts);
    });
  schedule
    .command('ls')
    .description('every schedule: timing, next slot, slots fired')
    .action(async (_o: unknown, cmd: Command) => {
      await (await actions()).listSchedules(globalOptions(cmd));
    });
  schedule
    .command('rm')
    .description('remove a schedule (the jobs it created stay)')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).removeSchedule(globalOptions(cmd), id);
    });
  schedule
    .command('pause')
    .description('fire nothing until resumed')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).pauseSchedule(globalOptions(cmd), id, true);
    });
  schedule
    .command('resume')
    .description('fire again, from the first slot at or after now')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await (await actions()).pauseSchedule(globalOptions(cmd), id, false);
    });
}
