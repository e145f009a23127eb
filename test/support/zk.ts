import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, inject, it } from 'vitest';
import type { WatchEvent, Watcher, ZkClient } from '@zkjobs/core';
import { fourLetterWord, opensslInstalled, zookeeperInstalled } from '@zkjobs/core/testing';

/** Connect string of the run's shared ZooKeeper server. */
export const zkConnect: string = inject('zkConnect');

/** True when this machine can start its own servers (TestingServer / TestingCluster). */
export const canStartServers: boolean = zookeeperInstalled();

/**
 * Why this machine cannot start its own servers (null when it can). Mirrors the checks of
 * `zookeeperInstalled()` in `@zkjobs/core/testing`: the server jar in `$ZK_CLASSPATH_DIR`
 * (default `/usr/share/java`, where Debian's `zookeeper` package puts it) and a `java` launcher
 * in `$JAVA_HOME/bin` or on `$PATH`.
 */
export const serversUnavailableReason: string | null = canStartServers ? null : unavailableReason();

function unavailableReason(): string {
  const jar = join(process.env['ZK_CLASSPATH_DIR'] ?? '/usr/share/java', 'zookeeper.jar');
  const home = process.env['JAVA_HOME'];
  const java =
    (home !== undefined && existsSync(join(home, 'bin', 'java'))) ||
    (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'java')));
  const missing = [...(existsSync(jar) ? [] : [`no ${jar}`]), ...(java ? [] : ['no java on $PATH or in $JAVA_HOME'])];
  return (
    `ZooKeeper cannot be started here (${missing.join(', ') || 'zookeeperInstalled() is false'}); ` +
    'ZK_CONNECT runs only the tests that use the shared server (scripts/setup.sh installs ZooKeeper)'
  );
}

/** In CI a test that cannot run is a broken set-up (CI always has ZooKeeper installed), not a skip. */
const inCI = Boolean(process.env['CI']);

function cannotRunInCI(name: string, reason: string): () => never {
  return () => {
    throw new Error(`${name}: ${reason}. CI installs everything the suite needs: this is a broken set-up, not a skip.`);
  };
}

/**
 * `describe(name, fn)` for a suite that needs something the machine may lack: `reason` says what
 * is missing (null when nothing is). Skipped with the reason in its name — or, in CI, replaced by
 * one failing test saying why.
 */
export function describeNeeding(reason: string | null, name: string, fn: () => void): void {
  if (reason === null) describe(name, fn);
  else if (inCI) describe(name, () => it(`cannot run: ${reason}`, cannotRunInCI(name, reason)));
  else describe.skip(`${name} — skipped: ${reason}`, fn);
}

/** Why the TLS tests cannot run (null when openssl is there). */
export const opensslUnavailableReason: string | null = opensslInstalled()
  ? null
  : 'openssl is not installed (scripts/setup.sh installs it; the TLS tests make their certificates with it)';

/**
 * `describe(name, fn)` for a suite that starts its own ZooKeeper servers (TestingServer,
 * TestingCluster, `zkjobs server start`). Where servers cannot be started the suite is skipped
 * with the reason in its name — or, in CI, replaced by one failing test saying why.
 */
export function describeWithServers(name: string, fn: () => void): void {
  describeNeeding(serversUnavailableReason, name, fn);
}

/** `it(name, fn, timeoutMs)` for one test that starts its own servers; see {@link describeWithServers}. */
export function itWithServers(name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  const reason = serversUnavailableReason;
  if (reason === null) it(name, fn, timeoutMs);
  else if (inCI) it(`${name} — cannot run: ${reason}`, cannotRunInCI(name, reason));
  else it.skip(`${name} — skipped: ${reason}`, fn);
}

/**
 * A namespace (root path) unique to one test file and run: `/t/<file>-<random>`.
 * @param file - usually `import.meta.filename`
 */
