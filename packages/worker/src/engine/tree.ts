/** The fixed part of a namespace's tree: created once, before the first write. */
import type { ZkClient } from '@zkjobs/core';
import { NodeExistsError } from '@zkjobs/core';
import {
  BARRIERS,
  BUCKET_NAMES,
  CLOCK,
  COUNTS,
  GANGS,
  INDEX,
  JOBS,
  LEADER,
  PENDING,
  QUEUE,
  RETENTION,
  WORKERS,
} from '../layout.js';
import { JOB_STATES } from '../job.js';
import { createIfMissing } from '../util.js';
import { SCAN_ROOT, encodeRoot } from './state-index.js';

const ensured = new WeakMap<ZkClient, Promise<void>>();

/**
 * Creates the namespace's fixed tree (workers, queue, leader, clock, gangs, barriers, the 64
 * buckets of jobs/, pending/ and retention/, the lists by state `index/<state>`, and counts/
 * last) once per client; concurrent and repeated calls share the work. A failed attempt is forgotten, so the next call tries again.
 * A namespace whose tree predates `counts/` gets one marked `{ scan: true }`: its jobs were
 * never counted, so its counts are read by a scan; and its `index/` marked `{ scan: true }`, so
 * its lists are a scan too. A namespace whose `counts/` exists and `index/` does not (made by a
 * version without the index) keeps no index: its lists are a scan.
 */
export function ensureTree(client: ZkClient): Promise<void> {
  let p = ensured.get(client);
  if (!p) {
    p = (async () => {
      if ((await client.exists(COUNTS)) !== null) return;
      const older = (await client.exists(`${RETENTION}/${BUCKET_NAMES[BUCKET_NAMES.length - 1]!}`)) !== null;
      const top = [WORKERS, QUEUE, JOBS, PENDING, LEADER, CLOCK, GANGS, BARRIERS, RETENTION];
      const buckets: string[] = [];
      for (const b of BUCKET_NAMES) buckets.push(`${JOBS}/${b}`, `${PENDING}/${b}`, `${RETENTION}/${b}`);
      for (const d of top) await createIfMissing(client, d);
      await Promise.all(buckets.map((d) => createIfMissing(client, d)));
      // The index starts with the counts: a tree that has jobs already is listed by the scan.
      try {
        await client.create(INDEX, { data: older ? SCAN_ROOT : encodeRoot(-1, {}) });
      } catch (err) {
        if (!(err instanceof NodeExistsError)) throw err;
      }
      await Promise.all(JOB_STATES.map((s) => createIfMissing(client, `${INDEX}/${s}`)));
      try {
        await client.create(COUNTS, { data: older ? JSON.stringify({ scan: true }) : '' });
      } catch (err) {
        if (!(err instanceof NodeExistsError)) throw err;
      }
    })();
    ensured.set(client, p);
    p.catch(() => ensured.delete(client));
  }
  return p;
}

/** Forgets that `client`'s tree was created (after the namespace was deleted), so the next write creates it again. */
export function forgetTree(client: ZkClient): void {
  ensured.delete(client);
}
