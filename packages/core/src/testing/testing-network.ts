import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where `ip` and `nft` are looked for besides `$PATH` (a non-root `$PATH` often lacks the sbin dirs). */
const SBIN_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

function findBinary(name: string): string | null {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), ...SBIN_DIRS]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The first three octets of every test network: `10.213.<n>.0/24`, `<n>` picked free per network. */
const NET_PREFIX = '10.213';
/** Host addresses start at `.<HOST_BASE + 1>`; `.1` is the controller (the process that made the network). */
const HOST_BASE = 10;
/** Hosts per network (addresses `.11`–`.250`). */
const MAX_HOSTS = 240;

/** One simulated machine: a network namespace with one interface (`eth0`) on the network's bridge. */
export interface NetworkHost {
  /** The name given at {@link TestingNetwork.create}, e.g. `zk1`. */
  readonly name: string;
  /** The Linux network namespace (`ip netns exec <netns> …`). */
  readonly netns: string;
  /** Its IPv4 address on the bridge (`10.213.<n>.<11…>`), the address its servers listen on. */
  readonly address: string;
}

/** Options of {@link TestingNetwork.create}. */
export interface TestingNetworkOptions {
  /**
   * Host names, in order: 1–{@link MAX_HOSTS} distinct names of 1–20 characters `[a-z0-9-]`. The
   * i-th host gets address `.<11 + i>`.
   */
  hosts: readonly string[];
  /**
   * Marks every namespace of this network (`zkj-<tag>-n<n>-<host>`), so that a run can find what
   * outlived it. @defaultValue `$ZKJOBS_HARNESS_TAG`, else `p<pid>`
   */
  tag?: string;
}

/** A host, or a host's name. */
export type HostRef = NetworkHost | string;

/**
 * Why this process cannot make a {@link TestingNetwork}, or null when it can: it needs Linux,
 * root (uid 0: namespaces, links and nftables rules are privileged), iproute2's `ip` and
 * nftables' `nft` (`scripts/setup.sh` installs it).
 * @param uid - the uid to judge (default: this process's)
 */
export function networkUnavailableReason(uid: number | undefined = process.getuid?.()): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (uid !== 0) return `creating network namespaces needs root (uid 0); this process runs as uid ${uid ?? 'unknown'}`;
  if (findBinary('ip') === null) return "iproute2's `ip` command is not installed";
  if (findBinary('nft') === null) return "nftables' `nft` command is not installed (scripts/setup.sh installs it)";
  return null;
}

/**
 * The command line that runs `command args…` inside `netns`: `ip netns exec <netns> command args…`.
 * `ip netns exec` joins the namespace and `exec`s the command, so the process keeps the pid of
 * the spawned child (signals sent to `child.pid` reach the command itself).
 */
export function netnsCommand(netns: string, command: string, args: readonly string[]): [string, string[]] {
  return [findBinary('ip') ?? 'ip', ['netns', 'exec', netns, command, ...args]];
}

function run(file: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 48);
}

