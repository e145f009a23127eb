import type { Command } from 'commander';
import { BadVersionError, NodeExistsError, NoNodeError, NotEmptyError, type Stat, type ZkClient } from '@zkjobs/core';
import {
  checkPath,
  fmtTime,
  globalOptions,
  intArg,
  isReservedPath,
  Output,
  reportConnection,
  waitForSignal,
  withZk,
  type GlobalOptions,
} from '../context.js';
import { OperationError, UsageError } from '../errors.js';

/** A config node as printed with `--json`. */
interface NodeDoc {
  path: string;
  value: string;
  version: number;
  mtime: number;
  numChildren: number;
}

function nodeDoc(path: string, data: Buffer, stat: Stat): NodeDoc {
  return {
    path,
    value: data.toString('utf8'),
    version: stat.version,
    mtime: stat.mtime,
    numChildren: stat.numChildren,
  };
}

function noNode(path: string, cause: unknown): OperationError {
  return new OperationError(`no node at ${path}`, { cause });
}

async function currentVersion(client: ZkClient, path: string): Promise<number | null> {
  const st = await client.exists(path);
  return st === null ? null : st.version;
}

/**
 * Refuses to write `/` or anything in ZooKeeper's reserved `/zookeeper` tree.
 * @param verb - `write` or `delete`, for the message
 * @throws UsageError naming the reserved tree
 */
function checkWritable(path: string, verb: 'write' | 'delete'): void {
  if (path === '/') throw new UsageError(`path: refusing to ${verb} / (the root of every application's tree)`);
  if (isReservedPath(path))
    throw new UsageError(`path: refusing to ${verb} ${path}: /zookeeper is ZooKeeper's reserved tree`);
}

/**
 * `zkjobs config get|set|ls|rm|watch`: configuration and feature flags as plain znodes (the
 * talk's `/app/features/pymk/enabled`). Paths are absolute ZooKeeper paths and are NOT under
 * `--namespace`: configuration is shared by every application, not owned by one zkjobs
 * cluster. Values are UTF-8 text.
 */
