import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestingServer } from '@zkjobs/core/testing';
import { describeWithServers, withDeadline, zkConnect } from '../support/zk.js';
import { exampleHandlers, killAll, run, runAll, start } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'zkjobs-e2e-worker-'));

describe('zkjobs worker start: handlers modules', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a handlers export that is not a function, naming it, and locates a syntax error', async () => {
    const notFn = join(dir, 'not-fn.mjs');
    writeFileSync(notFn, 'export default { ok: async () => 1, bad: 5 };\n');
    const namedNotFn = join(dir, 'named.mjs');
    writeFileSync(namedNotFn, 'export async function ok() { return 1; }\nexport const limit = { n: 1 };\n');
    const syntax = join(dir, 'syntax.mjs');
    writeFileSync(syntax, 'export default {\n  ok: async () => 1,\n  bad: ,\n};\n');
    const [a, b, c] = await runAll([
      ['--connect', zkConnect, 'worker', 'start', '--handlers', notFn],
      ['--connect', zkConnect, 'worker', 'start', '--handlers', namedNotFn],
      ['--connect', zkConnect, 'worker', 'start', '--handlers', syntax],
    ]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain(`--handlers: ${notFn}: export default { bad } is not a function (got number)`);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`--handlers: ${namedNotFn}: export limit is not a function (got object)`);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`--handlers: cannot load ${syntax} (${syntax}:3): SyntaxError: Unexpected token ','`);
  });
});

describeWithServers('zkjobs worker start: shutdown without ZooKeeper', () => {
  afterAll(killAll);

  it('SIGTERM with the server gone: says what it waits for, exits 1 within grace + clean-up', async () => {
    const server = await TestingServer.start({ tickTime: 500 });
    try {
      const grace = 1000;
      const sessionTimeout = 2000;
      const w = start([
        '--connect',
        server.connectString,
        '--namespace',
        '/shutdown',
        '--log-level',
        'warn',
        'worker',
        'start',
        '--handlers',
        exampleHandlers,
        '--grace',
        String(grace),
        '--session-timeout',
        String(sessionTimeout),
      ]);
      await w.waitForLine((l) => l.includes('is the leader (epoch'), 20_000, 'leadership');
      await server.stop();
      const t0 = Date.now();
      w.child.kill('SIGTERM');
      // Documented: it gives up after grace + clean-up (grace + session timeout + 6 s = 9 s here)
      // and exits 1. The 4× deadline only catches a worker that never exits.
      const code = await withDeadline(w.exited, 4 * (grace + sessionTimeout + 6000), 'the worker to exit');
      expect(code).toBe(1);
      // It did wait for ZooKeeper first, rather than giving up at once.
      expect(Date.now() - t0).toBeGreaterThan(grace + sessionTimeout);
      expect(w.stderr).toMatch(/zkjobs: closing: waiting for ZooKeeper at 127\.0\.0\.1:\d+ \((suspended|lost) for/);
      expect(w.stderr).toMatch(
        /zkjobs: worker w-\d+ did not close within [\d.]+ s \(grace 1000 ms \+ clean-up 8000 ms\): still waiting for ZooKeeper/,
      );
      expect(w.stdout).not.toContain('closed');
      expect(w.stdout).not.toContain('epoch -1');
    } finally {
      await server.close();
    }
  }, 90_000);

  it('a healthy SIGTERM still closes at once with exit 0', async () => {
    const r = start([
      '--connect',
      zkConnect,
      '--namespace',
      '/t/worker-start-ok',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
    ]);
    await r.waitForLine((l) => l.includes('started in /t/worker-start-ok'), 20_000, 'start');
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    expect(r.stdout).toMatch(/worker w-\d+ closed/);
    expect(r.stderr).not.toContain('closing: waiting');
    const rm = await run(['--connect', zkConnect, 'config', 'rm', '-r', '/t/worker-start-ok']);
    expect(rm.code).toBe(0);
  });
});
