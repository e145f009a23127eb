/**
 * Pipes whose reader goes away, signals during a close, and a local server whose port is busy
 * or whose JVM dies: each ends with a clear message (or none, for a closed pipe), the exit
 * code it documents, and nothing left behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { Queue, createLogger } from '@zkjobs/worker';
import { describeNeeding, fileNamespace, serversUnavailableReason, waitFor, zkConnect } from '../support/zk.js';
import { expectTreeUnchanged } from '../support/tree-dump.js';
import { cliPath, exampleHandlers, killAll, run, start } from '../e2e/cli.js';

const ns = fileNamespace(import.meta.filename);
const dir = mkdtempSync(join(tmpdir(), 'zkjobs-pipes-'));
let root: ZkClient;

beforeAll(async () => {
  root = await ZkClient.connect(zkConnect);
  // Enough jobs that `job list` writes more than a pipe holds (64 KiB).
  const q = new Queue(root, { namespace: ns, logger: createLogger('silent') });
  await q.addBulk(Array.from({ length: 1200 }, (_, i) => ({ type: 'echo', data: i, opts: { jobId: `job-${i}` } })));
});
afterAll(async () => {
  await killAll();
  await root.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `script` with bash (pipefail: the status is the first failing command's); resolves with status and stderr. */
