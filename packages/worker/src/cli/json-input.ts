/**
 * Parsing JSON given on the command line (`--data`, `--payload`) with errors that say where the
 * text is malformed: line, column and what was expected, which `JSON.parse`'s messages do not
 * reliably say.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

/** Where and why a JSON text is malformed. */
export interface JsonSyntaxProblem {
  /** 0-based character offset of the problem. */
  offset: number;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** What is wrong, e.g. `expected ',' or '}' but found ']'`. */
  reason: string;
}

class Stop extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

function describe(text: string, i: number): string {
  if (i >= text.length) return 'end of input';
  const ch = text[i]!;
  return JSON.stringify(ch).replace(/^"|"$/g, "'");
}

/**
 * Finds the first syntax error of a JSON text by a small recursive-descent scan.
 * @returns the problem, or null when the text is valid JSON
 */
export function locateJsonError(text: string): JsonSyntaxProblem | null {
  let i = 0;
  let depth = 0;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const fail = (expected: string): never => {
    throw new Stop(i, `expected ${expected} but found ${describe(text, i)}`);
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail('a JSON value');
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) throw new Stop(i, 'unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const n = text[i + 1];
        if (n !== undefined && '"\\/bfnrt'.includes(n)) i += 2;
        else if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else throw new Stop(i, 'invalid escape in string');
        continue;
      }
      if (c.charCodeAt(0) < 0x20) throw new Stop(i, 'control character in string (escape it)');
      i++;
    }
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === '-' || m[0] === '') fail('a JSON value');
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      if (++depth > 512) throw new Stop(i, 'nested too deeply');
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        depth--;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a double-quoted property name');
        string();
        ws();
        if (text[i] !== ':') fail("':'");
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          depth--;
          return;
        }
        fail("',' or '}'");
      }
    } else if (c === '[') {
      if (++depth > 512) throw new Stop(i, 'nested too deeply');
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        depth--;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          depth--;
          return;
        }
        fail("',' or ']'");
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else fail('a JSON value');
  };
  try {
    value();
    ws();
    if (i < text.length) fail('end of input');
    return null;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    const before = text.slice(0, e.offset);
    const line = before.split('\n').length;
    const column = e.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { offset: e.offset, line, column, reason: e.reason };
  }
}

/**
 * Parses JSON from the command line; `@file` reads the file.
 * @param arg - the option's value: JSON text, or `@path`
 * @param what - the option's name for messages, e.g. `--data`
 * @throws UsageError naming the option (and file), the line and column, and what was expected
 */
export async function parseJsonArg(arg: string, what: string): Promise<unknown> {
  let text = arg;
  let source = what;
  if (arg.startsWith('@')) {
    const file = arg.slice(1);
    source = `${what} file ${file}`;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${source}: ${(err as Error).message}`, { cause: err });
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const p = locateJsonError(text);
    const where = p ? `line ${p.line}, column ${p.column}: ${p.reason}` : (err as Error).message;
    const snippet = p ? excerpt(text, p.offset) : '';
    throw new UsageError(`malformed JSON in ${source} at ${where}${snippet}`, { cause: err });
  }
}

function excerpt(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  let lineEnd = text.indexOf('\n', offset);
  if (lineEnd < 0) lineEnd = text.length;
  const from = Math.max(lineStart, offset - 30);
  const to = Math.min(lineEnd, offset + 30);
  const line = text.slice(from, to).replace(/\t/g, ' ');
  return `\n  ${line}\n  ${' '.repeat(offset - from)}^`;
}
