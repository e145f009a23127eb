/**
 * A name service: an instance of a service registers itself as an ephemeral znode
 * `<path>/<service>/<id>` holding JSON `{ name, id, host, port, payload, registeredAt }` (the
 * talk's `/servers/cache/c6` with its host and port), and clients query or watch the live
 * instances. Follows the "Name Service" use of ZooKeeper, with the API of Curator's
 * `ServiceDiscovery` / `ServiceCache`:
 *
 * Status: **beta**.
 *
 * - A registration is re-created after the session is lost (and checked after every
 *   reconnect). A node left by our own previous session (the server may not have expired it
 *   yet) is deleted and re-created, never adopted; a node of the same id held by another
 *   session is replaced, as Curator does (the newest registration of an id wins), unless
 *   `replace: false` is given, which refuses instead.
 * - A registrant whose node is taken over or deleted by someone else while its session lives
 *   is told (`displaced`, from an exists watch on its own node and the re-check after every
 *   reconnect) and stops re-registering that instance, so two registrants never fight over an id.
 * - Queries and watches tolerate instances that vanish between listing and reading, and
 *   skip nodes whose data is not an instance. A watch never throws to its listener; it settles
 *   on the live set once the churn stops.
 *
 * **Curator x-discovery.** The path layout `<path>/<service>/<id>` is Curator's. With
 * `format: 'curator'` an instance is written as Curator's `JsonInstanceSerializer` writes a
 * `ServiceInstance` (its default, compatible form): `{name, id, address, port, sslPort,
 * payload, registrationTimeUTC, serviceType: "DYNAMIC", uriSpec}`, so a Java
 * `ServiceDiscovery` (`ServiceDiscoveryBuilder…basePath(path)`) finds it. Both forms are read
 * whatever the option: a Curator instance reads as `host` = `address`, `registeredAt` =
 * `registrationTimeUTC`, with `sslPort`, `serviceType`, `uriSpec` and `enabled` kept in
 * {@link ServiceInstance.curator}. A Java payload keeps Jackson's `"@class"` member (Curator
 * types it with `@JsonTypeInfo(use = CLASS)`); one written here without it reads in Java as a
 * `Map`, `List`, `String`, number or boolean. Kazoo has no service discovery.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { ZkClient } from '../client/zk-client.js';
import { isConnectedState } from '../client/connection-state.js';
import type { WatchEvent, WatchHandle, Watcher } from '../client/watch.js';
import { NodeExistsError, NoNodeError } from '../errors.js';
import { deleteRetrying } from './barrier.js';
import { ensureEphemeral, SerialRunner } from './group-member.js';

/** What {@link ServiceDiscovery.register} takes. */
export interface ServiceInstanceSpec<P = unknown> {
  /** The service's name (one path segment, e.g. `cache`). */
  name: string;
  /**
   * The instance's id (one path segment, e.g. `c6`), unique within the service.
   * @defaultValue a random UUID
   */
  id?: string;
  /** Host name or address clients connect to. */
  host: string;
  /** TCP port clients connect to (0–65535). */
  port: number;
  /** Anything JSON-serializable that clients should know (weights, zone, version, …). */
  payload?: P;
}

/** A registered instance, as stored (JSON) in its znode. */
export interface ServiceInstance<P = unknown> {
  /** The service's name. */
  name: string;
  /** The instance's id. */
  id: string;
  /** Host name or address. */
  host: string;
  /** TCP port. */
  port: number;
  /** The payload given at registration, if any. */
  payload?: P;
  /** When the instance registered (ms since the epoch, the registering host's clock). */
  registeredAt: number;
  /** Present when the node is in Curator's form: its fields that zkjobs has no name for. */
  curator?: CuratorInstanceFields;
}

