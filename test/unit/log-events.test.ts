// The engine's state-change log messages are protocol: `zkjobs verify --history` reads them back.
// Every message HISTORY_MESSAGES maps must parse (parseHistoryLine) into its kind from a pino
// JSON line, so rewording a message in LOG cannot silently break verify.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HISTORY_MESSAGES, LOG, failureMessage } from '../../packages/worker/src/log-events.js';
import { createLogger } from '../../packages/worker/src/logger.js';
import { parseHistoryLine, readHistoryLines } from '../../packages/worker/src/verify.js';

const TIME = 1_700_000_000_123;

/** A line as pino writes it: level, time, pid, hostname, name, the merged fields, msg. */
function pinoLine(msg: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ level: 30, time: TIME, pid: 4242, hostname: 'host', name: 'zkjobs', ...fields, msg });
}

const claimFields = { jobId: 'job-7', type: 'email', attempt: 2, token: 11, worker: 'w-0000000003', session: '1a2b' };
const mapped = Object.entries(HISTORY_MESSAGES);
const unmapped = Object.entries(LOG).filter(([, msg]) => !(msg in HISTORY_MESSAGES));

describe('HISTORY_MESSAGES', () => {
  it('maps only messages of LOG', () => {
    const messages = new Set<string>(Object.values(LOG));
    expect(mapped.length).toBeGreaterThan(0);
    for (const [msg] of mapped) expect(messages).toContain(msg);
  });

  it('maps the messages of every recorded state change (and only those are left out)', () => {
    expect(HISTORY_MESSAGES).toEqual({
      [LOG.submitted]: 'submit',
      [LOG.active]: 'claim',
      [LOG.completed]: 'complete',
      [LOG.retrying]: 'fail',
      [LOG.failed]: 'fail',
      [LOG.dead]: 'fail',
      [LOG.refused]: 'refuse',
      [LOG.stalled]: 'stall',
      [LOG.requeued]: 'requeue',
      [LOG.lost]: 'fail',
    });
    expect(unmapped.map(([k]) => k).sort()).toEqual([
      'cancelled',
      'cleaned',
      'dependencyFailed',
      'obliterated',
      'released',
      'removed',
      'retried',
    ]);
  });

  it('messages are distinct', () => {
    const values = Object.values(LOG);
    expect(new Set(values).size).toBe(values.length);
  });

  it('failureMessage is a mapped fail message for every failed attempt', () => {
    expect(failureMessage('failed')).toBe(LOG.failed);
    expect(failureMessage('dead')).toBe(LOG.dead);
    expect(failureMessage('waiting')).toBe(LOG.retrying);
    expect(failureMessage('delayed')).toBe(LOG.retrying);
    for (const s of ['failed', 'dead', 'waiting', 'delayed'] as const) {
      expect(HISTORY_MESSAGES[failureMessage(s)]).toBe('fail');
    }
  });
});

describe('parseHistoryLine on pino lines', () => {
  it.each(mapped)('"%s" → %s', (msg, kind) => {
    const e = parseHistoryLine(pinoLine(msg, claimFields), 'w.log:3');
    expect(e).toEqual({
      kind,
      job: 'job-7',
      token: 11,
      attempt: 2,
      worker: 'w-0000000003',
      session: '1a2b',
      at: TIME,
      source: 'w.log:3',
    });
  });

  it.each(unmapped)('%s ("%s") is not a history event', (_key, msg) => {
    expect(parseHistoryLine(pinoLine(msg, claimFields))).toBeNull();
  });

  it('a requeue of a never-claimed assignment has no token', () => {
    const e = parseHistoryLine(
      pinoLine(LOG.requeued, { jobId: 'j', state: 'waiting', attempt: 0, version: 4, worker: 'w-1', epoch: 2 }),
    );
    expect(e).toEqual({ kind: 'requeue', job: 'j', attempt: 0, worker: 'w-1', at: TIME });
  });

  it.each([LOG.stalled, LOG.refused])('"%s" without a token field takes it from its error message', (msg) => {
    const e = parseHistoryLine(pinoLine(msg, { jobId: 'j', error: 'lost claim on job j (token 9): session expired' }));
    expect(e).toMatchObject({ kind: HISTORY_MESSAGES[msg], job: 'j', token: 9 });
  });

  it('needs a jobId, a known msg and JSON', () => {
    expect(parseHistoryLine(pinoLine(LOG.active, { token: 1 }))).toBeNull();
    expect(parseHistoryLine(pinoLine('job activated', claimFields))).toBeNull();
    expect(parseHistoryLine(`${pinoLine(LOG.active, claimFields).slice(0, -2)}`)).toBeNull();
    expect(parseHistoryLine('job active jobId=job-7')).toBeNull();
    expect(parseHistoryLine('')).toBeNull();
  });

  it('readHistoryLines gives a completion without token the token of the job’s latest claim', () => {
    const text = [
      pinoLine(LOG.active, claimFields),
      'not json',
      pinoLine(LOG.completed, { jobId: 'job-7', attempt: 2 }),
    ].join('\n');
    const events = readHistoryLines(text, 'w.log');
    expect(events.map((e) => [e.kind, e.token, e.source])).toEqual([
      ['claim', 11, 'w.log:1'],
      ['complete', 11, 'w.log:3'],
    ]);
  });
});

describe('the engine logger', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zkjobs-unit-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes lines that parseHistoryLine reads (msg and time keys as the reader expects)', async () => {
    const file = join(dir, 'worker.log');
    const log = createLogger('debug', file);
    for (const [msg] of mapped) log.info(claimFields, msg);
    // End the logger's destination and wait until the file is closed: every line is written.
    const sym = Object.getOwnPropertySymbols(log).find((s) => s.description === 'pino.stream')!;
    const stream = (log as unknown as Record<symbol, NodeJS.WritableStream>)[sym]!;
    const closed = once(stream, 'close');
    stream.end();
    await closed;
    const events = readHistoryLines(readFileSync(file, 'utf8'), 'worker.log');
    expect(events.map((e) => e.kind)).toEqual(mapped.map(([, kind]) => kind));
    for (const e of events) {
      expect(e).toMatchObject({ job: 'job-7', token: 11, attempt: 2, worker: 'w-0000000003', session: '1a2b' });
      expect(typeof e.at).toBe('number');
    }
  });
});

describe('parseHistoryLine and built-in property names', () => {
  it('does not take an object property name (constructor, toString) for a message or an event', () => {
    expect(parseHistoryLine(pinoLine('constructor', { jobId: 'j1' }))).toBeNull();
    expect(parseHistoryLine(pinoLine('hasOwnProperty', { jobId: 'j1' }))).toBeNull();
    expect(parseHistoryLine(JSON.stringify({ event: 'toString', jobId: 'j1', t: TIME }))).toBeNull();
  });
});
