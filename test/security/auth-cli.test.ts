/**
 * The command line with digest credentials (`--auth`, `ZK_AUTH`, `--auth-file`): what it
 * creates is protected, a command without the credentials is told plainly and changes
 * nothing, a read-only identity reads, `acl apply` protects an existing cluster.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestAuth, digestId, ownerAcl, ZkClient, type Acl } from '@zkjobs/core';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { dumpTree, expectTreeUnchanged } from '../support/tree-dump.js';
import { cliPath, exampleHandlers, json, killAll, run, start } from '../e2e/cli.js';

const base = fileNamespace(import.meta.filename);
const AUTH = 'digest:jobs:s3cret';
const owner = digestId('jobs', 's3cret');
const reader = digestId('dashboard', 'r3ader');
const dir = mkdtempSync(join(tmpdir(), 'zkjobs-auth-cli-'));
let open: ZkClient;
let admin: ZkClient; // the owner's credentials, to look at the protected trees

const zk = (ns: string, ...args: string[]) => run(['--connect', zkConnect, '--namespace', ns, ...args]);
const sortAcl = (l: readonly Acl[]) => [...l].sort((a, b) => `${a.scheme}${a.id}`.localeCompare(`${b.scheme}${b.id}`));

beforeAll(async () => {
  open = await ZkClient.connect(zkConnect);
  await open.mkdirp(base); // the file's base stays open: /t is shared
  admin = await ZkClient.connect(zkConnect, { ...digestAuth('jobs', 's3cret') });
});
afterAll(async () => {
  await killAll();
  await admin.close();
  await open.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every node under `root` has `acl`. */
async function expectAcl(root: string, acl: Acl[]): Promise<number> {
  const nodes = await dumpTree(admin, root);
  for (const n of nodes) expect(sortAcl((await admin.getACL(n.path)).acl), n.path).toEqual(sortAcl(acl));
  return nodes.length;
}

