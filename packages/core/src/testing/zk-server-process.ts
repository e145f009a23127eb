import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { fourLetterWord, serverMode, type ServerMode } from './four-letter-word.js';
import { netnsCommand } from './testing-network.js';

/** Where Debian's `zookeeper` package puts its jars; override with `ZK_CLASSPATH_DIR`. */
const JAVA_DIR = process.env['ZK_CLASSPATH_DIR'] ?? '/usr/share/java';
// netty-codec and netty-resolver are missing from zookeeper.jar's manifest Class-Path and are
// needed by NettyServerCnxnFactory's TLS (SslHandler is a ByteToMessageDecoder).
const CLASSPATH_JARS = [
  'zookeeper.jar',
  'slf4j-api.jar',
  'slf4j-log4j12.jar',
  'log4j-1.2.jar',
  'netty-codec.jar',
  'netty-resolver.jar',
];

/** Every JVM this process started and has not yet seen exit; killed on process exit. */
const live = new Set<ZkServerProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const member of live) member.killSync();
  });
}

/** True when the ZooKeeper server jars and a `java` launcher are available on this machine. */
export function zookeeperInstalled(): boolean {
  return existsSync(join(JAVA_DIR, 'zookeeper.jar')) && javaBinary() !== null;
}

function javaBinary(): string | null {
  const home = process.env['JAVA_HOME'];
  if (home && existsSync(join(home, 'bin', 'java'))) return join(home, 'bin', 'java');
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'java'))) return join(dir, 'java');
  }
  return null;
}

/** One server's ports and identity inside an ensemble. */
export interface MemberSpec {
  /** `myid`, 1-based. */
  id: number;
  /** The plain client port (not opened when the ensemble is TLS-only: see {@link ServerTlsConfig.plainPort}). */
  clientPort: number;
  /** The TLS client port (`secureClientPort`), when the ensemble has TLS. */
  secureClientPort?: number;
  /** Quorum (follower ↔ leader) port. */
  quorumPort: number;
  /** Leader-election port. */
  electionPort: number;
  /** The address it listens on (client, quorum and election ports). @defaultValue `'127.0.0.1'` */
  host?: string;
  /**
   * A network namespace to run in (`ip netns exec`), e.g. a `NetworkHost`'s `netns` from
   * `TestingNetwork`; `host` is then that namespace's address. @defaultValue none (this process's)
   */
  netns?: string;
}

/** Configuration shared by every member of one harness-made ensemble. */
export interface ServerConfig {
  /** ms; ZooKeeper's basic time unit. Sessions are clamped to 2–20 × tickTime. */
  tickTime: number;
  /** ticks a follower may take to connect and sync to the leader. */
  initLimit: number;
  /** ticks a follower may lag behind the leader before it is dropped. */
  syncLimit: number;
  /** fsync the transaction log before acknowledging (`forceSync`). */
  forceSync: boolean;
  /** All members; a single entry means standalone mode (no `server.N` lines). */
  members: MemberSpec[];
  /** Extra `zoo.cfg` lines. */
  extra: Record<string, string | number>;
  /** Extra JVM flags. */
  jvmFlags: string[];
  /** TLS for clients (`secureClientPort` with Netty); none when absent. */
  tls?: ServerTlsConfig;
}

/** Client TLS of a harness-made server: ZooKeeper's `ssl.*` settings and what the harness probes with. */
export interface ServerTlsConfig {
  /** PEM file with the server's private key and certificate (`ssl.keyStore.location`, type PEM). */
  keyStoreFile: string;
  /** PEM file with the CA certificate(s) client certificates must chain to (`ssl.trustStore.location`). */
  trustStoreFile: string;
  /** `ssl.clientAuth`: `need` (ZooKeeper's default) refuses clients without a trusted certificate. */
  clientAuth: 'need' | 'want' | 'none';
  /** Also open the plain `clientPort`. False: TLS only. */
  plainPort: boolean;
  /** `tls.connect` options the harness's own probes (`srvr`, `conf`) use on the TLS port. */
  probe: ConnectionOptions;
}

