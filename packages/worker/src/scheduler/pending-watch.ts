/**
 * The listings of the 64 `pending/` buckets, kept current. The scheduler keeps one while it
 * leads; a worker next in line for leadership keeps one too (a warm standby) and hands it over
 * when it takes leadership, so the new leader's first round reads only the markers and not 64
 * listings, which its session's in-order requests would make it wait for before anything else.
 *
 * With a server that has them (ZooKeeper 3.6+), one persistent recursive watch on `pending/`
 * says which marker was created or deleted, so a bucket is never listed per change: the buckets
 * are listed once (one multiRead) and again after every new connection. Without it, each bucket
 * has a re-arming child watch (a listing per change).
 */
import type { RecursiveWatchEvent, WatchHandle, ZkClient } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import { multiReadChunked } from '../util.js';
import { BUCKET_NAMES, PENDING } from '../layout.js';

/** Internal: a warm view of the pending buckets' listings. */
export class PendingWatch {
  /** Each bucket's current children. */
  private readonly latest = new Map<string, Set<string>>();
  private readonly handles: WatchHandle[] = [];
  private listener: ((bucket: string, children: string[]) => void) | null = null;
  private closed = false;
  /** Events heard while a re-listing is out, applied again over its result (which may predate them). */
  private replay: RecursiveWatchEvent[] | null = null;

  constructor(private readonly client: ZkClient) {
    client
      .watchRecursive(PENDING, (e) => this.onEvent(e), { onResync: () => void this.listAll() })
      .then(
        (h) => {
          if (this.closed) return h.close();
          this.handles.push(h);
          void this.listAll();
        },
        () => {
          if (this.closed) return;
          // An older server: a child watch per bucket.
          for (const b of BUCKET_NAMES) {
            this.handles.push(
              client.watchChildren(`${PENDING}/${b}`, (children) => {
                this.latest.set(b, new Set(children));
                this.listener?.(b, children);
              }),
            );
          }
        },
      );
  }

  /** Hands every listing so far to `fn`, then every new one. */
  attach(fn: (bucket: string, children: string[]) => void): void {
    this.listener = fn;
    for (const [b, c] of this.latest) fn(b, [...c]);
  }

  /** Stops watching (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    for (const h of this.handles) h.close();
  }

  private onEvent(e: RecursiveWatchEvent): void {
    if (this.closed) return;
    this.replay?.push(e);
    const b = this.apply(e);
    if (b !== null) this.listener?.(b, [...this.latest.get(b)!]);
  }

  /** Applies a marker's create or delete to its bucket's children; returns the bucket, or null. */
  private apply(e: RecursiveWatchEvent): string | null {
    if (e.type === 'data-changed' || !e.path.startsWith(`${PENDING}/`)) return null;
    const [b, marker, deeper] = e.path.slice(PENDING.length + 1).split('/');
    if (b === undefined || marker === undefined || deeper !== undefined) return null;
    let set = this.latest.get(b);
    if (!set) this.latest.set(b, (set = new Set()));
    if (e.type === 'created') set.add(marker);
    else set.delete(marker);
    return b;
  }

  /** Lists every bucket in one request and hands each listing over. */
  private async listAll(): Promise<void> {
    if (this.closed || this.replay !== null) return;
    this.replay = [];
    try {
      const res = await multiReadChunked(
        this.client,
        BUCKET_NAMES.map((b) => ({ type: 'getChildren' as const, path: `${PENDING}/${b}` })),
      );
      if (this.closed) return;
      res.forEach((r, i) => {
        const b = BUCKET_NAMES[i]!;
        if (r.type === 'getChildren') this.latest.set(b, new Set(r.children));
        else if (r.type === 'error' && r.error instanceof NoNodeError) this.latest.set(b, new Set());
      });
      for (const e of this.replay) this.apply(e);
      for (const b of BUCKET_NAMES) {
        const c = this.latest.get(b);
        if (c) this.listener?.(b, [...c]);
      }
    } catch {
      // The scheduler's safety re-listing covers the buckets meanwhile; the next resync lists again.
    } finally {
      this.replay = null;
    }
  }
}
