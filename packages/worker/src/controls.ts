/**
 * The operators' controls of the scheduler, as the producer side writes them: pause and resume
 * (`control/paused`) and per-type limits (`control/limits`). Each document is read and written
 * back with a compare-and-set on its version (created with its parent on first use), so two
 * operators' changes never overwrite each other. The leader watches both (`scheduler/controls.ts`).
 */
import type { ZkClient } from '@zkjobs/core';
import { BadVersionError, NodeExistsError, NoNodeError } from '@zkjobs/core';
import { z } from 'zod';
import {
  LIMITS,
  PAUSED,
  decodeLimits,
  decodePaused,
  encodeLimits,
  encodePaused,
  type LimitsDoc,
  type PausedDoc,
  type TypeLimits,
} from './layout.js';
import { zodToValidationError } from './options.js';

/** Reads a control document (`null` data when absent). */
async function readControl(client: ZkClient, path: string): Promise<{ data: Buffer | null; version: number }> {
  try {
    const { data, stat } = await client.getData(path);
    return { data, version: stat.version };
  } catch (err) {
    if (err instanceof NoNodeError) return { data: null, version: -1 };
    throw err;
  }
}

/** Applies `change` to a control document with a compare-and-set, retried while others write. */
async function updateControl<T>(
  client: ZkClient,
  path: string,
  decode: (d: Buffer | null) => T,
  encode: (v: T) => Buffer,
  change: (cur: T) => T,
): Promise<T> {
  for (;;) {
    const { data, version } = await readControl(client, path);
    const next = change(decode(data));
    try {
      if (version < 0) await client.create(path, { data: encode(next), parents: true });
      else await client.setData(path, encode(next), { version });
      return next;
    } catch (err) {
      if (err instanceof BadVersionError || err instanceof NodeExistsError || err instanceof NoNodeError) continue;
      throw err;
    }
  }
}

/** The paused types now. */
export async function readPaused(client: ZkClient): Promise<PausedDoc> {
  return decodePaused((await readControl(client, PAUSED)).data);
}

/**
 * Pauses `type`, or the whole namespace when `type` is undefined.
 * @returns the paused types after the change
 */
export function pause(client: ZkClient, type: string | undefined): Promise<PausedDoc> {
  return updateControl(client, PAUSED, decodePaused, encodePaused, (p) =>
    type === undefined ? { ...p, all: true } : { ...p, types: [...p.types.filter((t) => t !== type), type] },
  );
}

/**
 * Resumes `type` (a type paused by name), or everything when `type` is undefined (the
 * namespace-wide pause and every type's).
 * @returns the paused types after the change
 */
export function resume(client: ZkClient, type: string | undefined): Promise<PausedDoc> {
  return updateControl(client, PAUSED, decodePaused, encodePaused, (p) =>
    type === undefined ? { all: false, types: [] } : { ...p, types: p.types.filter((t) => t !== type) },
  );
}

/** The largest rate-limit window, ms (a day). */
export const MAX_LIMIT_DURATION_MS = 86_400_000;

const limitsSchema = z
  .strictObject({
    max: z.number().int().min(1).max(1_000_000).optional(),
    duration: z.number().int().min(1).max(MAX_LIMIT_DURATION_MS).optional(),
    concurrency: z.number().int().min(1).max(1_000_000).optional(),
  })
  .superRefine((l, ctx) => {
    if ((l.max === undefined) !== (l.duration === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [l.max === undefined ? 'max' : 'duration'],
        message: 'a rate limit needs both max (jobs) and duration (ms)',
      });
    }
    if (l.max === undefined && l.duration === undefined && l.concurrency === undefined) {
      ctx.addIssue({ code: 'custom', message: 'give { max, duration }, { concurrency } or both' });
    }
  });

/**
 * Validates a type's limits.
 * @throws JobValidationError (see `errors.ts`) naming the field (`limits.max`, `limits.duration`, `limits.concurrency`)
 */
export function validateLimits(limits: unknown): TypeLimits {
  const parsed = limitsSchema.safeParse(limits);
  if (!parsed.success) throw zodToValidationError('limits', parsed.error);
  const l = parsed.data;
  const out: TypeLimits = {};
  if (l.max !== undefined) out.max = l.max;
  if (l.duration !== undefined) out.duration = l.duration;
  if (l.concurrency !== undefined) out.concurrency = l.concurrency;
  return out;
}

/** The limits now, by type. */
export async function readLimits(client: ZkClient): Promise<LimitsDoc> {
  return decodeLimits((await readControl(client, LIMITS)).data);
}

/**
 * Sets (replaces) the limits of `type`, or removes them with `null`.
 * @returns every type's limits after the change
 */
export function setLimits(client: ZkClient, type: string, limits: TypeLimits | null): Promise<LimitsDoc> {
  return updateControl(client, LIMITS, decodeLimits, encodeLimits, (cur) => {
    const next = { ...cur };
    if (limits === null) delete next[type];
    else next[type] = limits;
    return next;
  });
}
