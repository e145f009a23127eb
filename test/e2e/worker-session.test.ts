import { afterAll, describe, expect, it } from 'vitest';
import { TcpProxy, TestingServer } from '@zkjobs/core/testing';
import { canStartServers, sleep } from '../support/zk.js';
import { exampleHandlers, killAll, start } from './cli.js';

// A private server (tickTime 200: sessions of at most 4 s) reached through a proxy that the test
// cuts for longer than the worker's session timeout.
describe.skipIf(!canStartServers)('worker start --json and a lost session', () => {
  afterAll(killAll);

  it('prints session-lost with the old session, then re-registered with the new worker znode and session', async () => {
    const server = await TestingServer.start({ tickTime: 200 });
    const proxy = await TcpProxy.start('127.0.0.1', server.port);
    try {
      const w = start([
        '--connect',
        proxy.address,
        '--namespace',
        '/t/worker-session',
        '--json',
        'worker',
        'start',
        '--handlers',
        exampleHandlers,
        '--session-timeout',
        '2000',
      ]);
      const started = JSON.parse(await w.waitForLine((l) => l.includes('"event":"started"'), 30_000, 'started')) as {
        worker: string;
        session: string;
      };
      proxy.cut();
      await sleep(5000);
      proxy.heal();
      const lost = JSON.parse(
        await w.waitForLine((l) => l.includes('"event":"session-lost"'), 20_000, 'session-lost'),
      ) as { session: string };
      const again = JSON.parse(
        await w.waitForLine((l) => l.includes('"event":"re-registered"'), 20_000, 're-registered'),
      ) as { worker: string; session: string; previousWorker: string; previousSession: string };
      expect(lost.session).toBe(started.session);
      expect(again.previousSession).toBe(started.session);
      expect(again.previousWorker).toBe(started.worker);
      expect(again.session).not.toBe(started.session);
      expect(again.worker).toMatch(/^w-\d{10}$/);
      expect(again.worker).not.toBe(started.worker);
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
    } finally {
      await proxy.close();
      await server.close();
    }
  }, 60_000);
});
