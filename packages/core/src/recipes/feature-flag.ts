/**
 * A boolean feature flag at `<root>/<name>/enabled` (the talk's `/app/features/pymk/enabled`).
 * Every watcher sees every change that leaves the flag in a new state — including a watcher
 * that was disconnected when the change happened: it re-reads the flag when it reconnects (and
 * after a new session), since a watch cannot fire for a change made while it was cut off.
 * Built on the "Configuration" use of ZooKeeper's *Recipes and Solutions* page, like Curator's
 * `SharedValue`.
 *
 * Status: **stable**.
 *
 * Stored as the UTF-8 text `true` / `false`; reading also accepts `1`/`0`, `on`/`off`,
 * `yes`/`no` (any case); an empty or missing node reads as the flag's default.
 *
 * **Other libraries**: that text is all there is, so a Curator `SharedValue` or Kazoo's
 * `get` / `set` on `<root>/<name>/enabled` read and write the flag (interoperates).
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import type { ZkClient } from '../client/zk-client.js';
import type { WatchHandle } from '../client/watch.js';
import { NodeExistsError, NoNodeError } from '../errors.js';

/** Default parent of the flags. */
export const FEATURES_ROOT = '/app/features';

/** Options of {@link FeatureFlag}. */
export interface FeatureFlagOptions {
  /**
   * Parent path of the flags.
   * @defaultValue `/app/features`
   */
  root?: string;
  /**
   * Value while the node does not exist (or is empty).
   * @defaultValue false
   */
  defaultValue?: boolean;
}

/** Events of {@link FeatureFlag}. */
export interface FeatureFlagEvents {
  /** The flag changed (emitted once by `start` with the first value). */
  change: [enabled: boolean];
  /** Reading the flag failed with something other than connection loss (e.g. NoAuth); it is retried on the next event. */
  error: [err: Error];
}

/**
 * Parses a flag node's data: `true`/`1`/`on`/`yes` → true, `false`/`0`/`off`/`no` → false (any
 * case, surrounding white space ignored); `null`, empty or anything else → `defaultValue`.
 */
export function parseFlag(data: Buffer | null, defaultValue = false): boolean {
  if (data === null) return defaultValue;
  const s = data.toString('utf8').trim().toLowerCase();
  if (s === 'true' || s === '1' || s === 'on' || s === 'yes') return true;
  if (s === 'false' || s === '0' || s === 'off' || s === 'no') return false;
  return defaultValue;
}

/**
 * A watched feature flag.
 *
 * ```ts
 * await using pymk = new FeatureFlag(client, 'pymk');
 * await pymk.start();
 * pymk.on('change', (on) => console.log(`pymk ${on ? 'on' : 'off'}`));
 * await pymk.set(true); // reaches every watcher
 * ```
 */
export class FeatureFlag extends EventEmitter<FeatureFlagEvents> {
  /** The flag node: `<root>/<name>/enabled`. */
  readonly path: string;
  /** See {@link FeatureFlagOptions.defaultValue}. */
  readonly defaultValue: boolean;
  private value: boolean;
  private watch: WatchHandle | undefined;
  private state: 'new' | 'started' | 'closed' = 'new';
  private emitted: boolean | undefined;
  private seenMzxid: bigint | null = null;
  private readonly onReconnect = () => void this.reread();

  /**
   * @param client - a connected {@link ZkClient}
   * @param name - the flag's name (one path segment, e.g. `pymk`)
   * @param options - see {@link FeatureFlagOptions}
   * @throws RangeError for a name that is empty or contains `/`
   */
  constructor(
    readonly client: ZkClient,
    readonly name: string,
    options: FeatureFlagOptions = {},
  ) {
    super();
    if (name === '' || name.includes('/')) throw new RangeError(`invalid feature flag name ${JSON.stringify(name)}`);
    const root = options.root ?? FEATURES_ROOT;
    this.path = `${root === '/' ? '' : root}/${name}/enabled`;
    this.defaultValue = options.defaultValue ?? false;
    this.value = this.defaultValue;
  }

  /**
   * Reads the flag and starts watching it; resolves once the first value is known.
   * @throws Error when started twice or after close
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`FeatureFlag ${this.path} already ${this.state}`);
    this.state = 'started';
    this.client.on('reconnected', this.onReconnect);
    this.client.on('connected', this.onReconnect);
    await new Promise<void>((resolve) => {
      this.watch = this.client.watchData(
        this.path,
        (data, stat) => {
          this.update(parseFlag(data, this.defaultValue), stat?.mzxid ?? null);
          resolve();
        },
        { onError: (err) => this.listenerCount('error') > 0 && this.emit('error', err) },
      );
    });
  }

  /** Whether the flag is on (as last seen; call {@link start} first). */
  isEnabled(): boolean {
    return this.value;
  }

  /**
   * Reads the flag once from ZooKeeper (no watch).
   * @throws ZkError on failure
   */
  async read(): Promise<boolean> {
    try {
      return parseFlag((await this.client.getData(this.path)).data, this.defaultValue);
    } catch (err) {
      if (err instanceof NoNodeError) return this.defaultValue;
      throw err;
    }
  }

  /**
   * Turns the flag on or off for everyone, creating `<root>/<name>/enabled` and its parents
   * when missing (`mkdir -p`).
   * @throws ZkError on failure
   */
  async set(enabled: boolean): Promise<void> {
    const data = enabled ? 'true' : 'false';
    for (;;) {
      try {
        await this.client.setData(this.path, data);
        return;
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
      try {
        await this.client.create(this.path, { data, parents: true });
        return;
      } catch (err) {
        if (!(err instanceof NodeExistsError)) throw err;
      }
    }
  }

  /** Same as `set(true)`. */
  enable(): Promise<void> {
    return this.set(true);
  }

  /** Same as `set(false)`. */
  disable(): Promise<void> {
    return this.set(false);
  }

  /** Applies a value read at `mzxid` (`null`: node missing), unless a newer one was applied. */
  private update(v: boolean, mzxid: bigint | null): void {
    if (mzxid !== null && this.seenMzxid !== null && mzxid < this.seenMzxid) return;
    if (mzxid !== null) this.seenMzxid = mzxid;
    this.value = v;
    if (this.emitted !== v) {
      this.emitted = v;
      this.emit('change', v);
    }
  }

  /** After a reconnect: the data watch re-reads too; this makes sure, independently of it. */
  private async reread(): Promise<void> {
    if (this.state !== 'started') return;
    try {
      let v = this.defaultValue;
      let mzxid: bigint | null = null;
      try {
        const { data, stat } = await this.client.getData(this.path);
        v = parseFlag(data, this.defaultValue);
        mzxid = stat.mzxid;
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
      if (this.state === 'started') this.update(v, mzxid);
    } catch {
      // Connection trouble again: the next reconnect (or the data watch) reads it.
    }
  }

  /** Stops watching. Idempotent. */
  async close(): Promise<void> {
    this.state = 'closed';
    this.watch?.close();
    this.client.off('reconnected', this.onReconnect);
    this.client.off('connected', this.onReconnect);
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
