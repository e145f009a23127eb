import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadVersionError,
  CreateMode,
  InvalidPathError,
  NoAuthError,
  NodeExistsError,
  NoNodeError,
  NotEmptyError,
  Perms,
  TransactionError,
  ZkClient,
  ZkError,
  compareSequential,
  digestAcl,
  sequenceOf,
  validatePath,
  type WatchEvent,
} from '@zkjobs/core';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const ns = fileNamespace(import.meta.filename);
let c: ZkClient;

beforeAll(async () => {
  c = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000, namespace: ns });
});
afterAll(async () => {
  await c?.deleteRecursive('/');
  await c?.close();
});

describe('basic operations', () => {
  it('creates, reads, lists, deletes with option objects and bigint Stats', async () => {
    expect(await c.create('/basic', { data: 'hello' })).toBe('/basic');
    const { data, stat } = await c.getData('/basic');
    expect(data.toString()).toBe('hello');
    expect(typeof stat.czxid).toBe('bigint');
    expect(stat.ephemeralOwner).toBe(0n);
    expect(stat.dataLength).toBe(5);
    expect(Math.abs(stat.ctime - Date.now())).toBeLessThan(60_000);
    await c.create('/basic/k1');
    await c.create('/basic/k2', { mode: CreateMode.EPHEMERAL });
    expect((await c.exists('/basic/k2'))!.ephemeralOwner).toBe(c.sessionId);
    expect((await c.getChildren('/basic')).children.sort()).toEqual(['k1', 'k2']);
    await expect(c.create('/basic/k1')).rejects.toBeInstanceOf(NodeExistsError);
    await expect(c.getData('/nope')).rejects.toMatchObject({
      name: 'NoNodeError',
      code: -101,
      path: '/nope',
      op: 'getData',
    });
    await expect(c.delete('/basic')).rejects.toBeInstanceOf(NotEmptyError);
    await expect(c.create('/basic/k2/x')).rejects.toMatchObject({ code: -108 });
    expect(await c.exists('/nope')).toBeNull();
    await c.deleteRecursive('/basic');
    await c.deleteRecursive('/basic'); // missing: no error
    expect(await c.exists('/basic')).toBeNull();
  });

  it('mkdirp and create({ parents }) make missing parents', async () => {
    await c.mkdirp('/m/a/b', { data: 'leaf' });
    await c.mkdirp('/m/a/b');
    expect((await c.getData('/m/a/b')).data.toString()).toBe('leaf');
    expect(await c.create('/m/x/y/z', { parents: true })).toBe('/m/x/y/z');
    await expect(c.create('/m/q/r')).rejects.toBeInstanceOf(NoNodeError);
  });

  it('sequential names parse as signed 32-bit numbers', async () => {
    const a = await c.create('/seq/n-', { mode: CreateMode.PERSISTENT_SEQUENTIAL, parents: true });
    const b = await c.create('/seq/n-', { mode: CreateMode.PERSISTENT_SEQUENTIAL });
    expect(a).toMatch(/^\/seq\/n-\d{10}$/);
    expect(compareSequential(a, b)).toBeLessThan(0);
    expect(sequenceOf('lock-0000000012')).toBe(12);
    expect(sequenceOf('lock--000000005')).toBe(-5);
    expect(sequenceOf('x-2147483648')).toBe(-2147483648);
    expect(() => sequenceOf('lock-12')).toThrow();
    for (const bad of ['a', '/a/', '/a//b', '/a/./b', '/a/..', '/a\u0000b', '']) {
      expect(() => validatePath(bad)).toThrow(InvalidPathError);
    }
    await expect(c.getData('relative')).rejects.toBeInstanceOf(InvalidPathError);
  });

  it('rejects oversized payloads with a clear error and writes nothing', async () => {
    await expect(c.create('/big', { data: Buffer.alloc(1024 * 1024) })).rejects.toMatchObject({
      name: 'BadArgumentsError',
      code: -8,
    });
    expect(await c.exists('/big')).toBeNull();
  });
});

