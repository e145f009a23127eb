// Jepsen-style fault injection: a 3-node ensemble, 5 worker processes (`zkjobs worker start`)
// running jobs whose side effects go to a ledger file per process, while a nemesis — random but
// seeded (ZKJOBS_SEED replays its choices) — SIGKILLs workers (the leader among them) and starts
// replacements, SIGSTOPs workers past their session timeout, SIGKILLs and restarts ZooKeeper
// members (never two down), and cuts one worker off the ensemble through TCP proxies. After
// healing, every job must be completed and `zkjobs verify` must pass on the tree and the logs —
// which also requires every re-run in the ledgers to be explained by a requeue or a lost claim.
//
// CI size: ≥ 200 jobs and ≥ 10 faults of each kind in ~2–3 minutes. ZKJOBS_SOAK=1: a longer run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TcpProxy, TestingCluster } from '@zkjobs/core/testing';
import { Queue, createLogger, isFinalState, readHistoryFiles, verify, type VerifyReport } from '@zkjobs/worker';
import { describeWithServers, fileNamespace, sleep } from '../support/zk.js';
import { Rng, historyFiles, killAll, runCli, runSeed, spawnCliWorker, type CliWorker } from './support.js';

const SOAK = process.env['ZKJOBS_SOAK'] === '1';
const JOBS = SOAK ? 2000 : 240;
const FAULTS_PER_KIND = SOAK ? 40 : 10;
/**
 * Each job's attempts. A fault ends at most one claim of a given job (one worker's session, or one
 * member's connections), and a job whose worker is lost `attempts` times ends dead by design (the
 * stall limit), so a budget above the number of faults leaves `completed` as the only right end.
 */
const ATTEMPTS = 4 * FAULTS_PER_KIND + 1;
const SLOTS = 5;
/** The slot whose worker reaches the ensemble through TCP proxies (the partition target). */
const PROXIED = SLOTS - 1;
const SESSION_TIMEOUT_MS = 2000;
/** How long the submitter spreads the jobs over, ms (about the nemesis's own duration). */
const SUBMIT_WINDOW_MS = SOAK ? 600_000 : 60_000;

type FaultKind = 'worker-kill' | 'worker-pause' | 'zk-kill' | 'partition';
const KINDS: FaultKind[] = ['worker-kill', 'worker-pause', 'zk-kill', 'partition'];

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

