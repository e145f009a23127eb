// Logs a person can read: `worker start` on a terminal prints pino-pretty lines, JSON lines when
// its stderr is a pipe or a file (what `verify --history` and the fault tests read) or with
// `--log-format json`; Queue and Worker used as a library log nothing below warn by default.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { cliPath, exampleHandlers, killAll, start } from './cli.js';

const SCRIPT = '/usr/bin/script'; // util-linux: runs a command on a new pseudo-terminal
// eslint-disable-next-line no-control-regex -- ANSI colour codes start with ESC
const ANSI = /\x1b\[[0-9;]*m/g;

/** Runs `zkjobs <args>` on a pseudo-terminal until `until(output)` holds, then ends it; returns what the terminal showed. */
async function onTerminal(args: string[], until: (out: string) => boolean): Promise<string> {
  if (!existsSync(SCRIPT)) {
    throw new Error(`${SCRIPT} is missing: it gives the worker a terminal (Debian's util-linux / bsdutils)`);
  }
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, cliPath, ...args].map(quote).join(' ');
  const env = { ...process.env };
  delete env['ZKJOBS_LOG_LEVEL'];
  const child = spawn(SCRIPT, ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  try {
    await waitFor(() => until(out) || child.exitCode !== null, 30_000, 25, 'the terminal output');
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return out;
}

describe('worker start logs', () => {
  afterAll(killAll);
  const base = (ns: string) => ['--connect', zkConnect, '--namespace', ns];

  it('are human lines on a terminal, JSON with --log-format json there', async () => {
    const ns = fileNamespace(import.meta.filename);
    const human = await onTerminal([...base(ns), 'worker', 'start', '--handlers', exampleHandlers], (o) =>
      o.includes('is the leader'),
    );
    const lines = human.replace(ANSI, '').split(/\r?\n/);
    const started = lines.find((l) => l.includes('worker started'));
    expect(started, human).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: worker started \{"worker":"w-\d{10}"/);
    expect(
      lines.some((l) => l.startsWith('{"level"')),
      'no JSON log line',
    ).toBe(false);
    expect(human, 'coloured on a terminal').toMatch(ANSI);

    const json = await onTerminal(
      [...base(ns), 'worker', 'start', '--handlers', exampleHandlers, '--log-format', 'json'],
      (o) => o.includes('is the leader'),
    );
    const docs = json
      .split(/\r?\n/)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; level?: number });
    expect(docs.some((d) => d.msg === 'worker started' && d.level === 30)).toBe(true);
  });

  it('are JSON lines when stderr is a pipe, and human lines with --log-format pretty there', async () => {
    const ns = fileNamespace(import.meta.filename);
    const piped = start([...base(ns), 'worker', 'start', '--handlers', exampleHandlers]);
    await piped.waitForLine((l) => l.includes('is the leader'), 30_000, 'leadership');
    await waitFor(() => piped.stderr.includes('"msg":"worker started"'), 30_000, 25, 'the started log line');
    for (const line of piped.stderr.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
    piped.child.kill('SIGTERM');
    expect(await piped.exited).toBe(0);

    const pretty = start([...base(ns), 'worker', 'start', '--handlers', exampleHandlers, '--log-format', 'pretty']);
    await pretty.waitForLine((l) => l.includes('is the leader'), 30_000, 'leadership');
    await waitFor(() => pretty.stderr.includes('worker started'), 30_000, 25, 'the started log line');
    expect(pretty.stderr).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: worker started \{/m);
    expect(pretty.stderr, 'no colours off a terminal').not.toMatch(ANSI);
    pretty.child.kill('SIGTERM');
    expect(await pretty.exited).toBe(0);
  });

  it('rejects an unknown --log-format with exit 2', async () => {
    const r = start(['--connect', zkConnect, 'worker', 'start', '--handlers', exampleHandlers, '--log-format', 'xml']);
    expect(await r.exited).toBe(2);
    expect(r.stderr).toContain("'xml' is invalid. Allowed choices are auto, pretty, json");
  });
});

describe('Queue and Worker as a library', () => {
  it('log nothing below warn without a logger, and info lines with one', async () => {
    const ns = fileNamespace(import.meta.filename);
    const program = (logger: string) => `
      import { Queue, Worker, createLogger } from '@zkjobs/worker';
      const opts = { namespace: ${JSON.stringify(ns)}${logger} };
      const worker = new Worker(${JSON.stringify(zkConnect)}, { echo: async (j) => j.data }, opts);
      await worker.start();
      const queue = new Queue(${JSON.stringify(zkConnect)}, opts);
      const job = await queue.add('echo', 1);
      await queue.waitUntilFinished(job.id, { timeoutMs: 30000 });
      await queue.close();
      await worker.close();
      console.log('done');
    `;
    const runProgram = async (source: string) => {
      const env = { ...process.env };
      delete env['ZKJOBS_LOG_LEVEL'];
      // Run from test/, where @zkjobs/worker resolves.
      const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
        cwd: dirname(dirname(fileURLToPath(import.meta.url))),
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      return { code, stdout, stderr };
    };
    const quiet = await runProgram(program(''));
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toBe('done\n');
    expect(quiet.stderr).toBe('');
    const loud = await runProgram(program(", logger: createLogger('info')"));
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toContain('"msg":"job completed"');
  });
});
