import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { json, killAll, run, runAll } from './cli.js';

const ns = fileNamespace(import.meta.filename);

describe('zkjobs: global options, usage errors, unreachable servers', () => {
  afterAll(killAll);

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

  it('fails with exit 1 and a clear error within --connect-timeout when nothing listens', async () => {
    // a port that was free a moment ago: connections are refused
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const r = await run(['--connect', `127.0.0.1:${free}`, '--connect-timeout', '1500', 'config', 'get', '/x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`could not connect to ZooKeeper at 127.0.0.1:${free} within 1500 ms`);
    expect(r.ms).toBeLessThan(1500 + 10_000); // generous: node start-up on busy cores; the point is no hang
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
      const r = await run(['--connect', `127.0.0.1:${port}`, '--connect-timeout', '1500', '--json', 'job', 'list']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`could not connect to ZooKeeper at 127.0.0.1:${port} within 1500 ms`);
      expect(r.ms).toBeLessThan(1500 + 10_000); // generous: node start-up on busy cores; the point is no hang
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });

  it('reads --connect from $ZK_CONNECT', async () => {
    const r = await run(['--namespace', ns, '--json', 'cluster', 'status'], { env: { ZK_CONNECT: zkConnect } });
    expect(r.code).toBe(0);
    expect(json(r)).toMatchObject({ namespace: ns, workers: [], leader: null });
  });
});
