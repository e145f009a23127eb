import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { json, jsonLines, killAll, run, start, runAll } from './cli.js';

// config paths are absolute ZooKeeper paths (not under --namespace): each test uses its own
// subtree of this file's unique root
const root = fileNamespace(import.meta.filename);
let n = 0;
const unique = (): string => `${root}/c${++n}-${randomBytes(2).toString('hex')}`;
const zk = (...args: string[]) => run(['--connect', zkConnect, ...args]);

describe('zkjobs config', () => {
  afterAll(async () => {
    await killAll();
    const c = await ZkClient.connect(zkConnect);
    await c.deleteRecursive(root);
    await c.close();
  });

  it('set creates missing parents; get, ls and --json read it back', async () => {
    const base = unique();
    const flag = `${base}/app/features/pymk/enabled`;
    const set = await zk('config', 'set', flag, '0');
    expect(set.code).toBe(0);
    expect(set.stdout).toBe(`created ${flag} = 0 (version 0)\n`);
    const [get, getJson, ls, lsJson] = await runAll([
      ['--connect', zkConnect, 'config', 'get', flag],
      ['--connect', zkConnect, '--json', 'config', 'get', flag],
      ['--connect', zkConnect, 'config', 'ls', `${base}/app/features`],
      ['--connect', zkConnect, '--json', 'config', 'ls', `${base}/app/features/pymk`],
    ]);
    expect(get).toMatchObject({ code: 0, stdout: '0\n' });
    expect(json(getJson)).toMatchObject({ path: flag, value: '0', version: 0, numChildren: 0 });
    expect(ls).toMatchObject({ code: 0, stdout: 'pymk\n' });
    expect(json(lsJson)).toEqual({ path: `${base}/app/features/pymk`, children: ['enabled'] });
    // set again: a plain set of an existing node
    const again = await zk('--json', 'config', 'set', flag, '1');
    expect(json(again)).toMatchObject({ path: flag, value: '1', version: 1, created: false });
  });

  it('--version is a compare-and-set: a wrong version fails with exit 1 and leaves the value unchanged', async () => {
    const p = `${unique()}/limit`;
    expect((await zk('config', 'set', p, 'a')).code).toBe(0);
    const ok = await zk('config', 'set', p, 'b', '--version', '0');
    expect(ok).toMatchObject({ code: 0, stdout: `set ${p} = b (version 1)\n` });
    const stale = await zk('config', 'set', p, 'c', '--version', '0');
    expect(stale.code).toBe(1);
    expect(stale.stdout).toBe('');
    expect(stale.stderr).toContain(
      `version mismatch at ${p}: expected version 0, node is at version 1; value unchanged`,
    );
    expect(json(await zk('--json', 'config', 'get', p))).toMatchObject({ value: 'b', version: 1 });
    // a CAS needs an existing node, and nothing is created
    const missing = await zk('config', 'set', `${p}-missing`, 'x', '--version', '0');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no node at .*-missing \(a compare-and-set needs an existing node\)/);
    expect((await zk('config', 'get', `${p}-missing`)).code).toBe(1);
    // a malformed version is a usage error
    const bad = await zk('config', 'set', p, 'd', '--version', 'latest');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--version.*must be an integer/s);
    expect((await zk('config', 'get', p)).stdout).toBe('b\n');
  });

  it('refuses relative and malformed paths with exit 2 and names the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['config', 'set', 'app/features/x', '1'], /path: invalid znode path "app\/features\/x": must start with \//],
      [['config', 'get', '/app/'], /path: invalid znode path "\/app\/": must not end with \//],
      [['config', 'ls', '/app//x'], /empty segment/],
      [['config', 'rm', '/app/../etc'], /relative segment \.\./],
      [['config', 'watch', 'relative'], /must start with \//],
      [['config', 'set', '/', 'x'], /refusing to write \//],
      [['config', 'rm', '-r', '/zookeeper'], /refusing to delete \/zookeeper/],
      // integer options take plain decimal integers only
      [['config', 'set', '/x', '1', '--version', '0x1'], /--version.*must be an integer.*got '0x1'/s],
      [['config', 'set', '/x', '1', '--version', ' 1'], /--version.*must be an integer.*got ' 1'/s],
      [['config', 'set', '/x', '1', '--version', '1e0'], /--version.*must be an integer.*got '1e0'/s],
    ];
    const results = await runAll(cases.map(([args]) => ['--connect', zkConnect, ...args]));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it("refuses every write under /zookeeper, ZooKeeper's reserved tree, and writes nothing there", async () => {
    const name = `zkjobs-e2e-${randomBytes(3).toString('hex')}`;
    const [set, setDeep, rm] = await runAll([
      ['--connect', zkConnect, 'config', 'set', `/zookeeper/${name}`, '1'],
      ['--connect', zkConnect, 'config', 'set', `/zookeeper/${name}/a`, '1'],
      ['--connect', zkConnect, 'config', 'rm', '/zookeeper/quota'],
    ]);
    for (const r of [set, setDeep]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refusing to write \/zookeeper\/\S+: \/zookeeper is ZooKeeper's reserved tree/);
    }
    expect(rm.code).toBe(2);
    expect(rm.stderr).toContain("refusing to delete /zookeeper/quota: /zookeeper is ZooKeeper's reserved tree");
    const c = await ZkClient.connect(zkConnect);
    try {
      expect(await c.exists(`/zookeeper/${name}`)).toBeNull();
    } finally {
      await c.close();
    }
  });

  it('watch prints the version of each change and says which versions fast writes coalesced', async () => {
    const p = `${unique()}/fast`;
    const c = await ZkClient.connect(zkConnect);
    try {
      await c.create(p, { data: 'v0', parents: true });
      const w = start(['--connect', zkConnect, '--json', 'config', 'watch', p]);
      await w.waitForLine((l) => l.includes('"initial"'), 15_000, 'the initial value');
      // 60 writes in flight at once: one-shot watches cannot see each of them
      const N = 60;
      await Promise.all(Array.from({ length: N }, (_, i) => c.setData(p, `v${i + 1}`)));
      await w.waitForLine((l) => l.includes(`"version":${N}`), 15_000, 'the last version');
      const h = start(['--connect', zkConnect, 'config', 'watch', p]);
      await h.waitForLine((l) => l.includes(`(version ${N})`), 15_000, 'the human initial line');
      await Promise.all(Array.from({ length: N }, (_, i) => c.setData(p, `w${i + 1}`)));
      await h.waitForLine((l) => l.includes(`(version ${2 * N}`), 15_000, 'the last human line');
      w.child.kill('SIGINT');
      h.child.kill('SIGINT');
      expect(await w.exited).toBe(0);
      expect(await h.exited).toBe(0);
      const docs = w.docs<{ event: string; version: number; coalesced?: [number, number] }>();
      // every version is accounted for: printed, or named in a coalesced range
      const covered = new Set<number>();
      for (const d of docs) {
        covered.add(d.version);
        if (d.coalesced) for (let v = d.coalesced[0]; v <= d.coalesced[1]; v++) covered.add(v);
      }
      const last = Math.max(...covered); // N, or more: it also saw the second burst
      expect(last).toBeGreaterThanOrEqual(N);
      expect([...covered].sort((a, b) => a - b)).toEqual(Array.from({ length: last + 1 }, (_, i) => i));
      expect(docs.some((d) => d.coalesced !== undefined)).toBe(true); // 60 sets at once do coalesce
      const lines = h.lines().slice(1);
      expect(lines.every((l) => /\(version \d+(; versions? \d+(–\d+)? coalesced)?\)$/.test(l))).toBe(true);
      expect(lines.some((l) => / coalesced\)$/.test(l))).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('get and ls of a missing node fail with exit 1', async () => {
    const p = `${unique()}/nothing`;
    const [get, ls, rm] = await runAll([
      ['--connect', zkConnect, 'config', 'get', p],
      ['--connect', zkConnect, 'config', 'ls', p],
      ['--connect', zkConnect, 'config', 'rm', p],
    ]);
    for (const r of [get, ls, rm]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no node at ${p}`);
    }
  });

  it('rm deletes a leaf; a subtree only with -r', async () => {
    const base = unique();
    await zk('config', 'set', `${base}/tree/a/b`, '1');
    await zk('config', 'set', `${base}/tree/c`, '2');
    const refused = await zk('config', 'rm', `${base}/tree`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${base}/tree has children; use -r to delete the subtree`);
    expect((await zk('config', 'get', `${base}/tree/c`)).stdout).toBe('2\n');
    const leaf = await zk('config', 'rm', `${base}/tree/c`);
    expect(leaf).toMatchObject({ code: 0, stdout: `deleted ${base}/tree/c\n` });
    const wrongVersion = await zk('config', 'rm', `${base}/tree/a/b`, '--version', '7');
    expect(wrongVersion.code).toBe(1);
    expect(wrongVersion.stderr).toMatch(/version mismatch .* expected version 7, node is at version 0; not deleted/);
    const tree = await zk('--json', 'config', 'rm', '-r', `${base}/tree`);
    expect(json(tree)).toEqual({ path: `${base}/tree`, deleted: true, recursive: true });
    expect((await zk('config', 'ls', base)).stdout).toBe('\n');
  });

  it('watch prints the value now and every change until SIGINT, then exits 0', async () => {
    const p = `${unique()}/features/pymk/enabled`;
    const w = start(['--connect', zkConnect, '--json', 'config', 'watch', p]);
    await w.waitForLine((l) => l.includes('"initial"'), 15_000, 'the initial value');
    expect(w.docs()[0]).toMatchObject({ path: p, event: 'initial', exists: false });
    await zk('config', 'set', p, '0');
    await w.waitForLine((l) => l.includes('"value":"0"'), 10_000, 'the first value');
    await zk('config', 'set', p, '1');
    await w.waitForLine((l) => l.includes('"value":"1"'), 10_000, 'the change');
    await zk('config', 'rm', p);
    await w.waitForLine((l) => l.includes('"deleted"'), 10_000, 'the deletion');
    w.child.kill('SIGINT');
    expect(await w.exited).toBe(0);
    const docs = jsonLines({ code: 0, stdout: w.stdout, stderr: '', ms: 0 });
    expect(docs.map((d) => [d['event'], d['value'] ?? null])).toEqual([
      ['initial', null],
      ['changed', '0'],
      ['changed', '1'],
      ['deleted', null],
    ]);
    // human form
    const h = start(['--connect', zkConnect, 'config', 'watch', p]);
    await h.waitForLine((l) => l.includes('does not exist'));
    await zk('config', 'set', p, 'on');
    await h.waitForLine((l) => l.endsWith(`${p} = on (version 0)`));
    h.child.kill('SIGTERM');
    expect(await h.exited).toBe(0);
  });
});