describe('conditional operations honour versions (outside and inside multi)', () => {
  async function fresh(path: string): Promise<void> {
    await c.deleteRecursive(path);
    await c.create(path, { data: 'v0', parents: true });
  }
  const data = async (p: string) => (await c.getData(p)).data.toString();

  it('setData: version 0, mismatched, -1', async () => {
    await fresh('/v/set');
    await expect(c.setData('/v/set', 'bad', { version: 7 })).rejects.toBeInstanceOf(BadVersionError);
    expect(await data('/v/set')).toBe('v0');
    expect((await c.setData('/v/set', 'v1', { version: 0 })).version).toBe(1);
    await expect(c.setData('/v/set', 'bad', { version: 0 })).rejects.toBeInstanceOf(BadVersionError);
    expect(await data('/v/set')).toBe('v1');
    expect((await c.setData('/v/set', 'v2', { version: -1 })).version).toBe(2);
    expect((await c.setData('/v/set', 'v3')).version).toBe(3);
  });

  it('delete: version 0, mismatched, -1', async () => {
    await fresh('/v/del');
    await c.setData('/v/del', 'v1');
    await expect(c.delete('/v/del', { version: 0 })).rejects.toBeInstanceOf(BadVersionError);
    expect(await c.exists('/v/del')).not.toBeNull();
    await fresh('/v/del');
    await c.delete('/v/del', { version: 0 });
    expect(await c.exists('/v/del')).toBeNull();
    await fresh('/v/del');
    await c.setData('/v/del', 'v1');
    await c.delete('/v/del', { version: -1 });
    expect(await c.exists('/v/del')).toBeNull();
  });

  it('setACL: aversion 0, mismatched, -1', async () => {
    await fresh('/v/acl');
    const acl = [{ perms: Perms.ALL, scheme: 'world', id: 'anyone' }];
    await expect(c.setACL('/v/acl', acl, { version: 3 })).rejects.toBeInstanceOf(BadVersionError);
    expect((await c.getACL('/v/acl')).stat.aversion).toBe(0);
    expect((await c.setACL('/v/acl', acl, { version: 0 })).aversion).toBe(1);
    expect((await c.setACL('/v/acl', acl, { version: -1 })).aversion).toBe(2);
  });

  it('multi check / setData / delete at version 0, mismatched (nothing applied), -1', async () => {
    // version 0 must mean 0 (the unpatched library sent -1 for 0).
    await fresh('/v/tx');
    await c.setData('/v/tx', 'v1'); // version is now 1
    for (const build of [
      () => c.transaction().check('/v/tx', 0).create('/v/tx-created'),
      () => c.transaction().create('/v/tx-created').setData('/v/tx', 'bad', { version: 0 }),
      () => c.transaction().create('/v/tx-created').delete('/v/tx', { version: 0 }),
      () => c.transaction().create('/v/tx-created').check('/v/tx', 5),
    ]) {
      const err = await build()
        .commit()
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(TransactionError);
      const te = err as TransactionError;
      expect(te.code).toBe(-103);
      expect(te.failedOp.path).toBe('/v/tx');
      expect(te.message).toContain('/v/tx');
      expect(te.opError).toBeInstanceOf(BadVersionError);
      expect(await c.exists('/v/tx-created')).toBeNull(); // nothing applied
      expect(await data('/v/tx')).toBe('v1');
    }
    // Matching versions 1 and -1 are applied.
    const r = await c
      .transaction()
      .check('/v/tx', 1)
      .setData('/v/tx', 'v2', { version: 1 })
      .check('/v/tx', -1)
      .setData('/v/tx', 'v3', { version: -1 })
      .create('/v/tx-seq-', { mode: CreateMode.PERSISTENT_SEQUENTIAL })
      .commit();
    expect(r.map((x) => x.type)).toEqual(['check', 'setData', 'check', 'setData', 'create']);
    expect(r[1]!.stat!.version).toBe(2);
    expect(r[3]!.stat!.version).toBe(3);
    expect(r[4]!.createdPath).toMatch(/^\/v\/tx-seq-\d{10}$/);
    // Version 0 inside multi on a fresh node.
    await fresh('/v/tx0');
    await c.transaction().check('/v/tx0', 0).setData('/v/tx0', 'a', { version: 0 }).commit();
    await c.transaction().delete('/v/tx0', { version: 1 }).commit();
    expect(await c.exists('/v/tx0')).toBeNull();
    await fresh('/v/tx0');
    await c.transaction().delete('/v/tx0', { version: 0 }).commit();
    expect(await c.exists('/v/tx0')).toBeNull();
    await fresh('/v/tx0');
    await c.transaction().delete('/v/tx0', { version: -1 }).commit();
    expect(await c.exists('/v/tx0')).toBeNull();
  });

  it('a failed multi names the failing op; NoNode on check', async () => {
    const err = (await c
      .transaction()
      .create('/v/a1')
      .check('/v/missing', -1)
      .commit()
      .catch((e: unknown) => e)) as TransactionError;
    expect(err).toBeInstanceOf(TransactionError);
    expect(err.failedIndex).toBe(1);
    expect(err.failedOp).toEqual({ type: 'check', path: '/v/missing' });
    expect(err.code).toBe(-101);
    expect(err.results.map((r) => r.err)).toEqual([0, -101]);
    expect(await c.exists('/v/a1')).toBeNull();
  });
});

