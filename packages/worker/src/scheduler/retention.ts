/**
 * Retention by age: the leader watches the 64 `retention/` buckets, reads each retention marker
 * `{ age, ids }` (written with the completions), and deletes the records when `ctime + age` has
 * passed on ZooKeeper's clock (`ops.pruneOps`, fenced like every leader write).
 */
import type { WatchHandle } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import { isOpFailure, LEADER_FENCE_OPS, pruneOps, type PruneItem } from '../engine/ops.js';
import { BUCKET_NAMES, RETENTION, decodeRetentionMarker } from '../layout.js';
import { deleteProgress } from '../consumer/progress.js';
import { mapLimit } from '../util.js';
import type { LeaderContext } from './context.js';
import { Heap } from './heap.js';

/** Internal: the retention of one leader. */
export class Retention {
  /** Each bucket's listing not read yet. */
  private readonly children = new Map<string, string[]>();
  private readonly known = new Set<string>();
  private readonly heap = new Heap<{ due: number; path: string; items: PruneItem[] }>((x, y) => x.due < y.due);
  private readonly watches: WatchHandle[] = [];
  private watched = false;

  constructor(private readonly ctx: LeaderContext) {}

  /** True once the buckets are watched (and so re-listed by the safety net). */
  get isWatching(): boolean {
    return this.watched;
  }

  /** Watches the 64 retention buckets (idempotent). */
  watch(): void {
    if (this.watched || this.ctx.stopped()) return;
    this.watched = true;
    for (const b of BUCKET_NAMES) {
      this.watches.push(
        this.ctx.client.watchChildren(`${RETENTION}/${b}`, (children) => {
          this.children.set(b, children);
          this.ctx.kick();
        }),
      );
    }
  }

  /** A bucket's new listing (the safety re-listing). */
  onListing(bucket: string, children: string[]): void {
    this.children.set(bucket, children);
  }

  /** The due time of the next prune. */
  nextDue(): number | undefined {
    return this.heap.peek()?.due;
  }

  /** Reads new retention markers; due = the marker's ctime + age (ZooKeeper's clock). */
  async sync(): Promise<void> {
    const toRead: string[] = [];
    for (const [b, children] of this.children) {
      this.children.delete(b);
      for (const c of children) {
        const p = `${RETENTION}/${b}/${c}`;
        if (!this.known.has(p)) {
          this.known.add(p);
          toRead.push(p);
        }
      }
    }
    await mapLimit(toRead, 16, async (p) => {
      try {
        const { data, stat } = await this.ctx.client.getData(p);
        const doc = decodeRetentionMarker(data);
        this.heap.push({
          due: stat.ctime + doc.age,
          path: p,
          items: doc.ids.map((id, i) => {
            const ts = doc.states?.[i];
            return ts ? { id, type: ts[0], state: ts[1], ...(ts[2] === 1 ? { progressed: true } : {}) } : { id };
          }),
        });
      } catch (err) {
        if (err instanceof NoNodeError) return;
        if (err instanceof SyntaxError) {
          this.ctx.log.error({ err, marker: p }, 'unreadable retention marker (left alone)');
          return;
        }
        this.known.delete(p);
        throw err;
      }
    });
  }

  /** Deletes the finished records whose retention age has passed (fenced; a missing record is fine). */
  async prune(): Promise<void> {
    const { client, fence, log } = this.ctx;
    const now = this.ctx.serverNow();
    while (this.heap.size > 0 && this.heap.peek()!.due <= now) {
      const m = this.heap.peek()!;
      try {
        await pruneOps(client, fence, m.items, m.path).commit();
      } catch (err) {
        if (!isOpFailure(err, LEADER_FENCE_OPS)) throw err;
        // A record was deleted already: delete the others one by one.
        for (const it of m.items) {
          try {
            await pruneOps(client, fence, [it], undefined).commit();
          } catch (e) {
            if (!isOpFailure(e, LEADER_FENCE_OPS)) throw e;
          }
        }
        await pruneOps(client, fence, [], m.path).commit();
      }
      this.heap.pop();
      this.known.delete(m.path);
      for (const it of m.items) if (it.progressed) void deleteProgress(client, it.id);
      log.info({ jobs: m.items.length, epoch: fence.epoch }, 'finished jobs removed (retention)');
    }
  }

  /** Closes the buckets' watches. */
  close(): void {
    for (const w of this.watches) w.close();
  }
}