export function fileNamespace(file: string): string {
  const name = basename(file)
    .replace(/\.test\.ts$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
  return `/t/${name}-${randomBytes(4).toString('hex')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Resolves with `promise`'s value, or rejects once `timeoutMs` has passed without it settling.
 * For waits on an event with a generous deadline: it fails only if the thing never happens.
 */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until `read(client)` is true for every client, each polled through its own session.
 *
 * ZooKeeper delivers a watch event to a client before that client's reply to any later read
 * that shows the change which triggered it (and this client dispatches watch events
 * synchronously, as they arrive). So once every client has read a change, every notification
 * the change caused has been delivered to all of them: counts of watch deliveries taken after
 * this are final for that change — no sleep needed to let stray notifications arrive.
 */
export async function seenByEach(
  clients: readonly ZkClient[],
  read: (client: ZkClient) => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  await Promise.all(clients.map((c) => waitFor(() => read(c), timeoutMs, 10, `${what} (session ${c.sessionIdHex})`)));
}

/** A read that armed a watch (see {@link recordWatches}). */
export interface ArmedWatch {
  op: 'exists' | 'getData' | 'getChildren';
  /** As passed to the client (relative to its namespace). */
  path: string;
  /** The read found the node (`exists` returned a stat; the others succeeded). */
  found: boolean;
  /** Events delivered to this watch so far. */
  events: WatchEvent[];
}

/**
 * Records every `exists` / `getData` / `getChildren` call made through `client` with a watch,
 * once its reply is in (the watch is then armed on the server), and the events delivered to it.
 * This is how a test sees that a recipe is *waiting* — it looked, and sits on a watch — instead
 * of sleeping and hoping it got that far. Each watcher function keeps one wrapper, so the
 * client's de-duplication of a watcher re-armed on the same path is unchanged.
 */
export function recordWatches(client: ZkClient): { armed: ArmedWatch[]; restore(): void } {
  const armed: ArmedWatch[] = [];
  const wrappers = new WeakMap<Watcher, { watcher: Watcher; current: ArmedWatch[] }>();
  const wrap = (watch: Watcher): { watcher: Watcher; current: ArmedWatch[] } => {
    let w = wrappers.get(watch);
    if (!w) {
      const entry: { watcher: Watcher; current: ArmedWatch[] } = {
        current: [],
        watcher: (e) => {
          // One wrapper may be armed on several paths (as the watcher it wraps): each fires alone.
          const fired = entry.current.filter((a) => a.path === e.path);
          entry.current = entry.current.filter((a) => a.path !== e.path);
          for (const a of fired) a.events.push(e);
          watch(e);
        },
      };
      wrappers.set(watch, (w = entry));
    }
    return w;
  };
  const originals = { exists: client.exists, getData: client.getData, getChildren: client.getChildren };
  const record = <R>(
    op: ArmedWatch['op'],
    call: (opts: { watch?: Watcher }) => Promise<R>,
    path: string,
    watch: Watcher | undefined,
    found: (r: R) => boolean,
  ): Promise<R> => {
    if (!watch) return call({});
    const w = wrap(watch);
    return call({ watch: w.watcher }).then((r) => {
      const a: ArmedWatch = { op, path, found: found(r), events: [] };
      armed.push(a);
      w.current.push(a);
      return r;
    });
  };
  client.exists = (path, opts = {}) =>
    record(
      'exists',
      (o) => originals.exists.call(client, path, o),
      path,
      opts.watch,
      (r) => r !== null,
    );
  client.getData = (path, opts = {}) =>
    record(
      'getData',
      (o) => originals.getData.call(client, path, o),
      path,
      opts.watch,
      () => true,
    );
  client.getChildren = (path, opts = {}) =>
    record(
      'getChildren',
      (o) => originals.getChildren.call(client, path, o),
      path,
      opts.watch,
      () => true,
    );
  return {
    armed,
    restore: () => Object.assign(client, originals),
  };
}

/** Polls `predicate` every `intervalMs` until it is truthy or `timeoutMs` passes. */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 25,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * The paths of the data watches the server holds for a session (`wchc`: per session, its
 * watched paths, each on a tab-indented line; ZooKeeper 3.8 lists data and exists watches only).
 */
export async function serverWatches(client: ZkClient): Promise<string[]> {
  const first = zkConnect.split(',')[0]!;
  const host = first.slice(0, first.lastIndexOf(':'));
  const port = Number(first.slice(first.lastIndexOf(':') + 1));
  // Every request sent before this round trip has been served (a session's requests are served in order).
  await client.exists('/');
  const out = await fourLetterWord(host, port, 'wchc', 5000);
  const paths: string[] = [];
  let mine = false;
  for (const line of out.split('\n')) {
    if (/^0x[0-9a-f]+/i.test(line)) mine = BigInt(line.trim()) === client.sessionId;
    else if (mine && line.startsWith('\t')) paths.push(line.trim());
  }
  return paths;
}
