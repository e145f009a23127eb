import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { describeWithServers, waitFor } from '../support/zk.js';

const cli = createRequire(import.meta.url)
  .resolve('@zkjobs/worker/package.json')
  .replace(/package\.json$/, 'dist/cli/index.js');

describeWithServers('zkjobs server start', () => {
  it('prints a connect string a client can use, and cleans up on SIGTERM', async () => {
    const child = spawn(process.execPath, [cli, '--json', 'server', 'start', '--nodes', '1', '--tick-time', '500'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const line = await waitFor(
        () => out.split('\n').find((l) => l.startsWith('{')),
        30_000,
        50,
        'the connect string',
      );
      const info = JSON.parse(line) as { connectString: string; dir: string };
      expect(info.connectString).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(existsSync(info.dir)).toBe(true);
      const client = await ZkClient.connect(info.connectString, { sessionTimeoutMs: 2000 });
      await client.create('/from-test', { data: 'x' });
      expect((await client.getData('/from-test')).data.toString()).toBe('x');
      await client.close();

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(info.dir)).toBe(false);
      await expect(ZkClient.connect(info.connectString, { connectTimeoutMs: 1500 })).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects a bad --nodes value with usage exit code 2', async () => {
    const child = spawn(process.execPath, [cli, 'server', 'start', '--nodes', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/--nodes/);
    expect(err).toMatch(/must be 1 or 3/);
  });
});
