import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeWithServers, waitFor } from '../support/zk.js';

const fixture = fileURLToPath(new URL('./fixtures/start-server.mjs', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describeWithServers('no JVM outlives its harness', () => {
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`the server's JVM dies when the process that started it is ended by ${signal}`, async () => {
      const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        const line = await waitFor(() => out.split('\n').find((l) => l.startsWith('{')), 30_000, 50, 'the server pid');
        const { pid } = JSON.parse(line) as { pid: number };
        expect(alive(pid)).toBe(true);
        child.kill(signal);
        await waitFor(() => !alive(pid), 10_000, 50, `JVM ${pid} to exit`);
        expect(alive(pid)).toBe(false);
      } finally {
        child.kill('SIGKILL');
      }
    });
  }
});
