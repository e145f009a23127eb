import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { json, killAll, run, runAll } from './cli.js';

const ns = fileNamespace(import.meta.filename);
/** A run that should give up at its --connect-timeout of 1.5 s is killed only at 5× that plus node's start-up. */
const NO_HANG_MS = 5 * (1500 + 2000);

describe('zkjobs: global options, usage errors, unreachable servers', () => {
  afterAll(async () => {
    await killAll();
    const c = await ZkClient.connect(zkConnect);
    await c.deleteRecursive(ns).catch(() => undefined);
    await c.close();
  });

  it('prints help with exit 0 and rejects unknown commands and options with exit 2', async () => {
    const [help, unknownCmd, unknownOpt, badTimeout, badLevel] = await runAll([
      ['--help'],
      ['frobnicate'],
      ['job', 'list', '--frobnicate'],
      ['--connect-timeout', 'soon', 'config', 'get', '/x'],
      ['--log-level', 'loud', 'config', 'get', '/x'],
    ]);
    expect(help.code).toBe(0);
    for (const cmd of ['server', 'worker', 'job', 'cluster', 'config', 'services']) expect(help.stdout).toContain(cmd);
    expect(help.stdout).toContain('--connect-timeout');
    expect(unknownCmd.code).toBe(2);
    expect(unknownCmd.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(unknownOpt.code).toBe(2);
    expect(unknownOpt.stderr).toMatch(/unknown option '--frobnicate'/);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/--connect-timeout.*must be an integer/s);
    expect(badLevel.code).toBe(2);
    expect(badLevel.stderr).toMatch(/--log-level/);
  });

  it('rejects a malformed --connect and --namespace with exit 2, before connecting', async () => {
    const [badConnect, badPort, badNs, relNs] = await runAll([
      ['--connect', 'not a host', 'config', 'get', '/x'],
      ['--connect', '127.0.0.1:99999', 'config', 'get', '/x'],
      ['--connect', zkConnect, '--namespace', '/a//b', 'job', 'list'],
      ['--connect', zkConnect, '--namespace', 'relative', 'cluster', 'status'],
    ]);
    expect(badConnect.code).toBe(2);
    expect(badConnect.stderr).toMatch(/--connect: malformed server "not a host"/);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--connect: malformed server "127\.0\.0\.1:99999"/);
    expect(badNs.code).toBe(2);
    expect(badNs.stderr).toMatch(/--namespace: invalid znode path "\/a\/\/b": empty segment/);
    expect(relNs.code).toBe(2);
    expect(relNs.stderr).toMatch(/--namespace: invalid znode path "relative": must start with \//);
  });

  it('fails at once with exit 1 and a hint when nothing listens (connection refused)', async () => {
    // a port that was free a moment ago: connections are refused
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    // It gives up by itself at --connect-timeout (1.5 s) plus node's start-up; `run` kills it
    // (exit code null) only at a 5× deadline, which catches a hang, not a slow start.
    const r = await run(['--connect', `127.0.0.1:${free}`, '--connect-timeout', '1500', 'config', 'get', '/x'], {
      timeoutMs: NO_HANG_MS,
    });
    expect(r.code, 'exits by itself with 1 (null: killed at the deadline)').toBe(1);
    // Nothing listens there: every server refused the connection, so it fails at once with a hint.
    expect(r.stderr).toContain(`no ZooKeeper server at 127.0.0.1:${free} (connection refused)`);
  });

  it('does not hang on a server that accepts and never answers (a black hole)', async () => {
    const sockets = new Set<Socket>();
    const hole: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', () => r()));
    const port = (hole.address() as { port: number }).port;
    try {
      const r = await run(['--connect', `127.0.0.1:${port}`, '--connect-timeout', '1500', '--json', 'job', 'list'], {
        timeoutMs: NO_HANG_MS,
      });
      expect(r.code, 'exits by itself with 1 (null: killed at the deadline)').toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`could not connect to ZooKeeper at 127.0.0.1:${port} within 1500 ms`);
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  it('reads --connect from $ZK_CONNECT', async () => {
    const r = await run(['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'submit', 'x', '--any-type']);
    expect(r.code).toBe(0);
    const status = await run(['--namespace', ns, '--json', 'cluster', 'status'], { env: { ZK_CONNECT: zkConnect } });
    expect(status.code).toBe(0);
    expect(json(status)).toMatchObject({ namespace: ns, workers: [], leader: null });
  });

  it('read-only commands refuse a namespace that holds no cluster, and write nothing there', async () => {
    const typo = `${ns}-typo`;
    const c = await ZkClient.connect(zkConnect);
    try {
      await c.mkdirp(ns); // the parent exists; the mistyped sibling does not
      const on = (...args: string[]): string[] => ['--connect', zkConnect, '--namespace', typo, ...args];
      const results = await runAll([
        on('job', 'list'),
        on('cluster', 'status'),
        on('job', 'status', 'j1'),
        on('job', 'explain', 'j1'),
        on('job', 'logs', 'j1'),
        on('job', 'wait', 'j1', '--timeout', '1000'),
        on('job', 'cancel', 'j1'),
        on('verify'),
        on('--json', 'job', 'list'),
      ]);
      for (const r of results) {
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`no zkjobs cluster at ${typo}`);
        expect(r.stdout).toBe('');
      }
      expect(await c.exists(typo)).toBeNull();
    } finally {
      await c.close();
    }
  });

  it('verify: a missing --history file is a usage error; a file that is not a history log is named in a warning, a quiet worker log is not', async () => {
    const vns = `${ns}-verify`;
    const dir = mkdtempSync(join(tmpdir(), 'zkjobs-e2e-verify-'));
    const c = await ZkClient.connect(zkConnect);
    try {
      await c.mkdirp(`${vns}/jobs`); // an empty cluster
      const junk = join(dir, 'junk.log');
      writeFileSync(junk, 'hello\nworld\n');
      const quiet = join(dir, 'quiet.jsonl'); // a worker that ran no job: JSON lines, no history
      writeFileSync(quiet, '{"event":"started","worker":"w-0000000001"}\n');
      const on = (...args: string[]): string[] => ['--connect', zkConnect, '--namespace', vns, 'verify', ...args];
      const [missing, noLines, none, quietRun] = await runAll([
        on('--history', '/nonexistent'),
        on('--history', junk),
        on(),
        on('--history', quiet),
      ]);
      expect(quietRun.code).toBe(0);
      expect(quietRun.stderr).toBe('');
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('--history: cannot read /nonexistent: no such file');
      expect(noLines.code).toBe(0);
      expect(noLines.stderr).toContain(`zkjobs: warning: --history ${junk}: not a history log`);
      expect(noLines.stdout).toMatch(/history-complete\s+skipped \(no worker log lines .* in the --history files\)/);
      expect(noLines.stdout).not.toContain('needs --history');
      expect(none.code).toBe(0);
      expect(none.stdout).toMatch(/history-complete\s+skipped \(needs --history with worker log lines/);
    } finally {
      await c.deleteRecursive(vns).catch(() => undefined);
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses --namespace / and anything under /zookeeper with exit 2, before connecting', async () => {
    const [rootNs, zkNs, zkChild] = await runAll([
      ['--connect', '127.0.0.1:1', '--namespace', '/', 'job', 'list'],
      ['--connect', '127.0.0.1:1', '--namespace', '/zookeeper', 'cluster', 'status'],
      ['--connect', '127.0.0.1:1', '--namespace', '/zookeeper/jobs', 'worker', 'start', '--handlers', 'x.js'],
    ]);
    expect(rootNs.code).toBe(2);
    expect(rootNs.stderr).toContain('--namespace: / cannot hold a zkjobs cluster');
    for (const r of [zkNs, zkChild]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--namespace: \/zookeeper\S* is under \/zookeeper, ZooKeeper's reserved tree/);
    }
  });
});
