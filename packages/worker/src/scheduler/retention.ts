/**
 * Retention of finished records: the leader watches the 64 `retention/` buckets and reads each
 * retention marker (written with the finishing writes), then deletes the records it names, fenced
 * like every leader write (`ops.pruneOps`):
 *
 * - by age (`{ age }`): when the marker's `ctime + age` has passed on ZooKeeper's clock; the
 *   marker goes with its records;
 * - by count (`{ count }`): the records of one kind (completed, or failed and dead) kept by count
 *   are ordered by finish — marker czxid, then place in the marker — and once a record has more
 *   than `count` newer ones (the `count` of the newest marker at that point), it is deleted; its
 *   marker is rewritten without it, and deleted with its last record. A new leader reads every
 *   marker and so rebuilds the same order.
 *
 * Each record is deleted at the version its marker recorded. When that fails the record is read:
 * it is deleted only while it is still the same finish (same state and `attemptsMade`: a note may
 * have moved its version), so a record that an operator retried since is never deleted.
 */
import type { WatchHandle } from '@zkjobs/core';
import { BadVersionError, NoNodeError, TransactionError } from '@zkjobs/core';
import { isOpFailure, LEADER_FENCE_OPS, pruneOps, type PruneItem } from '../engine/ops.js';
import { readRecord } from '../engine/record.js';
import {
  BUCKET_NAMES,
  RETENTION,
  STORED_LOGS,
  STORED_PROGRESS,
  decodeRetentionMarker,
  type RetentionKind,
  type RetentionMarker,
} from '../layout.js';
import { deleteLogs } from '../consumer/logs.js';
import { deleteProgress } from '../consumer/progress.js';
import { mapLimit } from '../util.js';
import type { LeaderContext } from './context.js';
import { Heap } from './heap.js';

/** A record kept by count, in finish order. */
interface Counted {
  czxid: bigint;
  index: number;
  path: string;
  count: number;
  item: PruneItem;
}

/** A marker by count as the leader last wrote or read it. */
interface CountMarker {
  doc: RetentionMarker;
}

/**
 * The records to delete of one kind: walking `list` (finish order), each record appended with
 * the `count` of its marker leaves only the newest `count` of those seen so far.
 * @returns the indexes in `list` of the records to delete
 */
export function countVictims(list: readonly Pick<Counted, 'count'>[]): number[] {
  const out: number[] = [];
  let first = 0; // the oldest record still kept
  for (let i = 0; i < list.length; i++) {
    const keep = list[i]!.count;
    while (i + 1 - first > keep) out.push(first++);
  }
  return out;
}

/** Internal: the retention of one leader. */
export class Retention {
  /** Each bucket's listing not read yet. */
  private readonly children = new Map<string, string[]>();
  private readonly known = new Set<string>();
  private readonly heap = new Heap<{ due: number; path: string; items: PruneItem[] }>((x, y) => x.due < y.due);
  /** Records kept by count, by kind, in finish order (sorted when `dirty`). */
  private readonly counted: Record<RetentionKind, Counted[]> = { completed: [], failed: [] };
  private readonly countMarkers = new Map<string, CountMarker>();
  private dirty = false;
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

  /** Reads new retention markers; due = the marker's ctime + age (ZooKeeper's clock), or its place by count. */
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
        const items = doc.ids.map((id, i): PruneItem => {
          const ts = doc.states?.[i];
          const v = doc.versions?.[i];
          return {
            id,
            ...(ts
              ? {
                  type: ts[0],
                  state: ts[1],
                  ...((ts[2] ?? 0) & STORED_PROGRESS ? { progressed: true } : {}),
                  ...((ts[2] ?? 0) & STORED_LOGS ? { logged: true } : {}),
                }
              : {}),
            ...(v ? { version: v[0], attemptsMade: v[1] } : {}),
          };
        });
        if (doc.age !== undefined) {
          this.heap.push({ due: stat.ctime + doc.age, path: p, items });
        } else if (doc.count !== undefined) {
          this.countMarkers.set(p, { doc });
          const list = this.counted[doc.kind ?? 'completed'];
          items.forEach((item, index) => list.push({ czxid: stat.czxid, index, path: p, count: doc.count!, item }));
          this.dirty = true;
        }
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

