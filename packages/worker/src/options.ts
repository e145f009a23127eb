import { z } from 'zod';
import { describeValue } from '@zkjobs/core';
import { JobValidationError } from './errors.js';
import { unfaithfulJson } from './json-value.js';
import type { Job, JobOptions, NormalizedJobOptions, Retention } from './job.js';

/** Job ids and dependency ids: 1–128 characters of `[A-Za-z0-9._:@-]`, not `.` or `..`. */
export const JOB_ID_RE = /^(?!\.\.?$)[A-Za-z0-9._:@-]{1,128}$/;
/** Job types: 1–100 characters of `[A-Za-z0-9._:@/-]`. */
export const JOB_TYPE_RE = /^[A-Za-z0-9._:@/-]{1,100}$/;

/**
 * The default cap on a job's payload (`data` as JSON), in bytes: 256 KiB, well under ZooKeeper's
 * 1 MB packet limit (the record also holds options and history). See `QueueOptions.maxPayloadBytes`.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 262_144;

const ms = (max: number) => z.number().int().min(0).max(max);

interface UnionIssue {
  input?: unknown;
  errors?: { path: PropertyKey[]; message: string }[][];
}

/**
 * The message of a union that matched no form: the forms it accepts and what it got, and — when
 * the value is an object whose `type` (or only key) one form recognised — what is wrong inside.
 */
function unionMessage(forms: string) {
  return (iss: UnionIssue): string => {
    let inner = '';
    const input = iss.input;
    if (input !== null && typeof input === 'object' && !Array.isArray(input) && iss.errors) {
      const matched = iss.errors.filter(
        (b) => b.length > 0 && !b.some((e) => e.path.length === 0 || e.path[0] === 'type'),
      );
      const issue = matched.length === 1 ? matched[0]![0] : undefined;
      if (issue) inner = ` (${issue.path.map(String).join('.')}: ${issue.message})`;
    }
    return `must be ${forms}; got ${describeValue(input)}${inner}`;
  };
}

const backoffSchema = z.union(
  [
    ms(86_400_000),
    z.strictObject({ type: z.enum(['fixed', 'exponential']), delay: ms(86_400_000) }),
    z.strictObject({ type: z.literal('custom'), delays: z.array(ms(86_400_000)).min(1).max(1000) }),
  ],
  {
    error: unionMessage(
      "a delay in ms (an integer 0–86400000), { type: 'fixed' | 'exponential', delay: <ms> }, " +
        "or { type: 'custom', delays: [<ms>, …] } (1–1000 delays)",
    ),
  },
);

/** The largest `{ count }` of a retention: the leader keeps the ids of the records kept by count in memory. */
export const MAX_RETENTION_COUNT = 100_000;

const retentionSchema = z.union(
  [
    z.boolean(),
    z
      .strictObject({
        age: ms(31_536_000_000).optional(),
        count: z.number().int().min(1).max(MAX_RETENTION_COUNT).optional(),
      })
      .refine((r) => r.age !== undefined || r.count !== undefined, 'needs age or count (or both)'),
  ],
  {
    error: unionMessage(
      `true, false, or { age?: <ms>, count?: <n> } with at least one (age an integer 0–31536000000 ms, ` +
        `count an integer 1–${MAX_RETENTION_COUNT})`,
    ),
  },
);

const jobOptionsSchema = z.strictObject({
  jobId: z.string().regex(JOB_ID_RE, 'must be 1-128 characters of [A-Za-z0-9._:@-]').optional(),
  priority: z.number().int().min(0).max(1_000_000).optional(),
  delay: ms(31_536_000_000).optional(),
  attempts: z.number().int().min(1).max(1000).optional(),
  backoff: backoffSchema.optional(),
  timeout: z.number().int().min(1).max(86_400_000).optional(),
  removeOnComplete: retentionSchema.optional(),
  removeOnFail: retentionSchema.optional(),
  dependsOn: z.array(z.string().regex(JOB_ID_RE, 'must be a job id')).max(100).optional(),
  parallelism: z.number().int().min(1).max(64).optional(),
});

