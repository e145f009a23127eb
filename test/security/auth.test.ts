/**
 * Digest authentication and the default ACL of ZkClient, against the shared server: a tree
 * made with credentials cannot be read or written without them; every node created without
 * an explicit ACL gets the default one (ancestors, transaction creates, recipes, the job
 * engine); the credentials survive reconnects and new sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestAuth,
  digestId,
  killSession,
  LeaderLatch,
  NoAuthError,
  NodeExistsError,
  OPEN_ACL_UNSAFE,
  ownerAcl,
  Perms,
  TransactionError,
  ZkClient,
  CreateMode,
  type Acl,
} from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { Queue, Worker, createLogger } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { dumpTree, expectTreeUnchanged } from '../support/tree-dump.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
const base = fileNamespace(import.meta.filename);
const OWNER = { user: 'jobs', password: 'owner-secret' };
const READER = { user: 'dashboard', password: 'reader-secret' };
const ownerId = digestId(OWNER.user, OWNER.password);
const readerId = digestId(READER.user, READER.password);
const PROTECTED: Acl[] = ownerAcl(ownerId, { readOnly: [readerId] });

const sortAcl = (l: readonly Acl[]) => [...l].sort((a, b) => `${a.scheme}${a.id}`.localeCompare(`${b.scheme}${b.id}`));

let open: ZkClient; // no credentials
let owner: ZkClient; // the tree's owner, its default ACL PROTECTED
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  open = await ZkClient.connect(zkConnect);
  // The file's base stays open (other files share /t); everything below it is protected.
  await open.mkdirp(base);
  owner = await ZkClient.connect(zkConnect, { ...digestAuth(OWNER.user, OWNER.password, { readOnly: [readerId] }) });
  closers.push(
    () => owner.close(),
    () => open.close(),
  );
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

/** Every node under `root` with its ACL. */
async function acls(client: ZkClient, root: string): Promise<{ path: string; acl: Acl[] }[]> {
  const nodes = await dumpTree(client, root);
  return Promise.all(nodes.map(async (n) => ({ path: n.path, acl: sortAcl((await client.getACL(n.path)).acl) })));
}

describe('the default ACL', () => {
  it('every create without an acl gets it: the node, the parents it makes, a namespace and its ancestors, transaction and sequential creates, recipes', async () => {
    const ns = `${base}/made/with/auth`;
    const view = owner.usingNamespace(ns);
    await view.create('/a/b/c', { data: 'payload', parents: true });
    await view.mkdirp('/d/e');
    const seq = await view.create('/seq-', { mode: CreateMode.PERSISTENT_SEQUENTIAL });
    await view.transaction().create('/tx1', { data: '1' }).create('/tx1/tx2').commit();
    const latch = new LeaderLatch(view, '/election');
    await latch.start();
    await waitFor(() => latch.hasLeadership(), 10_000, 25, 'leadership');
    const all = await acls(owner, `${base}/made`);
    await latch.close();
    expect(all.map((n) => n.path)).toEqual(
      expect.arrayContaining([
        `${base}/made`,
        `${base}/made/with`,
        ns,
        `${ns}/a`,
        `${ns}/a/b`,
        `${ns}/a/b/c`,
        `${ns}/d/e`,
        `${ns}${seq}`,
        `${ns}/tx1/tx2`,
        `${ns}/election`,
      ]),
    );
    expect(all.some((n) => n.path.startsWith(`${ns}/election/`))).toBe(true); // the latch's ephemeral
    for (const n of all) expect(n.acl, n.path).toEqual(sortAcl(PROTECTED));
    // The file's base was not created by the owner: it stays open.
    expect((await open.getACL(base)).acl).toEqual(OPEN_ACL_UNSAFE);
  });

  it('an explicit acl wins over the default', async () => {
    const p = `${base}/explicit`;
    await owner.create(p, { acl: OPEN_ACL_UNSAFE });
    expect((await owner.getACL(p)).acl).toEqual(OPEN_ACL_UNSAFE);
  });

  it('a provider is asked with the absolute path of each node it makes', async () => {
    const asked: string[] = [];
    const c = await ZkClient.connect(zkConnect, {
      auth: [{ scheme: 'digest', auth: `${OWNER.user}:${OWNER.password}` }],
      defaultAcl: (path) => {
        asked.push(path);
        return path.endsWith('/open') ? OPEN_ACL_UNSAFE : ownerAcl(ownerId);
      },
      namespace: `${base}/provided`,
    });
    try {
      await c.create('/x/open', { parents: true });
      expect(asked).toEqual([`${base}/provided`, `${base}/provided/x/open`, `${base}/provided/x`]);
      expect((await c.getACL('/x/open')).acl).toEqual(OPEN_ACL_UNSAFE);
      expect((await c.getACL('/x')).acl).toEqual(ownerAcl(ownerId));
    } finally {
      await c.close();
    }
  });
});