  /** Deletes the finished records whose retention age has passed, and those past their count. */
  async prune(): Promise<void> {
    const { fence, log } = this.ctx;
    const now = this.ctx.serverNow();
    while (this.heap.size > 0 && this.heap.peek()!.due <= now) {
      const m = this.heap.peek()!;
      await this.commit(m.items, m.path, undefined);
      this.heap.pop();
      this.known.delete(m.path);
      log.info({ jobs: m.items.length, epoch: fence.epoch }, 'finished jobs removed (retention)');
    }
    if (this.dirty) await this.pruneByCount();
  }

  private async pruneByCount(): Promise<void> {
    for (const kind of ['completed', 'failed'] as const) {
      const list = this.counted[kind];
      list.sort((a, b) => (a.czxid < b.czxid ? -1 : a.czxid > b.czxid ? 1 : a.index - b.index));
      const victims = countVictims(list);
      if (victims.length === 0) continue;
      const byMarker = new Map<string, Counted[]>();
      for (const i of victims) {
        const c = list[i]!;
        byMarker.set(c.path, [...(byMarker.get(c.path) ?? []), c]);
      }
      for (const [path, cs] of byMarker) {
        const m = this.countMarkers.get(path);
        if (!m) continue;
        const gone = new Set(cs.map((c) => c.item.id));
        const keep = m.doc.ids.map((id, i) => ({ id, i })).filter((x) => !gone.has(x.id));
        const remaining: RetentionMarker = {
          ...m.doc,
          ids: keep.map((x) => x.id),
          ...(m.doc.states ? { states: keep.map((x) => m.doc.states![x.i]!) } : {}),
          ...(m.doc.versions ? { versions: keep.map((x) => m.doc.versions![x.i]!) } : {}),
        };
        await this.commit(
          cs.map((c) => c.item),
          path,
          remaining,
        );
        if (remaining.ids.length === 0) {
          this.countMarkers.delete(path);
          this.known.delete(path);
        } else {
          m.doc = remaining;
        }
      }
      const drop = new Set(victims);
      this.counted[kind] = list.filter((_, i) => !drop.has(i));
      this.ctx.log.info(
        { jobs: victims.length, kind, epoch: this.ctx.fence.epoch },
        'finished jobs removed (retention by count)',
      );
    }
    this.dirty = false;
  }

  /**
   * Deletes `items` and deletes (or, with `remaining`, rewrites) their marker in one multi; when a
   * record is gone or changed, one by one ({@link pruneOne}) and then the marker.
   */
  private async commit(
    items: readonly PruneItem[],
    path: string,
    remaining: RetentionMarker | undefined,
  ): Promise<void> {
    const { client, fence } = this.ctx;
    try {
      await pruneOps(client, fence, items, path, remaining).commit();
    } catch (err) {
      if (!isOpFailure(err, LEADER_FENCE_OPS)) throw err;
      for (const it of items) await this.pruneOne(it);
      await pruneOps(client, fence, [], path, remaining).commit();
    }
    for (const it of items) {
      if (it.progressed) void deleteProgress(client, it.id);
      if (it.logged) void deleteLogs(client, it.id);
    }
  }

  /**
   * Deletes one record: at its recorded version, or — when that moved (a note) — at the version
   * read, if it is still the same finish; a record gone or retried since is left alone.
   */
  private async pruneOne(it: PruneItem): Promise<void> {
    const { client, fence } = this.ctx;
    try {
      await pruneOps(client, fence, [it], undefined).commit();
      return;
    } catch (e) {
      if (!isOpFailure(e, LEADER_FENCE_OPS)) throw e;
      if (!(e instanceof TransactionError) || e.code !== BadVersionError.CODE) return;
    }
    const found = await readRecord(client, it.id).catch(() => null);
    if (!found || found.rec.state !== it.state || found.rec.attemptsMade !== it.attemptsMade) return;
    try {
      await pruneOps(client, fence, [{ ...it, version: found.stat.version }], undefined).commit();
    } catch (e) {
      if (!isOpFailure(e, LEADER_FENCE_OPS)) throw e;
    }
  }

  /** Closes the buckets' watches. */
  close(): void {
    for (const w of this.watches) w.close();
  }
}
