import { EventEmitter } from 'node:events';
import type { EventClaim, Job } from './job.js';
import type { LostClaimError } from './errors.js';

/** Events of a {@link Worker}, with their listener arguments. Typed as `EventEmitter<WorkerEvents>`. */
export interface WorkerEvents {
  /** A job was claimed by this worker and its handler starts. `token` is the fencing token. */
  active: [job: Job, token: number];
  /** The handler reported progress. */
  progress: [job: Job, progress: unknown];
  /** The job's completion was recorded (by this worker) under `claim`. */
  completed: [job: Job, result: unknown, claim: EventClaim];
  /**
   * An attempt failed and the failure was recorded. `final` is true when no attempt follows
   * (UnrecoverableError → `failed`; attempts used up → also `dead`). `claim` is the attempt's claim.
   */
  failed: [job: Job, error: Error, final: boolean, claim: EventClaim];
  /** A failed attempt will be retried after `delayMs` (ZooKeeper's clock). */
  retrying: [job: Job, error: Error, delayMs: number];
  /** The job used up its attempts and is now `dead`. */
  dead: [job: Job, error: Error];
  /**
   * This worker lost its claim on a running job (session lost, requeued, cancelled): the
   * handler's signal was aborted and its completion will be refused. `claim` is the lost claim.
   */
  stalled: [jobId: string, error: LostClaimError, claim: EventClaim];
  /**
   * This worker's ZooKeeper session ended (expired, or no server for the session timeout): its
   * registration is gone, its running jobs were aborted (`stalled`) and the leader requeues them.
   * It re-registers with a new session by itself (`re-registered`).
   */
  'session-lost': [info: { worker: string | null; session: string }];
  /** After a lost session: registered again under a new znode and session, consuming its new queue. */
  're-registered': [info: { worker: string; session: string; previousWorker: string | null; previousSession: string }];
  /**
   * This worker registered as `name` (`w-…`) with the session `session` (hex): at start, and
   * again after a new session replaced a lost one.
   */
  registered: [name: string, session: string];
  /** This worker became the leader (scheduler) with this epoch. */
  'leader-elected': [epoch: number];
  /** This worker stopped being the leader. */
  'leader-lost': [epoch: number];
  /** A background error the worker will retry (logged as well). */
  error: [error: Error];
}

/** A typed EventEmitter base. */
export class TypedEmitter<E extends Record<keyof E, unknown[]>> extends EventEmitter<E> {}