describe('a cluster made with --auth', () => {
  const ns = `${base}/prod`;
  beforeAll(async () => {
    const r = await zk(
      ns,
      '--auth',
      AUTH,
      '--json',
      'job',
      'submit',
      'echo',
      '--any-type',
      '--id',
      'j1',
      '--data',
      '{"secret":1}',
    );
    expect(r.code, r.stderr).toBe(0);
  });

  it('is protected: every node it made (the namespace and its ancestors too) has the identity’s ACL', async () => {
    expect(await expectAcl(ns, ownerAcl(owner))).toBeGreaterThan(64);
    expect(sortAcl((await admin.getACL(ns)).acl)).toEqual(ownerAcl(owner));
  });

  it('without credentials, every command says it is not authorised and what to pass, exit 1, nothing changed', async () => {
    await expectTreeUnchanged(admin, ns, async () => {
      const hint =
        'pass --auth digest:<user>:<password> (or set ZK_AUTH, or --auth-file <path>) with an identity its ACL grants';
      const list = await zk(ns, 'job', 'list');
      expect(list.code).toBe(1);
      expect(list.stderr).toMatch(new RegExp(`^zkjobs: not authorised to read ${ns}/\\S+ \\(NoAuth\\); `));
      expect(list.stderr).toContain(hint);
      expect(list.stderr).not.toMatch(/\n\s+at /); // no stack trace
      const status = await zk(ns, 'job', 'status', 'j1');
      expect(status.code).toBe(1);
      expect(status.stderr).toMatch(new RegExp(`not authorised to read ${ns}/jobs/\\w+/j1 \\(NoAuth\\)`));
      const submit = await zk(ns, 'job', 'submit', 'echo', '--any-type', '--data', '{"x":1}');
      expect(submit.code).toBe(1);
      expect(submit.stderr).toMatch(new RegExp(`not authorised to (write|create) ${ns}/\\S+ \\(NoAuth\\)`));
      const cancel = await zk(ns, 'job', 'cancel', 'j1');
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toContain('(NoAuth)');
      const cluster = await zk(ns, 'cluster', 'status');
      expect(cluster.code).toBe(1);
      expect(cluster.stderr).toContain(`zkjobs: not authorised to read the ACL of ${ns} (NoAuth); ${hint}`);
    });
  });

  it('with another password: not authorised, and the message names the identity, not the password', async () => {
    await expectTreeUnchanged(admin, ns, async () => {
      const r = await zk(ns, '--auth', 'digest:jobs:guess', 'job', 'list');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        'its ACL does not grant digest:jobs (from --auth) the permission; check the user and password',
      );
      expect(r.stderr).not.toContain('guess');
    });
  });

  it('cluster status says it is protected (and an open namespace that it is open)', async () => {
    const r = await zk(ns, '--auth', AUTH, 'cluster', 'status');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^acl {6}protected: digest:jobs all$/m);
    const doc = json<{ protected: boolean; acl: Acl[] }>(await zk(ns, '--auth', AUTH, '--json', 'cluster', 'status'));
    expect(doc.protected).toBe(true);
    expect(doc.acl).toEqual(ownerAcl(owner));

    const openNs = `${base}/open`;
    expect((await zk(openNs, 'job', 'submit', 'echo', '--any-type')).code).toBe(0);
    const o = await zk(openNs, 'cluster', 'status');
    expect(o.stdout).toMatch(
      /^acl {6}OPEN: anyone may read, write and delete \(world:anyone all\) — protect it with zkjobs acl apply/m,
    );
  });

  it('ZK_AUTH and --auth-file give the same access; a file others can read is warned about', async () => {
    const env = await run(['--connect', zkConnect, '--namespace', ns, '--json', 'job', 'status', 'j1'], {
      env: { ZK_AUTH: AUTH },
    });
    expect(env.code, env.stderr).toBe(0);
    expect(json<{ data: unknown }>(env).data).toEqual({ secret: 1 });
    const file = join(dir, 'auth');
    writeFileSync(file, `${AUTH}\n`);
    chmodSync(file, 0o600);
    const f = await zk(ns, '--auth-file', file, 'job', 'status', 'j1');
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toBe('');
    chmodSync(file, 0o644);
    const loose = await zk(ns, '--auth-file', file, 'job', 'status', 'j1');
    expect(loose.code).toBe(0);
    expect(loose.stderr).toContain(
      `zkjobs: warning: --auth-file ${file} can be read by other users (mode 644); chmod 600 it`,
    );
  });

  it('a worker started with --auth runs the jobs end to end', async () => {
    const w = start([
      '--connect',
      zkConnect,
      '--namespace',
      ns,
      '--auth',
      AUTH,
      '--json',
      '--log-level',
      'warn',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
      '--session-timeout',
      '4000',
      '--grace',
      '1000',
    ]);
    await w.waitForLine((l) => l.includes('"event":"started"'), 30_000, 'worker started');
    const r = await zk(
      ns,
      '--auth',
      AUTH,
      '--json',
      'job',
      'submit',
      'echo',
      '--data',
      '{"n":7}',
      '--wait',
      '--wait-timeout',
      '20000',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(json<{ state: string; result: { echo: unknown } }>(r)).toMatchObject({
      state: 'completed',
      result: { echo: { n: 7 } },
    });
    const early = await zk(ns, '--auth', AUTH, '--json', 'job', 'wait', 'j1', '--timeout', '20000');
    expect(early.code, early.stderr).toBe(0);
    expect(await expectAcl(ns, ownerAcl(owner))).toBeGreaterThan(64); // the worker's znodes too
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});

describe('a read-only identity (--read-only-identity)', () => {
  const ns = `${base}/dash`;

  it('acl digest prints the identity of a user:password on stdin', () => {
    const r = spawnSync(process.execPath, [cliPath, 'acl', 'digest'], {
      input: 'dashboard:r3ader\n',
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`digest:${reader.id}\n`);
  });

  it('reads the cluster (job list, cluster status) and can change nothing', async () => {
    const id = `digest:${reader.id}`;
    const made = await zk(
      ns,
      '--auth',
      AUTH,
      '--read-only-identity',
      id,
      'job',
      'submit',
      'echo',
      '--any-type',
      '--id',
      'd1',
    );
    expect(made.code, made.stderr).toBe(0);
    await expectAcl(ns, ownerAcl(owner, { readOnly: [reader] }));
    const dash = (...args: string[]) => zk(ns, '--auth', 'digest:dashboard:r3ader', ...args);
    await expectTreeUnchanged(admin, ns, async () => {
      const list = await dash('--json', 'job', 'list');
      expect(list.code, list.stderr).toBe(0);
      expect(json<{ jobs: { id: string }[] }>(list).jobs.map((j) => j.id)).toEqual(['d1']);
      const status = await dash('cluster', 'status');
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/^acl {6}protected: digest:jobs all, digest:dashboard read$/m);
      const submit = await dash('job', 'submit', 'echo', '--any-type');
      expect(submit.code).toBe(1);
      expect(submit.stderr).toContain('its ACL does not grant digest:dashboard (from --auth)');
      const cancel = await dash('job', 'cancel', 'd1');
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toContain('(NoAuth)');
    });
  });
});

describe('acl apply: protecting an existing cluster', () => {
  const ns = `${base}/legacy`;
  beforeAll(async () => {
    for (const id of ['l1', 'l2', 'l3'])
      expect((await zk(ns, 'job', 'submit', 'echo', '--any-type', '--id', id)).code).toBe(0);
  });

  it('without --auth it is refused (exit 2), with --dry-run it only counts', async () => {
    await expectTreeUnchanged(open, ns, async () => {
      const r = await zk(ns, 'acl', 'apply');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('acl apply needs --auth (or ZK_AUTH, --auth-file)');
      const dry = await zk(ns, '--auth', AUTH, '--json', 'acl', 'apply', '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      const doc = json<{ changed: number; unchanged: number; dryRun: boolean }>(dry);
      expect(doc).toMatchObject({ dryRun: true, unchanged: 0 });
      expect(doc.changed).toBe((await dumpTree(open, ns)).length);
    });
  });

  it('gives every node the ACL, top down; the open client is then refused; a second run changes nothing', async () => {
    const count = (await dumpTree(open, ns)).length;
    const r = await zk(ns, '--auth', AUTH, 'acl', 'apply');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `acl apply ${ns}: ${count} node(s) changed, 0 already had the ACL (protected: digest:jobs all)`,
    );
    expect(await expectAcl(ns, ownerAcl(owner))).toBe(count);
    const list = await zk(ns, 'job', 'list');
    expect(list.code).toBe(1);
    expect(list.stderr).toContain('(NoAuth); pass --auth');
    const again = await zk(ns, '--auth', AUTH, '--json', 'acl', 'apply');
    expect(json(again)).toMatchObject({ changed: 0, unchanged: count });
    const get = await zk(ns, '--auth', AUTH, 'acl', 'get');
    expect(get.stdout).toContain(`${ns} (ACL version 1): protected: digest:jobs all`);
  });
});

describe('config set and services register with --auth', () => {
  it('config set ACLs the node and the parents it creates; config get without credentials is refused', async () => {
    const flag = `${base}/cfg/app/features/pymk`;
    const set = await run(['--connect', zkConnect, '--auth', AUTH, 'config', 'set', flag, '1']);
    expect(set.code, set.stderr).toBe(0);
    expect(await expectAcl(`${base}/cfg`, ownerAcl(owner))).toBe(4);
    await expectTreeUnchanged(admin, `${base}/cfg`, async () => {
      const get = await run(['--connect', zkConnect, 'config', 'get', flag]);
      expect(get.code).toBe(1);
      expect(get.stderr).toContain(`not authorised to read ${flag} (NoAuth); pass --auth`);
      const overwrite = await run(['--connect', zkConnect, 'config', 'set', flag, '0']);
      expect(overwrite.code).toBe(1);
      expect(overwrite.stderr).toContain(`not authorised to write ${flag} (NoAuth)`);
      const rm = await run(['--connect', zkConnect, 'config', 'rm', '-r', `${base}/cfg`]);
      expect(rm.code).toBe(1);
      expect(rm.stderr).toContain('(NoAuth)');
    });
    const get = await run(['--connect', zkConnect, '--auth', AUTH, 'config', 'get', flag]);
    expect(get.stdout).toBe('1\n');
  });

  it('services register ACLs the service root, the service and the instance', async () => {
    const root = `${base}/svc`;
    const reg = start([
      '--connect',
      zkConnect,
      '--auth',
      AUTH,
      'services',
      'register',
      'cache',
      'c1',
      '--host',
      'h',
      '--port',
      '1',
      '--root',
      root,
    ]);
    await reg.waitForLine((l) => l.startsWith(`registered ${root}/cache/c1`), 20_000, 'registered');
    expect(await expectAcl(root, ownerAcl(owner))).toBe(3);
    const ls = await run(['--connect', zkConnect, 'services', 'ls', 'cache', '--root', root]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain('(NoAuth)');
    reg.child.kill('SIGINT');
    expect(await reg.exited).toBe(0);
  });
});
