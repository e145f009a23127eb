import type { Acl } from './acl.js';
import { checkMode, checkOptions, checkVersion } from './args.js';
import type { CreateMode } from './create-mode.js';
import type { Stat } from './stat.js';

/** The result of one operation of a committed transaction (or of a single write). */
export interface OpResult {
  /** The kind of operation. */
  type: 'create' | 'setData' | 'check' | 'delete';
  /** The path as given, relative to the client's namespace. */
  path: string;
  /** For `create`: the path actually created (with the sequence suffix), relative to the namespace. */
  createdPath?: string;
  /** For `setData`: the node's new Stat. */
  stat?: Stat;
}

/** One queued operation of a {@link Transaction}. */
export type TransactionOp =
  | { type: 'create'; path: string; data: Buffer | undefined; mode: CreateMode; acl: Acl[] | undefined }
  | { type: 'setData'; path: string; data: Buffer; version: number }
  | { type: 'check'; path: string; version: number }
  | { type: 'delete'; path: string; version: number };

function toBuffer(data: Buffer | string | undefined): Buffer | undefined {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/**
 * An atomic set of operations (ZooKeeper `multi`), built fluently and sent by {@link commit}:
 * either every operation is applied or none is. Versions default to -1 (any version); version 0
 * means exactly version 0. Options are objects (`setData(path, data, { version: 0 })`); a bare
 * version in their place (another client's positional signature) is refused with
 * BadArgumentsError when the operation is added, as are unknown option names, versions that
 * are not integers ≥ -1 and unknown create modes.
 *
 * ```ts
 * await client.transaction().check('/leader', 3).create('/jobs/a', { data: 'x' }).commit();
 * ```
 */
export class Transaction {
  private readonly ops: TransactionOp[] = [];
  private committed = false;

  /** @internal Built by {@link ZkClient.transaction}. */
  constructor(private readonly run: (ops: readonly TransactionOp[]) => Promise<OpResult[]>) {}

  /**
   * Adds a create. `mode` defaults to PERSISTENT, `acl` to the client's default ACL
   * ({@link ZkClientOptions.defaultAcl}, else OPEN_ACL_UNSAFE).
   * @throws BadArgumentsError for options that are not `{ data, mode, acl }` or an unknown mode
   */
  create(path: string, opts: { data?: Buffer | string; mode?: CreateMode; acl?: Acl[] } = {}): this {
    checkOptions('transaction create', 1, opts, ['data', 'mode', 'acl'], path);
    const mode = checkMode('transaction create', opts.mode, path);
    this.ops.push({ type: 'create', path, data: toBuffer(opts.data), mode, acl: opts.acl });
    return this;
  }

  /**
   * Adds a setData; fails the whole transaction with BadVersion unless the node has `version` (-1 = any, the default).
   * @throws BadArgumentsError when the third argument is not `{ version }` (e.g. a bare number) or the version is not an integer ≥ -1
   */
  setData(path: string, data: Buffer | string, opts: { version?: number } = {}): this {
    checkOptions('transaction setData', 2, opts, ['version'], path);
    const version = checkVersion('transaction setData', opts.version, path);
    this.ops.push({ type: 'setData', path, data: toBuffer(data) ?? Buffer.alloc(0), version });
    return this;
  }

  /**
   * Adds a version check: fails the whole transaction with NoNode if the node is missing, BadVersion unless it has `version` (-1 = exists).
   * @throws BadArgumentsError when `version` is not an integer ≥ -1
   */
  check(path: string, version: number): this {
    this.ops.push({ type: 'check', path, version: checkVersion('transaction check', version, path) });
    return this;
  }

  /**
   * Adds a delete; fails the whole transaction with BadVersion unless the node has `version` (-1 = any, the default).
   * @throws BadArgumentsError when the second argument is not `{ version }` (e.g. a bare number) or the version is not an integer ≥ -1
   */
  delete(path: string, opts: { version?: number } = {}): this {
    checkOptions('transaction delete', 1, opts, ['version'], path);
    this.ops.push({ type: 'delete', path, version: checkVersion('transaction delete', opts.version, path) });
    return this;
  }

  /** The operations queued so far. */
  get operations(): readonly TransactionOp[] {
    return this.ops;
  }

  /**
   * Sends the operations as one `multi`.
   * @returns one {@link OpResult} per operation, in order
   * @throws TransactionError when an operation fails (nothing was applied); it names the failing operation and its path
   * @throws ConnectionLossError when the reply was lost (the transaction may or may not have been applied; it is not retried)
   * @throws Error when committed twice
   */
  commit(): Promise<OpResult[]> {
    if (this.committed) return Promise.reject(new Error('transaction already committed'));
    this.committed = true;
    return this.run(this.ops);
  }
}