/** The fields of Curator x-discovery's `ServiceInstance` JSON that {@link ServiceInstance} has no name for. */
export interface CuratorInstanceFields {
  /** TLS port, or `null`. */
  sslPort: number | null;
  /** `DYNAMIC` (ephemeral), `STATIC`, `PERMANENT` or `DYNAMIC_SEQUENTIAL`. */
  serviceType: string;
  /** Curator's `UriSpec` (`{parts: [{value, variable}]}`), or `null`. */
  uriSpec: unknown;
  /** Curator's `enabled` flag, when the node has one (absent in its compatible form). */
  enabled?: boolean;
}

/** The JSON forms of an instance node: zkjobs's own, or Curator x-discovery's `ServiceInstance`. */
export type ServiceInstanceFormat = 'zkjobs' | 'curator';

/** Options of {@link ServiceDiscovery}. */
export interface ServiceDiscoveryOptions {
  /**
   * What {@link ServiceDiscovery.register} (and the re-registration after a new session) does
   * when the instance's node is held by another live session: `true` replaces it (Curator's
   * behaviour: the newest registration of an id wins, and the displaced registrant hears
   * `displaced`); `false` refuses with {@link NodeExistsError} (and a refused re-registration
   * is reported as `displaced`).
   * @defaultValue true
   */
  replace?: boolean;
  /**
   * The JSON an instance is written in: `'zkjobs'` (`{name, id, host, port, payload,
   * registeredAt}`) or `'curator'` (Curator x-discovery's `ServiceInstance`, for Java clients).
   * Reading accepts both.
   * @defaultValue `'zkjobs'`
   */
  format?: ServiceInstanceFormat;
}

/** Why an instance is no longer this object's: see the `displaced` event. */
export interface Displacement {
  /** The instance that was registered here. */
  instance: ServiceInstance;
  /** Its node's path. */
  path: string;
  /**
   * The session that now holds the node, or `null` when the node was deleted (by another
   * client: our own session was still alive).
   */
  by: bigint | null;
}

/** Events of {@link ServiceDiscovery}. */
export interface ServiceDiscoveryEvents {
  /** A background re-registration failed; it is retried every 500 ms until it succeeds or the instance is unregistered. */
  error: [err: Error];
  /** An instance was registered again after the session was lost. */
  reregistered: [instance: ServiceInstance];
  /**
   * An instance's node was taken over by another session (which registered the same id) or
   * deleted by another client while this session was alive; or, with `replace: false`, another
   * session holds it when it is re-registered. The instance is no longer re-registered here,
   * and {@link ServiceDiscovery.unregister} / {@link ServiceDiscovery.close} leave the node alone.
   */
  displaced: [event: Displacement];
}

/** Events of {@link ServiceCache}. */
export interface ServiceCacheEvents<P = unknown> {
  /** The live instances changed (sorted by id). */
  change: [instances: ServiceInstance<P>[]];
  /** A refresh failed; it is retried. Listening is optional: without a listener nothing is thrown. */
  error: [err: Error];
}

function checkSegment(kind: string, s: string): void {
  if (typeof s !== 'string' || s === '' || s.includes('/') || s === '.' || s === '..') {
    throw new RangeError(`invalid ${kind} ${JSON.stringify(s)}: must be one non-empty path segment`);
  }
}

/**
 * Parses an instance node's data, in zkjobs's form or Curator x-discovery's; `null` when it is
 * not an instance (a Curator instance needs `name`, `id`, `address` and a numeric `port`).
 */
export function parseServiceInstance<P = unknown>(data: Buffer): ServiceInstance<P> | null {
  try {
    const v = JSON.parse(data.toString('utf8')) as Partial<ServiceInstance<P>> | null;
    if (v === null || typeof v !== 'object') return null;
    if (!('host' in v) && 'address' in v) return parseCuratorInstance<P>(v as Record<string, unknown>);
    if (typeof v.host !== 'string' || typeof v.port !== 'number') return null;
    if (typeof v.name !== 'string' || typeof v.id !== 'string') return null;
    return { ...v, registeredAt: typeof v.registeredAt === 'number' ? v.registeredAt : 0 } as ServiceInstance<P>;
  } catch {
    return null;
  }
}

