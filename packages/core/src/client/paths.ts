import { InvalidPathError } from '../errors.js';
import { describeValue } from './args.js';

/**
 * Throws {@link InvalidPathError} unless `path` is an absolute znode path: starts with `/`, no
 * trailing slash (except `/` itself), no empty, `.` or `..` segment, no NUL character.
 * @returns the path, for chaining
 */
export function validatePath(path: string): string {
  if (typeof path !== 'string')
    throw new InvalidPathError(String(path), `must be a string, got ${describeValue(path)}`);
  if (path.length === 0) throw new InvalidPathError(path, 'empty');
  if (path[0] !== '/') throw new InvalidPathError(path, 'must start with /');
  if (path === '/') return path;
  if (path.endsWith('/')) throw new InvalidPathError(path, 'must not end with /');
  if (path.includes('\u0000')) throw new InvalidPathError(path, 'contains NUL');
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') throw new InvalidPathError(path, 'empty segment');
    if (seg === '.' || seg === '..') throw new InvalidPathError(path, `relative segment ${seg}`);
  }
  return path;
}

/**
 * Joins path parts with single slashes into an absolute path: `joinPath('/a', 'b/', '/c')` → `/a/b/c`.
 * Empty parts are skipped; `joinPath()` is `/`.
 */
export function joinPath(...parts: string[]): string {
  const segs = parts.flatMap((p) => p.split('/')).filter((s) => s !== '');
  return '/' + segs.join('/');
}

/** The parent of an absolute path: `parentOf('/a/b')` → `/a`, `parentOf('/a')` → `/`. Throws for `/`. */
export function parentOf(path: string): string {
  validatePath(path);
  if (path === '/') throw new InvalidPathError(path, 'the root has no parent');
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}

/** The last segment of a path: `basename('/a/b-0000000001')` → `b-0000000001`; `''` for `/`. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The sequence number of a sequential node's name (or path): its last 10 characters parsed as
 * a signed 32-bit integer (the server formats the counter with `%010d`, so it wraps to negative
 * after 2147483647: `-000000005` is -5, and `…2147483648` reads as -2147483648).
 * Throws `Error` when the name has no 10-character numeric suffix.
 */
export function sequenceOf(name: string): number {
  const tail = name.slice(-10);
  if (tail.length !== 10 || !/^(\d{10}|-\d{9})$/.test(tail)) {
    throw new Error(`not a sequential node name (no 10-digit suffix): ${JSON.stringify(name)}`);
  }
  return Number(tail) | 0;
}

/** Comparator for sequential node names by {@link sequenceOf} (never by the whole name). */
export function compareSequential(a: string, b: string): number {
  return sequenceOf(a) - sequenceOf(b);
}
