// Schedules fired by the leader on ZooKeeper's clock: each slot's job (`<id>@<slot>`) exactly
// once, also while the leader is SIGKILLed and stopped; upsert keeps the next slot; pause,
// resume and remove.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { Queue, ScheduleNotFoundError, Worker, createLogger, verify, type Job } from '@zkjobs/worker';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';
import { killAll, readLedger, spawnWorker, type WorkerProc } from './support-procs.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
let client: ZkClient;
const open: Worker[] = [];
const procs: WorkerProc[] = [];
let dir: string;

beforeAll(async () => {
  client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  client.setMaxListeners(0);
  dir = mkdtempSync(join(tmpdir(), 'zkjobs-schedules-'));
});
afterEach(async () => {
  for (const w of open.splice(0)) await w.close({ graceMs: 200 }).catch(() => undefined);
});
afterAll(async () => {
  await killAll(procs);
  await client?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The jobs of schedule `id` now, by slot. */
async function firedJobs(queue: Queue, id: string): Promise<Map<number, Job>> {
  const out = new Map<number, Job>();
  for (const j of await queue.getJobs()) {
    if (j.id.startsWith(`${id}@`)) out.set(Number(j.id.slice(id.length + 1)), j);
  }
  return out;
}

describe('schedules, in-process', () => {
  async function setup() {
    const namespace = fileNamespace(import.meta.filename);
    const queue = new Queue(client, { namespace, logger });
    const ran: string[] = [];
    const worker = new Worker(client, { tick: async (job) => void ran.push(job.id) }, { namespace, logger });
    open.push(worker);
    await worker.start();
    return { queue, ran };
  }

  it('every 1 s with a limit of 3: three jobs <id>@<slot>, slots 1 s apart, then the schedule ends', async () => {
    const { queue, ran } = await setup();
    const s = await queue.upsertSchedule('three', { every: 1000, limit: 3, job: { type: 'tick', data: { n: 1 } } });
    expect(s.next! % 1000).toBe(0);
    await waitFor(() => ran.length === 3, 15_000, 50, 'three runs');
    const slots = [...(await firedJobs(queue, 'three')).keys()].sort();
    expect(slots).toEqual([s.next!, s.next! + 1000, s.next! + 2000]);
    const after = (await queue.getSchedule('three'))!;
    expect(after).toMatchObject({ fired: 3, next: null, lastFired: s.next! + 2000 });
    expect((await queue.getJob(`three@${s.next!}`))!.data).toEqual({ n: 1 });
  });

  it('upsert with the same timing keeps the next slot; pause fires nothing; resume goes on from now; remove stops it', async () => {
    const { queue } = await setup();
    const start = Math.ceil((Date.now() + 60_000) / 1000) * 1000;
    const a = await queue.upsertSchedule('later', { every: 1000, startAt: start, job: { type: 'tick' } });
    const b = await queue.upsertSchedule('later', { every: 1000, startAt: start, job: { type: 'tick', data: 2 } });
    expect(b.next).toBe(a.next);
    expect(b.next).toBe(start);
    expect(b.job.data).toBe(2);
    const c = await queue.upsertSchedule('later', { every: 2000, job: { type: 'tick' } });
    expect(c.next).toBeLessThan(start); // a new timing starts from now

    await queue.upsertSchedule('p', { every: 1000, job: { type: 'tick' } });
    await waitFor(async () => (await firedJobs(queue, 'p')).size >= 1, 10_000, 50, 'p fired');
    await queue.pauseSchedule('p');
    const atPause = (await firedJobs(queue, 'p')).size;
    await sleep(2500);
    expect((await firedJobs(queue, 'p')).size).toBeLessThanOrEqual(atPause + 1); // one in flight at most
    const paused = (await firedJobs(queue, 'p')).size;
    await sleep(1500);
    expect((await firedJobs(queue, 'p')).size).toBe(paused);
    expect((await queue.getSchedule('p'))!.paused).toBe(true);
    const resumed = await queue.resumeSchedule('p');
    expect(resumed.next).toBeGreaterThanOrEqual(Date.now() - 1000);
    await waitFor(async () => (await firedJobs(queue, 'p')).size > paused, 10_000, 50, 'p fired again');
    expect(await queue.removeSchedule('p')).toBe(true);
    expect(await queue.removeSchedule('p')).toBe(false);
    await expect(queue.pauseSchedule('p')).rejects.toThrow(ScheduleNotFoundError);
    const left = (await firedJobs(queue, 'p')).size;
    await sleep(2000);
    expect((await firedJobs(queue, 'p')).size).toBeLessThanOrEqual(left + 1);
    expect((await queue.getSchedules()).map((x) => x.id)).toEqual(['later']);
  });
});

describe('schedules across leader changes, 3 worker processes', () => {
  it('every 1 s for 30 s while the leader is SIGKILLed twice and stopped once: each slot ran exactly once', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const ledger = join(dir, 'ledger.jsonl');
    let n = 0;
    const spawn = async () => {
      const p = await spawnWorker({
        ZK_CONNECT: zkConnect,
        NAMESPACE: namespace,
        LEDGER: ledger,
        CONCURRENCY: '4',
        SESSION_TIMEOUT_MS: '2000',
        LOG_FILE: join(dir, `w${n++}.log`),
        LOG_LEVEL: 'info',
      });
      procs.push(p);
      return p;
    };
    const live: WorkerProc[] = [await spawn(), await spawn(), await spawn()];
    const queue = new Queue(client, { namespace, logger });
    const startAt = Math.ceil((Date.now() + 2000) / 1000) * 1000;
    const endAt = startAt + 30_000;
    const expected = Array.from({ length: 30 }, (_, k) => startAt + k * 1000);
    await queue.upsertSchedule('tick', {
      every: 1000,
      startAt,
      endAt,
      job: { type: 'work', data: { ms: 20 }, opts: { attempts: 3 } },
    });
    const leaderOf = async (): Promise<WorkerProc> => {
      const info = JSON.parse((await client.usingNamespace(namespace).getData('/leader')).data.toString()) as {
        pid: number;
      };
      return live.find((p) => p.pid === info.pid)!;
    };
    // Leader changes at ~6 s, ~14 s (SIGKILL) and ~22 s (SIGTERM: a graceful stop) into the window.
    for (const [at, signal] of [
      [6000, 'SIGKILL'],
      [14_000, 'SIGKILL'],
      [22_000, 'SIGTERM'],
    ] as const) {
      await waitFor(() => Date.now() >= startAt + at, 40_000, 50, `t+${at}`);
      const leader = await waitFor(async () => {
        const l = await leaderOf().catch(() => undefined);
        return l && (await l.waitLine((x) => x.event === 'leader', 20_000)) ? l : undefined;
      }, 20_000);
      leader.child.kill(signal);
      await leader.exited;
      live.splice(live.indexOf(leader), 1);
      live.push(await spawn());
    }
    await waitFor(() => Date.now() >= endAt + 1000, 60_000, 100, 'window over');
    const jobs = await waitFor(
      async () => {
        const m = await firedJobs(queue, 'tick');
        return m.size === 30 && [...m.values()].every((j) => j.state === 'completed') ? m : undefined;
      },
      30_000,
      200,
      'all 30 slots completed',
    );
    expect([...jobs.keys()].sort((a, b) => a - b)).toEqual(expected);
    for (const j of jobs.values()) expect(j.history.filter((h) => h.outcome === 'completed')).toHaveLength(1);
    // The ledger: every slot's handler ran to its end; no other job of the schedule ran.
    const ends = readLedger(ledger).filter((l) => l.phase === 'end');
    expect(new Set(ends.map((l) => l.id))).toEqual(new Set(expected.map((s) => `tick@${s}`)));
    const s = (await queue.getSchedule('tick'))!;
    expect(s).toMatchObject({ fired: 30, skipped: 0, next: null });
    const report = await verify(client.usingNamespace(namespace));
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    console.log(
      `30 slots of 1 s across 3 leader changes: ${ends.length} handler runs for 30 slots; ` +
        `${[...jobs.values()].filter((j) => j.attemptsMade > 1).length} re-run after a killed worker`,
    );
  }, 120_000);
});