describeWithServers('fault injection (nemesis) on a 3-node ensemble', () => {
  let cluster: TestingCluster | undefined;
  let client: ZkClient | undefined;
  let dir: string | undefined;
  const proxies: TcpProxy[] = [];
  const all: CliWorker[] = [];

  afterAll(async () => {
    await killAll(all);
    for (const p of proxies) await p.close().catch(() => undefined);
    await client?.close();
    await cluster?.close();
    if (dir && !process.env['ZKJOBS_KEEP']) rmSync(dir, { recursive: true, force: true });
  });

  it(
    `${JOBS} jobs under ≥ ${FAULTS_PER_KIND} faults of each kind: all complete, verify passes, every re-run explained`,
    async () => {
      const seed = runSeed();
      const rng = new Rng(seed);
      console.log(`nemesis seed ${seed} (replay: ZKJOBS_SEED=${seed}${SOAK ? ' ZKJOBS_SOAK=1' : ''})`);
      cluster = await TestingCluster.start({ size: 3, tickTime: 500 });
      for (const m of cluster.members) proxies.push(await TcpProxy.start('127.0.0.1', m.spec.clientPort));
      client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 10_000 });
      const run = (dir = mkdtempSync(join(tmpdir(), 'zkjobs-nemesis-')));
      const namespace = fileNamespace(import.meta.filename);
      const ns = client.usingNamespace(namespace);
      const queue = new Queue(client, { namespace, logger });
      await queue.client();

      // ----- workers -------------------------------------------------------------------------
      const slots: CliWorker[] = [];
      let gen = 0;
      const spawnSlot = async (i: number): Promise<CliWorker> => {
        const w = await spawnCliWorker({
          connect: i === PROXIED ? proxies.map((p) => p.address).join(',') : cluster!.connectString,
          namespace,
          dir: run,
          label: `s${i}-g${gen++}`,
          concurrency: 3,
          sessionTimeoutMs: SESSION_TIMEOUT_MS,
        });
        all.push(w);
        slots[i] = w;
        return w;
      };
      for (let i = 0; i < SLOTS; i++) await spawnSlot(i);

      // ----- submitter: the jobs trickle in while the nemesis works -------------------------------
      const ids = Array.from({ length: JOBS }, (_, i) => `j-${String(i).padStart(5, '0')}`);
      const jobMs = ids.map(() => rng.int(200, 2500));
      let submitted = 0;
      const submitter = (async () => {
        const batch = Math.max(1, Math.ceil(JOBS / (SUBMIT_WINDOW_MS / 1000)));
        while (submitted < JOBS) {
          const chunk = ids.slice(submitted, submitted + batch);
          for (let tries = 0; ; tries++) {
            try {
              // jobId is the idempotency key: a retry after a lost reply adds nothing twice.
              await queue.addBulk(
                chunk.map((id) => ({
                  type: 'work',
                  data: { ms: jobMs[ids.indexOf(id)] },
                  opts: { jobId: id, attempts: ATTEMPTS, backoff: 200 },
                })),
              );
              break;
            } catch (err) {
              if (tries >= 20) throw err;
              await sleep(500);
            }
          }
          submitted += chunk.length;
          await sleep(1000);
        }
      })();

      // ----- nemesis ---------------------------------------------------------------------------
      const faults: Record<FaultKind, number> = { 'worker-kill': 0, 'worker-pause': 0, 'zk-kill': 0, partition: 0 };
      let leaderKills = 0;
      const busy = new Set<number>();
      const log = (s: string): void => {
        if (process.env['ZKJOBS_NEMESIS_VERBOSE']) console.log(`[nemesis +${Date.now() - t0} ms] ${s}`);
      };
      const t0 = Date.now();
      const freeSlot = (): number => rng.pick([...Array(SLOTS).keys()].filter((i) => !busy.has(i)));
      const leaderSlot = async (): Promise<number | null> => {
        try {
          const info = JSON.parse((await ns.getData('/leader')).data.toString('utf8')) as { pid?: number };
          const i = slots.findIndex((w) => w.pid === info.pid && !w.dead);
          return i >= 0 && !busy.has(i) ? i : null;
        } catch {
          return null;
        }
      };

      const processLane = async (): Promise<void> => {
        while (faults['worker-kill'] < FAULTS_PER_KIND || faults['worker-pause'] < FAULTS_PER_KIND) {
          const kind: FaultKind =
            faults['worker-kill'] >= FAULTS_PER_KIND
              ? 'worker-pause'
              : faults['worker-pause'] >= FAULTS_PER_KIND
                ? 'worker-kill'
                : rng.pick(['worker-kill', 'worker-pause'] as const);
          if (kind === 'worker-kill') {
            // Every third kill is the leader's; the others hit any worker (the leader included).
            const wantLeader = faults['worker-kill'] % 3 === 0;
            const i = (wantLeader ? await leaderSlot() : null) ?? freeSlot();
            busy.add(i);
            const w = slots[i]!;
            const wasLeader = await isLeaderPid(ns, w.pid);
            w.child.kill('SIGKILL');
            await w.exited;
            faults['worker-kill']++;
            if (wasLeader) leaderKills++;
            log(`SIGKILL worker slot ${i} pid ${w.pid}${wasLeader ? ' (leader)' : ''}`);
            await sleep(rng.int(100, 800));
            await spawnSlot(i);
            busy.delete(i);
          } else {
            const i = freeSlot();
            busy.add(i);
            const w = slots[i]!;
            const ms = rng.int(SESSION_TIMEOUT_MS + 500, SESSION_TIMEOUT_MS + 1500);
            process.kill(w.pid, 'SIGSTOP');
            faults['worker-pause']++;
            log(`SIGSTOP worker slot ${i} pid ${w.pid} for ${ms} ms`);
            await sleep(ms);
            process.kill(w.pid, 'SIGCONT');
            busy.delete(i);
          }
          await sleep(rng.int(300, 1000));
        }
      };

      const networkLane = async (): Promise<void> => {
        while (faults['zk-kill'] < FAULTS_PER_KIND || faults.partition < FAULTS_PER_KIND) {
          const kind: FaultKind =
            faults['zk-kill'] >= FAULTS_PER_KIND
              ? 'partition'
              : faults.partition >= FAULTS_PER_KIND
                ? 'zk-kill'
                : rng.pick(['zk-kill', 'partition'] as const);
          if (kind === 'zk-kill') {
            // One member at a time, the quorum leader now and then.
            const m = rng.next() < 0.4 ? await cluster!.leader() : rng.pick(cluster!.members);
            await m.kill();
            faults['zk-kill']++;
            const down = rng.int(300, 1500);
            log(`SIGKILL ZooKeeper member ${m.spec.id} for ${down} ms`);
            await sleep(down);
            await m.start();
            await m.waitForMode(60_000);
          } else {
            while (busy.has(PROXIED)) await sleep(100);
            busy.add(PROXIED);
            const ms = rng.int(SESSION_TIMEOUT_MS + 500, SESSION_TIMEOUT_MS + 1500);
            for (const p of proxies) p.cut();
            faults.partition++;
            log(`cut worker slot ${PROXIED} pid ${slots[PROXIED]!.pid} off the ensemble for ${ms} ms`);
            await sleep(ms);
            for (const p of proxies) p.heal();
            busy.delete(PROXIED);
          }
          await sleep(rng.int(300, 1000));
        }
      };

      try {
        await Promise.all([processLane(), networkLane(), submitter]);
      } finally {
        // Heal everything, whatever happened.
        for (const p of proxies) p.heal();
        for (const w of slots) {
          try {
            if (!w.dead) process.kill(w.pid, 'SIGCONT');
          } catch {
            // it exited meanwhile
          }
        }
        for (const m of cluster.members) if (!m.running) await m.start();
      }
      const nemesisMs = Date.now() - t0;

      // ----- after healing: every job reaches a final state -------------------------------------
      const finalDeadline = Date.now() + (SOAK ? 300_000 : 90_000);
      let notFinal: string[] = [];
      for (;;) {
        const jobs = await queue.getJobs().catch(() => null);
        if (jobs) {
          notFinal = jobs.filter((j) => !isFinalState(j.state)).map((j) => `${j.id}:${j.state}`);
          if (jobs.length === JOBS && notFinal.length === 0) break;
        }
        if (Date.now() > finalDeadline) break;
        await sleep(1000);
      }
      // Let late (refused) completions of thawed workers reach their logs, then stop gracefully.
      await sleep(SESSION_TIMEOUT_MS);
      for (const w of slots) if (!w.dead) w.child.kill('SIGTERM');
      await Promise.race([Promise.all(slots.map((w) => w.exited)), sleep(10_000)]);
      await killAll(all);

      // ----- the checker ----------------------------------------------------------------------
      const files = historyFiles(run);
      const events = await readHistoryFiles(files);
      const report: VerifyReport = await verify(ns, { events, submitted: ids, settleMs: 1000 });
      const jobs = await queue.getJobs();
      const completed = jobs.filter((j) => j.state === 'completed').length;
      const effects = events.filter((e) => e.kind === 'effect');
      const runs = new Map<string, Set<number>>();
      for (const e of effects) runs.set(e.job, (runs.get(e.job) ?? new Set()).add(e.token ?? -1));
      const extraRuns = [...runs.values()].reduce((s, t) => s + t.size - 1, 0);
      const s = report.stats;
      console.log(
        [
          `fault suite summary (seed ${seed}, ${Math.round(nemesisMs / 1000)} s of faults, ${all.length} worker processes in all):`,
          `  jobs              ${JOBS} submitted, ${completed} completed, ${jobs.length - completed} other`,
          `  attempts          at most ${Math.max(...jobs.map((j) => j.attemptsMade))} claims of one job (budget ${jobs[0]?.opts.attempts})`,
          `  faults            ${KINDS.map((k) => `${k} ${faults[k]}`).join(', ')} (leader kills ${leaderKills})`,
          `  re-runs           ${s.reruns} jobs ran more than once (${extraRuns} extra runs in the ledgers)`,
          `  refused           ${s.refused} refused completions, ${s.stalled} lost claims (stalled), ${s.requeued} requeued claims`,
          `  history           ${s.events} events from ${files.length} logs; ${s.claims} claims, ${s.completions} completions`,
          `  verdict           ${report.ok ? 'PASS' : 'FAIL'} (${report.checks.map((c) => `${c.name} ${c.ok ? 'ok' : `FAIL ${c.total}`}`).join(', ')})`,
        ].join('\n'),
      );
      for (const j of jobs.filter((x) => x.state !== 'completed')) {
        // A job that did not complete tells its story: state, error, and every attempt.
        console.log(
          `not completed: ${j.id} ${j.state} attempts ${j.attemptsMade}/${j.opts.attempts} ` +
            `error ${JSON.stringify(j.error ?? null)}\n` +
            j.history
              .map(
                (a) =>
                  `    #${a.attempt} ${a.worker} token ${a.token} ${a.outcome}${a.error ? `: ${a.error}` : ''}${a.by ? ` by ${a.by}` : ''}`,
              )
              .join('\n'),
        );
      }
      if (!report.ok) {
        console.log(
          JSON.stringify(
            report.checks.filter((c) => !c.ok),
            null,
            1,
          ).slice(0, 8000),
        );
      }
      expect(notFinal, 'jobs not final after healing').toEqual([]);
      expect(jobs.length).toBe(JOBS);
      expect(completed).toBe(JOBS);
      for (const k of KINDS) expect(faults[k], k).toBeGreaterThanOrEqual(FAULTS_PER_KIND);
      expect(leaderKills).toBeGreaterThanOrEqual(1);
      expect(report.checks.every((c) => c.ran)).toBe(true);
      expect(report.ok).toBe(true);

      // The same verdict from the command line.
      const cli = await runCli(
        ['--connect', cluster.connectString, '--namespace', namespace, '--json', 'verify', '--history', ...files],
        120_000,
      );
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect((JSON.parse(cli.stdout) as VerifyReport).ok).toBe(true);
    },
    SOAK ? 3_600_000 : 360_000,
  );
});

async function isLeaderPid(ns: ZkClient, pid: number): Promise<boolean> {
  try {
    return (JSON.parse((await ns.getData('/leader')).data.toString('utf8')) as { pid?: number }).pid === pid;
  } catch {
    return false;
  }
}
