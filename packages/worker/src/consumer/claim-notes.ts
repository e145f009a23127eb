/**
 * Notes of refused completions and lost claims, kept in the job's record so that `zkjobs
 * verify` can explain a re-run from the tree alone. A note is written by a compare-and-set on
 * the version just read, and only once the record is final (`transitions.addNote`); until then
 * it waits here, retried with backoff for up to 10 minutes. Best effort: a note is history, not
 * state.
 */
import { BadVersionError, NoNodeError } from '@zkjobs/core';
import { writeRecordAt } from '../engine/ops.js';
import { readRecord } from '../engine/record.js';
import { addNote, hasNote, isFinalState } from '../engine/transitions.js';
import type { ClaimNote } from '../job.js';
import { backoffStep, mapLimit } from '../util.js';
import type { ActiveJob, ConsumerContext } from './context.js';

/** A note is given up this long after its claim was lost, ms. */
const NOTE_GIVE_UP_MS = 10 * 60_000;
/** At most this many notes wait at once (more are dropped: history, best effort). */
const MAX_WAITING_NOTES = 1000;

interface WaitingNote {
  id: string;
  note: Omit<ClaimNote, 'over'>;
  tries: number;
  due: number;
  until: number;
}

/** The notes of one consumer that are not written yet. */
export class ClaimNotes {
  private readonly waiting = new Map<string, WaitingNote>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly ctx: ConsumerContext) {}

  /** Notes not written yet (for tests and shutdown). */
  get pending(): number {
    return this.waiting.size;
  }

  /** Queues a note about claim `a` for its record. */
  note(a: ActiveJob, kind: ClaimNote['kind'], reason: string): void {
    const key = `${a.id}@${a.token}@${kind}`;
    if (this.waiting.has(key) || this.waiting.size >= MAX_WAITING_NOTES) return;
    const now = Date.now();
    this.waiting.set(key, {
      id: a.id,
      note: {
        kind,
        attempt: a.rec.attemptsMade,
        token: a.token,
        worker: a.worker,
        session: a.session,
        process: this.ctx.process,
        reason,
        at: now,
      },
      tries: 0,
      due: now,
      until: now + NOTE_GIVE_UP_MS,
    });
    this.arm(0);
  }

  private arm(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, ms);
    this.timer.unref();
  }

  /** Writes the notes that are due. */
  write(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const now = Date.now();
        const due = [...this.waiting].filter(([, n]) => n.due <= now);
        await mapLimit(due, 16, ([key, n]) => this.writeOne(key, n));
      } finally {
        this.running = null;
        if (this.waiting.size > 0) {
          const next = Math.min(...[...this.waiting.values()].map((n) => n.due));
          this.arm(Math.max(0, next - Date.now()));
        }
      }
    })();
    return this.running;
  }

  private async writeOne(key: string, n: WaitingNote): Promise<void> {
    n.tries++;
    const later = (): void => {
      if (Date.now() > n.until) this.waiting.delete(key);
      else n.due = Date.now() + backoffStep(Math.min(n.tries, 6), 250, 10_000);
    };
    let found;
    try {
      found = await readRecord(this.ctx.client, n.id);
    } catch {
      return later();
    }
    if (!found || hasNote(found.rec, n.note)) return void this.waiting.delete(key);
    if (!isFinalState(found.rec.state)) return later();
    try {
      await writeRecordAt(this.ctx.client, {
        next: addNote(found.rec, n.note, found.stat.version),
        version: found.stat.version,
      });
      this.waiting.delete(key);
      this.ctx.log.debug({ jobId: n.id, token: n.note.token, kind: n.note.kind }, 'claim note written');
    } catch (err) {
      if (err instanceof NoNodeError) this.waiting.delete(key);
      else if (err instanceof BadVersionError) n.due = Date.now();
      else later();
    }
  }
}
