/**
 * What JSON stores as it is: `null`, booleans, finite numbers, strings, arrays and plain objects
 * of those. Anything else — `NaN` and `±Infinity` (stored as `null`), `undefined` in an array
 * (`null`) or as an object's value (the key dropped), a `Date` (a string), a `Map`, `Set` or class
 * instance (`{}` or its fields only), a function or a symbol (dropped), a `BigInt` (throws), a
 * cycle (throws) — would come back as something else, so payloads and results that hold one are
 * refused instead of being changed silently.
 */

/**
 * Where `value` holds something JSON cannot store as it is, and what: e.g.
 * `"result.items[2] is NaN, which JSON stores as null"`; null when it is faithful.
 * @param root - the name of the value in the message (`data`, `result`)
 * @param maxDepth - deeper nesting is reported rather than walked @defaultValue 1000
 */
export function unfaithfulJson(value: unknown, root: string, maxDepth = 1000): string | null {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): string | null => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return null;
    if (typeof v === 'number') {
      return Number.isFinite(v) ? null : `${path} is ${String(v)}, which JSON stores as null`;
    }
    if (v === undefined) return `${path} is undefined, which JSON cannot store`;
    if (typeof v === 'bigint') return `${path} is a BigInt, which JSON cannot store (use a string)`;
    if (typeof v === 'function') return `${path} is a function, which JSON drops`;
    if (typeof v === 'symbol') return `${path} is a symbol, which JSON drops`;
    if (depth > maxDepth) return `${path} is nested deeper than ${maxDepth} levels`;
    const o = v as object;
    if (seen.has(o)) return `${path} is a cycle (refers to an enclosing value)`;
    if (Array.isArray(o)) {
      seen.add(o);
      for (let i = 0; i < o.length; i++) {
        if (!(i in o)) return `${path}[${i}] is a hole, which JSON stores as null`;
        const p = walk(o[i], `${path}[${i}]`, depth + 1);
        if (p) return p;
      }
      seen.delete(o);
      return null;
    }
    const proto = Object.getPrototypeOf(o) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (o.constructor as { name?: string } | undefined)?.name ?? 'an object with a prototype';
      const hint = o instanceof Date ? ' (use toISOString())' : '';
      return `${path} is a ${name}, which JSON does not store as it is${hint}`;
    }
    if (Object.getOwnPropertySymbols(o).length > 0) return `${path} has symbol keys, which JSON drops`;
    seen.add(o);
    for (const [k, x] of Object.entries(o)) {
      const p = walk(x, `${path}${/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`, depth + 1);
      if (p) return p;
    }
    seen.delete(o);
    return null;
  };
  return walk(value, root, 0);
}
