import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';
import { ZkServerProcess, type ServerConfig } from './zk-server-process.js';

/** Options for {@link TestingServer.start} and {@link TestingCluster.start}. */
export interface TestingServerOptions {
  /** ms; default 500 (sessions then negotiate 1000–10000 ms). */
  tickTime?: number;
  /** ticks a follower may take to connect and sync to the leader; default 10. */
  initLimit?: number;
  /** ticks a follower may lag behind the leader before it is dropped; default 5. */
  syncLimit?: number;
  /** Client port of the (first) server; default: a free port picked at start. */
  port?: number;
  /** Parent directory to use instead of a fresh temp dir; it is kept at close(). */
  dir?: string;
  /** `forceSync` (fsync before ack); default true, as in production. */
  forceSync?: boolean;
  /** ms to wait for the server(s) to serve; default 30000. */
  startTimeoutMs?: number;
  /** Extra `zoo.cfg` entries. */
  config?: Record<string, string | number>;
  /** Extra JVM flags. */
  jvmFlags?: string[];
}

/** Where one member runs: its address and network namespace (e.g. a `TestingNetwork` host). */
export interface MemberPlacement {
  /** The address the member listens on. */
  address: string;
  /** The network namespace it runs in; @defaultValue this process's */
  netns?: string;
}

/** @internal shared by TestingServer and TestingCluster */
export async function makeMembers(
  size: number,
  opts: TestingServerOptions & { hosts?: readonly MemberPlacement[] },
): Promise<{ root: string; ownsRoot: boolean; members: ZkServerProcess[] }> {
  if (opts.hosts !== undefined && opts.hosts.length !== size) {
    throw new RangeError(`hosts: ${opts.hosts.length} placements for ${size} members`);
  }
  const ownsRoot = opts.dir === undefined;
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'zkjobs-zk-')));
  const ports = await freePorts(size * 3);
  const specs = Array.from({ length: size }, (_, i) => ({
    id: i + 1,
    clientPort: opts.port !== undefined ? opts.port + i : ports[i * 3]!,
    quorumPort: ports[i * 3 + 1]!,
    electionPort: ports[i * 3 + 2]!,
    ...(opts.hosts?.[i] ? { host: opts.hosts[i].address, netns: opts.hosts[i].netns } : {}),
  }));
  const config: ServerConfig = {
    tickTime: opts.tickTime ?? 500,
    initLimit: opts.initLimit ?? 10,
    syncLimit: opts.syncLimit ?? 5,
    forceSync: opts.forceSync ?? true,
    members: specs,
    extra: opts.config ?? {},
    jvmFlags: opts.jvmFlags ?? [],
  };
  const members = specs.map((s) => new ZkServerProcess(s, join(root, `zk${s.id}`), config));
  return { root, ownsRoot, members };
}

/**
 * One standalone ZooKeeper server on 127.0.0.1 for tests and development — like Curator's
 * `TestingServer`. A free client port, a temp data directory and a generated `zoo.cfg`
 * (4lw commands whitelisted, admin server off) per start. Ready when `srvr` reports its mode.
 *
 * @example
 * ```ts
 * await using server = await TestingServer.start();
 * const client = await ZkClient.connect(server.connectString);
 * ```
 */
export class TestingServer {
  private constructor(
    /** The server process: stop, kill, pause, resume, restart. */
    readonly member: ZkServerProcess,
    private readonly root: string,
    private readonly ownsRoot: boolean,
  ) {}

  /**
   * Starts a server and waits until it serves.
   * @throws Error when ZooKeeper is not installed or does not serve within `startTimeoutMs`.
   */
  static async start(opts: TestingServerOptions = {}): Promise<TestingServer> {
    const { root, ownsRoot, members } = await makeMembers(1, opts);
    const server = new TestingServer(members[0]!, root, ownsRoot);
    try {
      await server.member.start();
      await server.member.waitForMode(opts.startTimeoutMs);
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** `127.0.0.1:<port>`. */
  get connectString(): string {
    return this.member.address;
  }

  /** The client port. */
  get port(): number {
    return this.member.spec.clientPort;
  }

  /** Data and log directory. */
  get dir(): string {
    return this.root;
  }

  /** Graceful stop (SIGTERM); data is kept for {@link TestingServer.restart}. */
  stop(): Promise<void> {
    return this.member.stop();
  }

  /** SIGKILL. */
  kill(): Promise<void> {
    return this.member.kill();
  }

  /** Start again on the same port and data, and wait until it serves. */
  async restart(opts: { hard?: boolean } = {}): Promise<void> {
    await this.member.restart(opts);
  }

  /** Stops the server and removes its directory (unless `dir` was given). */
  async close(): Promise<void> {
    await this.member.stop();
    if (this.ownsRoot) await rm(this.root, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
