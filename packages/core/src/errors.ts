/**
 * Errors of `@zkjobs/core`: one {@link ZkError} base class that carries ZooKeeper's numeric
 * error code, and one subclass per code that callers handle. Build them with
 * {@link zkErrorFor}; an unknown code becomes a plain {@link ZkError} that keeps the number.
 * @packageDocumentation
 */

/** What a failed call was doing, attached to every {@link ZkError}. */
export interface ZkErrorContext {
  /** The znode path the call was about (relative to the client's namespace). */
  path?: string;
  /** The operation: `create`, `getData`, `multi`, `connect`, … */
  op?: string;
  /** The underlying error (ES2022 `cause`). */
  cause?: unknown;
  /** The absolute path on the server: the namespace included (a chroot of the connect string excluded). */
  fullPath?: string;
}

/** ZooKeeper's error codes (`KeeperException.Code`), by name. */
export const ZkErrorCode = {
  OK: 0,
  SYSTEM_ERROR: -1,
  RUNTIME_INCONSISTENCY: -2,
  DATA_INCONSISTENCY: -3,
  CONNECTION_LOSS: -4,
  MARSHALLING_ERROR: -5,
  UNIMPLEMENTED: -6,
  OPERATION_TIMEOUT: -7,
  BAD_ARGUMENTS: -8,
  API_ERROR: -100,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  INVALID_CALLBACK: -113,
  INVALID_ACL: -114,
  AUTH_FAILED: -115,
  SESSION_MOVED: -118,
  NOT_READ_ONLY: -119,
  EPHEMERAL_ON_LOCAL_SESSION: -120,
  NO_WATCHER: -121,
  REQUEST_TIMEOUT: -122,
  QUOTA_EXCEEDED: -125,
  THROTTLED_OP: -127,
} as const;

/**
 * A ZooKeeper error. `code` is ZooKeeper's numeric code (see {@link ZkErrorCode}); `name` is
 * the class name (`NoNodeError`, …, or `ZkError` for a code this library has no class for).
 */
export class ZkError extends Error {
  /** ZooKeeper's numeric error code, e.g. -101 for NoNode. Kept as is for unknown codes. */
  readonly code: number;
  /** The path of the failed call, relative to the client's namespace, when there is one. */
  readonly path?: string;
  /** The failed operation (`create`, `getData`, `multi`, …), when known. */
  readonly op?: string;
  /** The absolute path of the failed call (namespace included), when known; see {@link ZkErrorContext.fullPath}. */
  readonly fullPath?: string;

