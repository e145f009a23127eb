/**
 * ZkClient: a typed, promise-based ZooKeeper client over node-zookeeper-client (patched, see
 * `patches/`). This is the only file that imports that library; its defects stop here.
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import {
  AuthFailedError,
  BadArgumentsError,
  NoAuthError,
  ConnectionLossError,
  ConnectTimeoutError,
  ConnectionRefusedError,
  NodeExistsError,
  NoNodeError,
  NotEmptyError,
  NoWatcherError,
  ListingTooLargeError,
  ReplyTooLargeError,
  SessionExpiredError,
  TransactionError,
  ZkError,
  zkErrorFor,
  TlsError,
  type TransactionOpRef,
} from '../errors.js';
import { checkAcl, OPEN_ACL_UNSAFE, type Acl, type AclProvider } from './acl.js';
import { checkBoolean, checkFunction, checkMode, checkOptions, checkVersion, describeValue } from './args.js';
import { isConnectedState, type ConnectionState } from './connection-state.js';
import { CreateMode, isEphemeral, isSequential } from './create-mode.js';
import { basename, joinPath, parentOf, validatePath } from './paths.js';
import { ExponentialBackoffRetry, type RetryPolicy } from './retry.js';
import type { Stat } from './stat.js';
import { Transaction, type OpResult, type TransactionOp } from './transaction.js';
import {
  judgeAttempt,
  mismatchError,
  prepareTls,
  speaksPlain,
  speaksTls,
  type LibTlsOptions,
  type ZkTlsOptions,
} from './tls.js';
import type { WatchEvent, Watcher, WatchHandle } from './watch.js';

// ---------------------------------------------------------------------------------------------
// The library, typed as far as we use it.

interface LibException extends Error {
  code: number;
}
interface LibStat {
  czxid: Buffer;
  mzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
  pzxid: Buffer;
}
interface LibEvent {
  type: number;
  path: string;
}
type LibWatcher = (event: LibEvent) => void;
interface LibAcl {
  permission: number;
  id: { scheme: string; id: string };
}
interface LibState {
  name: string;
  code: number;
}
type Cb<T> = (error: LibException | null, result?: T) => void;
interface LibTransaction {
  create(path: string, data: Buffer | undefined, acls: LibAcl[], mode: number): LibTransaction;
  setData(path: string, data: Buffer, version: number): LibTransaction;
  check(path: string, version: number): LibTransaction;
  remove(path: string, version: number): LibTransaction;
  commit(
    cb: (error: LibException | null, results?: { type: number; path?: string; stat?: LibStat; err?: number }[]) => void,
  ): void;
}
interface LibConnectionManager extends EventEmitter {
  /** Called with every watch notification (our patch): persistent watches are dispatched there. */
  onNotification?: (e: LibEvent) => void;
  /** ms epoch of the last bytes read from a server (set by our patch). */
  lastRecv?: number;
  watcherManager: {
    /** Forgets the library's watchers of `path` (type 1 children, 2 data/exists, 3 all; our patch). */
    removeWatchers(path: string, type: number): boolean;
    getDataWatcherPaths(): string[];
    getExistenceWatcherPaths(): string[];
    getChildWatcherPaths(): string[];
  };
  forceClose(): void;
  queue(request: unknown, cb: (error: LibException | null, response?: { payload: unknown }) => void): void;
}
interface LibClient extends EventEmitter {
  connectionManager: LibConnectionManager;
  connect(): void;
  close(): void;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
  getSessionTimeout(): number;
  addAuthInfo(scheme: string, auth: Buffer): void;
  create(path: string, data: Buffer | undefined, acls: LibAcl[], mode: number, cb: Cb<string>): void;
  remove(path: string, version: number, cb: Cb<void>): void;
  setData(path: string, data: Buffer, version: number, cb: Cb<LibStat>): void;
  getData(
    path: string,
    watcher: LibWatcher | undefined,
    cb: (e: LibException | null, data?: Buffer, stat?: LibStat) => void,
  ): void;
  exists(path: string, watcher: LibWatcher | undefined, cb: Cb<LibStat | null>): void;
  getChildren(
    path: string,
    watcher: LibWatcher | undefined,
    cb: (e: LibException | null, children?: string[], stat?: LibStat) => void,
  ): void;
  getACL(path: string, cb: (e: LibException | null, acls?: LibAcl[], stat?: LibStat) => void): void;
  /** ZooKeeper's removeWatches (opcode 18; our patch). */
  removeWatches(path: string, type: number, cb: Cb<void>): void;
  setACL(path: string, acls: LibAcl[], version: number, cb: Cb<LibStat>): void;
  transaction(): LibTransaction;
}
interface LibModule {
  createClient(connectString: string, options: Record<string, unknown>): LibClient;
  ACL: new (perms: number, id: unknown) => LibAcl;
  Id: new (scheme: string, id: string) => unknown;
  State: Record<'DISCONNECTED' | 'SYNC_CONNECTED' | 'AUTH_FAILED' | 'CONNECTED_READ_ONLY' | 'EXPIRED', LibState>;
}
/** A jute record of the library: sized, written and read at an offset. */
interface LibRecord {
  byteLength(): number;
  serialize(buf: Buffer, offset: number): number;
  deserialize(buf: Buffer, offset: number): number;
  setChrootPath(path: string | undefined): void;
}
interface LibJute {
  protocol: {
    RequestHeader: new (xid?: number, type?: number) => unknown;
    MultiHeader: new (
      type?: number,
      done?: boolean,
      err?: number,
    ) => LibRecord & {
      type: number;
      done: boolean;
      err: number;
    };
    GetDataRequest: new () => LibRecord & { path: string; watch: boolean };
    /** Same fields as GetChildrenRequest (`path`, `watch`). */
    GetChildren2Request: new () => LibRecord & { path: string; watch: boolean };
    RemoveWatchesRequest: new () => LibRecord & { path: string; type: number };
    GetDataResponse: new () => LibRecord & { data: Buffer | undefined | null; stat: LibStat };
    ErrorResponse: new () => LibRecord & { err: number };
  };
  Request: new (header: unknown, payload: unknown) => { responseRecord?: unknown };
}

const requireCjs = createRequire(import.meta.url);
const zk = requireCjs('node-zookeeper-client') as LibModule;
const jute = requireCjs('node-zookeeper-client/lib/jute/index.js') as LibJute;

// ---------------------------------------------------------------------------------------------
// Public types

/** A pino-compatible logger. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of {@link ZkClient.connect}. */
export interface ZkClientOptions {
  /**
   * Requested session timeout, ms. The server clamps it to 2–20 × its tickTime; the granted
   * value is {@link ZkClient.sessionTimeoutMs}. @defaultValue 10000
   */
  sessionTimeoutMs?: number;
  /** `connect()` rejects with {@link ConnectTimeoutError} when no session is established within this, ms. @defaultValue 10000 */
  connectTimeoutMs?: number;
  /**
   * `connect()` rejects at once with {@link ConnectionRefusedError} when every server refused the
   * TCP connection (ECONNREFUSED), instead of trying again until `connectTimeoutMs`. For
   * command-line tools, where nothing listening is a mistake to report; a library leaves it off,
   * since a server that is still starting refuses too.
   * @defaultValue false
   */
  failFastWhenRefused?: boolean;
  /** Retry policy for idempotent operations that fail with connection loss. @defaultValue `new ExponentialBackoffRetry()` */
  retry?: RetryPolicy;
  /**
   * Credentials of every connection, e.g. `[{ scheme: 'digest', auth: 'user:password' }]`: sent
   * before any request on each connection (after a reconnect too) and on every new session the
   * client makes after `lost`. Digest credentials are `user:password` (the user without `:`).
   * See {@link digestAuth} for credentials together with a matching {@link ZkClientOptions.defaultAcl}.
   */
  auth?: { scheme: string; auth: string }[];
  /**
   * The ACL of every node created without an explicit `acl` (Curator's `ACLProvider`): by
   * `create`, `mkdirp`, the parents `create({ parents: true })` makes, transaction creates, the
   * namespace and its ancestors — by this client and by its namespace views. A list, or an
   * {@link AclProvider} asked with each node's absolute path. @defaultValue OPEN_ACL_UNSAFE (world:anyone, all)
   */
  defaultAcl?: Acl[] | AclProvider;
  /**
   * Connect with TLS, as to ZooKeeper's `secureClientPort` (`true`: TLS verified against Node's
   * bundled root CAs). The certificates are checked before anything connects. A definite TLS
   * failure on every server of the connect string (an untrusted certificate, a refused client
   * certificate, a plain port) fails {@link ZkClient.connect} at once with {@link TlsError}.
   * @defaultValue none (plain TCP)
   */
  tls?: ZkTlsOptions | true;
  /** Root path (chroot-like) all paths are relative to, e.g. `/zkjobs/default`; created on connect. @defaultValue none */
  namespace?: string;
  /** Logger (pino-compatible). @defaultValue silent */
  logger?: Logger;
  /**
   * Longest reply accepted, in bytes (its 4-byte length prefix excluded), as the Java client's
   * `jute.maxbuffer`: a longer one fails its request with {@link ReplyTooLargeError} (for
   * `getChildren`, {@link ListingTooLargeError}) and the connection is kept. Integer ≥ 1024.
   * @defaultValue 1048575 (ZooKeeper's default jute.maxbuffer, 0xfffff)
   */
  maxReplyBytes?: number;
}

/** ZooKeeper's default `jute.maxbuffer` (0xfffff bytes): the default of {@link ZkClientOptions.maxReplyBytes}. */
export const DEFAULT_MAX_REPLY_BYTES = 0xfffff;

const CLIENT_OPTION_KEYS = [
  'sessionTimeoutMs',
  'connectTimeoutMs',
  'failFastWhenRefused',
  'retry',
  'auth',
  'defaultAcl',
  'tls',
  'namespace',
  'logger',
  'maxReplyBytes',
];

/** Checks a {@link ZkClientOptions} object. @throws BadArgumentsError naming the option */
function checkClientOptions(opts: ZkClientOptions): void {
  checkOptions('connect', 1, opts, CLIENT_OPTION_KEYS);
  for (const k of ['sessionTimeoutMs', 'connectTimeoutMs'] as const) {
    const v = opts[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 2_147_483_647))
      throw new BadArgumentsError(`connect: ${k} must be a positive integer (ms), got ${describeValue(v)}`);
  }
  if (opts.failFastWhenRefused !== undefined && typeof opts.failFastWhenRefused !== 'boolean')
    throw new BadArgumentsError(
      `connect: failFastWhenRefused must be a boolean, got ${describeValue(opts.failFastWhenRefused)}`,
    );
  if (opts.retry !== undefined && typeof (opts.retry as Partial<RetryPolicy> | null)?.delayFor !== 'function')
    throw new BadArgumentsError(
      `connect: retry must be a RetryPolicy (with delayFor), got ${describeValue(opts.retry)}`,
    );
  if (opts.auth !== undefined) {
    if (!Array.isArray(opts.auth))
      throw new BadArgumentsError(
        `connect: auth must be an array of { scheme, auth }, got ${describeValue(opts.auth)}`,
      );
    opts.auth.forEach((a, i) => checkCredential(a, `connect: auth[${i}]`));
  }
  if (opts.defaultAcl !== undefined && typeof opts.defaultAcl !== 'function') checkAcl(opts.defaultAcl, 'defaultAcl');
  if (opts.namespace !== undefined && typeof opts.namespace !== 'string')
    throw new BadArgumentsError(`connect: namespace must be a path string, got ${describeValue(opts.namespace)}`);
  const mr = opts.maxReplyBytes;
  if (mr !== undefined && (typeof mr !== 'number' || !Number.isInteger(mr) || mr < 1024 || mr > 2_147_483_647))
    throw new BadArgumentsError(
      `connect: maxReplyBytes must be an integer from 1024 (bytes), got ${describeValue(mr)}`,
    );
  if (opts.logger !== undefined && typeof (opts.logger as Partial<Logger> | null)?.warn !== 'function')
    throw new BadArgumentsError(
      `connect: logger must be pino-compatible (debug, info, warn, error), got ${describeValue(opts.logger)}`,
    );
}