describe('a protected tree refuses clients without the credentials', () => {
  const ns = `${base}/prod`;
  beforeAll(async () => {
    const v = owner.usingNamespace(ns);
    await v.create('/jobs/j1', { data: '{"secret":true}', parents: true });
    await v.create('/workers', {});
  });

  const noAuth = async (client: ZkClient, run: (c: ZkClient) => Promise<unknown>, what: RegExp) => {
    const err = await expectTreeUnchanged(owner, ns, () =>
      run(client).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    const e = err instanceof TransactionError ? err.opError : err;
    expect(e).toBeInstanceOf(NoAuthError);
    expect((e as NoAuthError).message).toMatch(what);
    return e as NoAuthError;
  };

  it('without credentials: no read, write, create, delete, ACL change or transaction; exists still answers (ZooKeeper does not check ACLs on exists)', async () => {
    const e = await noAuth(open, (c) => c.getData(`${ns}/jobs/j1`), /not authorized \(getData .*\/jobs\/j1\)/);
    expect(e.fullPath).toBe(`${ns}/jobs/j1`);
    await noAuth(open, (c) => c.getChildren(ns), /not authorized \(getChildren/);
    await noAuth(open, (c) => c.setData(`${ns}/jobs/j1`, 'overwritten'), /not authorized \(setData/);
    await noAuth(open, (c) => c.create(`${ns}/jobs/j2`), /not authorized \(create/);
    await noAuth(open, (c) => c.delete(`${ns}/jobs/j1`), /not authorized \(delete/);
    await noAuth(open, (c) => c.setACL(`${ns}/jobs/j1`, OPEN_ACL_UNSAFE), /not authorized \(setACL/);
    await noAuth(open, (c) => c.getACL(ns), /not authorized \(getACL/);
    await noAuth(open, (c) => c.transaction().setData(`${ns}/jobs/j1`, 'x').commit(), /not authorized/);
    await noAuth(open, (c) => c.mkdirp(`${ns}/jobs/new/dir`), /not authorized \(mkdirp/);
    await noAuth(open, (c) => c.deleteRecursive(ns), /not authorized/);
    expect(await open.exists(`${ns}/jobs/j1`)).not.toBeNull();
    // mkdirp of a directory that is there is not an error, whoever asks
    await expectTreeUnchanged(owner, ns, () => open.mkdirp(`${ns}/jobs`));
  });

  it('with another password (another identity): refused the same', async () => {
    const wrong = await ZkClient.connect(zkConnect, { auth: [{ scheme: 'digest', auth: `${OWNER.user}:guess` }] });
    try {
      await noAuth(wrong, (c) => c.getData(`${ns}/jobs/j1`), /not authorized/);
      await noAuth(wrong, (c) => c.setData(`${ns}/jobs/j1`, 'x'), /not authorized/);
    } finally {
      await wrong.close();
    }
  });

  it('the read-only identity reads, and cannot write, create or delete', async () => {
    const reader = await ZkClient.connect(zkConnect, {
      auth: [{ scheme: 'digest', auth: `${READER.user}:${READER.password}` }],
    });
    try {
      expect((await reader.getData(`${ns}/jobs/j1`)).data.toString()).toBe('{"secret":true}');
      expect((await reader.getChildren(ns)).children.sort()).toEqual(['jobs', 'workers']);
      await noAuth(reader, (c) => c.setData(`${ns}/jobs/j1`, 'x'), /not authorized \(setData/);
      await noAuth(reader, (c) => c.create(`${ns}/jobs/j3`), /not authorized \(create/);
      await noAuth(reader, (c) => c.delete(`${ns}/jobs/j1`), /not authorized \(delete/);
    } finally {
      await reader.close();
    }
  });

  it('a Queue without credentials can neither read a job nor submit one', async () => {
    const q = new Queue(open, { namespace: `${base}/engine-closed`, logger });
    // the engine's tree, made by the owner
    const ownerQueue = new Queue(owner, { namespace: `${base}/engine-closed`, logger });
    const job = await ownerQueue.add('t', { secret: 1 });
    await expectTreeUnchanged(owner, `${base}/engine-closed`, async () => {
      await expect(q.getJob(job.id)).rejects.toBeInstanceOf(NoAuthError);
      await expect(q.add('t', { x: 1 })).rejects.toThrow(/NoAuthError \[-102\]/);
    });
  });
});

describe('credentials on every connection and session', () => {
  it('are sent again after a reconnect and on a new session (the node stays readable, creates get the ACL)', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const c = await ZkClient.connect(proxy.address, {
      sessionTimeoutMs: 2000,
      ...digestAuth(OWNER.user, OWNER.password),
    });
    closers.push(
      () => c.close(),
      () => proxy.close(),
    );
    const p = `${base}/sessions`;
    await c.create(`${p}/before`, { data: 'v', parents: true });
    const states: string[] = [];
    c.on('state', (s) => states.push(s));

    proxy.reset(); // drop the connection: reconnected within the session
    await waitFor(() => states.includes('reconnected'), 15_000, 25, 'reconnected');
    expect((await c.getData(`${p}/before`)).data.toString()).toBe('v');
    await c.create(`${p}/after-reconnect`);

    const first = c.sessionId;
    proxy.cut();
    await killSession(zkConnect, c.sessionCredentials());
    proxy.heal();
    await waitFor(() => c.sessionId !== 0n && c.sessionId !== first, 15_000, 25, 'a new session');
    expect((await c.getData(`${p}/before`)).data.toString()).toBe('v');
    await c.create(`${p}/after-new-session`);
    for (const n of ['after-reconnect', 'after-new-session'])
      expect((await c.getACL(`${p}/${n}`)).acl, n).toEqual(ownerAcl(ownerId));
  });

  it('addAuth: credentials added later are kept for later sessions too', async () => {
    const [host, port] = zkConnect.split(',')[0]!.split(':') as [string, string];
    const proxy = await TcpProxy.start(host, Number(port));
    const c = await ZkClient.connect(proxy.address, { sessionTimeoutMs: 2000 });
    closers.push(
      () => c.close(),
      () => proxy.close(),
    );
    const p = `${base}/prod/jobs/j1`;
    await expect(c.getData(p)).rejects.toBeInstanceOf(NoAuthError);
    await c.addAuth('digest', `${READER.user}:${READER.password}`);
    expect((await c.getData(p)).data.toString()).toBe('{"secret":true}');
    const first = c.sessionId;
    proxy.cut();
    await killSession(zkConnect, c.sessionCredentials());
    proxy.heal();
    await waitFor(() => c.sessionId !== 0n && c.sessionId !== first, 15_000, 25, 'a new session');
    expect((await c.getData(p)).data.toString()).toBe('{"secret":true}');
  });
});

describe('the job engine on an authenticated client', () => {
  it('a Worker and a Queue run jobs end to end; every znode of the namespace carries the ACL', async () => {
    const namespace = `${base}/engine`;
    const wClient = await ZkClient.connect(zkConnect, {
      sessionTimeoutMs: 4000,
      ...digestAuth(OWNER.user, OWNER.password),
    });
    const qClient = await ZkClient.connect(zkConnect, { ...digestAuth(OWNER.user, OWNER.password) });
    const worker = new Worker(
      wClient,
      { double: async (job: { data: { n: number } }) => job.data.n * 2 },
      {
        namespace,
        concurrency: 4,
        logger,
      },
    );
    closers.push(
      () => qClient.close(),
      () => wClient.close(),
      () => worker.close({ graceMs: 100 }),
    );
    await worker.start();
    const queue = new Queue(qClient, { namespace, logger });
    const jobs = await queue.addBulk(Array.from({ length: 20 }, (_, n) => ({ type: 'double', data: { n } })));
    const done = await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 })));
    expect(done.map((j) => j.result)).toEqual(jobs.map((_, n) => n * 2));
    expect(done.every((j) => j.state === 'completed')).toBe(true);

    const all = await acls(qClient, namespace);
    expect(all.length).toBeGreaterThan(64); // the buckets, records, markers, the worker znode…
    const wrong = all.filter((n) => JSON.stringify(n.acl) !== JSON.stringify([{ perms: Perms.ALL, ...ownerId }]));
    expect(wrong).toEqual([]);

    // and nobody else can read a result
    const outsider = new Queue(open, { namespace, logger });
    await expect(outsider.getJob(jobs[0]!.id)).rejects.toBeInstanceOf(NoAuthError);
  });

  it('a Worker and a Queue given a connect string take the connection options (zk): credentials and ACL', async () => {
    const namespace = `${base}/engine-cs`;
    const zk = digestAuth(OWNER.user, OWNER.password);
    const worker = new Worker(
      zkConnect,
      { double: async (job: { data: { n: number } }) => job.data.n * 2 },
      {
        namespace,
        logger,
        sessionTimeoutMs: 4000,
        zk,
      },
    );
    const queue = new Queue(zkConnect, { namespace, logger, zk });
    closers.push(
      () => queue.close(),
      () => worker.close({ graceMs: 100 }),
    );
    await worker.start();
    const job = await queue.add('double', { n: 21 });
    expect((await queue.waitUntilFinished(job.id, { timeoutMs: 30_000 })).result).toBe(42);
    const outsider = new Queue(open, { namespace, logger });
    await expect(outsider.getJob(job.id)).rejects.toBeInstanceOf(NoAuthError);
  });

  it('ancestors made for the namespace get the ACL too, and a second cluster beside them needs the identity', async () => {
    const c = await ZkClient.connect(zkConnect, {
      ...digestAuth(OWNER.user, OWNER.password),
      namespace: `${base}/anc/x/y`,
    });
    await c.close();
    for (const p of [`${base}/anc`, `${base}/anc/x`, `${base}/anc/x/y`])
      expect((await owner.getACL(p)).acl, p).toEqual(ownerAcl(ownerId));
    await expect(open.create(`${base}/anc/other`)).rejects.toBeInstanceOf(NoAuthError);
    await expect(owner.create(`${base}/anc/other`)).resolves.toBe(`${base}/anc/other`);
    await expect(owner.create(`${base}/anc/other`)).rejects.toBeInstanceOf(NodeExistsError);
  });
});
