import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeWithServers } from '../support/zk.js';

const demo = fileURLToPath(new URL('../../examples/failover-demo/index.js', import.meta.url));

describeWithServers('the failover demo', () => {
  it('kills the leader mid-run, prints the timeline, and passes its exactly-once verification', async () => {
    const env = { ...process.env };
    delete env['ZK_CONNECT']; // the demo's own ensemble, as on a fresh machine
    const child = spawn(process.execPath, [demo, '--jobs', '120'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(out).toMatch(/leader w-\d{10} killed/);
    expect(out).toMatch(/its session expired: znode \/workers\/w-\d{10} deleted/);
    expect(out).toMatch(/new leader elected: w-\d{10} .*epoch 1 → 2/);
    expect(out).toMatch(/first jobs scheduled by the new leader/);
    expect(out).toMatch(/checked 120 completion records: 120 completed exactly once, 0 not/);
    expect(out).toMatch(/^VERDICT: PASS/m);
    expect(code).toBe(0);
  }, 180_000);
});