/** Checks one credential `{ scheme, auth }`. @throws BadArgumentsError */
function checkCredential(a: unknown, what: string): { scheme: string; auth: string } {
  if (a === null || typeof a !== 'object' || Array.isArray(a))
    throw new BadArgumentsError(`${what} must be { scheme, auth }, got ${describeValue(a)}`);
  const { scheme, auth } = a as { scheme?: unknown; auth?: unknown };
  if (typeof scheme !== 'string' || scheme === '')
    throw new BadArgumentsError(
      `${what}.scheme must be a non-empty string (e.g. digest), got ${describeValue(scheme)}`,
    );
  if (typeof auth !== 'string')
    throw new BadArgumentsError(`${what}.auth must be a string, got ${describeValue(auth)}`);
  if (scheme === 'digest') {
    const i = auth.indexOf(':');
    if (i <= 0)
      throw new BadArgumentsError(
        `${what}: digest credentials are user:password (a non-empty user, then ':'), got ${i < 0 ? "no ':'" : 'an empty user'}`,
      );
  }
  return { scheme, auth };
}

/** Session credentials, from {@link ZkClient.sessionCredentials} (testing hook). */
/**
 * What one connection has sent, counted by the client (all views of the connection together):
 * every request handed to the server, retries included (`requests`, by operation; a `multi`
 * counts once), and every znode write — `create`, `setData`, `delete`, alone or inside a
 * `multi` (`writes`, by kind). Pings and the handshake are not requests here.
 */
export interface RequestStats {
  /** Requests by operation (`getData`, `getChildren`, `exists`, `create`, `setData`, `delete`, `multi`, …). */
  requests: Record<string, number>;
  /** Znode writes by kind, inside and outside multis. */
  writes: { create: number; setData: number; delete: number };
  /** Operations inside multis (checks included). */
  multiOps: number;
}

/**
 * A change under a persistent recursive watch ({@link ZkClient.watchRecursive}): a node created,
 * deleted or whose data changed, anywhere at or below the watched path. ZooKeeper sends no
 * children-changed events for these watches (a create or delete of the child says it).
 */
export interface RecursiveWatchEvent {
  type: 'created' | 'deleted' | 'data-changed';
  /** The changed node's path, relative to the namespace of the client that set the watch. */
  path: string;
}

/** One read of {@link ZkClient.multiRead}. Paths are relative to the namespace. */
export type ReadOp = { type: 'getData'; path: string } | { type: 'getChildren'; path: string };

/** The result of one {@link ReadOp}, in order: its data and Stat, its children, or its own error. */
export type ReadResult =
  | { type: 'getData'; data: Buffer; stat: Stat }
  | { type: 'getChildren'; children: string[] }
  | { type: 'error'; error: ZkError };

export interface SessionCredentials {
  /** The session id. */
  sessionId: bigint;
  /** The 16-byte session password. */
  password: Buffer;
}

/** Events of {@link ZkClient}, with their listener arguments. */
export interface ZkClientEvents {
  /** Every connection state change. */
  state: [state: ConnectionState];
  /** A session was established (the first one, or a new one after `lost`). */
  connected: [];
  /** The connection dropped; the session may still be alive. */
  suspended: [];
  /** Connected again within the same session. */
  reconnected: [];
  /** The session is gone with its ephemerals and watches; a new one is being made. */
  lost: [];
  /** Connected to a read-only server (not produced at present). */
  'read-only': [];
  /** A new session was established after `lost` (`previous` is the lost session's id). */
  session: [event: { sessionId: bigint; previous: bigint | null }];
  /**
   * A call settled (emitted only while some view of the connection listens): `op` as in
   * {@link ZkError.op}, `ms` from the call to its settling (waits for a connection and retries
   * included), `error` the error's name (`NoNodeError`, `ConnectionLossError`, …) or null.
   */
  request: [event: { op: string; ms: number; error: string | null }];
}

/**
 * Largest znode payload accepted, in bytes: 1 MiB (ZooKeeper's default `jute.maxbuffer`)
 * minus 1 KiB for the rest of the packet. Larger payloads are rejected with
 * {@link BadArgumentsError} before anything is sent (the server would drop the connection).
 */
export const MAX_DATA_BYTES = 1024 * 1024 - 1024;

// ---------------------------------------------------------------------------------------------
// Helpers

const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function long(buf: Buffer): bigint {
  return buf.readBigInt64BE(0);
}

function toStat(s: LibStat): Stat {
  return {
    czxid: long(s.czxid),
    mzxid: long(s.mzxid),
    pzxid: long(s.pzxid),
    ctime: Number(long(s.ctime)),
    mtime: Number(long(s.mtime)),
    version: s.version,
    cversion: s.cversion,
    aversion: s.aversion,
    ephemeralOwner: long(s.ephemeralOwner),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
  };
}

/** Reads in one {@link ZkClient.multiRead} request, at most. */
export const MULTI_READ_MAX_OPS = 1000;
const OP_GET_DATA = 4;
const OP_GET_CHILDREN = 8;
const OP_MULTI_READ = 22;
const OP_ADD_WATCH = 106;
const OP_REMOVE_WATCHES = 18;
/** `AddWatchMode.PERSISTENT_RECURSIVE`. */
const ADD_WATCH_PERSISTENT_RECURSIVE = 1;
/** `WatcherType.PersistentRecursive`. */
const WATCHER_TYPE_PERSISTENT_RECURSIVE = 5;

/** `full` under the connect string's chroot (`undefined`: none), as the library writes paths. */
function withChroot(chroot: string | undefined, full: string): string {
  if (!chroot) return full;
  return full === '/' ? chroot : chroot + full;
}
/** ZooKeeper's MarshallingError code. */
const MARSHALLING_ERROR = -5;

/** One result of a multiRead reply as read off the wire. */
interface RawRead {
  data?: Buffer | null | undefined;
  stat?: LibStat;
  children?: string[];
  err?: number;
}

/**
 * Reads a multiRead reply (Java's `MultiResponse`): per op a `MultiHeader {type, done, err}` then
 * a `GetDataResponse`, a `GetChildrenResponse {children: vector<ustring>}` or an
 * `ErrorResponse {err}`; a header with `done` ends it. Returns the bytes read.
 */
function readMultiReadReply(buf: Buffer, off: number, out: RawRead[]): number {
  const P = jute.protocol;
  let n = 0;
  for (;;) {
    const h = new P.MultiHeader();
    n += h.deserialize(buf, off + n);
    if (h.done) return n;
    if (h.type === OP_GET_DATA) {
      const r = new P.GetDataResponse();
      n += r.deserialize(buf, off + n);
      out.push({ data: r.data, stat: r.stat });
    } else if (h.type === OP_GET_CHILDREN) {
      const count = buf.readInt32BE(off + n);
      n += 4;
      const children: string[] = [];
      for (let i = 0; i < count; i++) {
        const len = buf.readInt32BE(off + n);
        n += 4;
        children.push(buf.toString('utf8', off + n, off + n + len));
        n += len;
      }
      out.push({ children });
    } else if (h.type === -1) {
      const r = new P.ErrorResponse();
      n += r.deserialize(buf, off + n);
      out.push({ err: r.err });
    } else {
      throw new Error(`multiRead reply: unknown result type ${h.type}`);
    }
  }
}

function toLibAcls(acl: Acl[]): LibAcl[] {
  return acl.map((a) => new zk.ACL(a.perms, new zk.Id(a.scheme, a.id)));
}

function fromLibAcl(a: LibAcl): Acl {
  return { perms: a.permission, scheme: a.id.scheme, id: a.id.id };
}

function toData(data: Buffer | string | undefined, path: string, op: string): Buffer | undefined {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (buf !== undefined && !Buffer.isBuffer(buf))
    throw new BadArgumentsError('data must be a Buffer or a string', { path, op });
  if (buf && buf.length > MAX_DATA_BYTES) {
    throw new BadArgumentsError(`data of ${buf.length} bytes exceeds the limit of ${MAX_DATA_BYTES} bytes`, {
      path,
      op,
    });
  }
  return buf;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isLibException(e: unknown): e is LibException {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number';
}

const SEQ_SUFFIX = /^(\d{10}|-\d{9})$/;

const EVENT_TYPES: Record<number, WatchEvent['type']> = {
  1: 'created',
  2: 'deleted',
  3: 'data-changed',
  4: 'children-changed',
};

// ---------------------------------------------------------------------------------------------
// Sessions and the shared core

type WatchKind = 'data' | 'exist' | 'child';

/** One underlying session = one library client. */
class Session {
  id = 0n;
  password: Buffer = Buffer.alloc(16);
  timeoutMs: number;
  everConnected = false;
  dead = false;
  readonly watchers: Record<WatchKind, Map<string, Map<Watcher, string>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };
  readonly dispatch: LibWatcher;

  constructor(
    readonly lib: LibClient,
    requestedTimeoutMs: number,
    dispatch: (session: Session, e: LibEvent) => void,
  ) {
    this.timeoutMs = requestedTimeoutMs;
    this.dispatch = (e) => dispatch(this, e);
  }

  addWatcher(kind: WatchKind, fullPath: string, watcher: Watcher, ns: string): void {
    let m = this.watchers[kind].get(fullPath);
    if (!m) this.watchers[kind].set(fullPath, (m = new Map()));
    m.set(watcher, ns);
  }

  /**
   * Drops `watcher` (or every watcher, when undefined) of `kinds` on `fullPath`. Returns how many
   * went, and the server's WatcherType (1 children, 2 data, 3 both; 0 none) of the watches no
   * local watcher needs any more — a server watch of a path serves every local watcher of its kind.
   */
  removeWatchers(
    kinds: WatchKind[],
    fullPath: string,
    watcher: Watcher | undefined,
  ): { removed: number; type: number } {
    let removed = 0;
    let fromData = false;
    let fromChild = false;
    for (const k of kinds) {
      const m = this.watchers[k].get(fullPath);
      if (!m) continue;
      const before = m.size;
      if (watcher) m.delete(watcher);
      else m.clear();
      if (m.size === 0) this.watchers[k].delete(fullPath);
      const n = before - m.size;
      removed += n;
      if (n > 0 && k === 'child') fromChild = true;
      else if (n > 0) fromData = true;
    }
    let type = 0;
    if (fromChild && !this.watchers.child.has(fullPath)) type |= 1;
    if (fromData && !this.watchers.data.has(fullPath) && !this.watchers.exist.has(fullPath)) type |= 2;
    // The library's own registry: without this, a reconnect's SetWatches would restore the watch.
    if (type !== 0) this.lib.connectionManager.watcherManager.removeWatchers(fullPath, type);
    return { removed, type };
  }

  takeWatchers(kinds: WatchKind[], fullPath: string): [Watcher, string][] {
    const out: [Watcher, string][] = [];
    for (const k of kinds) {
      const m = this.watchers[k].get(fullPath);
      if (m) {
        this.watchers[k].delete(fullPath);
        out.push(...m);
      }
    }
    return out;
  }
}