/** Turns the first zod issue into a {@link JobValidationError} naming the field under `prefix`. */
export function zodToValidationError(prefix: string, err: z.ZodError): JobValidationError {
  const issue = err.issues[0];
  if (!issue) return new JobValidationError(prefix, 'invalid');
  let path = prefix;
  for (const p of issue.path) path += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys?: string[] }).keys ?? [];
    return new JobValidationError(keys[0] ? `${path}.${keys[0]}` : path, 'unknown option');
  }
  return new JobValidationError(path, issue.message, { cause: err });
}

/**
 * Validates job options and fills in defaults.
 * @param opts - the options as given
 * @param field - the name of the options in error messages (`opts`, `jobs[3].opts`)
 * @throws JobValidationError naming the offending field
 */
export function normalizeJobOptions(
  opts: JobOptions | undefined,
  field = 'opts',
): { jobId: string | undefined; opts: NormalizedJobOptions } {
  const parsed = jobOptionsSchema.safeParse(opts ?? {});
  if (!parsed.success) throw zodToValidationError(field, parsed.error);
  const o = parsed.data;
  const n: NormalizedJobOptions = {
    priority: o.priority ?? 0,
    delay: o.delay ?? 0,
    attempts: o.attempts ?? 1,
    removeOnComplete: (o.removeOnComplete ?? false) as Retention,
    removeOnFail: (o.removeOnFail ?? false) as Retention,
    dependsOn: o.dependsOn ?? [],
    parallelism: o.parallelism ?? 1,
  };
  if (o.backoff !== undefined) n.backoff = o.backoff;
  if (o.timeout !== undefined) n.timeout = o.timeout;
  if (n.backoff !== undefined && n.attempts < 2) {
    throw new JobValidationError(
      `${field}.backoff`,
      `a backoff waits between attempts: it needs attempts ≥ 2 (attempts is ${n.attempts})`,
    );
  }
  if (n.parallelism > 1 && n.attempts !== 1) {
    throw new JobValidationError(`${field}.attempts`, 'a gang job (parallelism > 1) runs once: attempts must be 1');
  }
  if (n.parallelism > 1 && n.dependsOn.length > 0) {
    throw new JobValidationError(`${field}.parallelism`, 'a gang job (parallelism > 1) cannot have dependsOn');
  }
  if (o.jobId !== undefined && n.dependsOn.includes(o.jobId)) {
    throw new JobValidationError(`${field}.dependsOn`, 'a job cannot depend on itself');
  }
  return { jobId: o.jobId, opts: n };
}

/**
 * The delay before retry number `retry` (1 = the first retry), in ms.
 * @param backoff - the job's backoff option
 * @param retry - 1-based retry number
 */
export function backoffDelay(backoff: NormalizedJobOptions['backoff'], retry: number): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return backoff;
  if (backoff.type !== 'custom') {
    return backoff.type === 'fixed' ? backoff.delay : Math.min(86_400_000, backoff.delay * 2 ** Math.max(0, retry - 1));
  }
  const d = backoff.delays;
  return d[Math.min(retry - 1, d.length - 1)] ?? 0;
}

/** Validates a job type. @throws JobValidationError naming `field` */
export function validateType(type: unknown, field = 'type'): string {
  if (typeof type !== 'string' || !JOB_TYPE_RE.test(type)) {
    throw new JobValidationError(field, 'must be 1-100 characters of [A-Za-z0-9._:@/-]');
  }
  return type;
}

/**
 * Serialises a payload and checks it against the size cap.
 * @throws JobValidationError (`field`) when JSON would not store it as it is (`NaN`, a `Date`, a
 *   `Map`, `undefined` inside it, a cycle, … — see `json-value.ts`) or it is larger than `maxBytes`
 */
