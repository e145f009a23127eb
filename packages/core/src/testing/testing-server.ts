import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCertificates, type IssuedCertificate } from './certificates.js';
import { freePorts } from './ports.js';
import { ZkServerProcess, type ServerConfig } from './zk-server-process.js';

/** Client TLS of a harness-made server or ensemble. */
export interface TestingTlsOptions {
  /** `ssl.clientAuth`: `need` refuses clients without a certificate the CA signed. @defaultValue 'need' (ZooKeeper's default) */
  clientAuth?: 'need' | 'want' | 'none';
  /** Also open the plain client port. @defaultValue false (TLS only) */
  plainPort?: boolean;
}

/**
 * The TLS material of a harness-made server: a CA made at start, the server's certificate
 * (for 127.0.0.1 and localhost) and a client certificate, all PEM.
 */
export interface TestingTls {
  /** The CA, to issue more certificates (e.g. one per identity). */
  certificates: TestCertificates;
  /** The CA certificate's PEM text (what a client trusts). */
  ca: string;
  /** The CA certificate's file. */
  caFile: string;
  /** A client certificate the servers accept (CN `zkjobs-test-client`). */
  client: IssuedCertificate;
  /** The servers' certificate. */
  server: IssuedCertificate;
  /** `ssl.clientAuth` of the servers. */
  clientAuth: 'need' | 'want' | 'none';
  /** ZkClient `tls` options that connect: `{ ca, cert, key }`. */
  clientOptions: { ca: string; cert: string; key: string };
}

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
  /**
   * Client TLS: a `secureClientPort` (Netty, PEM key and trust stores) with certificates made by
   * `openssl` at start (see {@link TestingServer.tls}). `true` = TLS only, `ssl.clientAuth=need`.
   * @defaultValue none
   */
  tls?: boolean | TestingTlsOptions;
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
): Promise<{ root: string; ownsRoot: boolean; members: ZkServerProcess[]; tls: TestingTls | null }> {
  if (opts.hosts !== undefined && opts.hosts.length !== size) {
    throw new RangeError(`hosts: ${opts.hosts.length} placements for ${size} members`);
  }
  const ownsRoot = opts.dir === undefined;
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'zkjobs-zk-')));
  const tlsOpts = opts.tls === true ? {} : opts.tls === false ? undefined : opts.tls;
  const perMember = tlsOpts ? 4 : 3;
  const ports = await freePorts(size * perMember);
  const specs = Array.from({ length: size }, (_, i) => ({
    id: i + 1,
    clientPort: opts.port !== undefined ? opts.port + i : ports[i * perMember]!,
    quorumPort: ports[i * perMember + 1]!,
    electionPort: ports[i * perMember + 2]!,
    ...(tlsOpts ? { secureClientPort: ports[i * perMember + 3]! } : {}),
    ...(opts.hosts?.[i] ? { host: opts.hosts[i].address, netns: opts.hosts[i].netns } : {}),
  }));
  let tls: TestingTls | null = null;
  let serverTls: ServerConfig['tls'];
  if (tlsOpts) {
    try {
      const certificates = await TestCertificates.create(join(root, 'tls'));
      const server = await certificates.issue('zookeeper-server', { cn: 'localhost' });
      const client = await certificates.issue('zkjobs-test-client');
      const keyStoreFile = join(root, 'tls', 'zookeeper-server.keystore.pem');
      await writeFile(keyStoreFile, server.key + server.cert, { mode: 0o600 });
      const clientAuth = tlsOpts.clientAuth ?? 'need';
      tls = {
        certificates,
        ca: certificates.ca,
        caFile: certificates.caFile,
        client,
        server,
        clientAuth,
        clientOptions: { ca: certificates.ca, cert: client.cert, key: client.key },
      };
      serverTls = {
        keyStoreFile,
        trustStoreFile: certificates.caFile,
        clientAuth,
        plainPort: tlsOpts.plainPort ?? false,
        probe: { ca: certificates.ca, cert: client.cert, key: client.key },
      };
    } catch (err) {
      if (ownsRoot) await rm(root, { recursive: true, force: true });
      throw err;
    }
  }
  const config: ServerConfig = {
    tickTime: opts.tickTime ?? 500,
    initLimit: opts.initLimit ?? 10,
    syncLimit: opts.syncLimit ?? 5,
    forceSync: opts.forceSync ?? true,
    members: specs,
    extra: opts.config ?? {},
    jvmFlags: opts.jvmFlags ?? [],
    ...(serverTls ? { tls: serverTls } : {}),
  };
  const members = specs.map((s) => new ZkServerProcess(s, join(root, `zk${s.id}`), config));
  return { root, ownsRoot, members, tls };
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
    /** The TLS material (CA, server and client certificates), when started with `tls`; else null. */
    readonly tls: TestingTls | null,
  ) {}

  /**
   * Starts a server and waits until it serves.
   * @throws Error when ZooKeeper is not installed or does not serve within `startTimeoutMs`.
   */
  static async start(opts: TestingServerOptions = {}): Promise<TestingServer> {
    const { root, ownsRoot, members, tls } = await makeMembers(1, opts);
    const server = new TestingServer(members[0]!, root, ownsRoot, tls);
    try {
      await server.member.start();
      await server.member.waitForMode(opts.startTimeoutMs);
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** `127.0.0.1:<port>`: the plain client port, or the TLS one when the server is TLS-only. */
  get connectString(): string {
    return this.member.address;
  }

  /** The port of {@link connectString}. */
  get port(): number {
    return this.member.port;
  }

  /** `127.0.0.1:<secureClientPort>` when started with `tls`, else null. */
  get secureConnectString(): string | null {
    return this.member.secureAddress;
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
