/**
 * Runs the BUILT `zkjobs` binary (`packages/worker/dist/cli/index.js`) as a child process, as a
 * user would. Every child started here is tracked and killed by {@link killAll} (call it in
 * `afterAll`/`afterEach`) and, as a last resort, when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** Path of the built CLI entry. */
export const cliPath = createRequire(import.meta.url)
  .resolve('@zkjobs/worker/package.json')
  .replace(/package\.json$/, 'dist/cli/index.js');

/** Path of the example handlers module. */
export const exampleHandlers = createRequire(import.meta.url)
  .resolve('@zkjobs/worker/package.json')
  .replace(/packages\/worker\/package\.json$/, 'examples/handlers/index.js');

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Kills every child still running. */
export async function killAll(): Promise<void> {
  const waits = [...children].map(
    (c) =>
      new Promise<void>((r) => {
        if (c.exitCode !== null || c.signalCode !== null) return r();
        c.once('exit', () => r());
        c.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}

/** A finished run. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time, ms. */
  ms: number;
}

/** A long-running child (worker start, config watch, services register). */
export class Running {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => child.on('close', (code) => r(code))); // after stdio is drained
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  /** JSON lines of stdout so far. */
  docs<T = Record<string, unknown>>(): T[] {
    return this.lines()
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as T);
  }

  /** Waits for a stdout line matching `pred`. */
  async waitForLine(pred: (line: string) => boolean, timeoutMs = 15_000, what = 'a line'): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines().find(pred);
      if (hit !== undefined) return hit;
      if (this.child.exitCode !== null)
        throw new Error(`exited (${this.child.exitCode}) before ${what}: ${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; stdout: ${this.stdout}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Starts `zkjobs <args>` and returns at once. */
export function start(args: string[], env: Record<string, string> = {}): Running {
  const base = { ...process.env };
  delete base['ZK_CONNECT']; // tests say where to connect
  delete base['ZKJOBS_LOG_LEVEL'];
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...base, ...env },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Running(child);
}

/** Runs `zkjobs <args>` to its end (killed after `timeoutMs`). */
export async function run(
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const t0 = Date.now();
  const r = start(args, opts.env);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const code = await r.exited;
  clearTimeout(timer);
  return { code, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/**
 * Runs many `zkjobs` invocations, at most `limit` at a time (each is a node process: running
 * dozens at once on two busy cores starves the server and the workers under test).
 */
export async function runAll<T extends string[][]>(
  argsList: [...T],
  limit = 3,
): Promise<{ [K in keyof T]: RunResult }> {
  const out = new Array<RunResult>(argsList.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < argsList.length) {
      const i = next++;
      out[i] = await run(argsList[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, argsList.length) }, lane));
  return out as { [K in keyof T]: RunResult };
}

/** Parses the single JSON document of a `--json` run's stdout. */
export function json<T = Record<string, unknown>>(r: RunResult): T {
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== 1)
    throw new Error(`expected one JSON document, got ${lines.length} lines: ${r.stdout} ${r.stderr}`);
  return JSON.parse(lines[0]!) as T;
}

/** Parses every JSON line of a `--json` run's stdout. */
export function jsonLines<T = Record<string, unknown>>(r: RunResult): T[] {
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}