  /**
   * @param code - ZooKeeper's numeric error code
   * @param message - human-readable description; the op and path are appended when given
   * @param ctx - path, op and cause
   */
  constructor(code: number, message: string, ctx: ZkErrorContext = {}) {
    const where = [ctx.op, ctx.path].filter((s) => s !== undefined && s !== '').join(' ');
    super(where ? `${message} (${where})` : message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = new.target.name;
    this.code = code;
    if (ctx.path !== undefined) this.path = ctx.path;
    if (ctx.op !== undefined) this.op = ctx.op;
    if (ctx.fullPath !== undefined) this.fullPath = ctx.fullPath;
  }
}

type ZkErrorClass = new (message?: string, ctx?: ZkErrorContext) => ZkError;

function defineCode(code: number, defaultMessage: string) {
  return class extends ZkError {
    /** This class's ZooKeeper error code. */
    static readonly CODE: number = code;
    constructor(message: string = defaultMessage, ctx: ZkErrorContext = {}) {
      super(code, message, ctx);
    }
  };
}

/** -1: a server-side system error. */
export class SystemError extends defineCode(-1, 'system error') {}
/** -2: a runtime inconsistency; also the code of the ops after the failed one in a multi. */
export class RuntimeInconsistencyError extends defineCode(-2, 'runtime inconsistency') {}
/** -3: a data inconsistency was found. */
export class DataInconsistencyError extends defineCode(-3, 'data inconsistency') {}
/**
 * -4: the connection to the server was lost before the reply arrived. The operation may or may
 * not have been applied.
 */
export class ConnectionLossError extends defineCode(-4, 'connection lost') {}
/** -5: the request or reply could not be (de)serialized. */
export class MarshallingError extends defineCode(-5, 'marshalling error') {}
/** -6: the server does not implement the operation. */
export class UnimplementedError extends defineCode(-6, 'operation not implemented') {}
/** -7: the operation timed out. */
export class OperationTimeoutError extends defineCode(-7, 'operation timed out') {}
/** -8: invalid arguments (e.g. a payload too large). */
export class BadArgumentsError extends defineCode(-8, 'bad arguments') {}
/** -100: API error. */
export class ApiError extends defineCode(-100, 'API error') {}
/** -101: the node does not exist. */
export class NoNodeError extends defineCode(-101, 'no node') {}
/** -102: not authorized by the node's ACL. */
export class NoAuthError extends defineCode(-102, 'not authorized') {}
/** -103: the expected version does not match the node's version. */
export class BadVersionError extends defineCode(-103, 'bad version') {}
/** -108: ephemeral nodes cannot have children. */
export class NoChildrenForEphemeralsError extends defineCode(-108, 'ephemeral nodes may not have children') {}
/** -110: the node already exists. */
export class NodeExistsError extends defineCode(-110, 'node exists') {}
/** -111: the node has children. */
export class NotEmptyError extends defineCode(-111, 'node not empty') {}
/** -112: the session has expired (or was closed); its ephemerals and watches are gone. */
export class SessionExpiredError extends defineCode(-112, 'session expired') {}
/** -113: invalid callback. */
export class InvalidCallbackError extends defineCode(-113, 'invalid callback') {}
/** -114: the ACL is invalid (empty, or `auth` scheme without authenticated ids). */
export class InvalidACLError extends defineCode(-114, 'invalid ACL') {}
/** -115: authentication failed (unknown scheme or rejected credentials). */
export class AuthFailedError extends defineCode(-115, 'authentication failed') {}
/** -118: the session moved to another server. */
export class SessionMovedError extends defineCode(-118, 'session moved') {}
/** -119: a write was sent to a read-only server. */
export class NotReadOnlyError extends defineCode(-119, 'server is read-only') {}
/** -120: an ephemeral node was requested on a local session. */
export class EphemeralOnLocalSessionError extends defineCode(-120, 'ephemeral on local session') {}
/**
 * -121: no such watch. {@link ZkClient.removeWatches} throws it when this client holds no watch
 * of the given type on the path (nothing is sent to the server then).
 */
export class NoWatcherError extends defineCode(-121, 'no watcher') {}
/** -122: the request timed out on the server. */
export class RequestTimeoutError extends defineCode(-122, 'request timed out') {}
/** -125: a quota was exceeded. */
export class QuotaExceededError extends defineCode(-125, 'quota exceeded') {}
/** -127: the server throttled the operation; retry later. */
export class ThrottledOpError extends defineCode(-127, 'operation throttled') {}

const byCode: ReadonlyMap<number, ZkErrorClass> = new Map<number, ZkErrorClass>([
  [-1, SystemError],
  [-2, RuntimeInconsistencyError],
  [-3, DataInconsistencyError],
  [-4, ConnectionLossError],
  [-5, MarshallingError],
  [-6, UnimplementedError],
  [-7, OperationTimeoutError],
  [-8, BadArgumentsError],
  [-100, ApiError],
  [-101, NoNodeError],
  [-102, NoAuthError],
  [-103, BadVersionError],
  [-108, NoChildrenForEphemeralsError],
  [-110, NodeExistsError],
  [-111, NotEmptyError],
  [-112, SessionExpiredError],
  [-113, InvalidCallbackError],
  [-114, InvalidACLError],
  [-115, AuthFailedError],
  [-118, SessionMovedError],
  [-119, NotReadOnlyError],
  [-120, EphemeralOnLocalSessionError],
  [-121, NoWatcherError],
  [-122, RequestTimeoutError],
  [-125, QuotaExceededError],
  [-127, ThrottledOpError],
]);

/**
 * A reply was longer than the client's packet limit ({@link ZkClientOptions.maxReplyBytes},
 * by default ZooKeeper's `jute.maxbuffer`, 1,048,575 bytes): the request fails with this error
 * instead of the connection being dropped (ZooKeeper's Java client drops it: "Packet len … is
 * out of range"). The reply was read and discarded; the session and connection are kept.
 * `code` is -5 (marshalling error). A `getChildren` gets the subclass {@link ListingTooLargeError}.
 */
export class ReplyTooLargeError extends ZkError {
  /** The reply's length in bytes (its 4-byte length prefix excluded). */
  readonly bytes: number;
  /** The limit it passed, in bytes. */
  readonly limit: number;
  constructor(what: string, bytes: number, limit: number, ctx: ZkErrorContext = {}) {
    super(
      -5,
      `${what} is ${bytes} bytes, over the client's packet limit of ${limit} bytes (jute.maxbuffer); nothing was lost, the reply was discarded`,
      ctx,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/**
 * A `getChildren` reply passed the client's packet limit: the node has too many children (or
 * too long names) to be listed in one reply. `path` names the node, `bytes` the reply's size.
 */
export class ListingTooLargeError extends ReplyTooLargeError {
  constructor(path: string, bytes: number, limit: number, ctx: ZkErrorContext = {}) {
    super(`the listing of ${path}`, bytes, limit, { ...ctx, path });
  }
}

/**
 * The error for a ZooKeeper code: an instance of the code's subclass, or a plain
 * {@link ZkError} keeping the number when the code has no class here.
 * @param code - ZooKeeper's numeric error code
 * @param ctx - path, op and cause to attach
 * @param message - overrides the code's default message
 */
export function zkErrorFor(code: number, ctx: ZkErrorContext = {}, message?: string): ZkError {
  const cls = byCode.get(code);
  if (cls) return new cls(message, ctx);
  return new ZkError(code, message ?? `ZooKeeper error ${code}`, ctx);
}

/** One operation of a transaction (multi), as named in a {@link TransactionError}. */
export interface TransactionOpRef {
  /** The kind of operation. */
  type: 'create' | 'setData' | 'check' | 'delete';
  /** Its path, relative to the client's namespace. */
  path: string;
}

/**
 * A transaction (multi) failed: nothing of it was applied. `code` is the failing operation's
 * code; `failedIndex` and `failedOp` say which operation failed; `results` holds one entry per
 * operation (the failed one and the ones after it carry their error code in `err`).
 */
export class TransactionError extends ZkError {
  /** 0-based index of the first operation that failed. */
  readonly failedIndex: number;
  /** The operation that failed. */
  readonly failedOp: TransactionOpRef;
  /** One entry per operation, in order, each with its error code (0 = would have succeeded). */
  readonly results: (TransactionOpRef & { err: number })[];
  /** The failing operation's error as its own class (e.g. a {@link BadVersionError}). */
  readonly opError: ZkError;

  constructor(
    failedIndex: number,
    failedOp: TransactionOpRef,
    code: number,
    results: (TransactionOpRef & { err: number })[],
    fullPath?: string,
  ) {
    const opError = zkErrorFor(code, {
      path: failedOp.path,
      op: failedOp.type,
      ...(fullPath !== undefined ? { fullPath } : {}),
    });
    super(
      code,
      `transaction failed at op ${failedIndex} (${failedOp.type} ${failedOp.path}): ${opError.name} [${code}]`,
      {
        op: 'multi',
        path: failedOp.path,
        cause: opError,
        ...(fullPath !== undefined ? { fullPath } : {}),
      },
    );
    this.failedIndex = failedIndex;
    this.failedOp = failedOp;
    this.results = results;
    this.opError = opError;
  }
}

/** {@link ZkClient.connect} did not reach a connected state in time. Code -4 (connection loss). */
export class ConnectTimeoutError extends ZkError {
  /** The servers that were tried (`host:port`). */
  readonly servers: string[];
  /** The timeout that passed, in ms. */
  readonly timeoutMs: number;

  /** Why the last attempt on each server failed (`host:port` → e.g. `ECONNREFUSED`), as far as known. */
  readonly attempts: Record<string, string>;

  constructor(servers: string[], timeoutMs: number, cause?: unknown, attempts: Record<string, string> = {}) {
    const why = Object.entries(attempts)
      .map(([server, reason]) => `${server}: ${reason}`)
      .join('; ');
    super(
      -4,
      `could not connect to ZooKeeper at ${servers.join(',')} within ${timeoutMs} ms${why ? ` (${why})` : ''}`,
      {
        op: 'connect',
        cause,
      },
    );
    this.servers = servers;
    this.timeoutMs = timeoutMs;
    this.attempts = attempts;
  }
}

/**
 * {@link ZkClient.connect} with `failFastWhenRefused`: every server refused the TCP connection
 * (ECONNREFUSED: nothing listens on its port), so the connect fails at once instead of waiting
 * out `connectTimeoutMs`. Code -4 (connection loss).
 */
export class ConnectionRefusedError extends ZkError {
  /** The servers that were tried (`host:port`). */
  readonly servers: string[];

  constructor(servers: string[]) {
    super(-4, `connection refused by every ZooKeeper server (${servers.join(',')}): nothing listens there`, {
      op: 'connect',
    });
    this.servers = servers;
  }
}

/** A znode path was rejected before it was sent (relative, trailing slash, empty segment, `.`, `..`, NUL). Code -8. */
export class InvalidPathError extends ZkError {
  constructor(path: string, reason: string) {
    super(-8, `invalid path ${JSON.stringify(path)}: ${reason}`, { path });
  }
}

/** What went wrong in a {@link TlsError}. */
export type TlsErrorKind =
  /** The server's certificate is not signed by a trusted CA, expired, or otherwise invalid. */
  | 'untrusted-server'
  /** The server's certificate does not name the host connected to. */
  | 'hostname'
  /** The server refused the client's certificate, or wanted one and got none. */
  | 'client-certificate'
  /** The TLS handshake failed otherwise (protocol versions, ciphers, a malformed record). */
  | 'handshake'
  /** The server speaks TLS (a `secureClientPort`) and this client connected without TLS. */
  | 'tls-port'
  /** The server is a plain port and this client connected with TLS. */
  | 'plain-port';

/**
 * {@link ZkClient.connect} could not connect because of TLS on every server of the connect
 * string: a definite answer (the certificate is not trusted, the server refused the client's,
 * one side speaks TLS and the other does not), reported at once rather than retried until the
 * connect timeout. Code -4 (connection loss).
 */
export class TlsError extends ZkError {
  /** What went wrong. */
  readonly kind: TlsErrorKind;
  /** The server (`host:port`) the message is about. */
  readonly server: string;
  /** Node's or OpenSSL's error code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_SSL_…`), when there is one. */
  readonly reason: string | undefined;
  /** What happened, without the advice (the message is `<detail>; <hint>`). */
  readonly detail: string;
  /** What to change, in terms of the ZkClient `tls` options. */
  readonly hint: string;

  constructor(kind: TlsErrorKind, server: string, detail: string, hint: string, reason?: string, cause?: unknown) {
    super(-4, `${detail}; ${hint}`, { op: 'connect', cause });
    this.kind = kind;
    this.server = server;
    this.reason = reason;
    this.detail = detail;
    this.hint = hint;
  }
}