describe('watches', () => {
  it('one-shot watchers fire once with namespace-relative paths', async () => {
    await c.create('/w', { data: '1' });
    const events: WatchEvent[] = [];
    await c.getData('/w', { watch: (e) => events.push(e) });
    await c.getChildren('/w', { watch: (e) => events.push(e) });
    expect(await c.exists('/w-missing', { watch: (e) => events.push(e) })).toBeNull();
    await c.setData('/w', '2');
    await c.setData('/w', '3');
    await c.create('/w/child');
    await c.create('/w-missing');
    await waitFor(() => events.length >= 3, 5000);
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'data-changed', path: '/w' },
        { type: 'children-changed', path: '/w' },
        { type: 'created', path: '/w-missing' },
      ]),
    );
    expect(events).toHaveLength(3);
  });

  it('watchData / watchChildren deliver the initial value and every change', async () => {
    const values: (string | null)[] = [];
    const kids: string[][] = [];
    const h1 = c.watchData('/wd', (d) => values.push(d ? d.toString() : null));
    const h2 = c.watchChildren('/wd', (ch) => kids.push(ch));
    await waitFor(() => values.length === 1 && kids.length === 1);
    await c.create('/wd', { data: 'a' });
    await waitFor(() => values.at(-1) === 'a');
    await c.setData('/wd', 'b');
    await waitFor(() => values.at(-1) === 'b');
    await c.create('/wd/x');
    await waitFor(() => kids.at(-1)?.join() === 'x');
    await c.create('/wd/y');
    await waitFor(() => kids.at(-1)?.join() === 'x,y');
    await c.deleteRecursive('/wd');
    await waitFor(() => values.at(-1) === null && kids.at(-1)?.length === 0);
    h1.close();
    h2.close();
    await c.create('/wd', { data: 'c' });
    await new Promise((r) => setTimeout(r, 200));
    expect(values).toEqual([null, 'a', 'b', null]);
    expect(kids[0]).toEqual([]);
  });
});

describe('ACLs and digest authentication', () => {
  it('protects a node with a digest ACL; addAuth grants access', async () => {
    const acl = [digestAcl('alice', 'secret', Perms.ALL), { perms: Perms.READ, scheme: 'world', id: 'anyone' }];
    await c.create('/acl', { data: 'x', acl });
    // Without ADMIN, the server masks digest ids in getACL (ZOOKEEPER-1392).
    expect((await c.getACL('/acl')).acl).toContainEqual({ perms: Perms.ALL, scheme: 'digest', id: 'alice:x' });
    await expect(c.setData('/acl', 'y')).rejects.toBeInstanceOf(NoAuthError);
    const alice = await ZkClient.connect(zkConnect, {
      namespace: ns,
      auth: [{ scheme: 'digest', auth: 'alice:secret' }],
    });
    try {
      await alice.setData('/acl', 'y');
    } finally {
      await alice.close();
    }
    await c.addAuth('digest', 'alice:secret');
    await c.setData('/acl', 'z');
    expect((await c.getData('/acl')).data.toString()).toBe('z');
    expect((await c.getACL('/acl')).acl).toEqual(expect.arrayContaining(acl));
  });

  it('an unknown auth scheme is rejected with AuthFailedError', async () => {
    await expect(
      ZkClient.connect(zkConnect, { auth: [{ scheme: 'nosuch', auth: 'x' }], connectTimeoutMs: 5000 }),
    ).rejects.toMatchObject({
      name: 'AuthFailedError',
      code: -115,
    });
  });
});

describe('namespaces', () => {
  it('views share the session, are isolated by path, and closing one keeps the session', async () => {
    const v = c.usingNamespace(`${ns}/view`);
    expect(v.namespace).toBe(`${ns}/view`);
    expect(v.sessionId).toBe(c.sessionId);
    await v.create('/inside', { mode: CreateMode.EPHEMERAL });
    expect((await c.exists('/view/inside'))!.ephemeralOwner).toBe(c.sessionId);
    const r = await v.transaction().create('/t-', { mode: CreateMode.PERSISTENT_SEQUENTIAL }).commit();
    expect(r[0]!.createdPath).toMatch(/^\/t-\d{10}$/);
    await v.close();
    expect(c.state).toBe('connected');
    expect(await c.exists('/view/inside')).not.toBeNull();
  });

  it('reads through a view of a missing namespace write nothing; the first create makes it', async () => {
    const v = c.usingNamespace(`${ns}/typo/deep`);
    expect(await v.exists('/')).toBeNull();
    expect(await v.exists('/jobs')).toBeNull();
    await expect(v.getChildren('/')).rejects.toBeInstanceOf(NoNodeError);
    await expect(v.getData('/x')).rejects.toBeInstanceOf(NoNodeError);
    await expect(v.setData('/x', 'v')).rejects.toBeInstanceOf(NoNodeError);
    expect(await c.exists('/typo')).toBeNull();
    await v.create('/made', { data: 'y' });
    expect((await c.getData('/typo/deep/made')).data.toString()).toBe('y');
  });
});

