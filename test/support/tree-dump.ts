/**
 * A dump of a subtree — every znode's path with its data version, ACL version, child version,
 * mzxid and pzxid — to show that an operation changed nothing: equal dumps before and after
 * mean no node was created, deleted, written, re-ACL'd, and no child came and went.
 */
import { expect } from 'vitest';
import { NoNodeError, type ZkClient } from '@zkjobs/core';

/** One znode of a {@link dumpTree}. */
export interface NodeDump {
  path: string;
  version: number;
  aversion: number;
  cversion: number;
  /** The zxid of the last write to the node's data, as a decimal string. */
  mzxid: string;
  /** The zxid of the last change to the node's children, as a decimal string. */
  pzxid: string;
}

/**
 * Every znode under `root` (itself included), sorted by path; `[]` when `root` does not exist.
 * `client` must be allowed to list the tree (READ on every node).
 */
export async function dumpTree(client: ZkClient, root: string): Promise<NodeDump[]> {
  const out: NodeDump[] = [];
  const visit = async (path: string): Promise<void> => {
    let children: string[];
    try {
      const r = await client.getChildren(path);
      children = r.children;
      out.push({
        path,
        version: r.stat.version,
        aversion: r.stat.aversion,
        cversion: r.stat.cversion,
        mzxid: r.stat.mzxid.toString(),
        pzxid: r.stat.pzxid.toString(),
      });
    } catch (err) {
      if (err instanceof NoNodeError) return;
      throw err;
    }
    await Promise.all(children.map((c) => visit(path === '/' ? `/${c}` : `${path}/${c}`)));
  };
  await visit(root);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Runs `fn` and asserts that the tree under `root` is the same before and after (see
 * {@link dumpTree}); returns what `fn` returned (or rethrows after checking the tree).
 * @param client - a client that may list the tree
 */
export async function expectTreeUnchanged<T>(client: ZkClient, root: string, fn: () => Promise<T>): Promise<T> {
  const before = await dumpTree(client, root);
  let result: T;
  try {
    result = await fn();
  } finally {
    expect(await dumpTree(client, root), `the tree under ${root} changed`).toEqual(before);
  }
  return result;
}
