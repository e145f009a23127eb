/** @zkjobs/core: a typed, promise-based ZooKeeper client and the ZooKeeper recipes. @packageDocumentation */

// --- client ---
export {
  ZkClient,
  killSession,
  MAX_DATA_BYTES,
  DEFAULT_MAX_REPLY_BYTES,
  parseConnectString,
  type ZkClientOptions,
  type ZkClientEvents,
  type Logger,
  type SessionCredentials,
  type RequestStats,
  type ReadOp,
  type ReadResult,
  type RecursiveWatchEvent,
  MULTI_READ_MAX_OPS,
} from './client/zk-client.js';
export { CreateMode, isEphemeral, isSequential } from './client/create-mode.js';
export type { Stat } from './client/stat.js';
export { isConnectedState, type ConnectionState } from './client/connection-state.js';
export type { WatchEvent, Watcher, WatchHandle } from './client/watch.js';
export {
  ExponentialBackoffRetry,
  RetryNever,
  type RetryPolicy,
  type ExponentialBackoffRetryOptions,
} from './client/retry.js';
export { validatePath, joinPath, parentOf, basename, sequenceOf, compareSequential } from './client/paths.js';
export {
  Perms,
  OPEN_ACL_UNSAFE,
  READ_ACL_UNSAFE,
  CREATOR_ALL_ACL,
  DIGEST_ID,
  digestAcl,
  digestId,
  digestAuth,
  ownerAcl,
  checkAcl,
  type Acl,
  type AclIdentity,
  type AclProvider,
} from './client/acl.js';
export { prepareTls, type ZkTlsOptions, type Pem } from './client/tls.js';
export { describeValue } from './client/args.js';
export { Transaction, type OpResult, type TransactionOp } from './client/transaction.js';
export {
  ZkError,
  ZkErrorCode,
  zkErrorFor,
  type ZkErrorContext,
  type TransactionOpRef,
  SystemError,
  RuntimeInconsistencyError,
  DataInconsistencyError,
  ConnectionLossError,
  MarshallingError,
  UnimplementedError,
  OperationTimeoutError,
  BadArgumentsError,
  ApiError,
  NoNodeError,
  NoAuthError,
  BadVersionError,
  NoChildrenForEphemeralsError,
  NodeExistsError,
  NotEmptyError,
  SessionExpiredError,
  InvalidCallbackError,
  InvalidACLError,
  AuthFailedError,
  SessionMovedError,
  NotReadOnlyError,
  EphemeralOnLocalSessionError,
  NoWatcherError,
  ReplyTooLargeError,
  ListingTooLargeError,
  RequestTimeoutError,
  QuotaExceededError,
  ThrottledOpError,
  TransactionError,
  ConnectTimeoutError,
  ConnectionRefusedError,
  InvalidPathError,
  TlsError,
  type TlsErrorKind,
} from './errors.js';

// --- recipes: election and locks ---
export { LeaderLatch, type LeaderLatchOptions, type LeaderLatchEvents } from './recipes/leader-latch.js';
export { LeaderElection, type LeaderElectionOptions, type LeaderElectionEvents } from './recipes/leader-election.js';
export {
  LockInternals,
  SequentialLock,
  LockLostError,
  standardLockDriver,
  type LockDriver,
  type LockVerdict,
  type AcquireOptions,
  type HeldNode,
  type SequentialLockEvents,
} from './recipes/lock-internals.js';
export { Mutex, type MutexOptions } from './recipes/mutex.js';
export { ReadWriteLock, ReadLock, WriteLock, type ReadWriteLockOptions } from './recipes/read-write-lock.js';
export { Semaphore, type SemaphoreOptions } from './recipes/semaphore.js';
export {
  CURATOR_NODE_NAMES,
  KAZOO_NODE_NAMES,
  ZKJOBS_NODE_NAMES,
  IncompatibleRecipeError,
} from './recipes/contenders.js';

// --- recipes: barriers, queue, membership, configuration, discovery ---
export { Barrier, type BarrierWaitOptions } from './recipes/barrier.js';
export { DoubleBarrier, type DoubleBarrierOptions } from './recipes/double-barrier.js';
export {
  DistributedQueue,
  QueueItem,
  QueueFullError,
  ItemLockLostError,
  QUEUE_PRIORITY_MIN,
  QUEUE_PRIORITY_MAX,
  sortQueueItems,
  type DistributedQueueOptions,
  type OfferOptions,
  type QueueEntry,
} from './recipes/distributed-queue.js';
export { GroupMember, type GroupMemberOptions, type GroupMemberEvents } from './recipes/group-member.js';
export {
  SharedValue,
  type SharedValueOptions,
  type SharedValueEvents,
  type VersionedValue,
} from './recipes/shared-value.js';
export {
  FeatureFlag,
  FEATURES_ROOT,
  parseFlag,
  type FeatureFlagOptions,
  type FeatureFlagEvents,
} from './recipes/feature-flag.js';
export {
  ServiceDiscovery,
  ServiceCache,
  parseServiceInstance,
  serializeServiceInstance,
  type ServiceInstance,
  type ServiceInstanceFormat,
  type CuratorInstanceFields,
  type ServiceInstanceSpec,
  type ServiceDiscoveryEvents,
  type ServiceDiscoveryOptions,
  type Displacement,
  type ServiceCacheEvents,
} from './recipes/service-discovery.js';
