import { digestId, NoAuthError, NoNodeError, Perms, type Acl, type ZkClient } from '@zkjobs/core';
import {
  checkPath,
  isReservedPath,
  jobNamespace,
  Output,
  security,
  table,
  withZk,
  type GlobalOptions,
} from '../context.js';
import { OperationError, UsageError } from '../errors.js';

/** `rwcda` letters of a permission bitmask, as zkCli prints them. */
export function permLetters(perms: number): string {
  return [
    [Perms.READ, 'r'],
    [Perms.WRITE, 'w'],
    [Perms.CREATE, 'c'],
    [Perms.DELETE, 'd'],
    [Perms.ADMIN, 'a'],
  ]
    .map(([bit, l]) => ((perms & (bit as number)) !== 0 ? l : ''))
    .join('');
}

function who(a: Acl): string {
  return a.scheme === 'digest' ? `digest:${a.id.slice(0, a.id.indexOf(':'))}` : `${a.scheme}:${a.id}`;
}

function permWord(perms: number): string {
  if (perms === Perms.ALL) return 'all';
  if (perms === Perms.READ) return 'read';
  return permLetters(perms) || 'none';
}

/** Is a tree with this ACL protected, and who may do what: `protected: digest:alice all, digest:dash read`. */
export function describeAcl(acl: readonly Acl[]): { open: boolean; text: string } {
  const world = acl.find((a) => a.scheme === 'world' && a.id === 'anyone');
  const list = acl.map((a) => `${who(a)} ${permWord(a.perms)}`).join(', ');
  if (world && (world.perms & (Perms.WRITE | Perms.CREATE | Perms.DELETE | Perms.ADMIN)) !== 0)
    return {
      open: true,
      text: `OPEN: anyone may ${permWord(world.perms) === 'all' ? 'read, write and delete' : permLetters(world.perms)} (${list})`,
    };
  if (world && (world.perms & Perms.READ) !== 0) return { open: true, text: `readable by anyone (${list})` };
  return { open: false, text: `protected: ${list}` };
}

function sameAcl(a: readonly Acl[], b: readonly Acl[]): boolean {
  const key = (l: readonly Acl[]) =>
    l
      .map((x) => `${x.scheme}\u0000${x.id}\u0000${x.perms}`)
      .sort()
      .join('\n');
  return key(a) === key(b);
}

/** `zkjobs acl digest`: `user:password` lines on stdin → `digest:user:<base64 sha1>` lines. */
export async function aclDigest(g: GlobalOptions): Promise<void> {
  if (process.stdin.isTTY)
    throw new UsageError(
      'acl digest reads user:password lines from stdin, e.g. echo dashboard:secret | zkjobs acl digest',
    );
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const lines = Buffer.concat(chunks)
    .toString('utf8')
    .split(/\r?\n/)
    .map((l, i) => ({ l, n: i + 1 }))
    .filter(({ l }) => l !== '');
  if (lines.length === 0) throw new UsageError('acl digest: no user:password line on stdin');
  const out = new Output(g.json);
  for (const { l, n } of lines) {
    const i = l.indexOf(':');
    if (i <= 0) throw new UsageError(`acl digest: line ${n} is not user:password (${i < 0 ? "no ':'" : 'empty user'})`);
    const user = l.slice(0, i);
    const { id } = digestId(user, l.slice(i + 1));
    out.result({ user, identity: `digest:${id}` }, `digest:${id}`);
  }
}

function targetPath(g: GlobalOptions, path: string | undefined): string {
  return path === undefined ? jobNamespace(g) : checkPath(path, 'path');
}

