import { rm } from 'node:fs/promises';
import { makeMembers, type MemberPlacement, type TestingServerOptions, type TestingTls } from './testing-server.js';
import type { ServerMode } from './four-letter-word.js';
import type { ZkServerProcess } from './zk-server-process.js';

/** Options for {@link TestingCluster.start}. */
export interface TestingClusterOptions extends TestingServerOptions {
  /** Number of members; default 3. */
  size?: number;
  /**
   * One placement per member, in `myid` order: the address it listens on (client, quorum and
   * election ports; `server.N=<address>:P1:P2`) and the network namespace it runs in — e.g. the
   * hosts of a `TestingNetwork`. Its length must be `size`.
   * @defaultValue every member on 127.0.0.1 in this process's namespace
   */
  hosts?: readonly MemberPlacement[];
}

/**
 * A ZooKeeper ensemble of `size` (default 3) servers on 127.0.0.1 — like Curator's
 * `TestingCluster`. Each member has free ports, its own data dir and `zoo.cfg` with
 * `server.N=127.0.0.1:P1:P2` lines. Ready when every member answers `srvr` with a mode.
 * Members can be stopped, killed, paused (SIGSTOP), resumed and restarted; {@link TestingCluster.leader}
 * finds the current leader.
 */
export class TestingCluster {
  private constructor(
    /** The members, by `myid` - 1. */
    readonly members: ZkServerProcess[],
    private readonly root: string,
    private readonly ownsRoot: boolean,
    /** The TLS material (CA, server and client certificates), when started with `tls`; else null. */
    readonly tls: TestingTls | null,
  ) {}

  /**
   * Starts every member and waits until all serve.
   * @throws Error when ZooKeeper is not installed or the ensemble does not form within `startTimeoutMs`;
   *   RangeError for a bad `size` or `hosts`.
   */
  static async start(opts: TestingClusterOptions = {}): Promise<TestingCluster> {
    const size = opts.size ?? 3;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
    const { root, ownsRoot, members, tls } = await makeMembers(size, opts);
    const cluster = new TestingCluster(members, root, ownsRoot, tls);
    try {
      await Promise.all(members.map((m) => m.start()));
      await cluster.waitForQuorum(opts.startTimeoutMs);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /**
   * `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` (each member's own address when placed on hosts; the
   * TLS ports when the ensemble is TLS-only).
   */
  get connectString(): string {
    return this.members.map((m) => m.address).join(',');
  }

  /** The members' TLS ports when started with `tls`, else null. */
  get secureConnectString(): string | null {
    const a = this.members.map((m) => m.secureAddress);
    return a.every((x) => x !== null) ? a.join(',') : null;
  }

  /** The directory holding every member's data and logs. */
  get dir(): string {
    return this.root;
  }

  /**
   * Waits until every running member reports a mode, one of them `leader` — or, for a cluster of
   * size 1 (a standalone server: no `server.N` lines), `standalone`.
   * @param timeoutMs - default 30000
   * @throws Error when that is not so within `timeoutMs`.
   */
  async waitForQuorum(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const running = this.members.filter((m) => m.running);
    await Promise.all(running.map((m) => m.waitForMode(timeoutMs)));
    for (;;) {
      const modes = await Promise.all(running.map((m) => m.mode(500)));
      if (modes.every((x) => x !== null) && modes.some((x) => this.leads(x))) return;
      if (Date.now() > deadline)
        throw new Error(`ensemble did not elect a leader within ${timeoutMs} ms (modes: ${modes.join(', ')})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * The member that currently leads the ensemble, waiting up to `timeoutMs` (default 30000) for
   * one to be elected; for a cluster of size 1, its standalone server once it serves.
   * @throws Error when no member reports `leader` (or `standalone`, for size 1) in time.
   */
  async leader(timeoutMs = 30_000): Promise<ZkServerProcess> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const modes = await Promise.all(this.members.map((m) => m.mode(500)));
      const i = modes.findIndex((x) => this.leads(x));
      if (i >= 0) return this.members[i]!;
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms (modes: ${modes.join(', ')})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Whether a member in `mode` orders the writes: the ensemble's leader, or the lone standalone server. */
  private leads(mode: ServerMode | null): boolean {
    return mode === 'leader' || (mode === 'standalone' && this.members.length === 1);
  }

  /** Stops every member and removes the directory (unless `dir` was given). */
  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
    if (this.ownsRoot) await rm(this.root, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
