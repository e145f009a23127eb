/**
 * Checks of the arguments of {@link ZkClient} and {@link Transaction} calls that TypeScript
 * cannot enforce for JavaScript callers (or callers used to another client's positional
 * signatures): every failure is a {@link BadArgumentsError} naming the call, the argument and
 * what was given, thrown before anything is sent.
 * @packageDocumentation
 */
import { BadArgumentsError } from '../errors.js';
import { CreateMode } from './create-mode.js';

const ORDINALS = ['first', 'second', 'third', 'fourth'] as const;

/** `the number 0`, `the string "1"`, `a function`, `null`, `an array`, `a Buffer`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'number':
      return `the number ${String(v)}`;
    case 'bigint':
      return `the bigint ${String(v)}n`;
    case 'string': {
      const s = v.length > 40 ? `${v.slice(0, 40)}…` : v;
      return `the string ${JSON.stringify(s)}`;
    }
    case 'boolean':
      return `the boolean ${String(v)}`;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default: {
      let json: string | undefined;
      try {
        json = JSON.stringify(v);
      } catch {
        json = undefined;
      }
      return json !== undefined && json.length <= 80 ? `the object ${json}` : 'an object';
    }
  }
}

/**
 * Checks that argument number `index` (0-based) of `op` is undefined or a plain options object
 * whose keys are all in `keys`.
 * @throws BadArgumentsError e.g. `setData: the third argument is an options object ({ version }), got the number 0`
 */
export function checkOptions(op: string, index: number, value: unknown, keys: readonly string[], path?: string): void {
  if (value === undefined) return;
  const shape = `{ ${keys.join(', ')} }`;
  const ctx = path === undefined ? {} : { path };
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value)) {
    throw new BadArgumentsError(
      `${op}: the ${ORDINALS[index] ?? `#${index + 1}`} argument is an options object (${shape}), got ${describeValue(value)}`,
      ctx,
    );
  }
  for (const k of Object.keys(value)) {
    if (!keys.includes(k)) {
      throw new BadArgumentsError(`${op}: unknown option ${JSON.stringify(k)} (the options are ${shape})`, ctx);
    }
  }
}

/**
 * A data version to match: an integer from -1 (any version) to 2^31 - 1. Undefined is -1.
 * @throws BadArgumentsError naming `op` and what was given
 */
export function checkVersion(op: string, version: unknown, path?: string, what = 'version'): number {
  if (version === undefined) return -1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < -1 || version > 2_147_483_647) {
    throw new BadArgumentsError(
      `${op}: ${what} must be an integer from -1 (any version) to 2147483647, got ${describeValue(version)}`,
      path === undefined ? {} : { path },
    );
  }
  return version;
}

const MODES = new Set<number>(Object.values(CreateMode));

/** @throws BadArgumentsError unless `mode` is one of {@link CreateMode}'s values (undefined is PERSISTENT) */
export function checkMode(op: string, mode: unknown, path?: string): CreateMode {
  if (mode === undefined) return CreateMode.PERSISTENT;
  if (typeof mode !== 'number' || !MODES.has(mode)) {
    throw new BadArgumentsError(
      `${op}: mode must be a CreateMode (0 PERSISTENT, 1 EPHEMERAL, 2 PERSISTENT_SEQUENTIAL, 3 EPHEMERAL_SEQUENTIAL), got ${describeValue(mode)}`,
      path === undefined ? {} : { path },
    );
  }
  return mode as CreateMode;
}

/** @throws BadArgumentsError unless `fn` is undefined or a function */
export function checkFunction(op: string, what: string, fn: unknown, path?: string): void {
  if (fn !== undefined && typeof fn !== 'function') {
    throw new BadArgumentsError(
      `${op}: ${what} must be a function, got ${describeValue(fn)}`,
      path === undefined ? {} : { path },
    );
  }
}

/** @throws BadArgumentsError unless `v` is undefined or a boolean */
export function checkBoolean(op: string, what: string, v: unknown, path?: string): void {
  if (v !== undefined && typeof v !== 'boolean') {
    throw new BadArgumentsError(
      `${op}: ${what} must be true or false, got ${describeValue(v)}`,
      path === undefined ? {} : { path },
    );
  }
}
