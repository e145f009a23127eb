/**
 * Failover: 3 zkjobs workers (child processes); the leader's process is SIGKILLed, a probe job
 * is submitted at once, and we time the next leader's `leader-elected` event and the probe's
 * handler start (only a leader can schedule it). Then the new leader is stopped gracefully
 * (Worker.close) and the same is timed for the last worker.
 */
import { Queue, createLogger } from '@zkjobs/worker';
import { startWorkers, stopAll, type ChildMsg, type WorkerChild } from './children.js';
import type { Ctx } from './context.js';
import { scoped, track } from './resources.js';
import { deleteTree } from './zk.js';
import { now, withTimeout } from './util.js';
import { waitForLeader } from './engines.js';

export interface FailoverRun {
  kind: 'sigkill' | 'graceful';
  /** Negotiated session timeout of the workers, ms (the floor of a SIGKILL failover). */
  sessionTimeoutMs: number;
  /** Kill (or close request) → the next worker's leader-elected event, ms. */
  leaderMs: number;
  /** Kill (or close request) → the probe job's handler start on the new leader's watch, ms. */
  firstJobMs: number;
  /** Graceful only: close request → the old leader's close() resolved, ms. */
  closeMs?: number;
  /** Graceful stop: ms from close() having returned (the old leader gone) to the probe's start. */
  afterCloseMs?: number;
}

let seq = 0;

function firstFrom(
  children: WorkerChild[],
  pred: (m: ChildMsg) => boolean,
  timeoutMs: number,
  what: string,
): Promise<ChildMsg> {
  const offs: (() => void)[] = [];
  const p = new Promise<ChildMsg>((resolve) => {
    for (const c of children) offs.push(c.on((m) => pred(m) && resolve(m)));
  });
  return withTimeout(p, timeoutMs, what).finally(() => offs.forEach((o) => o()));
}

export async function failoverRound(ctx: Ctx): Promise<FailoverRun[]> {
  const ns = `/bench/fo-${Date.now().toString(36)}${seq++}`;
  return scoped(async () => {
    track(`namespace ${ns}`, () => deleteTree(ctx.client, ns));
    const children = await startWorkers(
      3,
      {
        engine: 'zkjobs',
        connect: ctx.cluster.connectString,
        namespace: ns,
        concurrency: ctx.concurrency,
        prefetch: ctx.prefetch,
        perJob: true,
        sessionTimeoutMs: ctx.failoverSessionMs,
      },
      ctx.logFile,
      'zkjobs-fo',
    );
    track('zkjobs workers', () => stopAll(children));
    const leader = await waitForLeader(children);
    const queue = new Queue(ctx.client, { namespace: ns, logger: createLogger('warn') });
    await queue.client();
    const bound = ctx.failoverSessionMs + 20_000;
    // Warm-up: a few jobs through the whole path.
    for (let i = 0; i < 5; i++) {
      const tag = `warm-${i}`;
      const done = firstFrom(children, (m) => m.ev === 'done' && m.tag === tag, 10_000, 'warm-up job');
      await queue.add('noop', { tag });
      await done;
    }
    const out: FailoverRun[] = [];
    const sessionTimeoutMs = leader.ready?.sessionTimeoutMs ?? NaN;

    // SIGKILL of the leader's process.
    const others = children.filter((c) => c !== leader);
    const nextLeader = firstFrom(others, (m) => m.ev === 'leader', bound, 'new leader after SIGKILL');
    const probe = firstFrom(
      others,
      (m) => m.ev === 'active' && m.tag === 'after-kill',
      bound,
      'first job after SIGKILL',
    );
    const tKill = leader.kill();
    await queue.add('noop', { tag: 'after-kill' });
    const [l1, p1] = await Promise.all([nextLeader, probe]);
    out.push({
      kind: 'sigkill',
      sessionTimeoutMs,
      leaderMs: (l1 as { t: number }).t - tKill,
      firstJobMs: (p1 as { t: number }).t - tKill,
    });

    // Graceful stop of the new leader.
    const leader2 = others.find((c) => c.leaderAt !== null);
    const last = others.filter((c) => c !== leader2);
    if (leader2 && last.length > 0) {
      const nextLeader2 = firstFrom(last, (m) => m.ev === 'leader', bound, 'new leader after graceful stop');
      const probe2 = firstFrom(
        last,
        (m) => m.ev === 'active' && m.tag === 'after-close',
        bound,
        'first job after close',
      );
      const closed = leader2.waitFor((m) => m.ev === 'closed', 20_000, 'graceful close');
      const tClose = now();
      leader2.send({ cmd: 'close' });
      const c = (await closed) as { t: number };
      await queue.add('noop', { tag: 'after-close' });
      const [l2, p2] = await Promise.all([nextLeader2, probe2]);
      out.push({
        kind: 'graceful',
        sessionTimeoutMs,
        leaderMs: (l2 as { t: number }).t - tClose,
        firstJobMs: (p2 as { t: number }).t - tClose,
        closeMs: c.t - tClose,
        afterCloseMs: (p2 as { t: number }).t - c.t,
      });
    }
    return out;
  });
}
