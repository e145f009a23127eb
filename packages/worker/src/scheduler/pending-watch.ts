/**
 * The listings of the 64 `pending/` buckets, kept current by one re-arming watch per bucket. The
 * scheduler keeps one while it leads; a worker next in line for leadership keeps one too (a warm
 * standby) and hands it over when it takes leadership, so the new leader's first round reads only
 * the markers and not 64 listings, which its session's in-order requests would make it wait for
 * before anything else.
 */
import type { WatchHandle, ZkClient } from '@zkjobs/core';
import { BUCKET_NAMES, PENDING } from '../layout.js';

/** Internal: a warm view of the pending buckets' listings. */
export class PendingWatch {
  /** Each bucket's last listing. */
  private readonly latest = new Map<string, string[]>();
  private readonly handles: WatchHandle[];
  private listener: ((bucket: string, children: string[]) => void) | null = null;
  private closed = false;

  constructor(client: ZkClient) {
    this.handles = BUCKET_NAMES.map((b) =>
      client.watchChildren(`${PENDING}/${b}`, (children) => {
        this.latest.set(b, children);
        this.listener?.(b, children);
      }),
    );
  }

  /** Hands every listing so far to `fn`, then every new one. */
  attach(fn: (bucket: string, children: string[]) => void): void {
    this.listener = fn;
    for (const [b, c] of this.latest) fn(b, c);
  }

  /** Stops watching (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    for (const h of this.handles) h.close();
  }
}
