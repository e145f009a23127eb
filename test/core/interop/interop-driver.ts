/**
 * Contenders of three libraries — zkjobs, Apache Curator (Java) and Kazoo (Python) — each in its
 * own process, driven by one line protocol on stdin/stdout:
 *
 * | command                                   | reply                                   |
 * | ----------------------------------------- | --------------------------------------- |
 * | `mutex <path> [opts]`, `read …`, `write …` | `ok` (the lock object is made)          |
 * | `semaphore <path> <maxLeases>`            | `ok`                                    |
 * | `acquire [timeoutMs]`                     | `held` or `timeout`                     |
 * | `release`                                 | `released`                              |
 * | `lead <path> [opts]`                      | `leader` once this participant leads    |
 * | `resign`                                  | `resigned`                              |
 * | `register …`, `query <base> <name>`       | `registered`, `instances <json>` (Java) |
 * | `shared <path> <seed>`, `get`, `set <b64>` | `value <b64>`, `ok` (Java, zkjobs)     |
 * | `get <path>`, `set <path> <b64>`, `watch <path>` | `value <b64>`, `ok` (Kazoo)      |
 *
 * Any command may answer `error <text>`. `changed <b64>` lines (value watches) come at any time
 * and are kept apart. Every driver appends `enter <id> <what>` to a shared ledger file after it
 * acquires (or leads) and `exit <id> <what>` before it releases (or resigns), each line one
 * `O_APPEND` write: the file's order is the order in which these things happened.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const DRIVERS = fileURLToPath(new URL('./drivers/', import.meta.url));
const SHARE = process.env['ZK_CLASSPATH_DIR'] ?? '/usr/share/java';

/** The Debian packages the Curator driver needs, and the jars it takes from each. */
const JARS: Record<string, string[]> = {
  'libcurator-client-java': ['curator-client.jar'],
  'libcurator-framework-java': ['curator-framework.jar'],
  'libcurator-recipes-java': ['curator-recipes.jar'],
  'libcurator-discovery-java': ['curator-x-discovery.jar'],
  'libzookeeper-java': ['zookeeper.jar', 'zookeeper-jute.jar'],
  'libguava-java': ['guava.jar'],
  'libslf4j-java': ['slf4j-api.jar', 'slf4j-nop.jar'],
  'libjackson2-core-java': ['jackson-core.jar'],
  'libjackson2-databind-java': ['jackson-databind.jar'],
  'libjackson2-annotations-java': ['jackson-annotations.jar'],
};

const SETUP_HINT =
  'run scripts/setup.sh (as root: it apt-installs libcurator-recipes-java, libcurator-discovery-java, default-jdk-headless, python3-kazoo)';

/**
 * The Curator driver's classpath: the jars of Debian's Curator 5.4 packages, found with
 * `dpkg -L`. @throws Error naming what is missing
 */
export function curatorClasspath(): string {
  const jars: string[] = [];
  for (const [pkg, names] of Object.entries(JARS)) {
    const listed = spawnSync('dpkg', ['-L', pkg], { encoding: 'utf8' });
    const files = listed.status === 0 ? listed.stdout.split('\n') : [];
    for (const name of names) {
      const jar = files.find((f) => f === join(SHARE, name)) ?? join(SHARE, name);
      if (!existsSync(jar)) throw new Error(`Curator driver: ${jar} (package ${pkg}) is missing; ${SETUP_HINT}`);
      jars.push(jar);
    }
  }
  return jars.join(':');
}

let compiled: string | null = null;

/**
 * Compiles `drivers/CuratorDriver.java` with `javac` into a cache directory keyed by the
 * source's hash (once per source version), and returns the `java` arguments before the driver's own.
 * @throws Error when javac is missing or the compile fails
 */