function bash(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -o pipefail; ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const cli = (...args: string[]): string =>
  [process.execPath, cliPath, '--connect', zkConnect, '--namespace', ns, ...args].map((a) => `'${a}'`).join(' ');

describe('stdout whose reader goes away', () => {
  it('job list | head -2: two lines, exit 0, no EPIPE stack trace', async () => {
    const r = await expectTreeUnchanged(root, ns, () => bash(`${cli('job', 'list')} | head -2`));
    expect(r.stdout.split('\n').filter((l) => l !== '')).toHaveLength(2);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('job list --json | head -c 100: exit 0, nothing on stderr', async () => {
    const r = await bash(`${cli('--json', 'job', 'list')} | head -c 100 >/dev/null`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('worker start | tee log, stopped with Ctrl-C (SIGINT to the whole pipeline): the close completes, exit 0', async () => {
    const log = join(dir, 'tee.log');
    const status = join(dir, 'status');
    const wns = `${ns}-tee`;
    // The subshell keeps the worker's exit status; `trap :` lets it outlive the SIGINT (the
    // worker gets the default disposition, tee dies of it at once).
    const script =
      `(trap : INT; '${process.execPath}' '${cliPath}' --connect '${zkConnect}' --namespace '${wns}' --log-level warn ` +
      `worker start --handlers '${exampleHandlers}' --grace 500 --session-timeout 10000 2>'${log}.err'; echo $? > '${status}') | tee '${log}' >/dev/null`;
    const child = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
    try {
      await waitFor(
        () => existsSync(log) && readFileSync(log, 'utf8').includes('started in'),
        30_000,
        50,
        'the worker started',
      );
      const workers = await root.getChildren(`${wns}/workers`);
      expect(workers.children).toHaveLength(1);
      process.kill(-child.pid!, 'SIGINT'); // what Ctrl-C does: the terminal's foreground group
      await waitFor(
        () => existsSync(status) && readFileSync(status, 'utf8').trim() !== '',
        30_000,
        50,
        'the worker exited',
      );
      expect(readFileSync(status, 'utf8').trim(), readFileSync(`${log}.err`, 'utf8')).toBe('0');
      // The graceful close deleted its znode (a crash would leave it until the session expired).
      expect((await root.getChildren(`${wns}/workers`)).children).toEqual([]);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('worker start: a second signal during the graceful close exits 1 at once', async () => {
    const wns = `${ns}-signals`;
    const queue = new Queue(root, { namespace: wns, logger: createLogger('silent') });
    const worker = (): ReturnType<typeof start> =>
      start([
        '--connect',
        zkConnect,
        '--namespace',
        wns,
        '--json',
        '--log-level',
        'warn',
        'worker',
        'start',
        '--handlers',
        exampleHandlers,
        '--grace',
        '20000',
      ]);
    // A job running on the worker holds its graceful close for up to --grace (20 s).
    const busy = async (w: ReturnType<typeof start>): Promise<void> => {
      await w.waitForLine((l) => l.includes('"started"'), 30_000, 'started');
      const job = await queue.add('sleep', { ms: 60_000 });
      await waitFor(async () => (await queue.getJob(job.id))?.state === 'active', 20_000, 50, 'the job running');
    };

    // Two signals: the second skips the close.
    const twice = worker();
    await busy(twice);
    twice.child.kill('SIGTERM');
    await waitFor(() => twice.stdout.includes('"closing"'), 10_000, 25, 'closing');
    twice.child.kill('SIGTERM');
    expect(await twice.exited).toBe(1);
    expect(twice.stderr).toContain('SIGTERM again: exiting without a graceful close');
  }, 120_000);

  it('worker start --json | head -1: the reader leaving is a stop request; the worker closes gracefully, exit 0', async () => {
    const wns = `${ns}-head`;
    const pending = bash(
      `'${process.execPath}' '${cliPath}' --connect '${zkConnect}' --namespace '${wns}' --json --log-level warn ` +
        `worker start --handlers '${exampleHandlers}' --grace 500 | head -1`,
    );
    let done = false;
    void pending.then(() => (done = true));
    // Nothing notices a closed pipe until it writes: its own second line (leader-elected) may
    // do, else each job makes the worker print one. (Its registration may come and go between two
    // looks at the tree, so the test does not wait for it: the `started` line names it.)
    const q = new Queue(root, { namespace: wns, logger: createLogger('silent') });
    const deadline = Date.now() + 60_000;
    while (!done && Date.now() < deadline) {
      await q.add('echo', 1);
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await pending;
    expect(JSON.parse(r.stdout) as { event: string; worker: string }).toMatchObject({
      event: 'started',
      worker: expect.stringMatching(/^w-\d{10}$/) as string,
    });
    expect(r.stderr).toContain('zkjobs: stdout was closed by its reader: closing the worker');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    expect((await root.getChildren(`${wns}/workers`)).children).toEqual([]);
  });

  it('config watch | head -1 ends when a change cannot be written, exit 0', async () => {
    const flag = `${ns}-flag`;
    await root.create(flag, { data: '0' });
    const pending = bash(
      `'${process.execPath}' '${cliPath}' --connect '${zkConnect}' config watch '${flag}' | head -1`,
    );
    let done = false;
    void pending.then(() => (done = true));
    for (let v = 1; !done; v++) {
      await root.setData(flag, String(v));
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await pending;
    expect(r.stdout).toMatch(/^\S+ \S+-flag = \d+ \(version \d+\)\n$/); // one line
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

const localShared = zkConnect.startsWith('127.0.0.1:') && !zkConnect.includes(',');

describeNeeding(
  serversUnavailableReason ??
    (localShared ? null : `the shared server is not a local standalone one (ZK_CONNECT=${zkConnect})`),
  'zkjobs server start: a busy port, a server that dies',
  () => {
    it('--base-port of a port another server holds: a clear error, exit 1, no temp dir left, the other server untouched', async () => {
      const port = Number(zkConnect.split(',')[0]!.split(':')[1]);
      const tmp = mkdtempSync(join(dir, 'tmp-')); // the command's own TMPDIR: what it leaves is seen there
      const r = await expectTreeUnchanged(root, ns, () =>
        run(['server', 'start', '--base-port', String(port)], { timeoutMs: 60_000, env: { TMPDIR: tmp } }),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `zkjobs: --base-port ${port}: port ${port} on 127.0.0.1 (client port of member 1) is in use by another process; ` +
          'choose other ports, or leave --base-port out for free ones\n',
      );
      expect(r.stdout).not.toContain('serving at');
      expect(readdirSync(tmp)).toEqual([]);
    });

    it('a server whose JVM dies: says so with its log’s errors, exit 1, temp dir removed', async () => {
      const s = start(['--json', 'server', 'start', '--tick-time', '500']);
      const line = await s.waitForLine((l) => l.startsWith('{'), 60_000, 'the connect string');
      const info = JSON.parse(line) as { dir: string };
      // the JVM (not its sh watchdog, whose command line holds the same arguments)
      const pid = execFileSync('pgrep', ['-f', `zookeeper.log.dir=${info.dir}/zk1`], { encoding: 'utf8' })
        .split('\n')
        .filter((p) => p !== '' && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'java')[0];
      expect(pid).toMatch(/^\d+$/);
      process.kill(Number(pid), 'SIGKILL');
      expect(await s.exited).toBe(1);
      // Under --json the error is one JSON document on stderr.
      const err = JSON.parse(s.stderr) as { error: { name: string; message: string; exitCode: number } };
      expect(err.error.exitCode).toBe(1);
      expect(err.error.message).toMatch(/^ZooKeeper member 1 \(127\.0\.0\.1:\d+\) exited on its own/);
      expect(existsSync(info.dir)).toBe(false);
    });
  },
);