describe('unknown server error codes', () => {
  it('become a ZkError keeping the number, and the client keeps working', async () => {
    // checkWatches (op 17) on a path without a watcher: the server answers -121 (NoWatcher),
    // a code node-zookeeper-client 1.1.3 does not know (it used to throw in its socket handler);
    // ours maps it to NoWatcherError, a ZkError with the number.
    const path = `${ns}`;
    const len = Buffer.byteLength(path);
    const payload = Buffer.alloc(4 + len + 4);
    payload.writeInt32BE(len, 0);
    payload.write(path, 4);
    payload.writeInt32BE(1, 4 + len);
    const err = await c.sendRawRequestForTesting(17, payload).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZkError);
    expect((err as ZkError).code).toBe(-121);
    expect((err as ZkError).name).toBe('NoWatcherError');
    expect(c.state).toBe('connected');
    await c.create('/after-unknown');
    expect(await c.exists('/after-unknown')).not.toBeNull();
  });
});

describe('requestStats', () => {
  it('counts requests by operation and znode writes inside and outside multis, shared by views', async () => {
    await c.mkdirp('/stats');
    const view = c.usingNamespace(`${ns}/stats`);
    const before = c.requestStats();
    await c.create('/stats/a', { data: 'x' });
    await c.setData('/stats/a', 'y');
    await c.getData('/stats/a');
    await view.getChildren('/');
    await c
      .transaction()
      .check('/stats/a', 1)
      .create('/stats/b')
      .setData('/stats/a', 'z', { version: 1 })
      .delete('/stats/b', { version: 0 })
      .commit();
    await c.delete('/stats/a');
    const after = view.requestStats();
    const d = (k: string): number => (after.requests[k] ?? 0) - (before.requests[k] ?? 0);
    expect([d('create'), d('setData'), d('getData'), d('getChildren'), d('multi'), d('delete')]).toEqual([
      1, 1, 1, 1, 1, 1,
    ]);
    expect(after.writes.create - before.writes.create).toBe(2);
    expect(after.writes.setData - before.writes.setData).toBe(2);
    expect(after.writes.delete - before.writes.delete).toBe(2);
    expect(after.multiOps - before.multiOps).toBe(4);
  });
});

describe('multiRead', () => {
  it('reads data and children of several znodes in one request; a missing one fails alone', async () => {
    await c.create('/mr', { data: 'parent' });
    await c.create('/mr/a', { data: 'alpha' });
    await c.create('/mr/b', { data: Buffer.alloc(0) });
    await c.setData('/mr/a', 'alpha2');
    const before = c.requestStats();
    const res = await c.multiRead([
      { type: 'getData', path: '/mr/a' },
      { type: 'getData', path: '/mr/missing' },
      { type: 'getChildren', path: '/mr' },
      { type: 'getData', path: '/mr/b' },
    ]);
    const after = c.requestStats();
    expect((after.requests['multiRead'] ?? 0) - (before.requests['multiRead'] ?? 0)).toBe(1);
    expect((after.requests['getData'] ?? 0) - (before.requests['getData'] ?? 0)).toBe(0);
    expect(res).toHaveLength(4);
    const [a, missing, children, b] = res;
    expect(a).toMatchObject({ type: 'getData' });
    if (a?.type !== 'getData') throw new Error('unreachable');
    expect(a.data.toString()).toBe('alpha2');
    const single = await c.getData('/mr/a');
    expect(a.stat).toEqual(single.stat);
    expect(missing?.type).toBe('error');
    if (missing?.type !== 'error') throw new Error('unreachable');
    expect(missing.error).toBeInstanceOf(NoNodeError);
    expect(missing.error.path).toBe('/mr/missing');
    expect(children).toEqual({ type: 'getChildren', children: expect.arrayContaining(['a', 'b']) });
    if (children?.type !== 'getChildren') throw new Error('unreachable');
    expect(children.children).toHaveLength(2);
    expect(b?.type === 'getData' && b.data.length).toBe(0);
  });

  it('works under a chroot and a namespace view; refuses an over-long list before sending', async () => {
    await c.mkdirp('/mr-root/inner');
    await c.create('/mr-root/inner/x', { data: 'in-chroot' });
    const chrooted = await ZkClient.connect(`${zkConnect}${ns}/mr-root`, { sessionTimeoutMs: 4000 });
    try {
      const view = chrooted.usingNamespace('/inner');
      const [x] = await view.multiRead([{ type: 'getData', path: '/x' }]);
      expect(x?.type === 'getData' && x.data.toString()).toBe('in-chroot');
      const many = Array.from({ length: 1001 }, () => ({ type: 'getData' as const, path: '/x' }));
      await expect(view.multiRead(many)).rejects.toMatchObject({ name: 'BadArgumentsError' });
      expect(await view.multiRead([])).toEqual([]);
    } finally {
      await chrooted.close();
    }
  });
});
