import { afterAll, expect, it } from 'vitest';
import { TcpProxy, TestingServer } from '@zkjobs/core/testing';
import { ZkClient } from '@zkjobs/core';
import { describeWithServers, sleep, waitFor } from '../support/zk.js';
import { killAll, start } from './cli.js';

// A private server (tickTime 200: sessions negotiate at most 4 s), reached through a proxy that
// the test resets (a short outage) and cuts (an outage past the session timeout).
describeWithServers('long-running commands report connection changes on stderr', () => {
  afterAll(killAll);

  it('config watch, services watch and services register: suspended, reconnected, session lost, new session, re-registered', async () => {
    const server = await TestingServer.start({ tickTime: 200 });
    const proxy = await TcpProxy.start('127.0.0.1', server.port);
    try {
      const connect = proxy.address;
      const c = await ZkClient.connect(connect);
      await c.create('/app/flag', { data: '0', parents: true });
      await c.close();
      const watch = start(['--connect', connect, 'config', 'watch', '/app/flag']);
      const svcWatch = start(['--connect', connect, '--json', 'services', 'watch', 'cache']);
      const reg = start(['--connect', connect, 'services', 'register', 'cache', 'c6', '--host', 'h', '--port', '1']);
      await watch.waitForLine((l) => l.includes('/app/flag = 0 (version 0)'), 20_000, 'the value');
      await svcWatch.waitForLine((l) => l.includes('"id":"c6"'), 20_000, 'c6');
      await reg.waitForLine((l) => l.startsWith('registered /servers/cache/c6'), 20_000, 'registered');

      // a short outage: suspended, then reconnected within the session
      proxy.reset();
      for (const r of [watch, svcWatch, reg])
        await waitFor(() => r.stderr.includes('reconnected'), 20_000, 50, 'reconnected');

      // an outage past the session timeout: the session is lost, a new one is made, c6 comes back
      proxy.cut();
      await sleep(6000);
      proxy.heal();
      await reg.waitForLine(
        (l) => l.startsWith('re-registered /servers/cache/c6 (new session 0x'),
        20_000,
        're-registered',
      );
      // ("… making a new session" comes first, in the lost line: wait for the new session's id)
      for (const r of [watch, reg]) await waitFor(() => /new session 0x/.test(r.stderr), 20_000, 50, 'new session');
      await waitFor(
        () => svcWatch.stderr.includes('"state":"new-session"'),
        20_000,
        50,
        'new session (services watch)',
      );

      for (const r of [watch, reg]) {
        expect(r.stderr).toMatch(
          /zkjobs: \S+ connection to ZooKeeper suspended; session 0x[0-9a-f]+ may still be alive/,
        );
        expect(r.stderr).toMatch(/zkjobs: \S+ reconnected after [\d.]+ (ms|s); session 0x[0-9a-f]+ kept/);
        expect(r.stderr).toMatch(/zkjobs: \S+ session 0x[0-9a-f]+ lost/);
        expect(r.stderr).toMatch(/zkjobs: \S+ new session 0x[0-9a-f]+ \(was 0x[0-9a-f]+\)/);
      }
      expect(watch.stderr).toContain('changes to /app/flag are not seen until reconnected');
      expect(reg.stderr).toContain('the registration went with it and is made again on the new session');
      const states = svcWatch.stderr
        .split('\n')
        .filter((l) => l.startsWith('{"event":"connection"'))
        .map((l) => (JSON.parse(l) as { state: string }).state);
      expect(states).toEqual(expect.arrayContaining(['suspended', 'reconnected', 'lost', 'new-session']));
      expect(
        svcWatch.stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .every((l) => !l.includes('"connection"')),
      ).toBe(true);

      for (const r of [watch, svcWatch, reg]) r.child.kill('SIGINT');
      expect(await watch.exited).toBe(0);
      expect(await svcWatch.exited).toBe(0);
      expect(await reg.exited).toBe(0);
      expect(reg.stdout).toContain('unregistered /servers/cache/c6');
    } finally {
      await proxy.close();
      await server.close();
    }
  });
});
