import type { Command } from 'commander';
import type { HistoryEvent } from '../../verify.js';
import {
  connectZk,
  globalOptions,
  intArg,
  jobNamespace,
  Output,
  requireCluster,
  type GlobalOptions,
} from '../context.js';
import { OperationError, UsageError } from '../errors.js';

/** Options of `verify`. */
interface VerifyCliOptions {
  history?: string[];
  skew: number;
  settle: number;
  max: number;
}

/**
 * `zkjobs verify [--history <log...>]`: checks the job records under `--namespace` (and the
 * worker logs, when given) for lost jobs, double completions, completions from stale claims,
 * overlapping claims and out-of-order fencing tokens. Prints the verdict and the
 * counterexamples (with `--json`: one report document); exit 1 when a check fails.
 */
export function registerVerifyCommands(program: Command): void {
  program
    .command('verify')
    .description('check the job history and the tree: nothing lost, nothing completed twice or from a stale claim')
    .option(
      '--history <log...>',
      'history logs (JSON lines): `worker start --json` output, worker logs (stderr), ledgers of {kind:"effect",job,token}',
    )
    .option('--skew <ms>', 'clock skew tolerated between hosts when comparing times', intArg(0, 600_000, 'ms'), 250)
    .option(
      '--settle <ms>',
      'look again after this long at jobs that seem stuck before calling them lost (0 = no second look)',
      intArg(0, 600_000, 'ms'),
      1000,
    )
    .option('--max <n>', 'counterexamples printed per check', intArg(1, 100_000), 20)
    .action(async (opts: VerifyCliOptions, cmd: Command) => {
      await runVerify(globalOptions(cmd), opts);
    });
}

/** What a skipped check would have needed, given whether `--history` files were read. */
function skippedBecause(check: string, historyGiven: boolean): string {
  const needs =
    check === 'history-complete'
      ? 'worker log lines (`job active`, `job completed`, … from worker stderr) or `worker start --json` events'
      : 'history lines';
  return historyGiven ? `skipped (no ${needs} in the --history files)` : `skipped (needs --history with ${needs})`;
}

/**
 * Reads the `--history` files: a missing or unreadable file is a usage error naming it; a file
 * with no recognisable history line gets a warning on stderr.
 */
async function readHistory(paths: readonly string[]): Promise<HistoryEvent[]> {
  const { readHistoryLines } = await import('../../verify.js');
  const { readFile } = await import('node:fs/promises');
  const events: HistoryEvent[] = [];
  for (const p of paths) {
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
      throw new UsageError(`--history: cannot read ${p}: ${why}`, { cause: err });
    }
    const found = readHistoryLines(text, p);
    // A worker that ran no job writes lines with no history in them: that is fine. A file none
    // of whose lines is a JSON object is not a log at all: say so.
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (found.length === 0 && lines.length > 0 && !lines.some((l) => l.trimStart().startsWith('{'))) {
      process.stderr.write(
        `zkjobs: warning: --history ${p}: not a history log (expected JSON lines: worker logs, ` +
          '`worker start --json` events, or {"kind":"effect","job":…,"token":…} ledgers)\n',
      );
    }
    events.push(...found);
  }
  return events;
}

async function runVerify(g: GlobalOptions, opts: VerifyCliOptions): Promise<void> {
  const { verify } = await import('../../verify.js');
  const namespace = jobNamespace(g);
  const events = opts.history ? await readHistory(opts.history) : [];
  const client = await connectZk(g);
  let report;
  try {
    await requireCluster(client, namespace);
    report = await verify(client.usingNamespace(namespace), {
      events,
      skewMs: opts.skew,
      settleMs: opts.settle,
      maxCounterexamples: opts.max,
    });
  } finally {
    await client.close().catch(() => undefined);
  }
  new Output(g.json).result({ namespace, ...report }, () => {
    const s = report.stats;
    const lines = [
      `verify ${namespace}: ${report.ok ? 'PASS' : 'FAIL'}`,
      `jobs     ${report.jobs} (${Object.entries(report.states)
        .filter(([, n]) => n > 0)
        .map(([st, n]) => `${st} ${n}`)
        .join(', ')})`,
      `history  ${s.events} event(s): ${s.claims} claims, ${s.completions} completions, ${s.refused} refused, ` +
        `${s.stalled} stalled, ${s.requeued} requeued, ${s.reruns} re-run job(s)`,
    ];
    for (const c of report.checks) {
      const verdict = !c.ran ? skippedBecause(c.name, opts.history !== undefined) : c.ok ? 'ok' : `FAIL (${c.total})`;
      lines.push(`  ${c.name.padEnd(20)} ${verdict}`);
      for (const x of c.counterexamples) {
        lines.push(`    - ${x.message}`);
        if (x.evidence !== undefined) lines.push(`      ${JSON.stringify(x.evidence)}`);
      }
      if (c.total > c.counterexamples.length) lines.push(`    … and ${c.total - c.counterexamples.length} more`);
    }
    return lines.join('\n');
  });
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.name);
    throw new OperationError(`verify: ${failed.length} check(s) failed: ${failed.join(', ')}`);
  }
}
