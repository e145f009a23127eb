import type { ZkClient } from '@zkjobs/core';
import type { RedisServer } from './redis.js';
import type { ZkServers } from './zk.js';

/** What every section of a run shares. */
export interface Ctx {
  quick: boolean;
  rounds: number;
  /** Jobs per throughput run. */
  jobs: number;
  /** Items per Kazoo run (LockingQueue is ~100× slower; capped in time as well). */
  kazooJobs: number;
  /** Time cap of one Kazoo run, ms. */
  kazooCapMs: number;
  /** Workers of the main throughput comparison. */
  workers: number;
  /** Worker counts of the scaling series. */
  scale: number[];
  /** Handlers per worker (zkjobs concurrency = BullMQ concurrency = Kazoo threads). */
  concurrency: number;
  /** Simulated work per job in the throughput runs' handlers (a sleep), ms; 0: no-op. */
  workMs: number;
  /** zkjobs Worker `prefetch`, when given (`--prefetch`). */
  prefetch?: number;
  /** Single jobs per latency round. */
  latencyJobs: number;
  /** Pending jobs of the footprint section. */
  footprintJobs: number;
  /** Requested session timeout of the failover workers, ms. */
  failoverSessionMs: number;
  /** The ZooKeeper servers the zkjobs runs use (the ensemble; a variant may give its own). */
  cluster: ZkServers;
  /** The parent's own connection (Queue submits, clean-up). */
  client: ZkClient;
  redis: { none: RedisServer | null; aof: RedisServer | null };
  kazoo: boolean;
  /** File the children's logs go to. */
  logFile: string;
}