interface ConnectionWaiter {
  session: Session | null;
  resolve(s: Session): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Checks the `{ watch }` options of exists/getData/getChildren. */
function checkWatchOptions(op: string, opts: unknown, path: string): void {
  checkOptions(op, 1, opts, ['watch'], path);
  checkFunction(op, 'watch', (opts as { watch?: unknown } | undefined)?.watch, path);
}

/** Checks the listener and `{ onError }` of watchData/watchChildren. */
function checkWatchArgs(op: string, listener: unknown, opts: unknown, path: string): void {
  if (typeof listener !== 'function')
    throw new BadArgumentsError(`${op}: the second argument is the listener function, got ${describeValue(listener)}`, {
      path,
    });
  checkOptions(op, 2, opts, ['onError'], path);
  checkFunction(op, 'onError', (opts as { onError?: unknown } | undefined)?.onError, path);
}

/** Strips `ns` from a full path. */
function relPath(ns: string, full: string): string {
  if (ns === '') return full;
  if (full === ns) return '/';
  if (full.startsWith(ns + '/')) return full.slice(ns.length);
  return full;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;

/**
 * Splits a connect string `host[:port][,host[:port]…][/chroot]` into its servers (port 2181 when
 * left out, as ZooKeeper's) and its chroot.
 * @throws BadArgumentsError naming the malformed part
 */
export function parseConnectString(connectString: string): { servers: string[]; chroot: string } {
  if (typeof connectString !== 'string')
    throw new BadArgumentsError(`connect string must be a string (host:port,…), got ${describeValue(connectString)}`);
  const slash = connectString.indexOf('/');
  const hosts = slash < 0 ? connectString : connectString.slice(0, slash);
  let chroot = slash < 0 ? '' : connectString.slice(slash);
  if (chroot === '/') chroot = '';
  if (chroot !== '') {
    try {
      validatePath(chroot);
    } catch (e) {
      throw new BadArgumentsError(
        `connect string ${JSON.stringify(connectString)}: bad chroot: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
  const parts = hosts.split(',').map((p) => p.trim());
  if (parts.length === 1 && parts[0] === '')
    throw new BadArgumentsError(
      `no servers in connect string ${JSON.stringify(connectString)} (expected host:port[,host:port…][/chroot])`,
    );
  const servers = parts.map((p) => {
    const m = HOST_PORT.exec(p);
    const port = m?.[2] === undefined ? 2181 : Number(m[2]);
    if (!m || port < 1 || port > 65535)
      throw new BadArgumentsError(
        `connect string ${JSON.stringify(connectString)}: malformed server ${JSON.stringify(p)} (expected host:port, port 1-65535)`,
      );
    return `${m[1]!}:${port}`;
  });
  return { servers, chroot };
}

/** Shared by a root client and its namespace views: the session and the connection. */
class Core {
  readonly servers: string[];
  /** The chroot of the connect string (`''` for none). */
  readonly chroot: string;
  /** The TLS options of every connection, checked; null for plain TCP. */
  readonly tls: LibTlsOptions | null;
  private readonly defaultAcl: Acl[] | AclProvider;
  /** A TLS client certificate is an identity too (ZooKeeper's x509 scheme). */
  private readonly tlsClientCert: boolean;
  /** Re-arming watches: run again after every `connected` / `reconnected` (one set per client, not a listener each). */
  readonly rearms = new Set<{ owner: ZkClient; run(state: 'connected' | 'reconnected'): void }>();
  /** Per server: the definite TLS failure of its last attempt (cleared when an attempt gets further). */
  private readonly tlsFailures = new Map<string, TlsError>();
  private readonly probing = new Set<string>();
  /** Set while the first session is made: told of a TLS failure (or, with `failFastWhenRefused`, a refusal) that every server gave. */
  onDefiniteFailure: ((e: Error) => void) | null = null;
  /** `failFastWhenRefused`: the servers whose last attempt was refused (ECONNREFUSED). */
  private readonly refused = new Set<string>();
  private readonly failFastRefused: boolean;
  readonly requestedTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxReplyBytes: number;
  readonly retry: RetryPolicy;
  readonly log: Logger;
  readonly auth: { scheme: string; auth: string }[];
  readonly pendingAuth = new Set<{ scheme: string; auth: string }>();
  readonly clients = new Set<ZkClient>();
  session: Session | null = null;
  state: ConnectionState | 'connecting' | 'closed' = 'connecting';
  private lostTimer: NodeJS.Timeout | null = null;
  /** Why the last session was lost, if one was. */
  lastLossReason: 'timeout' | 'expired' | 'auth-failed' | null = null;
  /** Why the last connection attempt on each server failed (for ConnectTimeoutError). */
  readonly attemptFailures: Record<string, string> = {};
  private readonly waiters = new Set<ConnectionWaiter>();
  private sessionsMade = 0;
  private lastSessionId: bigint | null = null;
  /** Persistent recursive watches by absolute path: their listeners (see `ZkClient.watchRecursive`). */
  readonly persistent = new Map<string, Set<{ ns: string; listener: (e: RecursiveWatchEvent) => void }>>();
  /** What this connection has sent ({@link RequestStats}). */
  readonly stats: RequestStats = { requests: {}, writes: { create: 0, setData: 0, delete: 0 }, multiOps: 0 };

  constructor(
    readonly connectString: string,
    opts: ZkClientOptions,
  ) {
    checkClientOptions(opts);
    const parsed = parseConnectString(connectString);
    this.servers = parsed.servers;
    this.chroot = parsed.chroot;
    this.tls = opts.tls === undefined ? null : prepareTls(opts.tls);
    this.tlsClientCert = typeof opts.tls === 'object' && opts.tls.cert !== undefined;
    this.defaultAcl = opts.defaultAcl ?? OPEN_ACL_UNSAFE;
    this.requestedTimeoutMs = opts.sessionTimeoutMs ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.maxReplyBytes = opts.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
    this.failFastRefused = opts.failFastWhenRefused === true;
    this.retry = opts.retry ?? new ExponentialBackoffRetry();
    this.log = opts.logger ?? silentLogger;
    this.auth = [...(opts.auth ?? [])];
  }

  /**
   * The ACL of a node created at `full` (namespace included): `explicit` when given (checked),
   * else the default ACL (the provider asked with `full`).
   * @throws BadArgumentsError for an invalid list, naming `acl` or `defaultAcl`
   */
  aclFor(full: string, explicit: Acl[] | undefined, rel: string): LibAcl[] {
    if (explicit !== undefined) return toLibAcls(this.checkAuthScheme(checkAcl(explicit, 'acl', rel), 'acl', rel));
    const d = this.defaultAcl;
    if (typeof d !== 'function') return toLibAcls(this.checkAuthScheme(d, 'defaultAcl', rel));
    let list: Acl[];
    try {
      list = d(full);
    } catch (e) {
      throw new BadArgumentsError(`defaultAcl: the ACL provider threw for ${full}: ${(e as Error).message}`, {
        path: rel,
        cause: e,
      });
    }
    const what = `defaultAcl(${JSON.stringify(full)})`;
    return toLibAcls(this.checkAuthScheme(checkAcl(list, what, rel), what, rel));
  }

  /** The `auth` scheme stands for the session's identities: without credentials the server refuses it (InvalidACL). */
  private checkAuthScheme(acl: Acl[], what: string, rel: string): Acl[] {
    if (this.auth.length === 0 && !this.tlsClientCert && acl.some((a) => a.scheme === 'auth')) {
      throw new BadArgumentsError(
        `${what}: the auth scheme means "the identities this session authenticated as", and this client has no ` +
          'credentials and no TLS client certificate (give auth, or name the identity, e.g. digestId(user, password))',
        { path: rel },
      );
    }
    return acl;
  }

  /**
   * A connection attempt failed: remember why (for ConnectTimeoutError), and when the reason is
   * a definite TLS answer from every server, tell the first session's connect at once. A server
   * that cut the connection off without a word is asked which protocol it speaks.
   */
  private onAttemptFailed(server: string, reason: string, phase: string | undefined, error: Error | null): void {
    this.attemptFailures[server] = reason;
    if (this.failFastRefused) {
      if (reason.includes('ECONNREFUSED')) this.refused.add(server);
      else this.refused.delete(server);
      if (this.onDefiniteFailure && this.servers.every((s) => this.refused.has(s))) {
        this.onDefiniteFailure(new ConnectionRefusedError(this.servers));
        return;
      }
    }
    const verdict = judgeAttempt(server, phase, error, this.tls !== null);
    if (verdict === null) {
      this.tlsFailures.delete(server);
      return;
    }
    if ('definite' in verdict) {
      this.attemptFailures[server] = verdict.definite.message;
      this.noteTlsFailure(server, verdict.definite);
      return;
    }
    if (this.probing.has(server) || this.onDefiniteFailure === null) return;
    this.probing.add(server);
    const want = verdict.probe;
    const probeMs = Math.min(2000, this.connectTimeoutMs);
    void (want === 'tls' ? speaksTls(server, probeMs) : speaksPlain(server, probeMs))
      .then((yes) => {
        if (!yes) return;
        const err = mismatchError(server, want);
        this.attemptFailures[server] = err.message;
        this.noteTlsFailure(server, err);
      })
      .finally(() => this.probing.delete(server));
  }

  private noteTlsFailure(server: string, err: TlsError): void {
    this.tlsFailures.set(server, err);
    if (this.onDefiniteFailure && this.servers.every((s) => this.tlsFailures.has(s))) {
      this.log.warn({ server, err: err.message }, 'zk: TLS failure on every server');
      this.onDefiniteFailure(err);
    }
  }

  /** Fails whoever waits for a connection with `err` (the first session's connect). */
  rejectWaiters(err: Error): void {
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** The negotiated session timeout (the requested one before the first session). */
  get sessionTimeoutMs(): number {
    return this.session?.everConnected ? this.session.timeoutMs : this.requestedTimeoutMs;
  }

  emit<K extends keyof ZkClientEvents>(event: K, ...args: ZkClientEvents[K]): void {
    for (const c of this.clients) {
      try {
        (c.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
      } catch (e) {
        this.log.error({ err: e, event }, 'zk: a listener threw');
      }
    }
  }

  private setState(s: ConnectionState): void {
    this.state = s;
    if (s === 'connected' || s === 'reconnected') this.tlsFailures.clear();
    this.log.info({ state: s, sessionId: this.session ? '0x' + this.session.id.toString(16) : null }, `zk: ${s}`);
    this.emit('state', s);
    this.emit(s);
    if (s === 'connected' || s === 'reconnected') {
      for (const r of [...this.rearms]) {
        if (!r.owner.isClosed) r.run(s);
      }
    }
  }

  startSession(): void {
    // Per attempt on one server (TCP connect + handshake), so that a half-open server is left in time.
    const attemptMs = Math.max(
      1000,
      Math.min(Math.floor(this.requestedTimeoutMs / this.servers.length), Math.floor(this.connectTimeoutMs / 2)),
    );
    const lib = zk.createClient(this.connectString, {
      sessionTimeout: this.requestedTimeoutMs,
      spinDelay: 200,
      retries: 0, // never its own resend: it duplicates sequential creates
      connectTimeout: attemptMs,
      maxReplyBytes: this.maxReplyBytes,
      ...(this.tls ? { tls: this.tls } : {}),
    });
    const session = new Session(lib, this.requestedTimeoutMs, (s, e) => this.dispatch(s, e));
    this.session = session;
    lib.connectionManager.onNotification = (e) => {
      if (session === this.session) this.dispatchPersistent(e);
    };
    this.sessionsMade += 1;
    for (const a of this.auth) lib.addAuthInfo(a.scheme, Buffer.from(a.auth));
    lib.on('state', (st: LibState) => this.onLibState(session, st));
    lib.connectionManager.on(
      'attemptFailed',
      (server: string, reason: string, phase: string | undefined, error: Error | null) => {
        if (session === this.session) this.onAttemptFailed(server, reason, phase, error ?? null);
      },
    );
    lib.connectionManager.on('readTimeout', (ms: number) =>
      this.log.warn(
        { silentMs: ms, sessionId: '0x' + session.id.toString(16) },
        'zk: no reply from the server, dropping the connection',
      ),
    );
    lib.connect();
  }

  private onLibState(session: Session, st: LibState): void {
    if (session !== this.session || session.dead) return;
    switch (st.code) {
      case zk.State.SYNC_CONNECTED.code: {
        if (!session.everConnected) {
          session.everConnected = true;
          session.id = long(session.lib.getSessionId());
          session.password = session.lib.getSessionPassword();
          session.timeoutMs = session.lib.getSessionTimeout();
          const previous = this.lastSessionId;
          this.lastSessionId = session.id;
          this.setState('connected');
          if (this.sessionsMade > 1) this.emit('session', { sessionId: session.id, previous });
        } else {
          this.clearLostTimer();
          this.setState('reconnected');
        }
        this.releaseWaiters(session);
        return;
      }
      case zk.State.DISCONNECTED.code: {
        if (
          session.everConnected &&
          (this.state === 'connected' || this.state === 'reconnected' || this.state === 'read-only')
        ) {
          this.setState('suspended');
          this.clearLostTimer();
          // Count from the last time the server answered, not from now: the server may expire
          // the session a full timeout after it last heard from us, and the silence that led
          // here (a read timeout) already took part of that. Firing at lastRecv + timeout is
          // at or before the server's own expiry, so a lock or leadership holder hears of the
          // loss before another client can take over.
          const lastRecv = session.lib.connectionManager.lastRecv ?? Date.now();
          const lostInMs = Math.max(0, lastRecv + session.timeoutMs - Date.now());
          this.lostTimer = setTimeout(() => {
            this.lostTimer = null;
            if (this.session === session && this.state === 'suspended') {
              this.log.warn({ timeoutMs: session.timeoutMs }, 'zk: no reply from any server for the session timeout');
              this.loseSession(session, 'timeout');
            }
          }, lostInMs);
        }
        return;
      }
      case zk.State.EXPIRED.code:
        this.loseSession(session, 'expired');
        return;
      case zk.State.AUTH_FAILED.code: {
        for (const a of this.pendingAuth) {
          const i = this.auth.indexOf(a);
          if (i >= 0) this.auth.splice(i, 1);
        }
        this.loseSession(session, 'auth-failed');
        return;
      }
      default:
        return;
    }
  }

  private clearLostTimer(): void {
    if (this.lostTimer) clearTimeout(this.lostTimer);
    this.lostTimer = null;
  }

  /** The session is gone: tell everyone, fail who waits on it, make a new one. */
  loseSession(session: Session, reason: 'timeout' | 'expired' | 'auth-failed'): void {
    if (session.dead) return;
    session.dead = true;
    this.lastLossReason = reason;
    this.clearLostTimer();
    const wasEstablished = session.everConnected;
    this.log.warn({ reason, sessionId: '0x' + session.id.toString(16) }, 'zk: session lost');
    try {
      session.lib.connectionManager.forceClose();
    } catch (e) {
      this.log.error({ err: e }, 'zk: closing the lost session failed');
    }
    const err =
      reason === 'auth-failed'
        ? new AuthFailedError('authentication failed; the session was closed')
        : new SessionExpiredError(
            reason === 'timeout' ? 'session lost: no reply from any server for the session timeout' : 'session expired',
          );
    for (const w of [...this.waiters]) {
      if (w.session === session) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.reject(err);
      }
    }
    if (this.state === 'closed') return;
    this.session = null;
    if (wasEstablished || this.state !== 'connecting') this.setState('lost');
    // Every pending one-shot watcher hears that its session is gone.
    for (const kind of ['data', 'exist', 'child'] as const) {
      for (const [full, m] of session.watchers[kind]) {
        for (const [w, ns] of m) this.callWatcher(w, { type: 'session-expired', path: relPath(ns, full) });
      }
      session.watchers[kind].clear();
    }
    // A listener may have closed the client meanwhile.
    if ((this.state as string) === 'closed') return;
    if (reason === 'auth-failed' && !wasEstablished) {
      // A first session that fails authentication is not retried: connect() reports it.
      this.state = 'closed';
      return;
    }
    this.startSession();
  }

  private callWatcher(w: Watcher, e: WatchEvent): void {
    try {
      w(e);
    } catch (err) {
      this.log.error({ err, event: e }, 'zk: a watcher threw');
    }
  }

  /** Hands a notification to the persistent recursive watches at or above its path. */
  private dispatchPersistent(e: LibEvent): void {
    if (this.persistent.size === 0) return;
    const type = e.type === 1 ? 'created' : e.type === 2 ? 'deleted' : e.type === 3 ? 'data-changed' : null;
    if (type === null || typeof e.path !== 'string') return;
    for (const [root, entries] of this.persistent) {
      if (!(e.path === root || root === '/' || e.path.startsWith(root + '/'))) continue;
      for (const en of [...entries]) {
        try {
          en.listener({ type, path: relPath(en.ns, e.path) });
        } catch (err) {
          this.log.error({ err, path: e.path }, 'zk: a recursive watch listener threw');
        }
      }
    }
  }

  private dispatch(session: Session, e: LibEvent): void {
    const type = EVENT_TYPES[e.type];
    if (!type || session.dead) return;
    const kinds: WatchKind[] =
      type === 'children-changed' ? ['child'] : type === 'deleted' ? ['data', 'exist', 'child'] : ['data', 'exist'];
    for (const [w, ns] of session.takeWatchers(kinds, e.path)) this.callWatcher(w, { type, path: relPath(ns, e.path) });
  }

  private releaseWaiters(session: Session): void {
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.resolve(session);
    }
  }

  /**
   * The connected session, waiting for one until `deadline` (ms epoch). Waiters that wait on a
   * suspended session fail with SessionExpiredError when it is lost.
   */
  waitForConnection(deadline: number, ctx: { op: string; path?: string }): Promise<Session> {
    if (this.state === 'closed') return Promise.reject(new ConnectionLossError('client is closed', ctx));
    const s = this.session;
    if (s && s.everConnected && !s.dead && isConnectedState(this.state as ConnectionState)) return Promise.resolve(s);
    return new Promise<Session>((resolve, reject) => {
      const waiter: ConnectionWaiter = {
        session: s && s.everConnected ? s : null,
        resolve,
        reject,
        timer: setTimeout(
          () => {
            this.waiters.delete(waiter);
            reject(new ConnectionLossError(`not connected within ${Math.max(0, deadline - Date.now() + 1)} ms`, ctx));
          },
          Math.max(0, deadline - Date.now()),
        ),
      };
      this.waiters.add(waiter);
    });
  }

  /** Deadline of a call issued now: the session timeout plus a second. */
  deadline(): number {
    return Date.now() + this.sessionTimeoutMs + 1000;
  }

  /** Runs one library call on `session`, failing with ConnectionLoss at `deadline`. */
  call<T>(
    session: Session,
    deadline: number,
    ctx: { op: string; path: string; rel: string },
    fn: (lib: LibClient, cb: (e: LibException | null, v?: T) => void) => void,
  ): Promise<T> {
    const st = this.stats;
    st.requests[ctx.op] = (st.requests[ctx.op] ?? 0) + 1;
    if (ctx.op === 'create' || ctx.op === 'setData' || ctx.op === 'delete') st.writes[ctx.op]++;
    else if (ctx.op === 'mkdirp') st.writes.create++;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(
        () => {
          if (done) return;
          done = true;
          reject(new ConnectionLossError('no reply before the deadline', { op: ctx.op, path: ctx.rel }));
        },
        Math.max(0, deadline - Date.now()),
      );
      try {
        fn(session.lib, (e, v) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (e) reject(this.convert(e, ctx));
          else resolve(v as T);
        });
      } catch (e) {
        done = true;
        clearTimeout(timer);
        reject(this.convert(e, ctx));
      }
    });
  }

  convert(e: unknown, ctx: { op: string; rel: string; path?: string }): Error {
    if (e instanceof ZkError) return e;
    const replyBytes = (e as { replyBytes?: unknown } | null)?.replyBytes;
    if (isLibException(e) && typeof replyBytes === 'number') {
      const c = { op: ctx.op, cause: e, ...(ctx.path !== undefined ? { fullPath: ctx.path } : {}) };
      return ctx.op === 'getChildren'
        ? new ListingTooLargeError(ctx.rel, replyBytes, this.maxReplyBytes, c)
        : new ReplyTooLargeError(`the reply of ${ctx.op} ${ctx.rel}`, replyBytes, this.maxReplyBytes, {
            ...c,
            path: ctx.rel,
          });
    }
    if (isLibException(e))
      return zkErrorFor(e.code, {
        op: ctx.op,
        path: ctx.rel,
        cause: e,
        ...(ctx.path !== undefined ? { fullPath: ctx.path } : {}),
      });
    if (e instanceof Error && e.name.startsWith('AssertionError')) {
      return new BadArgumentsError(e.message, { op: ctx.op, path: ctx.rel, cause: e });
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  /**
   * Runs `attempt` with the retry policy on connection loss (when `idempotent`), waiting for a
   * connection first, and never beyond the call's deadline (session timeout + 1 s).
   */
  async exec<T>(
    op: string,
    rel: string,
    idempotent: boolean,
    attempt: (s: Session, deadline: number) => Promise<T>,
  ): Promise<T> {
    if (!this.requestObserved()) return this.execRetrying(op, rel, idempotent, attempt);
    const t0 = performance.now();
    try {
      const v = await this.execRetrying(op, rel, idempotent, attempt);
      this.emit('request', { op, ms: performance.now() - t0, error: null });
      return v;
    } catch (e) {
      this.emit('request', { op, ms: performance.now() - t0, error: e instanceof Error ? e.name : 'Error' });
      throw e;
    }
  }

  /** True when some view of this connection listens to `request` (checked per call, without allocating). */
  private requestObserved(): boolean {
    for (const c of this.clients) if (c.listenerCount('request') > 0) return true;
    return false;
  }

  private async execRetrying<T>(
    op: string,
    rel: string,
    idempotent: boolean,
    attempt: (s: Session, deadline: number) => Promise<T>,
  ): Promise<T> {
    const start = Date.now();
    const deadline = this.deadline();
    for (let retries = 0; ;) {
      const session = await this.waitForConnection(deadline, { op, path: rel });
      try {
        return await attempt(session, deadline);
      } catch (e) {
        if (!(e instanceof ConnectionLossError) || !idempotent) throw e;
        const delay = this.retry.delayFor(retries++, Date.now() - start);
        if (delay === null || Date.now() + delay >= deadline) throw e;
        this.log.debug({ op, path: rel, retry: retries, delay }, 'zk: retrying after connection loss');
        await sleep(delay);
      }
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearLostTimer();
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.reject(new ConnectionLossError('client closed'));
    }
    const s = this.session;
    this.session = null;
    if (!s || s.dead) return;
    s.dead = true;
    const lib = s.lib;
    if (s.everConnected && lib.getSessionId().some((b) => b !== 0)) {
      // Close the session on the server so that its ephemerals go now; give it a second.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        lib.on('state', (st: LibState) => {
          if (st.code === zk.State.DISCONNECTED.code) {
            clearTimeout(t);
            resolve();
          }
        });
        try {
          lib.close();
        } catch {
          clearTimeout(t);
          resolve();
        }
      });
    }
    try {
      lib.connectionManager.forceClose();
    } catch {
      /* already closed */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The client

function normalizeNamespace(ns: string | undefined): string {
  if (ns === undefined || ns === '' || ns === '/') return '';
  const p = ns.startsWith('/') ? ns : '/' + ns;
  validatePath(p);
  return p;
}

/**
 * A typed, promise-based ZooKeeper client that is honest about sessions.
 *
 * - Connection states as Curator's ({@link ConnectionState}), as typed events: `state`,
 *   `connected`, `suspended`, `reconnected`, `lost`, `read-only`, and `session` when a new
 *   session replaces a lost one.
 * - A suspension that lasts until the negotiated session timeout has passed since the last reply
 *   from a server becomes `lost` (the client cannot hear of its own expiry while cut off); after
 *   `lost` a new session is made automatically.
 * - A connection that stays silent for 2/3 of the session timeout is dropped and the next
 *   server is tried; a handshake that never completes is abandoned.
 * - Every call settles no later than the session timeout + 1 s after it was made: with its
 *   result, or with ConnectionLossError / SessionExpiredError.
 * - Idempotent operations are retried on connection loss by the retry policy; sequential
 *   creates are protected (see {@link ZkClient.create}).
 * - Paths are relative to the client's namespace, if any.
 */
export class ZkClient extends EventEmitter<ZkClientEvents> {
  private readonly core: Core;
  private readonly ns: string;
  private readonly isView: boolean;
  private nsReady: Promise<void> | null;
  private closed = false;

  private constructor(core: Core, ns: string, isView: boolean) {
    super();
    this.core = core;
    this.ns = ns;
    this.isView = isView;
    this.nsReady = ns === '' ? Promise.resolve() : null;
    core.clients.add(this);
  }

  /**
   * Connects and resolves once the first session is established, its credentials (`auth`)
   * accepted and its namespace created.
   * @param connectString - `host[:port][,host[:port]…][/chroot]` (port 2181 when left out); a chroot must exist
   * @throws BadArgumentsError for a malformed connect string or option (named), or TLS material that does not check out
   * @throws ConnectTimeoutError when no session is established within `connectTimeoutMs` (names the servers tried and the timeout)
   * @throws TlsError when every server gave a definite TLS answer (untrusted certificate, refused client certificate, the other protocol)
   * @throws AuthFailedError when the server rejects the credentials
   * @throws NoNodeError when the chroot of the connect string does not exist
   */
  static async connect(connectString: string, opts: ZkClientOptions = {}): Promise<ZkClient> {
    const core = new Core(connectString, opts);
    const client = new ZkClient(core, normalizeNamespace(opts.namespace), false);
    const timeoutMs = core.connectTimeoutMs;
    core.pendingAuth.clear();
    for (const a of core.auth) core.pendingAuth.add(a);
    let tlsFailure: Error | null = null;
    core.onDefiniteFailure = (e) => {
      tlsFailure ??= e;
      core.rejectWaiters(e);
    };
    const schemes = [...new Set(core.auth.map((a) => a.scheme))].join(', ');
    const rejected = (cause?: unknown) => {
      return new AuthFailedError(`the server rejected the credentials${schemes ? ` (scheme ${schemes})` : ''}`, {
        op: 'connect',
        cause,
      });
    };
    core.startSession();
    const deadline = Date.now() + timeoutMs;
    try {
      let lastErr: unknown;
      for (;;) {
        if (tlsFailure) throw tlsFailure;
        if (Date.now() >= deadline)
          throw new ConnectTimeoutError(core.servers, timeoutMs, lastErr, core.attemptFailures);
        try {
          await core.waitForConnection(deadline, { op: 'connect' });
          // A round trip: the credentials were accepted if it succeeds.
          const rootStat = await client.exists('/');
          if (core.lastLossReason === 'auth-failed') throw rejected();
          if (core.chroot !== '' && rootStat === null) {
            throw new NoNodeError(
              `the chroot ${core.chroot} of the connect string does not exist (ZooKeeper does not create it: create it first, or use a namespace)`,
              { op: 'connect', path: '/' },
            );
          }
          if (client.ns !== '') await client.ensureNamespace();
          break;
        } catch (e) {
          lastErr = e;
          if (e instanceof AuthFailedError || e instanceof TlsError || e instanceof ConnectionRefusedError) throw e;
          if (core.lastLossReason === 'auth-failed') throw rejected(e);
          if (core.state === 'closed') throw e;
          if (!(e instanceof ConnectionLossError || e instanceof SessionExpiredError)) throw e;
        }
      }
      core.onDefiniteFailure = null;
      core.pendingAuth.clear();
      return client;
    } catch (e) {
      core.onDefiniteFailure = null;
      await core.close();
      if (e instanceof ConnectionLossError && !(e instanceof ConnectTimeoutError))
        throw new ConnectTimeoutError(core.servers, timeoutMs, e, core.attemptFailures);
      throw e;
    }
  }

  /** The connect string given to {@link ZkClient.connect}. */
  /**
   * What this connection has sent so far (all its views together): requests by operation and
   * znode writes by kind, multis' operations included. A copy; counters start at 0 on connect.
   */
  requestStats(): RequestStats {
    const st = this.core.stats;
    return { requests: { ...st.requests }, writes: { ...st.writes }, multiOps: st.multiOps };
  }

  get connectString(): string {
    return this.core.connectString;
  }

  /** The current connection state. */
  get state(): ConnectionState {
    const s = this.core.state;
    if (s === 'connecting') return 'suspended';
    if (s === 'closed') return 'lost';
    return s;
  }

  /** True after {@link close} (of this view, or of the root client). */
  get isClosed(): boolean {
    return this.closed || this.core.state === 'closed';
  }

  /** The current session's id; `0n` while there is none (it changes after `lost`). */
  get sessionId(): bigint {
    const s = this.core.session;
    return s && s.everConnected && !s.dead ? s.id : 0n;
  }

  /** The current session's id as `0x…`, for logs. */
  get sessionIdHex(): string {
    return '0x' + this.sessionId.toString(16);
  }

  /** The negotiated session timeout, ms (the requested one until the first session). */
  get sessionTimeoutMs(): number {
    return this.core.sessionTimeoutMs;
  }

  /** This client's namespace (`/a/b`), `''` for none. */
  get namespace(): string {
    return this.ns;
  }

  /**
   * A view sharing this client's session and connection whose paths are under `ns` (absolute,
   * like Curator's `usingNamespace`; `''` or `/` for none). The namespace is created by the
   * first operation that creates a node (`create`, `mkdirp`, a transaction with a create);
   * reads under a missing namespace write nothing. Closing a view does not close the session.
   */
  usingNamespace(ns: string): ZkClient {
    return new ZkClient(this.core, normalizeNamespace(ns), true);
  }

  /**
   * Testing hook: the current session's id and password, e.g. to expire it from a second
   * connection with {@link killSession}.
   * @throws ConnectionLossError when there is no established session
   */
  sessionCredentials(): SessionCredentials {
    const s = this.core.session;
    if (!s || !s.everConnected || s.dead) throw new ConnectionLossError('no session');
    return { sessionId: s.id, password: Buffer.from(s.password) };
  }

  /**
   * Testing hook: sends a raw request (`opCode`, serialized `payload`) on the current
   * connection and resolves with nothing when the server answers OK.
   * @throws ZkError with the server's code (also for codes this library does not know)
   */
  async sendRawRequestForTesting(opCode: number, payload: Buffer): Promise<void> {
    const rec = {
      byteLength: () => payload.length,
      serialize: (buf: Buffer, off: number) => payload.copy(buf, off),
      setChrootPath: () => undefined,
    };
    await this.core.exec('raw', '/', false, (s, deadline) =>
      this.core.call<void>(s, deadline, { op: `raw(${opCode})`, path: '/', rel: '/' }, (lib, cb) => {
        const request = new jute.Request(new jute.protocol.RequestHeader(0, opCode), rec);
        lib.connectionManager.queue(request, (e) => cb(e));
      }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Paths

  private full(path: string): string {
    validatePath(path);
    if (this.ns === '') return path;
    return path === '/' ? this.ns : this.ns + path;
  }

  private rel(full: string): string {
    return relPath(this.ns, full);
  }

  private checkOpen(op: string, path: string): void {
    if (this.closed) throw new ConnectionLossError('client closed', { op, path });
  }

  private ensureNamespace(): Promise<void> {
    if (!this.nsReady) {
      const p = this.mkdirpFull(this.ns, undefined, '/');
      this.nsReady = p;
      p.catch(() => {
        if (this.nsReady === p) this.nsReady = null;
      });
    }
    return this.nsReady;
  }

  /**
   * Checks the client is open and resolves `path` under the namespace. Only operations that
   * create nodes (`create`, `mkdirp`, a transaction) make the namespace exist first: a read, a
   * setData or a delete under a missing namespace fails (or answers null) as it would for any
   * missing parent, and writes nothing.
   */
  private async prepare(op: string, path: string, opts: { creates?: boolean } = {}): Promise<string> {
    this.checkOpen(op, path);
    const full = this.full(path);
    if (opts.creates) await this.namespaceReady();
    return full;
  }

  private async namespaceReady(): Promise<void> {
    if (this.nsReady === null) await this.ensureNamespace();
    else await this.nsReady;
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  /**
   * Creates a znode.
   *
   * Connection loss is handled so that no duplicate or orphan survives: a non-sequential
   * create is retried (an EPHEMERAL one that then meets NodeExists succeeds when the node is
   * this session's); after a connection loss an EPHEMERAL_SEQUENTIAL create first lists the
   * parent for a child with the same prefix owned by this session (and deletes one left by a
   * lost session of this client); a PERSISTENT_SEQUENTIAL create is retried only with
   * `protection: true`, which names the node `_c_<uuid>-<name>` (as Curator) so it can be found,
   * otherwise the ConnectionLossError is thrown.
   *
   * @param path - the node path; for sequential modes the prefix the server appends 10 digits to
   * @param opts.data - payload (a string is UTF-8), at most {@link MAX_DATA_BYTES} bytes; default empty
   * @param opts.mode - default PERSISTENT
   * @param opts.acl - default OPEN_ACL_UNSAFE
   * @param opts.parents - create missing parents as PERSISTENT (mkdir -p); default false
   * @param opts.protection - prefix the name with `_c_<uuid>-` so a create lost in a connection loss can be found; default false
   * @returns the created path, relative to the namespace (with the sequence suffix)
   * @throws NodeExistsError, NoNodeError (parent missing without `parents`), NoChildrenForEphemeralsError, NoAuthError, InvalidACLError, BadArgumentsError, InvalidPathError, ConnectionLossError, SessionExpiredError
   */
  async create(
    path: string,
    opts: { data?: Buffer | string; mode?: CreateMode; acl?: Acl[]; parents?: boolean; protection?: boolean } = {},
  ): Promise<string> {
    checkOptions('create', 1, opts, ['data', 'mode', 'acl', 'parents', 'protection'], path);
    const mode = checkMode('create', opts.mode, path);
    checkBoolean('create', 'parents', opts.parents, path);
    checkBoolean('create', 'protection', opts.protection, path);
    let target = path;
    let guidPrefix: string | undefined;
    if (opts.protection) {
      validatePath(path);
      guidPrefix = `_c_${randomUUID()}-`;
      target = joinPath(parentOf(path), guidPrefix + basename(path));
    }
    const full = await this.prepare('create', target, { creates: true });
    const data = toData(opts.data, path, 'create');
    const acls = this.core.aclFor(full, opts.acl, path);
    const created = await this.createFull(full, data, acls, mode, opts.parents ?? false, guidPrefix, path);
    return this.rel(created);
  }

  private async createFull(
    full: string,
    data: Buffer | undefined,
    acls: LibAcl[],
    mode: CreateMode,
    parents: boolean,
    guidPrefix: string | undefined,
    relForErrors: string,
  ): Promise<string> {
    const core = this.core;
    const ctx = { op: 'create', path: full, rel: relForErrors };
    const start = Date.now();
    const deadline = core.deadline();
    const parent = full === '/' ? '/' : parentOf(full);
    const name = basename(full);
    let retries = 0;
    let lostOn: Session | null = null; // the session of an attempt that ended in connection loss
    for (;;) {
      const session = await core.waitForConnection(deadline, { op: 'create', path: relForErrors });
      try {
        if (lostOn) {
          const found = await this.recoverCreate(session, lostOn, deadline, full, parent, name, mode, guidPrefix, ctx);
          if (found !== null) return found;
          lostOn = null;
        }
        return await core.call<string>(session, deadline, ctx, (lib, cb) => lib.create(full, data, acls, mode, cb));
      } catch (e) {
        if (e instanceof NoNodeError && parents && !lostOn && parent !== '/') {
          await this.mkdirpFull(parent, undefined, relForErrors);
          continue;
        }
        if (e instanceof NoNodeError && parent === '/') throw this.noRoot(e, relForErrors);
        if (e instanceof NodeExistsError && retries > 0 && !isSequential(mode)) {
          // A retry after connection loss meets the node: ours if protected or owned by us.
          if (guidPrefix !== undefined) return full;
          if (isEphemeral(mode)) {
            const st = await this.statFull(full, session, deadline, relForErrors);
            if (st && st.ephemeralOwner === session.id) return full;
          }
          throw e;
        }
        if (!(e instanceof ConnectionLossError)) throw e;
        if (mode === CreateMode.PERSISTENT_SEQUENTIAL && guidPrefix === undefined) throw e;
        const delay = core.retry.delayFor(retries++, Date.now() - start);
        if (delay === null || Date.now() + delay >= deadline) throw e;
        if (isSequential(mode) && lostOn === null) lostOn = session;
        core.log.debug({ path: relForErrors, retry: retries, delay }, 'zk: create: retrying after connection loss');
        await sleep(delay);
      }
    }
  }

  /** Finds the node a create lost in a connection loss made; deletes one orphaned by a lost session. */
  private async recoverCreate(
    session: Session,
    lostOn: Session,
    deadline: number,
    full: string,
    parent: string,
    name: string,
    mode: CreateMode,
    guidPrefix: string | undefined,
    ctx: { op: string; path: string; rel: string },
  ): Promise<string | null> {
    const core = this.core;
    let children: string[];
    try {
      children = await core.call<string[]>(session, deadline, { ...ctx, op: 'create(recover)' }, (lib, cb) =>
        lib.getChildren(parent, undefined, (e, c) => cb(e, c)),
      );
    } catch (e) {
      if (e instanceof NoNodeError) return null;
      throw e;
    }
    const prefix = guidPrefix !== undefined ? guidPrefix : name;
    const candidates = children.filter((c) =>
      guidPrefix !== undefined
        ? c.startsWith(prefix)
        : c.length === name.length + 10 && c.startsWith(name) && SEQ_SUFFIX.test(c.slice(name.length)),
    );
    for (const c of candidates) {
      const p = parent === '/' ? '/' + c : parent + '/' + c;
      const st = await this.statFull(p, session, deadline, ctx.rel);
      if (!st) continue;
      const ephemeral = isEphemeral(mode);
      if (!ephemeral) return p; // protected persistent: the GUID says it is ours
      if (st.ephemeralOwner === session.id) return p;
      if (st.ephemeralOwner === lostOn.id && lostOn !== session) {
        // Made by our previous, lost session (which the server may not have expired yet).
        await core
          .call<void>(session, deadline, { ...ctx, op: 'create(recover)' }, (lib, cb) => lib.remove(p, st.version, cb))
          .catch((e: unknown) =>
            core.log.warn({ err: e, path: p }, 'zk: could not delete an orphan of a lost session'),
          );
      }
    }
    return null;
  }

  private statFull(full: string, session: Session, deadline: number, rel: string): Promise<Stat | null> {
    return this.core
      .call<LibStat | null>(session, deadline, { op: 'exists', path: full, rel }, (lib, cb) =>
        lib.exists(full, undefined, cb),
      )
      .then((s) => (s ? toStat(s) : null));
  }

  /**
   * The node's Stat, or `null` if it does not exist.
   * @param opts.watch - one-shot watcher: `created` if missing, else `data-changed`/`deleted`
   * @throws NoAuthError, ConnectionLossError, SessionExpiredError
   */
  async exists(path: string, opts: { watch?: Watcher } = {}): Promise<Stat | null> {
    checkWatchOptions('exists', opts, path);
    const full = await this.prepare('exists', path);
    const watch = opts.watch;
    return this.core.exec('exists', path, true, async (s, deadline) => {
      // The watcher is registered inside the library's callback, synchronously: a watch event
      // that arrives in the same socket read as the reply is dispatched before any promise
      // continuation runs, and would find no watcher.
      const st = await this.core.call<LibStat | null>(s, deadline, { op: 'exists', path: full, rel: path }, (lib, cb) =>
        lib.exists(full, watch ? s.dispatch : undefined, (e, st) => {
          if (!e && watch) s.addWatcher(st ? 'data' : 'exist', full, watch, this.ns);
          cb(e, st);
        }),
      );
      return st ? toStat(st) : null;
    });
  }

  /**
   * The node's data and Stat.
   * @param opts.watch - one-shot watcher: `data-changed` or `deleted`
   * @throws NoNodeError, NoAuthError, ConnectionLossError, SessionExpiredError
   */
  async getData(path: string, opts: { watch?: Watcher } = {}): Promise<{ data: Buffer; stat: Stat }> {
    checkWatchOptions('getData', opts, path);
    const full = await this.prepare('getData', path);
    const watch = opts.watch;
    return this.core.exec('getData', path, true, async (s, deadline) => {
      const r = await this.core.call<{ data: Buffer | undefined; stat: LibStat }>(
        s,
        deadline,
        { op: 'getData', path: full, rel: path },
        (lib, cb) =>
          lib.getData(full, watch ? s.dispatch : undefined, (e, data, stat) => {
            if (!e && watch) s.addWatcher('data', full, watch, this.ns); // synchronously: see exists()
            cb(e, { data, stat: stat! });
          }),
      );
      return { data: r.data ?? Buffer.alloc(0), stat: toStat(r.stat) };
    });
  }

  /**
   * Sets the node's data. Retried on connection loss only when `version` is -1.
   * @param data - a string is UTF-8; at most {@link MAX_DATA_BYTES} bytes
   * @param opts.version - expected data version; -1 (default) matches any
   * @returns the node's new Stat
   * @throws NoNodeError, BadVersionError, NoAuthError, BadArgumentsError, ConnectionLossError, SessionExpiredError
   */
  async setData(path: string, data: Buffer | string, opts: { version?: number } = {}): Promise<Stat> {
    checkOptions('setData', 2, opts, ['version'], path);
    const version = checkVersion('setData', opts.version, path);
    const full = await this.prepare('setData', path);
    const buf = toData(data, path, 'setData') ?? Buffer.alloc(0);
    const st = await this.core.exec('setData', path, version === -1, (s, deadline) =>
      this.core.call<LibStat>(s, deadline, { op: 'setData', path: full, rel: path }, (lib, cb) =>
        lib.setData(full, buf, version, cb),
      ),
    );
    return toStat(st);
  }

  /**
   * The node's children (names, unsorted) and Stat.
   * @param opts.watch - one-shot watcher: `children-changed` or `deleted`
   * @throws NoNodeError, NoAuthError, ConnectionLossError, SessionExpiredError
   */
  async getChildren(path: string, opts: { watch?: Watcher } = {}): Promise<{ children: string[]; stat: Stat }> {
    checkWatchOptions('getChildren', opts, path);
    const full = await this.prepare('getChildren', path);
    const watch = opts.watch;
    return this.core.exec('getChildren', path, true, async (s, deadline) => {
      const r = await this.core.call<{ children: string[]; stat: LibStat }>(
        s,
        deadline,
        { op: 'getChildren', path: full, rel: path },
        (lib, cb) =>
          lib.getChildren(full, watch ? s.dispatch : undefined, (e, children, stat) => {
            if (!e && watch) s.addWatcher('child', full, watch, this.ns); // synchronously: see exists()
            cb(e, { children: children ?? [], stat: stat! });
          }),
      );
      return { children: r.children, stat: toStat(r.stat) };
    });
  }

  /**
   * Deletes the node. With `version` -1 (default) it is retried on connection loss, and a
   * retry that finds the node gone succeeds.
   * @param opts.version - expected data version; -1 (default) matches any
   * @throws NoNodeError, BadVersionError, NotEmptyError, NoAuthError, ConnectionLossError, SessionExpiredError
   */
  async delete(path: string, opts: { version?: number } = {}): Promise<void> {
    checkOptions('delete', 1, opts, ['version'], path);
    const version = checkVersion('delete', opts.version, path);
    const full = await this.prepare('delete', path);
    if (full === '/') throw new BadArgumentsError('cannot delete the root', { op: 'delete', path });
    let attempts = 0;
    await this.core.exec('delete', path, version === -1, async (s, deadline) => {
      attempts += 1;
      try {
        await this.core.call<void>(s, deadline, { op: 'delete', path: full, rel: path }, (lib, cb) =>
          lib.remove(full, version, cb),
        );
      } catch (e) {
        if (e instanceof NoNodeError && attempts > 1) return; // our first attempt deleted it
        throw e;
      }
    });
  }

  /** Deletes the node and everything under it; no error if it does not exist. Not atomic. @throws NoAuthError, ConnectionLossError, SessionExpiredError */
  async deleteRecursive(path: string): Promise<void> {
    await this.prepare('deleteRecursive', path);
    for (let i = 0; ; i++) {
      let children: string[];
      try {
        children = (await this.getChildren(path)).children;
      } catch (e) {
        if (e instanceof NoNodeError) return;
        throw e;
      }
      for (const c of children) await this.deleteRecursive(path === '/' ? '/' + c : path + '/' + c);
      if (path === '/') return;
      try {
        await this.delete(path);
        return;
      } catch (e) {
        if (e instanceof NoNodeError) return;
        if (e instanceof NotEmptyError && i < 5) continue; // a child appeared meanwhile
        throw e;
      }
    }
  }

  /**
   * Creates the node and its missing parents as PERSISTENT (mkdir -p); no error if it exists.
   * @param opts.data - data of the last node, if this call creates it
   * @throws NoAuthError, NoChildrenForEphemeralsError, ConnectionLossError, SessionExpiredError
   */
  async mkdirp(path: string, opts: { data?: Buffer | string } = {}): Promise<void> {
    checkOptions('mkdirp', 1, opts, ['data'], path);
    const full = await this.prepare('mkdirp', path, { creates: true });
    await this.mkdirpFull(full, toData(opts.data, path, 'mkdirp'), path);
  }

  private async mkdirpFull(full: string, data: Buffer | undefined, rel: string): Promise<void> {
    if (full === '/') return;
    const acls = this.core.aclFor(full, undefined, rel);
    for (;;) {
      try {
        await this.core.exec('mkdirp', rel, true, (s, deadline) =>
          this.core.call<string>(s, deadline, { op: 'mkdirp', path: full, rel }, (lib, cb) =>
            lib.create(full, data, acls, 0, cb),
          ),
        );
        return;
      } catch (e) {
        if (e instanceof NodeExistsError) return;
        // The server checks the parent's CREATE permission before it looks for the node: a
        // client that may only read a tree meets NoAuth for a directory that is there.
        if (e instanceof NoAuthError && (await this.existsFull(full, rel)) !== null) return;
        if (e instanceof NoNodeError) {
          const parent = parentOf(full);
          if (parent === '/') throw this.noRoot(e, rel);
          await this.mkdirpFull(parent, undefined, rel);
          continue;
        }
        throw e;
      }
    }
  }

  /** The error for a create whose parent is the root and "does not exist": a missing chroot. */
  private noRoot(e: NoNodeError, rel: string): NoNodeError {
    if (this.core.chroot === '') return e;
    return new NoNodeError(
      `the chroot ${this.core.chroot} of the connect string does not exist (ZooKeeper does not create it)`,
      { op: e.op ?? 'create', path: rel, cause: e },
    );
  }

  private async existsFull(full: string, rel: string): Promise<Stat | null> {
    return this.core.exec('exists', rel, true, (s, deadline) => this.statFull(full, s, deadline, rel));
  }

  /**
   * A persistent recursive watch (ZooKeeper 3.6+ `addWatch`, opcode 106, mode
   * `PERSISTENT_RECURSIVE`): `listener` hears of every node created, deleted or changed at or
   * below `path`, with its path, for as long as the handle is open — no re-arming read, no
   * listing to learn which child changed (what Curator's `CuratorCache` is built on).
   *
   * The server keeps such a watch per connection, and changes made while no connection was up are
   * not replayed: after every new connection (a reconnect, or a new session) the watch is added
   * again and then `onResync` is called, so the caller reads afresh whatever it derives from the
   * events. Events arrive in zxid order with the replies of this connection.
   * @param opts.onResync - called once the watch is back after a new connection (not on the first)
   * @returns a handle whose `close()` stops delivery and removes the server's watch once no listener
   *   of this connection needs it
   * @throws ZkError with the server's code when the server refuses `addWatch` (before 3.6:
   *   Unimplemented, -6); NoAuthError; ConnectionLossError, SessionExpiredError as any call
   */
  async watchRecursive(
    path: string,
    listener: (e: RecursiveWatchEvent) => void,
    opts: { onResync?: () => void } = {},
  ): Promise<WatchHandle> {
    checkOptions('watchRecursive', 2, opts, ['onResync'], path);
    checkFunction('watchRecursive', 'listener', listener, path);
    if (opts.onResync !== undefined) checkFunction('watchRecursive', 'onResync', opts.onResync, path);
    const full = await this.prepare('watchRecursive', path);
    const core = this.core;
    const entry = { ns: this.ns, listener };
    let entries = core.persistent.get(full);
    if (!entries) core.persistent.set(full, (entries = new Set()));
    entries.add(entry);
    const add = (): Promise<void> =>
      core.exec('addWatch', path, true, (s, deadline) =>
        core.call<void>(s, deadline, { op: 'addWatch', path: full, rel: path }, (lib, cb) => {
          let chroot: string | undefined;
          const payload = {
            byteLength: () => 8 + Buffer.byteLength(withChroot(chroot, full)),
            serialize: (buf: Buffer, off: number) => {
              const p = Buffer.from(withChroot(chroot, full), 'utf8');
              buf.writeInt32BE(p.length, off);
              p.copy(buf, off + 4);
              buf.writeInt32BE(ADD_WATCH_PERSISTENT_RECURSIVE, off + 4 + p.length);
              return 8 + p.length;
            },
            setChrootPath: (c: string | undefined) => {
              chroot = c;
            },
          };
          const request = new jute.Request(new jute.protocol.RequestHeader(0, OP_ADD_WATCH), payload);
          request.responseRecord = { setChrootPath: () => undefined, deserialize: () => 0 };
          lib.connectionManager.queue(request, (e) => cb(e));
        }),
      );
    let closed = false;
    try {
      await add();
    } catch (e) {
      entries.delete(entry);
      if (entries.size === 0) core.persistent.delete(full);
      throw e;
    }
    const rearm = {
      owner: this as ZkClient,
      run: () => {
        void add().then(
          () => {
            if (!closed) opts.onResync?.();
          },
          (err: unknown) => {
            if (!closed)
              core.log.warn({ err, path }, 'zk: could not add a recursive watch again; retried on the next connection');
          },
        );
      },
    };
    core.rearms.add(rearm);
    return {
      close: () => {
        if (closed) return;
        closed = true;
        core.rearms.delete(rearm);
        entries.delete(entry);
        if (entries.size > 0 || core.persistent.get(full) !== entries) return;
        core.persistent.delete(full);
        // Remove the server's watch (WatcherType PersistentRecursive, 5); best effort.
        void core
          .exec('removeWatches', path, false, (s, deadline) =>
            core.call<void>(s, deadline, { op: 'removeWatches', path: full, rel: path }, (lib, cb) => {
              const payload = new jute.protocol.RemoveWatchesRequest();
              payload.path = full;
              payload.type = WATCHER_TYPE_PERSISTENT_RECURSIVE;
              lib.connectionManager.queue(
                new jute.Request(new jute.protocol.RequestHeader(0, OP_REMOVE_WATCHES), payload),
                (e) => cb(e),
              );
            }),
          )
          .catch(() => undefined);
      },
    };
  }

  /**
   * Reads several znodes in one request (ZooKeeper 3.6+ `multiRead`, opcode 22: the Java
   * client's `multi()` of `Op.getData` / `Op.getChildren`). Unlike a transaction it is not
   * atomic: each read is served on its own, in order, from the same server state at the moment
   * the request is processed, and a read that fails (NoNode, NoAuth) gives its own `error`
   * result while the others succeed. No watch is left. Retried on connection loss (reads are
   * idempotent).
   * @param ops - at most {@link MULTI_READ_MAX_OPS} reads; the reply has no size limit of its own,
   *   so a caller reading big znodes reads fewer at once
   * @returns one {@link ReadResult} per op, in order
   * @throws BadArgumentsError for an empty path list over the limit or a malformed path (named)
   * @throws ConnectionLossError, SessionExpiredError as any read
   */
  async multiRead(ops: readonly ReadOp[]): Promise<ReadResult[]> {
    this.checkOpen('multiRead', ops[0]?.path ?? '/');
    if (ops.length === 0) return [];
    if (ops.length > MULTI_READ_MAX_OPS) {
      throw new BadArgumentsError(`multiRead of ${ops.length} reads: at most ${MULTI_READ_MAX_OPS} in one request`, {
        op: 'multiRead',
        path: ops[0]!.path,
      });
    }
    for (const o of ops) {
      if (o.type !== 'getData' && o.type !== 'getChildren') {
        throw new BadArgumentsError(`multiRead: unknown read type ${String((o as { type: unknown }).type)}`, {
          op: 'multiRead',
          path: (o as { path: string }).path,
        });
      }
    }
    const fulls = ops.map((o) => this.full(o.path));
    const P = jute.protocol;
    const raw = await this.core.exec('multiRead', ops[0]!.path, true, (s, deadline) =>
      this.core.call<RawRead[]>(s, deadline, { op: 'multiRead', path: fulls[0]!, rel: ops[0]!.path }, (lib, cb) => {
        const records: LibRecord[] = [];
        ops.forEach((o, i) => {
          records.push(new P.MultiHeader(o.type === 'getData' ? OP_GET_DATA : OP_GET_CHILDREN, false, -1));
          const r = o.type === 'getData' ? new P.GetDataRequest() : new P.GetChildren2Request();
          r.path = fulls[i]!;
          r.watch = false;
          records.push(r);
        });
        records.push(new P.MultiHeader(-1, true, -1));
        const payload = {
          byteLength: () => records.reduce((n, r) => n + r.byteLength(), 0),
          serialize: (buf: Buffer, off: number) => records.reduce((n, r) => n + r.serialize(buf, off + n), 0),
          setChrootPath: (c: string | undefined) => records.forEach((r) => r.setChrootPath(c)),
        };
        const results: RawRead[] = [];
        const reply = {
          setChrootPath: () => undefined,
          deserialize: (buf: Buffer, off: number): number => readMultiReadReply(buf, off, results),
        };
        const request = new jute.Request(new P.RequestHeader(0, OP_MULTI_READ), payload);
        request.responseRecord = reply;
        lib.connectionManager.queue(request, (e) => cb(e, results));
      }),
    );
    if (raw.length !== ops.length) {
      throw new ZkError(MARSHALLING_ERROR, `multiRead: ${raw.length} results for ${ops.length} reads`, {
        op: 'multiRead',
        path: ops[0]!.path,
      });
    }
    return raw.map((r, i): ReadResult => {
      if (r.err !== undefined)
        return {
          type: 'error',
          error: zkErrorFor(r.err, { op: ops[i]!.type, path: ops[i]!.path, fullPath: fulls[i]! }),
        };
      if (r.children !== undefined) return { type: 'getChildren', children: r.children };
      return { type: 'getData', data: r.data ?? Buffer.alloc(0), stat: toStat(r.stat!) };
    });
  }

  /** Starts a transaction (multi): see {@link Transaction}. Paths are relative to the namespace. */
  transaction(): Transaction {
    return new Transaction((ops) => this.commit(ops));
  }

  private async commit(ops: readonly TransactionOp[]): Promise<OpResult[]> {
    this.checkOpen('multi', ops[0]?.path ?? '/');
    if (ops.length === 0) return [];
    const fulls = ops.map((o) => this.full(o.path));
    if (ops.some((o) => o.type === 'create')) await this.namespaceReady();
    const prepared = ops.map((o, i) => {
      if (o.type === 'create')
        return { ...o, data: toData(o.data, o.path, 'create'), acls: this.core.aclFor(fulls[i]!, o.acl, o.path) };
      if (o.type === 'setData') return { ...o, data: toData(o.data, o.path, 'setData') ?? Buffer.alloc(0), acls: [] };
      return { ...o, acls: [] };
    });
    // One request carries the whole multi: the server drops a connection whose packet exceeds
    // its jute.maxbuffer, so a transaction over the limit is refused here, before anything is sent.
    let bytes = 0;
    prepared.forEach((o, i) => {
      bytes += 16 + Buffer.byteLength(fulls[i]!) + ('data' in o && o.data ? o.data.length : 0);
      for (const a of o.acls) bytes += 12 + Buffer.byteLength(a.id.scheme) + Buffer.byteLength(a.id.id);
    });
    if (bytes > MAX_DATA_BYTES) {
      throw new BadArgumentsError(
        `transaction of ${ops.length} operations is ${bytes} bytes, over the limit of ${MAX_DATA_BYTES} bytes of one request ` +
          "(ZooKeeper's jute.maxbuffer, 1 MiB, less 1 KiB); split it into several",
        { op: 'multi', path: ops[0]!.path },
      );
    }
    const refs: TransactionOpRef[] = ops.map((o) => ({ type: o.type, path: o.path }));
    const results = await this.core.exec(
      'multi',
      refs[0]!.path,
      false,
      (s, deadline) =>
        new Promise<{ type: number; path?: string; stat?: LibStat; err?: number }[]>((resolve, reject) => {
          this.core
            .call<{ type: number; path?: string; stat?: LibStat; err?: number }[]>(
              s,
              deadline,
              { op: 'multi', path: fulls[0]!, rel: refs[0]!.path },
              (lib, cb) => {
                const st = this.core.stats;
                st.multiOps += prepared.length;
                for (const o of prepared)
                  if (o.type === 'create' || o.type === 'setData') st.writes[o.type]++;
                  else if (o.type === 'delete') st.writes.delete++;
                let tx = lib.transaction();
                prepared.forEach((o, i) => {
                  const f = fulls[i]!;
                  if (o.type === 'create') tx = tx.create(f, o.data, o.acls, o.mode);
                  else if (o.type === 'setData') tx = tx.setData(f, o.data!, o.version);
                  else if (o.type === 'check') tx = tx.check(f, o.version);
                  else tx = tx.remove(f, o.version);
                });
                tx.commit((e, res) => {
                  if (e && Array.isArray(res) && res.some((r) => r.type === -1)) {
                    const errs = res.map((r) => (r.type === -1 ? (r.err ?? 0) : 0));
                    // The failed op: the first with a code other than OK and RuntimeInconsistency (-2,
                    // which the server gives the ops after it), else the first non-OK.
                    let idx = errs.findIndex((c) => c !== 0 && c !== -2);
                    if (idx < 0) idx = errs.findIndex((c) => c !== 0);
                    if (idx < 0) idx = 0;
                    reject(
                      new TransactionError(
                        idx,
                        refs[idx]!,
                        errs[idx]!,
                        refs.map((r, i) => ({ ...r, err: errs[i] ?? 0 })),
                        fulls[idx],
                      ),
                    );
                    return;
                  }
                  cb(e, res);
                });
              },
            )
            .then(resolve, reject);
        }),
    );
    return refs.map((r, i) => {
      const res = results[i];
      const out: OpResult = { type: r.type, path: r.path };
      if (r.type === 'create' && res?.path !== undefined) out.createdPath = this.rel(res.path);
      if (r.type === 'setData' && res?.stat) out.stat = toStat(res.stat);
      return out;
    });
  }

  /** The node's ACL and Stat. @throws NoNodeError, ConnectionLossError, SessionExpiredError */
  async getACL(path: string): Promise<{ acl: Acl[]; stat: Stat }> {
    const full = await this.prepare('getACL', path);
    return this.core.exec('getACL', path, true, async (s, deadline) => {
      const r = await this.core.call<{ acl: LibAcl[]; stat: LibStat }>(
        s,
        deadline,
        { op: 'getACL', path: full, rel: path },
        (lib, cb) => lib.getACL(full, (e, acl, stat) => cb(e, { acl: acl ?? [], stat: stat! })),
      );
      return { acl: r.acl.map(fromLibAcl), stat: toStat(r.stat) };
    });
  }

  /**
   * Sets the node's ACL.
   * @param opts.version - expected ACL version (`aversion`); -1 (default) matches any
   * @returns the node's new Stat
   * @throws NoNodeError, BadVersionError, NoAuthError, InvalidACLError, ConnectionLossError, SessionExpiredError
   */
  async setACL(path: string, acl: Acl[], opts: { version?: number } = {}): Promise<Stat> {
    checkOptions('setACL', 2, opts, ['version'], path);
    const version = checkVersion('setACL', opts.version, path, 'version (the ACL version, aversion)');
    const full = await this.prepare('setACL', path);
    const acls = toLibAcls(checkAcl(acl, 'setACL: acl', path));
    const st = await this.core.exec('setACL', path, version === -1, (s, deadline) =>
      this.core.call<LibStat>(s, deadline, { op: 'setACL', path: full, rel: path }, (lib, cb) =>
        lib.setACL(full, acls, version, cb),
      ),
    );
    return toStat(st);
  }

  /**
   * Adds credentials to the session (and to every later session of this client), e.g.
   * `addAuth('digest', 'user:password')`. Resolves once the server has processed them.
   * @throws AuthFailedError when the server rejects them (e.g. an unknown scheme); the session is then lost and a new one made without them
   */
  async addAuth(scheme: string, auth: string): Promise<void> {
    this.checkOpen('addAuth', '/');
    const cred = checkCredential({ scheme, auth }, 'addAuth');
    const core = this.core;
    core.auth.push(cred);
    core.pendingAuth.add(cred);
    try {
      const session = await core.waitForConnection(core.deadline(), { op: 'addAuth' });
      session.lib.addAuthInfo(scheme, Buffer.from(auth));
      // A round trip after it: if the credentials were rejected the connection is gone by then.
      await core.call<LibStat | null>(session, core.deadline(), { op: 'addAuth', path: '/', rel: '/' }, (lib, cb) =>
        lib.exists('/', undefined, cb),
      );
      if (session.dead) throw new AuthFailedError(undefined, { op: 'addAuth' });
    } catch (e) {
      if (!core.auth.includes(cred) || e instanceof AuthFailedError)
        throw new AuthFailedError(undefined, { op: 'addAuth', cause: e });
      throw e;
    } finally {
      core.pendingAuth.delete(cred);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Removing watches

  /**
   * Removes this client's one-shot watches on `path` (ZooKeeper 3.5+ `removeWatches`, opcode 18):
   * the removed watchers are never called (not even with `session-expired`), and the watch is
   * removed from the server once no watcher of this session needs it — a server holds one watch
   * per path and kind for a session, whatever the number of local watchers. A reconnect no
   * longer restores it.
   *
   * - `type` `'data'` covers the watches of `getData` and `exists`, `'children'` those of
   *   `getChildren`, `'any'` (default) both (ZooKeeper's WatcherType Data, Children, Any).
   * - `watcher`: only that watcher (the server's watch goes when it was the last one of its kind
   *   on the path); default: every watcher of `type` on the path, of this client and its views.
   * - A watch that fired, or went with its connection, while the request was on its way counts
   *   as removed (the server's NoWatcher answer is not an error then).
   *
   * @throws NoWatcherError when this client holds no such watch on the path: nothing is sent
   * @throws BadArgumentsError for a bad path, type or watcher; NoAuthError, SessionExpiredError
   */
  async removeWatches(
    path: string,
    opts: { type?: 'data' | 'children' | 'any'; watcher?: Watcher } = {},
  ): Promise<void> {
    checkOptions('removeWatches', 1, opts, ['type', 'watcher'], path);
    checkFunction('removeWatches', 'watcher', opts.watcher, path);
    const type = opts.type ?? 'any';
    if (type !== 'data' && type !== 'children' && type !== 'any')
      throw new BadArgumentsError(
        `removeWatches: type must be 'data', 'children' or 'any', got ${describeValue(opts.type)}`,
        { op: 'removeWatches', path },
      );
    const full = await this.prepare('removeWatches', path);
    const kinds: WatchKind[] =
      type === 'data' ? ['data', 'exist'] : type === 'children' ? ['child'] : ['data', 'exist', 'child'];
    const s = this.core.session;
    const r = s && !s.dead ? s.removeWatchers(kinds, full, opts.watcher) : { removed: 0, type: 0 };
    if (r.removed === 0)
      throw new NoWatcherError(
        `this client holds no ${type} watch${opts.watcher ? ' by that watcher' : ''} on ${path}`,
        {
          op: 'removeWatches',
          path,
        },
      );
    if (r.type !== 0 && s) await this.sendRemoveWatches(s, full, path, r.type);
  }

  /**
   * Sends removeWatches for a watch no local watcher needs. Resolves when the server has none any
   * more: removed now, fired meanwhile (NoWatcher), or gone with the connection or the session.
   */
  private async sendRemoveWatches(session: Session, full: string, rel: string, type: number): Promise<void> {
    try {
      await this.core.exec('removeWatches', rel, false, (s, deadline) => {
        // Another session never had this watch.
        if (s !== session) return Promise.resolve();
        return this.core.call<void>(s, deadline, { op: 'removeWatches', path: full, rel }, (lib, cb) =>
          lib.removeWatches(full, type, cb),
        );
      });
    } catch (e) {
      // The server drops a connection's watches with it, and SetWatches no longer names this one.
      if (e instanceof NoWatcherError || e instanceof ConnectionLossError || e instanceof SessionExpiredError) return;
      throw e;
    }
  }

  /** Drops a re-arming watch's watcher when its handle closes, and the server's watch with it (in the background). */
  private releaseWatcher(path: string, watcher: Watcher, kinds: WatchKind[]): void {
    const s = this.core.session;
    if (!s || s.dead || this.closed) return;
    const full = this.full(path);
    const r = s.removeWatchers(kinds, full, watcher);
    if (r.type === 0) return;
    this.sendRemoveWatches(s, full, path, r.type).catch((err: unknown) =>
      this.core.log.debug({ err, path }, 'zk: removing a watch failed'),
    );
  }

  /**
   * Testing hook: the paths (absolute, namespace included) this connection's current session
   * holds one-shot watchers on, by kind — in this client's map and in the library's registry
   * (what a reconnect restores with SetWatches). Every list is empty when no watch is pending.
   */
  watchersForTesting(): {
    client: Record<WatchKind, string[]>;
    library: { data: string[]; exist: string[]; child: string[] };
  } {
    const s = this.core.session;
    const empty = { data: [], exist: [], child: [] };
    if (!s || s.dead) return { client: { ...empty }, library: { ...empty } };
    const wm = s.lib.connectionManager.watcherManager;
    return {
      client: {
        data: [...s.watchers.data.keys()],
        exist: [...s.watchers.exist.keys()],
        child: [...s.watchers.child.keys()],
      },
      library: {
        data: wm.getDataWatcherPaths(),
        exist: wm.getExistenceWatcherPaths(),
        child: wm.getChildWatcherPaths(),
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Re-arming watches

  /**
   * Watches a node's data: calls `listener` with the current value, then on every change
   * (`null, null` while the node does not exist). Re-reads after a new session, and after a
   * reconnect only when its last read had not armed the watch: back in the same session the
   * server restores an armed watch (and fires it for a change made meanwhile). Deliveries are
   * deduplicated by the node's mzxid.
   * @param opts.onError - errors other than connection loss / session expiry (e.g. NoAuth); default: logged
   */
  watchData(
    path: string,
    listener: (data: Buffer | null, stat: Stat | null) => void,
    opts: { onError?(e: Error): void } = {},
  ): WatchHandle {
    checkWatchArgs('watchData', listener, opts, path);
    let last: string | undefined;
    return this.rearming(
      async (watch) => {
        for (;;) {
          try {
            const { data, stat } = await this.getData(path, { watch });
            return () => {
              const key = `${stat.czxid}:${stat.mzxid}`;
              if (key !== last) {
                last = key;
                listener(data, stat);
              }
            };
          } catch (e) {
            if (!(e instanceof NoNodeError)) throw e;
          }
          const st = await this.exists(path, { watch });
          if (st === null) {
            return () => {
              if (last !== 'none') {
                last = 'none';
                listener(null, null);
              }
            };
          }
        }
      },
      opts.onError,
      path,
      ['data', 'exist'],
    );
  }

  /**
   * Watches a node's children: calls `listener` with the current names (sorted), then on every
   * change (`[]` while the node does not exist). Re-reads after a new session, and after a
   * reconnect only when its last read had not armed the watch (see {@link watchData}).
   * @param opts.onError - errors other than connection loss / session expiry; default: logged
   */
  watchChildren(
    path: string,
    listener: (children: string[]) => void,
    opts: { onError?(e: Error): void } = {},
  ): WatchHandle {
    checkWatchArgs('watchChildren', listener, opts, path);
    let last: string | undefined;
    return this.rearming(
      async (watch) => {
        let children: string[];
        try {
          children = (await this.getChildren(path, { watch })).children;
        } catch (e) {
          if (!(e instanceof NoNodeError)) throw e;
          const st = await this.exists(path, { watch });
          if (st !== null) return 'again';
          children = [];
        }
        const sorted = [...children].sort();
        return () => {
          const key = JSON.stringify(sorted);
          if (key !== last) {
            last = key;
            listener(sorted);
          }
        };
      },
      opts.onError,
      path,
      ['child', 'exist'],
    );
  }

  private rearming(
    read: (watch: Watcher) => Promise<(() => void) | 'again'>,
    onError: ((e: Error) => void) | undefined,
    path: string,
    kinds: WatchKind[],
  ): WatchHandle {
    let closed = false;
    let running = false;
    let again = false;
    /** The last read armed the watch on the server: a reconnect in the same session keeps it. */
    let armed = false;
    const watch: Watcher = (ev) => {
      armed = false;
      if (ev.type !== 'session-expired') void run();
    };
    const run = async (): Promise<void> => {
      if (closed) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          armed = false;
          try {
            const deliver = await read(watch);
            // Closed while the read was out: the watch it armed is not wanted.
            if (closed) return this.releaseWatcher(path, watch, kinds);
            if (deliver === 'again') again = true;
            else {
              armed = true;
              if (!closed) deliver();
            }
          } catch (e) {
            if (closed) return;
            if (e instanceof ConnectionLossError || e instanceof SessionExpiredError) {
              if (this.isClosed) return;
              // Re-read on the next connected/reconnected event; if already connected, retry soon.
              if (isConnectedState(this.state)) setTimeout(() => void run(), 100).unref();
              return;
            }
            if (onError) onError(e as Error);
            else this.core.log.error({ err: e, path }, 'zk: watch read failed');
            return;
          }
        } while (again && !closed);
      } catch (e) {
        this.core.log.error({ err: e, path }, 'zk: a watch listener threw');
      } finally {
        running = false;
      }
    };
    // Read again after every connected (a new session: its watches are gone) and after a
    // reconnect when the last read had not armed the watch (the server restores armed ones): one
    // entry in the client's set, not a listener per watch (many watches would pass
    // EventEmitter's listener limit).
    const entry = {
      owner: this as ZkClient,
      run: (state: 'connected' | 'reconnected') => {
        if (state === 'connected' || !armed) void run();
      },
    };
    this.core.rearms.add(entry);
    void run();
    return {
      close: () => {
        if (closed) return;
        closed = true;
        this.core.rearms.delete(entry);
        // The watch of the last read stays on the server until its node changes: remove it.
        this.releaseWatcher(path, watch, kinds);
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Closes the client: the session is closed on the server (its ephemerals go at once) and
   * every waiting call fails with ConnectionLossError. On a namespace view, only detaches the
   * view (the session stays open). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.core.clients.delete(this);
    for (const r of [...this.core.rearms]) if (r.owner === this) this.core.rearms.delete(r);
    if (!this.isView) await this.core.close();
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Testing hook: expires a session from a second connection (connects with the session's id
 * and password and closes the session), as Curator's `KillSession` and Kazoo's harness do,
 * then connects once more to check that the server reports it expired (repeating while it
 * does not, e.g. because the session's own client re-attached in between). The session's own
 * client sees `lost` when it next hears from the server. For a deterministic test, cut the
 * client off (e.g. with a TcpProxy) while killing its session.
 * @throws ConnectTimeoutError when the session is not expired within `timeoutMs` (default 10000)
 */
export async function killSession(
  connectString: string,
  creds: SessionCredentials,
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const id = Buffer.alloc(8);
  id.writeBigInt64BE(creds.sessionId);
  while (Date.now() < deadline) {
    const lib = zk.createClient(connectString, {
      sessionTimeout: 30_000,
      retries: 0,
      spinDelay: 100,
      sessionId: id,
      sessionPassword: creds.password,
    });
    try {
      const outcome = await new Promise<'connected' | 'expired' | 'timeout'>((resolve) => {
        const t = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
        lib.on('state', (st: LibState) => {
          if (st.code === zk.State.SYNC_CONNECTED.code) resolve('connected');
          else if (st.code === zk.State.EXPIRED.code) resolve('expired');
          else return;
          clearTimeout(t);
        });
        lib.connect();
      });
      if (outcome === 'expired') return;
      if (outcome === 'timeout') break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        lib.on('state', (st: LibState) => {
          if (st.code === zk.State.DISCONNECTED.code) {
            clearTimeout(t);
            resolve();
          }
        });
        lib.close();
      });
    } finally {
      lib.connectionManager.forceClose();
    }
  }
  throw new ConnectTimeoutError(connectString.split(','), timeoutMs);
}