/** Resolves when nothing listens on 127.0.0.1:`port`, rejects naming the port when something does. */
function checkPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} on 127.0.0.1 (${what}) is in use by another process`
            : `port ${port} on 127.0.0.1 (${what}) cannot be bound: ${err.message}`,
          { cause: err },
        ),
      );
    });
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve()));
  });
}

/**
 * The JVM flags every server process starts with, before `jvmFlags` (a later `-Xmx` there
 * replaces the heap limit): a small heap and the serial collector, for many servers on a
 * machine of few cores.
 */
export const HARNESS_JVM_FLAGS: readonly string[] = ['-Xms64m', '-Xmx512m', '-XX:+UseSerialGC'];

/**
 * One ZooKeeper server JVM (`QuorumPeerMain`) on 127.0.0.1 — or on its spec's `host` inside its
 * `netns` (a `TestingNetwork` host) — with its own data directory and generated `zoo.cfg`. It can be started, stopped (SIGTERM), killed (SIGKILL), paused
 * (SIGSTOP), resumed (SIGCONT) and restarted on the same ports and data.
 *
 * The JVM runs under a small `sh` watchdog that holds a pipe from this process: when this
 * process dies — even by SIGKILL — the pipe closes and the watchdog SIGKILLs the JVM, so no
 * `java` is left behind. Also killed from a `process.on('exit')` hook.
 */
export class ZkServerProcess {
  private child: ChildProcess | null = null;
  private javaPid: number | null = null;
  private exited: Promise<void> = Promise.resolve();
  private paused = false;

  constructor(
    readonly spec: MemberSpec,
    /** This member's directory: `zoo.cfg`, `data/`, `zookeeper.log`. */
    readonly dir: string,
    private readonly config: ServerConfig,
  ) {}

  /**
   * Where clients connect: `<host>:<clientPort>` (host `127.0.0.1` unless the spec names one), or
   * the TLS port when the server is TLS-only.
   */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** The address it listens on: the spec's `host`, default `127.0.0.1`. */
  get host(): string {
    return this.spec.host ?? '127.0.0.1';
  }

  /** The port of {@link address}. */
  get port(): number {
    const tls = this.config.tls;
    return tls && !tls.plainPort ? this.spec.secureClientPort! : this.spec.clientPort;
  }

  /** `<host>:<secureClientPort>` when the server has TLS, else null. */
  get secureAddress(): string | null {
    return this.spec.secureClientPort !== undefined && this.config.tls
      ? `${this.host}:${this.spec.secureClientPort}`
      : null;
  }

  /** Resolves when the JVM started last exits (at once when none runs). */
  whenExited(): Promise<void> {
    return this.exited;
  }

  /** How the harness talks four-letter words to this server: the plain port, else TLS. */
  private probeTarget(): { port: number; tls?: ConnectionOptions } {
    const tls = this.config.tls;
    return tls && !tls.plainPort
      ? { port: this.spec.secureClientPort!, tls: tls.probe }
      : { port: this.spec.clientPort };
  }

  /** The JVM's pid while running, else null. */
  get pid(): number | null {
    return this.javaPid;
  }

  /** True between start() and the JVM's exit. */
  get running(): boolean {
    return this.javaPid !== null;
  }

  /** The member's mode from `srvr`, or null when it does not serve. */
  mode(timeoutMs = 1000): Promise<ServerMode | null> {
    const t = this.probeTarget();
    return this.running ? serverMode(this.host, t.port, timeoutMs, t.tls) : Promise.resolve(null);
  }

  /**
   * Sends a four-letter word (`srvr`, `mntr`, `conf`, …) to this server, over TLS when it is
   * TLS-only. @throws Error when it does not answer within `timeoutMs`
   */
  fourLetterWord(command: string, timeoutMs = 1000): Promise<string> {
    const t = this.probeTarget();
    return fourLetterWord(this.host, t.port, command, timeoutMs, t.tls);
  }

  private async writeConfig(): Promise<string> {
    const dataDir = join(this.dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const c = this.config;
    const lines = [
      `tickTime=${c.tickTime}`,
      `initLimit=${c.initLimit}`,
      `syncLimit=${c.syncLimit}`,
      `dataDir=${dataDir}`,
      ...(c.tls && !c.tls.plainPort ? [] : [`clientPort=${this.spec.clientPort}`, `clientPortAddress=${this.host}`]),
      ...(c.tls
        ? [
            `secureClientPort=${this.spec.secureClientPort}`,
            `secureClientPortAddress=${this.host}`,
            'serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory',
            `ssl.keyStore.location=${c.tls.keyStoreFile}`,
            'ssl.keyStore.type=PEM',
            `ssl.trustStore.location=${c.tls.trustStoreFile}`,
            'ssl.trustStore.type=PEM',
            `ssl.clientAuth=${c.tls.clientAuth}`,
          ]
        : []),
      `4lw.commands.whitelist=*`,
      `admin.enableServer=false`,
      `maxClientCnxns=0`,
      `forceSync=${c.forceSync ? 'yes' : 'no'}`,
      `autopurge.purgeInterval=0`,
    ];
    if (c.members.length > 1) {
      for (const m of c.members)
        lines.push(`server.${m.id}=${m.host ?? '127.0.0.1'}:${m.quorumPort}:${m.electionPort}`);
      await writeFile(join(dataDir, 'myid'), `${this.spec.id}\n`);
    }
    for (const [k, v] of Object.entries(c.extra)) lines.push(`${k}=${v}`);
    const cfg = join(this.dir, 'zoo.cfg');
    await writeFile(cfg, lines.join('\n') + '\n');
    await writeFile(
      join(this.dir, 'log4j.properties'),
      [
        'log4j.rootLogger=INFO, FILE',
        'log4j.appender.FILE=org.apache.log4j.FileAppender',
        `log4j.appender.FILE.File=${join(this.dir, 'zookeeper.log')}`,
        'log4j.appender.FILE.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n',
        '',
      ].join('\n'),
    );
    return cfg;
  }

  /**
   * Starts the JVM (no-op when running). Does not wait for it to serve: see
   * {@link ZkServerProcess.waitForMode}.
   * @throws Error when ZooKeeper or java is not installed.
   */
  async start(): Promise<void> {
    if (this.running) return;
    const java = javaBinary();
    if (!java || !existsSync(join(JAVA_DIR, 'zookeeper.jar'))) {
      throw new Error(
        `ZooKeeper is not installed: need ${join(JAVA_DIR, 'zookeeper.jar')} and a java launcher ` +
          `(run scripts/setup.sh, or apt-get install zookeeper)`,
      );
    }
    const c = this.config;
    const ports: [number, string][] = [];
    if (!(c.tls && !c.tls.plainPort)) ports.push([this.spec.clientPort, `client port of member ${this.spec.id}`]);
    if (c.tls && this.spec.secureClientPort !== undefined)
      ports.push([this.spec.secureClientPort, `TLS client port of member ${this.spec.id}`]);
    if (c.members.length > 1) {
      ports.push([this.spec.quorumPort, `quorum port of member ${this.spec.id}`]);
      ports.push([this.spec.electionPort, `election port of member ${this.spec.id}`]);
    }
    // A busy port would make the JVM exit while another server answered our probes. (A member
    // in a host of its own has that host's ports to itself: nothing else runs there.)
    if (this.spec.netns === undefined) for (const [port, what] of ports) await checkPortFree(port, what);
    const cfg = await this.writeConfig();
    const classpath = [this.dir, ...CLASSPATH_JARS.map((j) => join(JAVA_DIR, j))].join(':');
    const args = [
      `-Dzkjobs.harness=${process.pid}`,
      // A run can mark its servers (e.g. CI) to find any that outlive it, and no one else's.
      `-Dzkjobs.tag=${process.env['ZKJOBS_HARNESS_TAG'] ?? 'none'}`,
      `-Dlog4j.configuration=file:${join(this.dir, 'log4j.properties')}`,
      `-Dzookeeper.log.dir=${this.dir}`,
      ...HARNESS_JVM_FLAGS,
      ...this.config.jvmFlags,
      '-cp',
      classpath,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      cfg,
    ];
    // Watchdog: java runs as the shell's child (so the shell reaps it and exits with it); a
    // subshell blocks on our pipe (fd 3) and SIGKILLs java when the pipe closes, i.e. when this
    // process is gone, however it died.
    const script =
      'exec 3<&0; "$@" </dev/null >/dev/null 2>&1 & pid=$!; echo $pid; ' +
      '(read _ignored <&3; kill -9 $pid 2>/dev/null) & wait $pid; exit 0';
    // In a network namespace: `ip netns exec <ns> java …` (it execs java, so $pid is java's).
    const command = this.spec.netns ? netnsCommand(this.spec.netns, java, args).flat() : [java, ...args];
    const child = spawn('/bin/sh', ['-c', script, 'zk-watchdog', ...command], {
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: false,
    });
    this.child = child;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const pid = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const line = buf.split('\n')[0];
        if (buf.includes('\n') && line) resolve(Number(line));
      });
      child.once('error', reject);
      void exited.then(() => reject(new Error('ZooKeeper watchdog exited before starting java')));
    });
    this.javaPid = pid;
    this.paused = false;
    live.add(this);
    installExitHook();
    this.exited = exited.then(() => {
      if (this.javaPid === pid) this.javaPid = null;
      live.delete(this);
      child.stdin?.end();
    });
  }

  /**
   * Waits until `srvr` reports a mode (the server accepts clients).
   * @param timeoutMs - default 30000
   * @throws Error naming the member and its log when the timeout passes.
   */
  async waitForMode(timeoutMs = 30_000): Promise<ServerMode> {
    const deadline = Date.now() + timeoutMs;
    let owned = false;
    for (;;) {
      const mode = await this.mode(500);
      if (mode && !owned) {
        // The server answering must be ours: its `conf` names our data directory.
        const conf = await this.fourLetterWord('conf', 1000).catch(() => '');
        const dataDir = /^dataDir=(.*)$/m.exec(conf)?.[1];
        if (dataDir !== undefined && dataDir.startsWith(join(this.dir, 'data'))) owned = true;
        else if (dataDir !== undefined || !this.running) {
          throw new Error(
            `another server answers on ${this.address} (its dataDir is ${dataDir ?? 'unknown'}), not ZooKeeper member ${this.spec.id}; ` +
              `see ${join(this.dir, 'zookeeper.log')}`,
          );
        }
      }
      if (mode && owned) return mode;
      if (!this.running)
        throw new Error(`ZooKeeper member ${this.spec.id} exited; see ${join(this.dir, 'zookeeper.log')}`);
      if (Date.now() > deadline) {
        throw new Error(
          `ZooKeeper member ${this.spec.id} (${this.address}) did not serve within ${timeoutMs} ms; see ${join(this.dir, 'zookeeper.log')}`,
        );
      }
      await sleep(100);
    }
  }

  /** Graceful stop: SIGTERM (after SIGCONT if paused), then SIGKILL after `graceMs` (default 5000). */
  async stop(graceMs = 5000): Promise<void> {
    const pid = this.javaPid;
    if (pid === null) return;
    if (this.paused) this.signal('SIGCONT');
    this.signal('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      this.signal('SIGKILL');
      await this.exited;
    }
  }

  /** SIGKILL: the server vanishes without a goodbye. Resolves when the process is gone. */
  async kill(): Promise<void> {
    if (this.javaPid === null) return;
    this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP: the process freezes; its sockets stay open but nothing answers. */
  pause(): void {
    this.signal('SIGSTOP');
    this.paused = true;
  }

  /** SIGCONT after {@link ZkServerProcess.pause}. */
  resume(): void {
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** Stops (or kills, when `hard`) and starts again on the same ports and data; waits until it serves. */
  async restart(opts: { hard?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (opts.hard) await this.kill();
    else await this.stop();
    await this.start();
    await this.waitForMode(opts.timeoutMs);
  }

  /** @internal synchronous last-resort kill, used on process exit. */
  killSync(): void {
    if (this.javaPid !== null) {
      try {
        process.kill(this.javaPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.javaPid === null) return;
    try {
      process.kill(this.javaPid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