export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description('provisioning and feature flags: znodes at absolute paths (not under --namespace)');

  config
    .command('get')
    .description('print the value of a node')
    .argument('<path>', 'absolute znode path, e.g. /app/features/pymk/enabled')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(path, 'path');
      await withZk(g, async (client) => {
        try {
          const { data, stat } = await client.getData(path);
          new Output(g.json).result(nodeDoc(path, data, stat), data.toString('utf8'));
        } catch (err) {
          if (err instanceof NoNodeError) throw noNode(path, err);
          throw err;
        }
      });
    });

  config
    .command('set')
    .description('set the value of a node, creating it and its missing parents; --version makes it a compare-and-set')
    .argument('<path>', 'absolute znode path')
    .argument('<value>', 'the value (UTF-8 text)')
    .option('--version <v>', 'only set if the node is at this data version (compare-and-set)', intArg(0, 2 ** 31 - 1))
    .action(async (path: string, value: string, opts: { version?: number }, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(path, 'path');
      checkWritable(path, 'write');
      await withZk(g, (client) => configSet(g, client, path, value, opts.version));
    });

  config
    .command('ls')
    .description('list the children of a node')
    .argument('<path>', 'absolute znode path')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(path, 'path');
      await withZk(g, async (client) => {
        try {
          const { children } = await client.getChildren(path);
          children.sort();
          new Output(g.json).result({ path, children }, children.join('\n'));
        } catch (err) {
          if (err instanceof NoNodeError) throw noNode(path, err);
          throw err;
        }
      });
    });

  config
    .command('rm')
    .description('delete a node (-r: with everything under it)')
    .argument('<path>', 'absolute znode path')
    .option('-r, --recursive', 'delete the whole subtree', false)
    .option('--version <v>', 'only delete if the node is at this data version', intArg(0, 2 ** 31 - 1))
    .action(async (path: string, opts: { recursive: boolean; version?: number }, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(path, 'path');
      checkWritable(path, 'delete');
      if (opts.recursive && opts.version !== undefined) throw new UsageError('--version cannot be combined with -r');
      await withZk(g, async (client) => {
        const out = new Output(g.json);
        if ((await client.exists(path)) === null) throw noNode(path, undefined);
        if (opts.recursive) {
          await client.deleteRecursive(path);
          out.result({ path, deleted: true, recursive: true }, `deleted ${path} and everything under it`);
          return;
        }
        try {
          await client.delete(path, { version: opts.version ?? -1 });
        } catch (err) {
          if (err instanceof NotEmptyError)
            throw new OperationError(`${path} has children; use -r to delete the subtree`, { cause: err });
          if (err instanceof BadVersionError) {
            const v = await currentVersion(client, path);
            throw new OperationError(
              `version mismatch at ${path}: expected version ${opts.version}, node is at version ${v}; not deleted`,
              { cause: err },
            );
          }
          if (err instanceof NoNodeError) throw noNode(path, err);
          throw err;
        }
        out.result({ path, deleted: true, recursive: false }, `deleted ${path}`);
      });
    });

  config
    .command('watch')
    .description(
      'print the value now and each time it changes, until interrupted (fast changes may coalesce; the version shows it)',
    )
    .argument('<path>', 'absolute znode path (it need not exist yet)')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(path, 'path');
      await withZk(g, async (client) => {
        const out = new Output(g.json);
        let first = true;
        let failure: Error | undefined;
        let stop: (() => void) | undefined;
        const stopped = new Promise<void>((r) => (stop = r));
        // ZooKeeper's watches are one-shot: writes made before the watch is set again are seen
        // only as the latest value. The version tells: a jump of more than one is said so.
        let seen: { czxid: bigint; version: number } | null = null;
        const stopReporting = reportConnection(client, {
          json: g.json,
          suspendedNote: `changes to ${path} are not seen until reconnected`,
          lostNote: `the watch is set again on the new session (changes meanwhile may coalesce)`,
        });
        const handle = client.watchData(
          path,
          (data, stat) => {
            const event = first ? 'initial' : data === null ? 'deleted' : 'changed';
            first = false;
            if (data === null || stat === null) {
              seen = null;
              out.result({ path, event, exists: false }, `${fmtTime(Date.now())} ${path} does not exist`);
              return;
            }
            const same = seen !== null && seen.czxid === stat.czxid;
            const coalesced: [number, number] | undefined =
              same && event === 'changed' && stat.version > seen!.version + 1
                ? [seen!.version + 1, stat.version - 1]
                : undefined;
            seen = { czxid: stat.czxid, version: stat.version };
            const note = coalesced
              ? coalesced[0] === coalesced[1]
                ? `; version ${coalesced[0]} coalesced`
                : `; versions ${coalesced[0]}–${coalesced[1]} coalesced`
              : '';
            out.result(
              { ...nodeDoc(path, data, stat), event, exists: true, ...(coalesced ? { coalesced } : {}) },
              `${fmtTime(stat.mtime)} ${path} = ${data.toString('utf8')} (version ${stat.version}${note})`,
            );
          },
          {
            onError: (e) => {
              failure = e;
              stop?.();
            },
          },
        );
        await Promise.race([waitForSignal(), stopped]);
        handle.close();
        stopReporting();
        if (failure) throw failure;
      });
    });
}

async function configSet(
  g: GlobalOptions,
  client: ZkClient,
  path: string,
  value: string,
  version: number | undefined,
): Promise<void> {
  const out = new Output(g.json);
  const print = (stat: Stat, created: boolean): void =>
    out.result(
      { ...nodeDoc(path, Buffer.from(value), stat), created },
      `${created ? 'created' : 'set'} ${path} = ${value} (version ${stat.version})`,
    );
  if (version !== undefined) {
    try {
      print(await client.setData(path, value, { version }), false);
    } catch (err) {
      if (err instanceof BadVersionError) {
        const v = await currentVersion(client, path);
        throw new OperationError(
          `version mismatch at ${path}: expected version ${version}, node is at version ${v}; value unchanged`,
          { cause: err },
        );
      }
      if (err instanceof NoNodeError)
        throw new OperationError(`no node at ${path} (a compare-and-set needs an existing node)`, { cause: err });
      throw err;
    }
    return;
  }
  for (;;) {
    try {
      print(await client.setData(path, value), false);
      return;
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
    }
    try {
      await client.create(path, { data: value, parents: true });
      const { stat } = await client.getData(path);
      print(stat, true);
      return;
    } catch (err) {
      if (!(err instanceof NodeExistsError)) throw err; // created meanwhile: set it
    }
  }
}