export function curatorCommand(): string[] {
  const cp = curatorClasspath();
  if (compiled === null) {
    const source = join(DRIVERS, 'CuratorDriver.java');
    const hash = createHash('sha256').update(readFileSync(source)).update(cp).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), `zkjobs-interop-java-${hash}`);
    if (!existsSync(join(dir, 'CuratorDriver.class'))) {
      const tmp = `${dir}.${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      const r = spawnSync('javac', ['-nowarn', '-cp', cp, '-d', tmp, source], { encoding: 'utf8' });
      if (r.error) throw new Error(`Curator driver: cannot run javac (${r.error.message}); ${SETUP_HINT}`);
      if (r.status !== 0) throw new Error(`Curator driver: javac failed:\n${r.stderr}`);
      try {
        renameSync(tmp, dir);
      } catch {
        rmSync(tmp, { recursive: true, force: true }); // another test file compiled it meanwhile
      }
    }
    compiled = dir;
  }
  return ['-Xss512k', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', `${cp}:${compiled}`, 'CuratorDriver'];
}

/** Debian's Python, which has `python3-kazoo`. */
export const PYTHON = '/usr/bin/python3';

let kazooChecked = false;

/** @throws Error when Debian's python3 cannot import kazoo */
export function checkKazoo(): void {
  if (kazooChecked) return;
  const r = spawnSync(PYTHON, ['-c', 'import kazoo, sys; sys.stdout.write(kazoo.__file__)'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`Kazoo driver: ${PYTHON} cannot import kazoo; ${SETUP_HINT}\n${r.stderr ?? ''}`);
  kazooChecked = true;
}

/** The library a driver runs. */
export type Library = 'zkjobs' | 'curator' | 'kazoo';

/** A contender process. */
export class Driver {
  /** Lines other than replies: `changed <b64>` from value watches. */
  readonly changes: string[] = [];
  readonly stderr: string[] = [];
  exited = false;
  private readonly replies: string[] = [];
  private wake: (() => void) | null = null;

  private constructor(
    readonly lib: Library,
    readonly id: string,
    readonly proc: ChildProcess,
  ) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('changed ')) this.changes.push(line.slice('changed '.length));
      else this.replies.push(line);
      this.wake?.();
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      if (this.stderr.length < 200) this.stderr.push(line);
    });
    proc.on('exit', () => {
      this.exited = true;
      this.wake?.();
    });
  }

  /**
   * Starts a driver and waits for its `ready`.
   * @param connect - the shared server's connect string
   * @param namespace - the test file's namespace (a chroot for Curator and Kazoo)
   * @param ledger - the ledger file
   */
  static async start(lib: Library, id: string, connect: string, namespace: string, ledger: string): Promise<Driver> {
    const chroot = connect
      .split(',')
      .map((h, i, all) => (i === all.length - 1 ? `${h}${namespace}` : h))
      .join(',');
    let proc: ChildProcess;
    if (lib === 'zkjobs') {
      proc = spawn(process.execPath, [join(DRIVERS, 'zkjobs-driver.mjs'), connect, namespace, ledger, id], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } else if (lib === 'curator') {
      proc = spawn('java', [...curatorCommand(), chroot, ledger, id], { stdio: ['pipe', 'pipe', 'pipe'] });
    } else {
      checkKazoo();
      proc = spawn(PYTHON, ['-u', join(DRIVERS, 'kazoo_driver.py'), chroot, ledger, id], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    }
    const d = new Driver(lib, id, proc);
    const first = await d.reply(60_000);
    if (first !== 'ready') throw new Error(`${lib} driver ${id}: expected 'ready', got ${first}`);
    return d;
  }

  /** Sends a command without waiting. */
  send(command: string): void {
    this.proc.stdin!.write(command + '\n');
  }

  /** Sends a command and returns its reply. @throws Error on an `error` reply */
  async call(command: string, timeoutMs = 60_000): Promise<string> {
    this.send(command);
    const r = await this.reply(timeoutMs);
    if (r.startsWith('error')) throw new Error(`${this.lib} driver ${this.id}: ${command} -> ${r}`);
    return r;
  }

  /** The next reply line. @throws Error when the process exits first or after `timeoutMs` */
  async reply(timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.shift();
      if (r !== undefined) return r;
      if (this.exited) throw new Error(`${this.lib} driver ${this.id} exited; stderr:\n${this.stderr.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.lib} driver ${this.id}: no reply in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /** Waits until a `changed` line equal to `b64` has come. */
  async waitChange(b64: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.changes.includes(b64)) {
      if (this.exited || Date.now() > deadline)
        throw new Error(`${this.lib} driver ${this.id}: no change to ${b64}; saw [${this.changes.join(', ')}]`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILLs the process and waits for it to exit. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await exited;
  }

  /** Asks the driver to close its client and exit; kills it if it does not. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.send('quit');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/** One line of the ledger. */
export interface LedgerEntry {
  what: 'enter' | 'exit';
  id: string;
  kind: string;
}

/** The shared ledger file of a test. */
export class Ledger {
  constructor(readonly file: string) {}

  /** Appends a line (the test's own: e.g. the exit of a process it killed). */
  append(what: 'enter' | 'exit', id: string, kind: string): void {
    appendFileSync(this.file, `${what} ${id} ${kind}\n`);
  }

  entries(): LedgerEntry[] {
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [what, id, kind] = l.split(' ');
        return { what: what as 'enter' | 'exit', id: id!, kind: kind! };
      });
  }

  /**
   * Replays the ledger and returns every moment that breaks `ok` (given the holders after each
   * line, by kind), plus the number of entries and the largest number of holders at once.
   */
  check(ok: (holders: Map<string, string>) => boolean): { violations: string[]; enters: number; maxHolders: number } {
    const holders = new Map<string, string>();
    const violations: string[] = [];
    let enters = 0;
    let maxHolders = 0;
    for (const [i, e] of this.entries().entries()) {
      if (e.what === 'enter') {
        if (holders.has(e.id)) violations.push(`line ${i + 1}: ${e.id} entered twice`);
        holders.set(e.id, e.kind);
        enters++;
      } else {
        if (!holders.has(e.id)) violations.push(`line ${i + 1}: ${e.id} left without entering`);
        holders.delete(e.id);
      }
      maxHolders = Math.max(maxHolders, holders.size);
      if (!ok(holders))
        violations.push(`line ${i + 1}: held at once by ${[...holders].map(([id, k]) => `${id} (${k})`).join(', ')}`);
    }
    return { violations, enters, maxHolders };
  }
}