function parseCuratorInstance<P>(v: Record<string, unknown>): ServiceInstance<P> | null {
  const { name, id, address, port } = v;
  if (typeof name !== 'string' || typeof id !== 'string' || typeof address !== 'string') return null;
  if (typeof port !== 'number') return null;
  const curator: CuratorInstanceFields = {
    sslPort: typeof v['sslPort'] === 'number' ? v['sslPort'] : null,
    serviceType: typeof v['serviceType'] === 'string' ? v['serviceType'] : 'DYNAMIC',
    uriSpec: v['uriSpec'] ?? null,
  };
  if (typeof v['enabled'] === 'boolean') curator.enabled = v['enabled'];
  const instance: ServiceInstance<P> = {
    name,
    id,
    host: address,
    port,
    registeredAt: typeof v['registrationTimeUTC'] === 'number' ? v['registrationTimeUTC'] : 0,
    curator,
  };
  if (v['payload'] !== undefined && v['payload'] !== null) instance.payload = v['payload'] as P;
  return instance;
}

/**
 * An instance as JSON in the given form. Curator's is the field order and the members of its
 * `JsonInstanceSerializer` in compatible mode (`OldServiceInstance`).
 */
export function serializeServiceInstance(instance: ServiceInstance, format: ServiceInstanceFormat): Buffer {
  if (format === 'zkjobs') {
    const { curator: _curator, ...own } = instance;
    return Buffer.from(JSON.stringify(own), 'utf8');
  }
  const c = instance.curator;
  return Buffer.from(
    JSON.stringify({
      name: instance.name,
      id: instance.id,
      address: instance.host,
      port: instance.port,
      sslPort: c?.sslPort ?? null,
      payload: instance.payload ?? null,
      registrationTimeUTC: instance.registeredAt,
      serviceType: 'DYNAMIC',
      uriSpec: c?.uriSpec ?? null,
    }),
    'utf8',
  );
}

interface Registration {
  instance: ServiceInstance;
  data: Buffer;
  ownerSession: bigint | null;
  /** The exists watch on the node (one function per registration, so ZooKeeper keeps it once). */
  watcher: Watcher;
}

/**
 * Service registration and lookup under `path` (e.g. `/servers`).
 *
 * ```ts
 * await using discovery = new ServiceDiscovery(client, '/servers');
 * await discovery.register({ name: 'cache', id: 'c6', host: '10.0.0.6', port: 11211 });
 * const caches = await discovery.queryInstances('cache');
 * const cache = await discovery.watch('cache');
 * cache.on('change', (list) => rebalance(list));
 * ```
 */
