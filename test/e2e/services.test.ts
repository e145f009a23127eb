import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { json, killAll, run, start, runAll } from './cli.js';

// services live under an absolute --root (default /servers); this file uses its own
const root = fileNamespace(import.meta.filename);
const zk = (...args: string[]) => run(['--connect', zkConnect, ...args]);

describe('zkjobs services', () => {
  afterAll(async () => {
    await killAll();
    const c = await ZkClient.connect(zkConnect);
    await c.deleteRecursive(root);
    await c.close();
  });

  it('register keeps an ephemeral registration until SIGINT; ls and watch see it come and go', async () => {
    const watch = start(['--connect', zkConnect, '--json', 'services', 'watch', 'cache', '--root', root]);
    await watch.waitForLine((l) => l.includes('"instances":[]'), 15_000, 'the empty first list');

    const reg = start([
      '--connect',
      zkConnect,
      'services',
      'register',
      'cache',
      'c6',
      '--host',
      '10.0.0.6',
      '--port',
      '11211',
      '--payload',
      '{"zone":"a"}',
      '--root',
      root,
    ]);
    await reg.waitForLine((l) => l.startsWith(`registered ${root}/cache/c6 → 10.0.0.6:11211`), 15_000, 'registered');

    const [ls, lsJson, names] = await runAll([
      ['--connect', zkConnect, 'services', 'ls', 'cache', '--root', root],
      ['--connect', zkConnect, '--json', 'services', 'ls', 'cache', '--root', root],
      ['--connect', zkConnect, '--json', 'services', 'ls', '--root', root],
    ]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^ID\s+ADDRESS/);
    expect(ls.stdout).toMatch(/c6\s+10\.0\.0\.6:11211\s+\S+\s+\{"zone":"a"\}/);
    expect(json(lsJson)).toMatchObject({
      service: 'cache',
      instances: [{ name: 'cache', id: 'c6', host: '10.0.0.6', port: 11211, payload: { zone: 'a' } }],
    });
    expect(json(names)).toEqual({ services: [{ service: 'cache', instances: 1 }] });
    await watch.waitForLine((l) => l.includes('"id":"c6"'), 10_000, 'the watch to see c6');

    // the node is ephemeral: owned by the registering process's session
    const c = await ZkClient.connect(zkConnect);
    try {
      const st = await c.exists(`${root}/cache/c6`);
      expect(st?.ephemeralOwner).not.toBe(0n);
      reg.child.kill('SIGINT');
      expect(await reg.exited).toBe(0);
      expect(reg.stdout).toContain(`unregistered ${root}/cache/c6`);
      expect(await c.exists(`${root}/cache/c6`)).toBeNull();
    } finally {
      await c.close();
    }
    await waitFor(
      () =>
        watch.docs().at(-1)?.['instances'] !== undefined &&
        (watch.docs().at(-1)!['instances'] as unknown[]).length === 0,
    );
    const seen = watch.docs().map((d) => (d['instances'] as { id: string }[]).map((i) => i.id));
    expect(seen).toEqual([[], ['c6'], []]);
    const empty = await zk('services', 'ls', 'cache', '--root', root);
    expect(empty).toMatchObject({ code: 0, stdout: 'cache: no live instances\n' });
    watch.child.kill('SIGTERM');
    expect(await watch.exited).toBe(0);
  });

  it('register: a displaced registrant says so and exits 1 (no "unregistered"); --no-replace refuses', async () => {
    const reg = (...extra: string[]) =>
      start([
        '--connect',
        zkConnect,
        'services',
        'register',
        'cache',
        'c7',
        '--host',
        'h',
        '--port',
        '1',
        '--root',
        root,
        ...extra,
      ]);
    const first = reg();
    await first.waitForLine((l) => l.startsWith(`registered ${root}/cache/c7`), 15_000, 'first registered');
    const refused = await run([
      '--connect',
      zkConnect,
      'services',
      'register',
      'cache',
      'c7',
      '--host',
      'h2',
      '--port',
      '2',
      '--root',
      root,
      '--no-replace',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/zkjobs: id c7 is registered by another live session \(0x[0-9a-f]+\)/);
    const second = reg();
    await second.waitForLine((l) => l.startsWith(`registered ${root}/cache/c7`), 15_000, 'second registered');
    expect(await first.exited).toBe(1);
    expect(first.stdout).toMatch(new RegExp(`displaced: ${root}/cache/c7 was taken over by session 0x[0-9a-f]+`));
    expect(first.stdout).not.toContain('unregistered');
    expect(first.stderr).toMatch(/zkjobs: \S+ was taken over by another registrant \(session 0x[0-9a-f]+\)/);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.stdout).toContain(`unregistered ${root}/cache/c7`);
    const help = await run(['services', 'register', '--help']);
    expect(help.stdout).toMatch(/--host <host>\s+host name or address clients connect to \(required\)/);
    expect(help.stdout).toMatch(/--port <port>\s+TCP port clients connect to \(required\)/);
  });

  it('bad input: exit 2 naming the problem', async () => {
    const base = ['--connect', zkConnect, 'services'];
    const cases: [string[], RegExp][] = [
      [
        [...base, 'register', 'cache', 'c7', '--host', 'h', '--port', '70000', '--root', root],
        /--port.*must be an integer 1–65535/s,
      ],
      [[...base, 'register', 'cache', 'c7', '--host', 'h', '--root', root], /required option '--port <port>'/],
      [
        [...base, 'register', 'ca/che', 'c7', '--host', 'h', '--port', '1', '--root', root],
        /service: "ca\/che" must be one path segment/,
      ],
      [
        [...base, 'register', 'cache', 'c7', '--host', 'h', '--port', '1', '--payload', '{zone:a}', '--root', root],
        /malformed JSON in --payload at line 1, column 2: unexpected 'z'; expected a double-quoted property name/,
      ],
      [[...base, 'ls', 'cache', '--root', 'servers'], /--root: invalid znode path "servers": must start with \//],
    ];
    const results = await runAll(cases.map(([args]) => args));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
    // nothing was registered
    expect(json(await zk('--json', 'services', 'ls', 'cache', '--root', root))).toMatchObject({ instances: [] });
  });
});
