/** @zkjobs/worker: distributed jobs coordinated through ZooKeeper. @packageDocumentation */
export { Queue, type QueueOptions, type BulkJob, type JobsPage } from './queue.js';
export { Worker, type WorkerOptions } from './worker.js';
export {
  QueueEvents,
  QUEUE_EVENT_NAMES,
  EVENT_VALUE_MAX_BYTES,
  type QueueEventsOptions,
  type QueueEventsFrom,
  type QueueEventsEvents,
  type QueueEvent,
  type CompletedEvent,
  type FailedEvent,
  type RetryingEvent,
  type DelayedEvent,
  type ProgressEvent,
  type RemovedEvent,
  type GapEvent,
} from './queue-events.js';
export type { JobEventName } from './engine/event-log.js';
export type { Processor, ProcessorContext } from './processor.js';
export {
  MAX_LOG_LINE_BYTES,
  MAX_LOGS_BYTES,
  DEFAULT_KEEP_LOGS,
  type StoredLogLine,
  type StoredLogs,
} from './consumer/logs.js';
export type { WorkerEvents } from './events.js';
export {
  JOB_STATES,
  isFinalState,
  isClaimEntry,
  type Job,
  type JobState,
  type JobOptions,
  type NormalizedJobOptions,
  type BackoffOptions,
  type Retention,
  type AttemptRecord,
  type AttemptOutcome,
  type StoredError,
  type JobRecord,
  type ClaimNote,
  type EventClaim,
  type SubmittedJob,
  MAX_HISTORY,
  MAX_NOTES,
} from './job.js';
export {
  JobsError,
  UnrecoverableError,
  JobValidationError,
  JobNotFoundError,
  LostClaimError,
  JobTimeoutError,
  JobCancelledError,
  JobFailedError,
  WaitTimeoutError,
  QueueFullError,
  WorkerClosingError,
  ScheduleNotFoundError,
  JobStateError,
  LiveWorkersError,
} from './errors.js';
export {
  backoffDelay,
  FAIL_NOW,
  JOB_ID_RE,
  JOB_TYPE_RE,
  DEFAULT_MAX_PAYLOAD_BYTES,
  MAX_RETENTION_COUNT,
  type BackoffStrategy,
} from './options.js';
export {
  DEFAULT_NAMESPACE,
  BUCKETS,
  bucketOf,
  jobPath,
  queueDir,
  type WorkerInfo,
  type LeaderInfo,
  type PausedDoc,
  type TypeLimits,
  type LimitsDoc,
  type ScheduleDoc,
} from './layout.js';
export {
  SCHEDULE_ID_RE,
  DEFAULT_MISFIRE_THRESHOLD_MS,
  nextSlot,
  type Schedule,
  type ScheduleSpec,
  type TimeInput,
} from './schedules.js';
export { createLogger, defaultLogger, type Logger } from './logger.js';
export {
  verify,
  checkHistory,
  snapshotTree,
  parseHistoryLine,
  readHistoryLines,
  readHistoryFiles,
  CHECK_NAMES,
  type VerifyReport,
  type VerifyOptions,
  type CheckInput,
  type CheckName,
  type CheckResult,
  type Counterexample,
  type HistoryEvent,
  type HistoryEventKind,
  type TreeSnapshot,
  type RecordSnapshot,
} from './verify.js';
export {
  workerMetrics,
  DURATION_BUCKETS_SECONDS,
  REQUEST_BUCKETS_SECONDS,
  CONNECTION_STATES,
  type WorkerMetrics,
  type WorkerMetricsOptions,
} from './metrics.js';
export { serveMetrics, type MetricsServer, type ServeMetricsOptions } from './metrics-server.js';
export { Registry } from 'prom-client';
