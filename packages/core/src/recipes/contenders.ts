/**
 * Which children of a recipe's znode take part in it: the recipe's own nodes and the nodes that
 * Apache Curator (5.x) and Kazoo (2.x) write for the same recipe, so that contenders using
 * different libraries on one path see each other. See `docs/interop.md` for the table.
 *
 * All three libraries order contenders by the 10-digit sequence suffix that ZooKeeper appends;
 * zkjobs reads it as a signed 32-bit integer (Curator and Kazoo compare it as text, which agrees
 * until the counter passes 2^31 - 1).
 * @packageDocumentation
 */

/**
 * The node names Apache Curator 5.x writes, before the 10-digit sequence. Curator creates them
 * protected: `_c_<uuid>-<name>NNNNNNNNNN`.
 */
export const CURATOR_NODE_NAMES = {
  /** `InterProcessMutex`, `LeaderSelector`, and the `locks/` gate of `InterProcessSemaphoreV2`. */
  lock: 'lock-',
  /** `InterProcessReadWriteLock`'s read lock. */
  read: '__READ__',
  /** `InterProcessReadWriteLock`'s write lock. */
  write: '__WRIT__',
  /** `LeaderLatch`. */
  latch: 'latch-',
  /** `InterProcessSemaphoreV2`'s `leases/`. */
  lease: 'lease-',
} as const;

/**
 * The node names Kazoo 2.x writes, before the 10-digit sequence, each behind a 32-hex-digit
 * uuid: `<uuid>__lock__NNNNNNNNNN`.
 */
export const KAZOO_NODE_NAMES = {
  /** `Lock`, `WriteLock`, and `Election` (a `Lock` on the election's path). */
  lock: '__lock__',
  /** `ReadLock`. */
  read: '__rlock__',
  /** `WriteLock` (the same name as `Lock`). */
  write: '__lock__',
} as const;

/** The node names zkjobs writes by default. */
export const ZKJOBS_NODE_NAMES = {
  /** {@link Mutex} and the `locks/` gate of {@link Semaphore}. */
  lock: 'lock-',
  /** {@link ReadWriteLock}'s read lock. */
  read: 'read-',
  /** {@link ReadWriteLock}'s write lock. */
  write: 'write-',
  /** {@link LeaderLatch} and {@link LeaderElection}. */
  latch: 'latch-',
  /** {@link Semaphore}'s `leases/`. */
  lease: 'lease-',
} as const;

/** Exclusive lock nodes of every library: a mutex or a writer. */
export const EXCLUSIVE_LOCK_NAMES: readonly string[] = [
  ZKJOBS_NODE_NAMES.lock,
  ZKJOBS_NODE_NAMES.write,
  CURATOR_NODE_NAMES.write,
  KAZOO_NODE_NAMES.lock,
];
/** Shared (read) lock nodes of every library. */
export const SHARED_LOCK_NAMES: readonly string[] = [
  ZKJOBS_NODE_NAMES.read,
  CURATOR_NODE_NAMES.read,
  KAZOO_NODE_NAMES.read,
];
/** Every lock node name: what a mutex waits for. */
export const ALL_LOCK_NAMES: readonly string[] = [...EXCLUSIVE_LOCK_NAMES, ...SHARED_LOCK_NAMES];
/** Election nodes of every library: Curator's `LeaderLatch` and `LeaderSelector`, Kazoo's `Election`. */
export const ELECTION_NAMES: readonly string[] = [
  CURATOR_NODE_NAMES.latch,
  CURATOR_NODE_NAMES.lock,
  KAZOO_NODE_NAMES.lock,
];

const SUFFIX = /^(\d{10}|-\d{9})$/;

/**
 * Checks an `extraPatterns` option: each entry non-empty text without `/`.
 * @throws RangeError naming the bad entry
 */
export function checkPatterns(what: string, patterns: readonly string[] | undefined): readonly string[] {
  if (patterns === undefined) return [];
  if (!Array.isArray(patterns)) throw new RangeError(`${what}: extraPatterns must be an array of strings`);
  for (const p of patterns) {
    if (typeof p !== 'string' || p === '' || p.includes('/'))
      throw new RangeError(`${what}: invalid extra pattern ${JSON.stringify(p)} (non-empty text without '/')`);
  }
  return patterns;
}

/** Checks a node name prefix: non-empty, without `/`. @throws RangeError */
export function checkPrefix(what: string, prefix: string): string {
  if (typeof prefix !== 'string' || prefix === '' || prefix.includes('/'))
    throw new RangeError(`${what}: invalid node prefix ${JSON.stringify(prefix)} (non-empty text without '/')`);
  return prefix;
}

/**
 * Which children of a znode take part in a recipe.
 *
 * - `prefixes`: the recipe's own names, `<prefix>NNNNNNNNNN` or, protected,
 *   `_c_<anything>-<prefix>NNNNNNNNNN`;
 * - `patterns`: names written by other libraries (and a user's extra names, as Kazoo's
 *   `extra_lock_patterns`): any name that ends with `<pattern>NNNNNNNNNN` — the rule of Kazoo's
 *   contender match and of Curator's `standardFixForSorting` (the text after the last
 *   occurrence of the lock name). Patterns are literal text, not regular expressions.
 */
export interface ContenderNames {
  readonly prefixes: readonly string[];
  readonly patterns: readonly string[];
}

/** Whether `name` has a 10-digit sequence suffix and matches one of `names`. */
export function isContender(name: string, names: ContenderNames): boolean {
  if (name.length < 10 || !SUFFIX.test(name.slice(-10))) return false;
  const stem = name.slice(0, -10);
  for (const p of names.prefixes) {
    if (stem === p || (stem.startsWith('_c_') && stem.endsWith('-' + p))) return true;
  }
  for (const p of names.patterns) if (stem.endsWith(p)) return true;
  return false;
}

/** Whether `name` (with a sequence suffix) was written under one of the literal `names`. */
export function endsWithName(name: string, names: readonly string[]): boolean {
  if (name.length < 10 || !SUFFIX.test(name.slice(-10))) return false;
  const stem = name.slice(0, -10);
  return names.some((n) => stem.endsWith(n));
}

/**
 * Thrown when a recipe finds, on its path, another library's form of the same recipe that it
 * cannot share (their layouts differ): using it would break the recipe's guarantee.
 */
export class IncompatibleRecipeError extends Error {
  /** The recipe's znode. */
  readonly path: string;
  /** The library whose layout was found, e.g. `'Kazoo Semaphore'`. */
  readonly foreign: string;

  constructor(path: string, foreign: string, message: string) {
    super(message);
    this.name = 'IncompatibleRecipeError';
    this.path = path;
    this.foreign = foreign;
  }
}