/** The namespaces whose name starts with `prefix` (all of them: `ip netns list`). */
async function namespacesWith(prefix: string): Promise<string[]> {
  const ip = findBinary('ip');
  if (ip === null) return [];
  const out = await run(ip, ['netns', 'list']).catch(() => '');
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

// The watchdog: a shell that blocks on a pipe from this process. Once the network has claimed its
// subnet (the controller's link `zkjn<n>` exists: it is unique on the machine), this process sends
// `claim <prefix> <link>`; when the pipe closes (close(), or this process died however it died)
// the watchdog SIGKILLs every process inside the namespaces of that prefix, deletes them (the
// bridge and the veth pairs go with them) and the link, and exits. Without a claim it touches
// nothing: a prefix is only ever cleaned by the network that claimed it. It ignores the signals a
// terminal or a test runner sends a process group.
const WATCHDOG = [
  'trap "" INT TERM HUP',
  'ip="$1"; prefix=""; ctl=""',
  'echo ready',
  'while read -r cmd a b; do [ "$cmd" = claim ] && { prefix="$a"; ctl="$b"; }; done',
  '[ -n "$prefix" ] || exit 0',
  'list() { "$ip" netns list 2>/dev/null | while read -r ns _rest; do case "$ns" in "$prefix"*) echo "$ns";; esac; done; }',
  'for _round in 1 2 3; do',
  '  for ns in $(list); do "$ip" netns pids "$ns" 2>/dev/null | while read -r pid; do kill -9 "$pid" 2>/dev/null; done; done',
  '  for ns in $(list); do "$ip" netns del "$ns" 2>/dev/null; done',
  '  [ -z "$(list)" ] && break',
  '  sleep 0.2',
  'done',
  '"$ip" link del "$ctl" 2>/dev/null',
  'exit 0',
].join('\n');

/**
 * Hosts of their own on one machine: each {@link NetworkHost} is a Linux network namespace with
 * one veth interface on a bridge, all in the private range `10.213.<n>.0/24` (`<n>` is picked free
 * for each network, so networks of concurrent runs never share addresses). The bridge lives in a
 * namespace of its own (the "switch"); the process that made the network (the controller, the
 * test) reaches every host from `10.213.<n>.1` through one more veth pair. Nothing leaves the
 * machine: the subnet has no route anywhere else.
 *
 * Servers and workers start inside hosts with {@link TestingNetwork.spawn} (or
 * {@link netnsCommand}; `TestingCluster.start({ hosts })` places ZooKeeper members). Faults:
 * {@link TestingNetwork.partition} / {@link TestingNetwork.isolate} drop every IP packet between
 * two sets of hosts (nftables, bridge family, in the switch: TCP connections stay open and hear
 * nothing, like a real partition), {@link TestingNetwork.linkDown} takes a host's link down,
 * {@link TestingNetwork.heal} undoes all of it. The controller is never cut.
 *
 * Cleanup is not left to the caller: a `sh` watchdog holds a pipe from this process and, once it
 * closes — at {@link TestingNetwork.close}, or when this process dies, even by SIGKILL —
 * SIGKILLs every process inside the hosts and deletes the namespaces. Every namespace is named
 * `zkj-<tag>-n<n>-<host>` (tag: `$ZKJOBS_HARNESS_TAG`), so a CI run can find any it left.
 *
 * Needs root, `ip` (iproute2) and `nft` (nftables): see {@link networkUnavailableReason}.
 * `tc netem` (delay, loss) is not used: the kernels this runs on may lack `sch_netem`.
 */
export class TestingNetwork {
  private readonly byName = new Map<string, NetworkHost>();
  private readonly cutPairs = new Set<string>();
  private readonly downLinks = new Set<string>();
  private closed = false;

  private constructor(
    /** The hosts, in the order given. */
    readonly hosts: readonly NetworkHost[],
    /** `10.213.<n>.0/24`. */
    readonly subnet: string,
    /** The controller's address on the bridge, `10.213.<n>.1`. */
    readonly controllerAddress: string,
    /** Prefix of every namespace of this network, `zkj-<tag>-n<n>-`. */
    readonly prefix: string,
    private readonly switchNs: string,
    private readonly ip: string,
    private readonly nft: string,
    private readonly watchdog: ChildProcess,
    private readonly watchdogExited: Promise<void>,
  ) {
    for (const h of hosts) this.byName.set(h.name, h);
  }

  /**
   * Makes the bridge, the hosts and their links, and the controller's link; resolves when every
   * host is up.
   * @throws Error naming the reason when this process cannot ({@link networkUnavailableReason}),
   *   for bad host names, or when a command fails (the partial network is torn down first)
   */
  static async create(opts: TestingNetworkOptions): Promise<TestingNetwork> {
    const reason = networkUnavailableReason();
    if (reason !== null) throw new Error(`TestingNetwork: ${reason}`);
    const names = [...opts.hosts];
    if (names.length < 1 || names.length > MAX_HOSTS) throw new RangeError(`1–${MAX_HOSTS} hosts, got ${names.length}`);
    for (const n of names) {
      if (!/^[a-z0-9-]{1,20}$/.test(n)) throw new RangeError(`host name ${JSON.stringify(n)}: 1–20 of [a-z0-9-]`);
    }
    if (new Set(names).size !== names.length) throw new RangeError(`host names repeat: ${names.join(', ')}`);
    const ip = findBinary('ip')!;
    const nft = findBinary('nft')!;
    const tag = sanitize(opts.tag ?? process.env['ZKJOBS_HARNESS_TAG'] ?? `p${process.pid}`);

    // The controller's link in this namespace has a name unique on the machine (`zkjn<n>`): making
    // it is what claims `<n>` (and so the subnet and the namespace prefix). Only then is the
    // watchdog told what to clean up.
    const { child, exited } = await startWatchdog(ip);
    for (let attempt = 0; attempt < 64; attempt++) {
      const n = 1 + Math.floor(Math.random() * 254);
      const prefix = `zkj-${tag}-n${n}-`;
      const ctl = `zkjn${n}`;
      try {
        await run(ip, ['link', 'add', ctl, 'type', 'veth', 'peer', 'name', `zkjp${n}`]);
      } catch (err) {
        if (/exists/i.test(String(err))) continue; // another network has <n>: try another
        child.stdin?.end();
        await exited;
        throw err;
      }
      child.stdin!.write(`claim ${prefix} ${ctl}\n`);
      const network = new TestingNetwork(
        names.map((name, i) => ({
          name,
          netns: `${prefix}${name}`,
          address: `${NET_PREFIX}.${n}.${HOST_BASE + 1 + i}`,
        })),
        `${NET_PREFIX}.${n}.0/24`,
        `${NET_PREFIX}.${n}.1`,
        prefix,
        `${prefix}sw`,
        ip,
        nft,
        child,
        exited,
      );
      try {
        await network.build(ctl, `zkjp${n}`);
        return network;
      } catch (err) {
        await network.close();
        throw err;
      }
    }
    child.stdin?.end();
    await exited;
    throw new Error('TestingNetwork: no free 10.213.<n>.0/24 after 64 tries');
  }

  private async build(ctl: string, peer: string): Promise<void> {
    const { ip, switchNs } = this;
    const sw = (...args: string[]) => run(ip, ['-n', switchNs, ...args]);
    await run(ip, ['netns', 'add', switchNs]);
    await run(ip, ['link', 'set', peer, 'netns', switchNs]);
    await sw('link', 'set', 'lo', 'up');
    await sw('link', 'add', 'br0', 'type', 'bridge');
    await sw('link', 'set', 'br0', 'up');
    await sw('link', 'set', peer, 'master', 'br0', 'up');
    await run(ip, ['addr', 'add', `${this.controllerAddress}/24`, 'dev', ctl]);
    await run(ip, ['link', 'set', ctl, 'up']);
    for (const [i, h] of this.hosts.entries()) {
      await run(ip, ['netns', 'add', h.netns]);
      const port = `h${i}`;
      await sw('link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns);
      await sw('link', 'set', port, 'master', 'br0', 'up');
      const host = (...args: string[]) => run(ip, ['-n', h.netns, ...args]);
      await host('link', 'set', 'lo', 'up');
      await host('addr', 'add', `${h.address}/24`, 'dev', 'eth0');
      await host('link', 'set', 'eth0', 'up');
    }
    // Partitions: every IP packet whose (source, destination) pair is in @cut is dropped by the bridge.
    await this.nftBatch(
      [
        'table bridge zkjobs {',
        '  set cut { type ipv4_addr . ipv4_addr; }',
        '  chain forward { type filter hook forward priority 0; policy accept; ip saddr . ip daddr @cut drop; }',
        '}',
      ].join('\n'),
    );
  }

  private nftBatch(script: string): Promise<string> {
    return run(this.ip, ['netns', 'exec', this.switchNs, this.nft, '-f', '-'], script + '\n');
  }

  /**
   * A host by name (or the host itself).
   * @throws RangeError for a name this network does not have
   */
  host(ref: HostRef): NetworkHost {
    if (typeof ref !== 'string') return ref;
    const h = this.byName.get(ref);
    if (!h) throw new RangeError(`no host ${JSON.stringify(ref)} (hosts: ${[...this.byName.keys()].join(', ')})`);
    return h;
  }

  /**
   * Spawns `command args…` inside `host` (through `ip netns exec`, which execs: `child.pid` is the
   * command's pid). The process is SIGKILLed with the network if it is still running then.
   */
  spawn(host: HostRef, command: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    const [file, argv] = netnsCommand(this.host(host).netns, command, args);
    return spawn(file, argv, options);
  }

  /**
   * Runs `command args…` inside `host` to its end.
   * @returns its stdout
   * @throws Error with its stderr when it exits non-zero
   */
  exec(host: HostRef, command: string, args: readonly string[] = []): Promise<string> {
    const [file, argv] = netnsCommand(this.host(host).netns, command, args);
    return run(file, argv);
  }

  /**
   * Cuts every host of each group off from every host of every other group, both ways: their IP
   * packets are dropped silently (open TCP connections hear nothing; new ones time out). Hosts in
   * no group keep their links, and cuts add up until {@link heal}. The controller is never cut.
   * @param groups - two or more disjoint sets of hosts
   * @throws RangeError when a host is in two groups or a name is unknown
   */
  async partition(...groups: readonly HostRef[][]): Promise<void> {
    const sets = groups.map((g) => g.map((h) => this.host(h)));
    const seen = new Set<string>();
    for (const h of sets.flat()) {
      if (seen.has(h.name)) throw new RangeError(`host ${h.name} is in two groups`);
      seen.add(h.name);
    }
    const pairs: string[] = [];
    for (let i = 0; i < sets.length; i++) {
      for (let j = i + 1; j < sets.length; j++) {
        for (const a of sets[i]!) {
          for (const b of sets[j]!) pairs.push(`${a.address} . ${b.address}`, `${b.address} . ${a.address}`);
        }
      }
    }
    const fresh = pairs.filter((p) => !this.cutPairs.has(p));
    if (fresh.length === 0) return;
    await this.nftBatch(`add element bridge zkjobs cut { ${fresh.join(', ')} }`);
    for (const p of fresh) this.cutPairs.add(p);
  }

  /** Cuts `hosts` off from every other host of the network: {@link partition}(hosts, the rest). */
  isolate(hosts: readonly HostRef[]): Promise<void> {
    const inside = new Set(hosts.map((h) => this.host(h).name));
    return this.partition(
      [...inside],
      this.hosts.filter((h) => !inside.has(h.name)),
    );
  }

  /** True when packets from `a` to `b` are dropped by a {@link partition}. */
  isCut(a: HostRef, b: HostRef): boolean {
    return this.cutPairs.has(`${this.host(a).address} . ${this.host(b).address}`);
  }

  /**
   * Takes `host`'s link down at the bridge: it reaches no one (the controller neither), its
   * interface stays configured (no carrier). {@link linkUp} or {@link heal} brings it back.
   */
  async linkDown(host: HostRef): Promise<void> {
    const i = this.hosts.indexOf(this.host(host));
    await run(this.ip, ['-n', this.switchNs, 'link', 'set', `h${i}`, 'down']);
    this.downLinks.add(this.host(host).name);
  }

  /** Brings a link taken down by {@link linkDown} up again. */
  async linkUp(host: HostRef): Promise<void> {
    const h = this.host(host);
    const i = this.hosts.indexOf(h);
    await run(this.ip, ['-n', this.switchNs, 'link', 'set', `h${i}`, 'up']);
    this.downLinks.delete(h.name);
  }

  /** Removes every cut and brings every link up. */
  async heal(): Promise<void> {
    if (this.cutPairs.size > 0) {
      await this.nftBatch('flush set bridge zkjobs cut');
      this.cutPairs.clear();
    }
    for (const name of [...this.downLinks]) await this.linkUp(name);
  }

  /**
   * Tears the network down: SIGKILLs whatever still runs inside its hosts, deletes the namespaces
   * (with the bridge and every link). Resolves when the watchdog has done so. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.watchdog.stdin?.end();
    }
    await this.watchdogExited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * The namespaces of `tag`'s networks that exist now (`zkj-<tag>-…`), e.g. to check after a run
   * that none outlived it.
   * @param tag - @defaultValue `$ZKJOBS_HARNESS_TAG`, else `p<pid>`
   */
  static leftovers(tag: string = process.env['ZKJOBS_HARNESS_TAG'] ?? `p${process.pid}`): Promise<string[]> {
    return namespacesWith(`zkj-${sanitize(tag)}-`);
  }
}

async function startWatchdog(ip: string): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'zkjobs-net-watchdog', ip], {
    stdio: ['pipe', 'pipe', 'ignore'],
    // Its own process group: a Ctrl-C or a runner's group kill reaches the test, not the cleanup.
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('error', reject);
    void exited.then(() => reject(new Error('TestingNetwork: the watchdog exited before it was ready')));
  });
  // The pipe must not keep this process alive, nor the watchdog's stdout.
  child.stdout!.destroy();
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return { child, exited };
}
