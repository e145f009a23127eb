/**
 * Parsing JSON given on the command line (`--data`, `--payload`) with errors that say where the
 * text is malformed: line, column and what was expected, which `JSON.parse`'s messages do not
 * reliably say (located with jsonc-parser).
 */
import { readFile } from 'node:fs/promises';
import { ParseErrorCode, parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser';
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

/** jsonc-parser's error codes, as phrases. */
const REASONS: Partial<Record<ParseErrorCode, string>> = {
  [ParseErrorCode.InvalidCharacter]: 'a control character must be escaped in a string',
  [ParseErrorCode.InvalidNumberFormat]: 'malformed number',
  [ParseErrorCode.PropertyNameExpected]: 'expected a double-quoted property name',
  [ParseErrorCode.ValueExpected]: 'expected a value',
  [ParseErrorCode.ColonExpected]: "expected ':'",
  [ParseErrorCode.CommaExpected]: "expected ','",
  [ParseErrorCode.CloseBraceExpected]: "expected ',' or '}'",
  [ParseErrorCode.CloseBracketExpected]: "expected ',' or ']'",
  [ParseErrorCode.EndOfFileExpected]: 'expected the end of the input',
  [ParseErrorCode.InvalidCommentToken]: 'comments are not allowed in JSON',
  [ParseErrorCode.UnexpectedEndOfComment]: 'comments are not allowed in JSON',
  [ParseErrorCode.UnexpectedEndOfString]: 'unterminated string',
  [ParseErrorCode.UnexpectedEndOfNumber]: 'unterminated number',
  [ParseErrorCode.InvalidUnicode]: 'invalid \\u escape',
  [ParseErrorCode.InvalidEscapeCharacter]: 'invalid escape character',
};

function describe(text: string, i: number): string {
  if (i >= text.length) return 'end of input';
  return JSON.stringify(text[i]!).replace(/^"|"$/g, "'");
}

/**
 * Finds the first syntax error of a JSON text (jsonc-parser's scanner, with comments and
 * trailing commas disallowed, as in JSON).
 * @returns the problem, or null when the scanner finds none
 */
export function locateJsonError(text: string): JsonSyntaxProblem | null {
  const errors: ParseError[] = [];
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return null;
  const offset = Math.min(first.offset, text.length);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  const what = REASONS[first.error] ?? printParseErrorCode(first.error);
  const found = describe(text, offset);
  let reason: string;
  if (what.startsWith('expected')) reason = `${what} but found ${found}`;
  else if (first.error === ParseErrorCode.InvalidSymbol) {
    // The scanner's next complaint says what the parser wanted here, e.g. a property name.
    const next = errors[1] ? REASONS[errors[1].error] : undefined;
    reason = `unexpected ${found}${next?.startsWith('expected') ? `; ${next}` : ''}`;
  } else reason = `${what} (at ${found})`;
  return { offset, line, column, reason };
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