export class ServiceDiscovery extends EventEmitter<ServiceDiscoveryEvents> {
  private readonly registrations = new Map<string, Registration>();
  private readonly caches = new Set<ServiceCache>();
  private readonly reregister: SerialRunner;
  private closed = false;
  private readonly replace: boolean;
  private readonly format: ServiceInstanceFormat;
  private readonly onSession = () => void this.reregister.run();

  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the root of the services (relative to the client's namespace), e.g. `/servers`
   * @param options - see {@link ServiceDiscoveryOptions}
   * @throws RangeError for a `format` other than `'zkjobs'` or `'curator'`
   */
  constructor(
    readonly client: ZkClient,
    readonly path: string,
    options: ServiceDiscoveryOptions = {},
  ) {
    super();
    this.replace = options.replace ?? true;
    this.format = options.format ?? 'zkjobs';
    if (this.format !== 'zkjobs' && this.format !== 'curator')
      throw new RangeError(`invalid ServiceDiscovery format ${JSON.stringify(this.format)}: 'zkjobs' or 'curator'`);
    this.reregister = new SerialRunner(
      () => this.ensureAll(),
      (err) => {
        if (!this.closed && this.listenerCount('error') > 0) {
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      },
      500,
    );
    client.on('session', this.onSession);
    client.on('reconnected', this.onSession);
  }

  /** Path of a service's node. */
  servicePath(name: string): string {
    checkSegment('service name', name);
    return `${this.path}/${name}`;
  }

  /** Path of an instance's node. */
  instancePath(name: string, id: string): string {
    checkSegment('instance id', id);
    return `${this.servicePath(name)}/${id}`;
  }

  /**
   * Registers an instance: an ephemeral znode `<path>/<name>/<id>` with its JSON, re-created
   * after a session loss until {@link unregister} or {@link close}. Registering the same
   * name and id again replaces the instance's data. A node of the same id held by another live
   * session is replaced (that registrant hears `displaced`), or refused with `replace: false`.
   * @returns the instance as stored
   * @throws RangeError for a bad name, id, host or port; BadArgumentsError when the JSON is over ~1 MiB;
   *   NodeExistsError with `replace: false` when another live session holds the id; ZkError on failures
   */
  async register<P>(spec: ServiceInstanceSpec<P>): Promise<ServiceInstance<P>> {
    if (this.closed) throw new Error('ServiceDiscovery is closed');
    const id = spec.id ?? randomUUID();
    const path = this.instancePath(spec.name, id);
    if (typeof spec.host !== 'string' || spec.host === '') throw new RangeError('host must be a non-empty string');
    if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535)
      throw new RangeError(`invalid port ${spec.port}`);
    const instance: ServiceInstance<P> = {
      name: spec.name,
      id,
      host: spec.host,
      port: spec.port,
      registeredAt: Date.now(),
    };
    if (spec.payload !== undefined) instance.payload = spec.payload;
    if (this.format === 'curator') instance.curator = { sslPort: null, serviceType: 'DYNAMIC', uriSpec: null };
    const data = serializeServiceInstance(instance, this.format);
    const prev = this.registrations.get(path);
    const reg: Registration = {
      instance,
      data,
      ownerSession: prev?.ownerSession ?? null,
      watcher: (e) => this.onNodeEvent(path, reg, e),
    };
    this.registrations.set(path, reg);
    const stale = reg.ownerSession !== null && reg.ownerSession !== this.client.sessionId ? reg.ownerSession : null;
    try {
      reg.ownerSession = await ensureEphemeral(this.client, path, data, stale, this.replace ? 'replace' : 'throw');
    } catch (err) {
      if (this.registrations.get(path) === reg) this.registrations.delete(path);
      if (err instanceof NodeExistsError && !this.replace) {
        const owner = (await this.client.exists(path).catch(() => null))?.ephemeralOwner;
        throw new NodeExistsError(
          `instance ${id} of service ${spec.name} is registered by another live session` +
            (owner !== undefined && owner !== 0n ? ` (0x${owner.toString(16)})` : ''),
          { path, op: 'create', cause: err },
        );
      }
      throw err;
    }
    await this.watchOwn(path, reg);
    return instance;
  }

  /** Sets the exists watch on our node and checks that it is still ours. */
  private async watchOwn(path: string, reg: Registration): Promise<void> {
    if (this.closed || this.registrations.get(path) !== reg) return;
    const session = this.client.sessionId;
    const stat = await this.client.exists(path, { watch: reg.watcher });
    if (this.registrations.get(path) !== reg || session !== this.client.sessionId) return;
    if (reg.ownerSession !== session || (stat !== null && stat.ephemeralOwner === session)) return;
    await this.confirmDisplaced(path, reg, session);
  }

  /**
   * Our node (made in `session`) looked deleted or foreign: look again after a moment, and
   * report `displaced` only if this session is still the live one. The expiry of our own
   * session also deletes the node, and its notice may come before the client hears of the
   * expiry; a takeover deletes our node before creating its own, so the second look names the
   * new holder.
   */
  private async confirmDisplaced(path: string, reg: Registration, session: bigint): Promise<void> {
    await new Promise((r) => setTimeout(r, 250));
    if (this.closed || this.registrations.get(path) !== reg) return;
    if (this.client.sessionId !== session || !isConnectedState(this.client.state)) return;
    const stat = await this.client.exists(path, { watch: reg.watcher });
    if (this.registrations.get(path) !== reg || this.client.sessionId !== session) return;
    if (stat !== null && stat.ephemeralOwner === session) return; // ours after all
    this.displace(path, reg, stat === null ? null : stat.ephemeralOwner);
  }

  private onNodeEvent(path: string, reg: Registration, e: WatchEvent): void {
    // A gone session is handled by the re-registration on the new one.
    if (e.type === 'session-expired' || this.closed || this.registrations.get(path) !== reg) return;
    void this.watchOwn(path, reg).catch(() => void this.reregister.run());
  }

  private displace(path: string, reg: Registration, by: bigint | null): void {
    if (this.registrations.get(path) !== reg) return;
    this.registrations.delete(path);
    this.emit('displaced', { instance: reg.instance, path, by });
  }

  /**
   * Unregisters an instance (deletes its node if this session owns it) and stops re-registering it.
   * @returns `true` if it was registered by this object (and not displaced)
   * @throws ZkError when the node could not be deleted
   */
  async unregister(instance: { name: string; id: string }): Promise<boolean> {
    const path = this.instancePath(instance.name, instance.id);
    const had = this.registrations.delete(path);
    const stat = await this.client.exists(path);
    if (stat !== null && stat.ephemeralOwner === this.client.sessionId)
      await deleteRetrying(this.client, path, { ephemeral: true });
    return had;
  }

  /** The instances this object has registered (and keeps registered). */
  registered(): ServiceInstance[] {
    return [...this.registrations.values()].map((r) => r.instance);
  }

  private async ensureAll(): Promise<void> {
    for (const [path, reg] of [...this.registrations]) {
      if (this.closed || this.registrations.get(path) !== reg) continue;
      const session = this.client.sessionId;
      const stat = await this.client.exists(path, { watch: reg.watcher });
      if (stat !== null && stat.ephemeralOwner === session) continue;
      if (reg.ownerSession === session) {
        // Our node was deleted or taken over while this session lived: not ours to take back.
        await this.confirmDisplaced(path, reg, session);
        continue;
      }
      const stale = reg.ownerSession !== session ? reg.ownerSession : null;
      try {
        reg.ownerSession = await ensureEphemeral(
          this.client,
          path,
          reg.data,
          stale,
          this.replace ? 'replace' : 'throw',
        );
      } catch (err) {
        if (err instanceof NodeExistsError && !this.replace) {
          const owner = (await this.client.exists(path))?.ephemeralOwner ?? null;
          this.displace(path, reg, owner);
          continue;
        }
        throw err;
      }
      if (this.registrations.get(path) !== reg) continue;
      this.emit('reregistered', reg.instance);
      await this.watchOwn(path, reg);
    }
  }

  /** Names of the services that have a node under the root (possibly with no live instance). */
  async queryNames(): Promise<string[]> {
    try {
      return (await this.client.getChildren(this.path)).children.sort();
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
  }

  /**
   * The live instances of a service, sorted by id. Instances that vanish between listing and
   * reading, and nodes that do not hold an instance, are skipped.
   * @throws ZkError on failures other than NoNode
   */
  async queryInstances<P = unknown>(name: string): Promise<ServiceInstance<P>[]> {
    const base = this.servicePath(name);
    let children: string[];
    try {
      children = (await this.client.getChildren(base)).children;
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
    return readInstances<P>(this.client, base, children);
  }

  /**
   * One instance, or `null` when it is not registered (or its node does not hold an instance).
   * @throws ZkError on failures other than NoNode
   */
  async queryInstance<P = unknown>(name: string, id: string): Promise<ServiceInstance<P> | null> {
    try {
      return parseServiceInstance<P>((await this.client.getData(this.instancePath(name, id))).data);
    } catch (err) {
      if (err instanceof NoNodeError) return null;
      throw err;
    }
  }

  /**
   * Watches the live instances of a service: a {@link ServiceCache} kept current by a
   * children watch. Resolves once the first list is loaded. Close it (or this object) when done.
   * @param listener - optional; called like the cache's `change` event
   * @throws ZkError when the service node could not be created or first listed
   */
  async watch<P = unknown>(
    name: string,
    listener?: (instances: ServiceInstance<P>[]) => void,
  ): Promise<ServiceCache<P>> {
    if (this.closed) throw new Error('ServiceDiscovery is closed');
    const base = this.servicePath(name);
    await this.client.mkdirp(base);
    const cache = new ServiceCache<P>(this.client, base, () => this.caches.delete(cache as ServiceCache));
    if (listener) cache.on('change', listener);
    this.caches.add(cache as ServiceCache);
    await cache.start();
    return cache;
  }

  /**
   * Unregisters every instance registered here and closes every cache made by {@link watch}. Idempotent.
   * @throws AggregateError when some instance nodes could not be deleted (the rest are)
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.off('session', this.onSession);
    this.client.off('reconnected', this.onSession);
    this.reregister.stop();
    for (const c of [...this.caches]) c.close();
    const errors: unknown[] = [];
    for (const reg of [...this.registrations.values()]) {
      try {
        await this.unregister(reg.instance);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) {
      const why = errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
      throw new AggregateError(errors, `ServiceDiscovery ${this.path}: unregistering failed: ${why}`);
    }
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

async function readInstances<P>(
  client: ZkClient,
  base: string,
  children: readonly string[],
): Promise<ServiceInstance<P>[]> {
  const found = await Promise.all(
    children.map(async (c) => {
      try {
        return parseServiceInstance<P>((await client.getData(`${base}/${c}`)).data);
      } catch (err) {
        if (err instanceof NoNodeError) return null; // left between listing and reading
        throw err;
      }
    }),
  );
  return found
    .filter((i): i is ServiceInstance<P> => i !== null)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The live instances of one service, kept current (Curator's `ServiceCache`). Made by
 * {@link ServiceDiscovery.watch}. Never throws to its listeners: a failed refresh is retried
 * (and reported on `error` when someone listens).
 */
export class ServiceCache<P = unknown> extends EventEmitter<ServiceCacheEvents<P>> {
  private current: ServiceInstance<P>[] = [];
  private key = '';
  private latest: string[] = [];
  private handle: WatchHandle | undefined;
  private closed = false;
  private readonly runner: SerialRunner;

  /** @internal */
  constructor(
    private readonly client: ZkClient,
    /** The service node watched. */
    readonly path: string,
    private readonly onClose: () => void,
  ) {
    super();
    this.runner = new SerialRunner(
      () => this.refresh(),
      (err) => {
        if (!this.closed && this.listenerCount('error') > 0) {
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      },
      200,
    );
  }

  /** @internal */
  start(): Promise<void> {
    return new Promise<void>((resolve) => {
      let first = true;
      this.handle = this.client.watchChildren(
        this.path,
        (children) => {
          this.latest = children;
          const done = this.runner.run();
          if (first) {
            first = false;
            void done.then(resolve);
          }
        },
        { onError: (err) => this.listenerCount('error') > 0 && this.emit('error', err) },
      );
    });
  }

  /** The live instances as last seen, sorted by id. */
  instances(): ServiceInstance<P>[] {
    return [...this.current];
  }

  private async refresh(): Promise<void> {
    if (this.closed) return;
    const list = await readInstances<P>(this.client, this.path, this.latest);
    if (this.closed) return;
    const key = JSON.stringify(list);
    if (key !== this.key) {
      this.key = key;
      this.current = list;
      this.emit('change', [...list]);
    }
  }

  /** Stops watching. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle?.close();
    this.runner.stop();
    this.onClose();
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