export function encodePayload(data: unknown, maxBytes: number, field = 'data'): string {
  const problem = data === undefined ? null : unfaithfulJson(data, field);
  if (problem) throw new JobValidationError(field, `cannot be stored as it is: ${problem}`);
  let json: string | undefined;
  try {
    json = JSON.stringify(data ?? null);
  } catch (err) {
    throw new JobValidationError(field, 'is not JSON-serialisable', { cause: err });
  }
  if (json === undefined) throw new JobValidationError(field, 'is not JSON-serialisable');
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) {
    throw new JobValidationError(field, `payload is ${bytes} bytes, over the cap of ${maxBytes} bytes`);
  }
  return json;
}

let idCounter = 0;
/** A time-ordered job id: base36 ms time, a counter and randomness. */
export function generateJobId(): string {
  idCounter = (idCounter + 1) % 1_679_616;
  return (
    Date.now().toString(36) +
    '-' +
    idCounter.toString(36).padStart(4, '0') +
    Math.floor(Math.random() * 1_679_616)
      .toString(36)
      .padStart(4, '0')
  );
}

/**
 * A namespace root: an absolute znode path, not `/` (a cluster needs its own root, as the CLI's
 * `--namespace` says), not under `/zookeeper` (ZooKeeper's reserved tree), without a trailing `/`
 * or an empty, `.` or `..` segment.
 */
export const namespaceSchema = z.string().superRefine((ns, ctx) => {
  const problem = namespaceProblem(ns);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** What is wrong with a namespace root, or null when it is fine (see {@link namespaceSchema}). */
export function namespaceProblem(ns: string): string | null {
  if (!ns.startsWith('/')) return `${JSON.stringify(ns)} is not an absolute znode path (it must start with /)`;
  if (ns === '/') return '/ cannot hold a zkjobs cluster; give it its own root, e.g. /zkjobs/prod';
  if (ns.endsWith('/')) return `${JSON.stringify(ns)} ends with /`;
  if (ns.includes('\0')) return 'contains a NUL character';
  const segs = ns.slice(1).split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..'))
    return `${JSON.stringify(ns)} has an empty, . or .. segment`;
  if (segs[0] === 'zookeeper') return `${ns} is under /zookeeper, ZooKeeper's reserved tree`;
  return null;
}

/**
 * A worker's retry strategy (BullMQ's `backoffStrategy`): called when an attempt of a job this
 * worker ran failed with attempts left (not for an {@link UnrecoverableError}).
 * @param attemptsMade - attempts made so far, this one included (1 after the first failure)
 * @param err - what the handler threw
 * @param job - the job as claimed
 * @returns the delay before the next attempt, ms (an integer 0–86,400,000, ZooKeeper's clock);
 *   {@link FAIL_NOW} (-1) to make no more attempts (the job ends `failed` with this error); or
 *   undefined to use the job's own `backoff`
 */
export type BackoffStrategy = (
  attemptsMade: number,
  err: Error,
  job: Job,
) => number | undefined | Promise<number | undefined>;

/** What a {@link BackoffStrategy} returns to make no more attempts: -1. */
export const FAIL_NOW = -1;

/**
 * Checks a {@link BackoffStrategy}'s answer.
 * @returns the delay (ms), `'fail'` for {@link FAIL_NOW}, undefined for "use the job's backoff"
 * @throws TypeError saying what is wrong with the value
 */
export function checkStrategyDelay(v: unknown): number | 'fail' | undefined {
  if (v === undefined) return undefined;
  if (v === FAIL_NOW) return 'fail';
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 86_400_000) {
    throw new TypeError(
      `backoffStrategy returned ${typeof v === 'number' ? v : typeof v}: expected an integer delay 0–86400000 ms, -1 (fail now) or undefined (the job's backoff)`,
    );
  }
  return v;
}
