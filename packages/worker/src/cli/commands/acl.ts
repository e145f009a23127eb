import type { Command } from 'commander';
import { globalOptions, intArg } from '../context.js';

/** The implementations, loaded when an acl command runs. */
const actions = () => import('../actions/acl.js');

/**
 * `zkjobs acl digest|get|apply`: the identities and ACLs of a protected tree. `digest` prints
 * the ACL id of `user:password` lines read from stdin (for `--read-only-identity`); `get`
 * prints a node's ACL; `apply` gives an existing tree (default: the `--namespace`) the ACL
 * that `--auth` gives new nodes, node by node from the top.
 */
export function registerAclCommands(program: Command): void {
  const acl = program.command('acl').description('identities and ACLs of protected trees (see --auth)');

  acl
    .command('digest')
    .description(
      'print the digest id (digest:<user>:<base64 sha1>) of each user:password line on stdin, e.g. for --read-only-identity',
    )
    .action(async (_o: unknown, cmd: Command) => {
      await (await actions()).aclDigest(globalOptions(cmd));
    });

  acl
    .command('get')
    .description("print a node's ACL (default: the --namespace)")
    .argument('[path]', 'absolute znode path')
    .action(async (path: string | undefined, _o: unknown, cmd: Command) => {
      await (await actions()).aclGet(globalOptions(cmd), path);
    });

  acl
    .command('apply')
    .description(
      'protect an existing tree: give it, recursively, the ACL --auth gives new nodes (that identity all, --read-only-identity read)',
    )
    .argument('[path]', 'root of the tree (default: the --namespace)')
    .option('--dry-run', 'only count the nodes that would change', false)
    .option('--concurrency <n>', 'nodes changed at the same time', intArg(1, 256), 16)
    .action(async (path: string | undefined, opts: { dryRun: boolean; concurrency: number }, cmd: Command) => {
      await (await actions()).aclApply(globalOptions(cmd), path, opts);
    });
}