/** `zkjobs acl get [path]`. */
export async function aclGet(g: GlobalOptions, path: string | undefined): Promise<void> {
  const p = targetPath(g, path);
  await withZk(g, async (client) => {
    let acl: Acl[];
    let aversion: number;
    try {
      const r = await client.getACL(p);
      acl = r.acl;
      aversion = r.stat.aversion;
    } catch (err) {
      if (err instanceof NoNodeError) throw new OperationError(`no node at ${p}`, { cause: err });
      throw err;
    }
    const d = describeAcl(acl);
    new Output(g.json).result(
      {
        path: p,
        aversion,
        open: d.open,
        acl: acl.map((a) => ({ scheme: a.scheme, id: a.id, perms: a.perms, permissions: permLetters(a.perms) })),
      },
      () =>
        `${p} (ACL version ${aversion}): ${d.text}\n` +
        table(acl.map((a) => [`  ${a.scheme}:${a.id}`, permLetters(a.perms)])),
    );
  });
}

/** `zkjobs acl apply [path]`: the --auth ACL on every node of an existing tree, top down. */
export async function aclApply(
  g: GlobalOptions,
  path: string | undefined,
  opts: { dryRun: boolean; concurrency: number },
): Promise<void> {
  const root = targetPath(g, path);
  if (root === '/' || isReservedPath(root))
    throw new UsageError(
      `path: refusing to change the ACL of ${root} (${root === '/' ? 'the root of every tree' : "ZooKeeper's reserved tree"})`,
    );
  const sec = await security(g);
  if (sec.acl === null)
    throw new UsageError(
      'acl apply needs --auth (or ZK_AUTH, --auth-file): the ACL it applies gives that identity all permissions ' +
        '(and each --read-only-identity read)',
    );
  const target = sec.acl;
  await withZk(g, async (client) => {
    if ((await client.exists(root)) === null) throw new OperationError(`no node at ${root}`);
    const r = await applyTree(client, root, target, opts);
    const d = describeAcl(target);
    const verb = opts.dryRun ? 'would change' : 'changed';
    new Output(g.json).result(
      {
        path: root,
        dryRun: opts.dryRun,
        changed: r.changed,
        unchanged: r.unchanged,
        gone: r.gone,
        refused: r.refused,
        acl: target,
      },
      `acl apply ${root}: ${r.changed} node(s) ${verb}, ${r.unchanged} already had the ACL` +
        (r.gone > 0 ? `, ${r.gone} deleted meanwhile` : '') +
        ` (${d.text})`,
    );
    if (r.refused.length > 0) {
      throw new OperationError(
        `not authorised to change the ACL of ${r.refused.length} node(s) (NoAuth), e.g. ${r.refused.slice(0, 5).join(', ')}; ` +
          `their ACL does not give ${sec.identity ?? 'this identity'} the ADMIN permission`,
      );
    }
  });
}

/**
 * Sets `acl` on `root` and every node below it. A node gets its ACL before its children are
 * listed, so a child that a client without the identity creates meanwhile is refused by the
 * parent's new ACL rather than missed.
 */
async function applyTree(
  client: ZkClient,
  root: string,
  acl: Acl[],
  opts: { dryRun: boolean; concurrency: number },
): Promise<{ changed: number; unchanged: number; gone: number; refused: string[] }> {
  const r = { changed: 0, unchanged: 0, gone: 0, refused: [] as string[] };
  const pending = [root];
  let active = 0;
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const pump = (): void => {
      if (failed) return;
      if (pending.length === 0 && active === 0) return resolve();
      while (active < opts.concurrency && pending.length > 0) {
        const p = pending.pop()!;
        active++;
        visit(p)
          .then(
            () => undefined,
            (err: unknown) => {
              failed = true;
              reject(err instanceof Error ? err : new Error(String(err)));
            },
          )
          .finally(() => {
            active--;
            pump();
          });
      }
    };
    const visit = async (p: string): Promise<void> => {
      try {
        const { acl: current } = await client.getACL(p);
        if (sameAcl(current, acl)) r.unchanged++;
        else {
          if (!opts.dryRun) await client.setACL(p, acl);
          r.changed++;
        }
        const { children } = await client.getChildren(p);
        for (const c of children) pending.push(p === '/' ? `/${c}` : `${p}/${c}`);
      } catch (err) {
        if (err instanceof NoNodeError) r.gone++;
        else if (err instanceof NoAuthError) r.refused.push(p);
        else throw err;
      }
    };
    pump();
  });
  return r;
}
