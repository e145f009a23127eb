// Fault runs on hosts of their own (TestingNetwork): a ZooKeeper ensemble whose members each run
// in a network namespace, worker processes (`zkjobs worker start`) each in one more, partitions
// between them, and the checks every run ends with. Shared by test/faults/hosts.test.ts and
// `pnpm soak` (so: no vitest import here).
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { ZkClient } from '@zkjobs/core';
import {
  TestingCluster,
  TestingNetwork,
  fourLetterWord,
  type NetworkHost,
  type ZkServerProcess,
} from '@zkjobs/core/testing';
import {
  Queue,
  createLogger,
  isFinalState,
  readHistoryFiles,
  verify,
  type Job,
  type LeaderInfo,
  type VerifyReport,
} from '@zkjobs/worker';
import { Rng, historyFiles, killAll, readJsonLines, runCli, spawnCliWorker, type CliWorker } from './support.js';

const logger = createLogger('silent');

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A network with `members` ZooKeeper hosts (`zk1`…) and `workers` worker hosts (`w1`…), and the ensemble on it. */
export interface HostsRig {
  network: TestingNetwork;
  cluster: TestingCluster;
  /** The controller's client (outside every partition). */
  client: ZkClient;
  memberHosts: NetworkHost[];
  workerHosts: NetworkHost[];
  close(): Promise<void>;
}

/** Options of {@link startHostsRig}. */
export interface RigOptions {
  /** Ensemble size; default 3. */
  members?: number;
  /** Worker hosts; default 3. */
  workers?: number;
  /** ZooKeeper's tickTime, ms; default 500 (sessions of 1–10 s). */
  tickTime?: number;
  /** Extra hosts (e.g. `['ctl']`), after the worker hosts. */
  extraHosts?: string[];
}

/** Makes the network, starts the ensemble on its member hosts, connects the controller. */
export async function startHostsRig(o: RigOptions = {}): Promise<HostsRig> {
  const members = o.members ?? 3;
  const workers = o.workers ?? 3;
  const names = [
    ...Array.from({ length: members }, (_, i) => `zk${i + 1}`),
    ...Array.from({ length: workers }, (_, i) => `w${i + 1}`),
    ...(o.extraHosts ?? []),
  ];
  const network = await TestingNetwork.create({ hosts: names });
  let cluster: TestingCluster | undefined;
  try {
    const memberHosts = network.hosts.slice(0, members);
    cluster = await TestingCluster.start({
      size: members,
      tickTime: o.tickTime ?? 500,
      hosts: memberHosts,
      startTimeoutMs: 90_000,
    });
    const client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 10_000 });
    const c = cluster;
    return {
      network,
      cluster: c,
      client,
      memberHosts,
      workerHosts: network.hosts.slice(members, members + workers),
      close: async () => {
        await client.close().catch(() => undefined);
        await c.close().catch(() => undefined);
        await network.close();
      },
    };
  } catch (err) {
    await cluster?.close().catch(() => undefined);
    await network.close();
    throw err;
  }
}

/** The host a member runs on. */
export function hostOf(rig: HostsRig, member: ZkServerProcess): NetworkHost {
  return rig.memberHosts[member.spec.id - 1]!;
}

/**
 * The member `host`'s clients are connected to now, read from each member's `cons` (the client
 * addresses it serves); null when none serves a connection from that host.
 */
export async function memberServing(rig: HostsRig, host: NetworkHost): Promise<ZkServerProcess | null> {
  for (const m of rig.cluster.members) {
    if (!m.running) continue;
    const cons = await fourLetterWord(m.host, m.spec.clientPort, 'cons', 2000).catch(() => '');
    if (cons.includes(`/${host.address}:`)) return m;
  }
  return null;
}

/** The worker whose pid the `<ns>/leader` znode names, if it is one of `workers` and alive. */
export async function leaderOf(ns: ZkClient, workers: readonly CliWorker[]): Promise<CliWorker | null> {
  try {
    const info = JSON.parse((await ns.getData('/leader')).data.toString('utf8')) as Partial<LeaderInfo>;
    return workers.find((w) => w.pid === info.pid && !w.dead) ?? null;
  } catch {
    return null;
  }
}

/**
 * One leader per epoch: every epoch was taken (`leader-elected`, `worker start --json`) by one
 * worker, and every scheduling write the records show (`by: <worker>@<epoch>`) was made by the
 * worker that took that epoch. Returns the violations (empty when the invariant holds).
 */
export function leaderPerEpochViolations(eventFiles: readonly string[], jobs: readonly Job[]): string[] {
  const elected = new Map<number, Set<string>>();
  for (const f of eventFiles) {
    for (const l of readJsonLines(f)) {
      if (l['event'] !== 'leader-elected' || typeof l['epoch'] !== 'number') continue;
      const set = elected.get(l['epoch']) ?? new Set<string>();
      set.add(String(l['worker']));
      elected.set(l['epoch'], set);
    }
  }
  const out: string[] = [];
  for (const [epoch, who] of elected) {
    if (who.size > 1) out.push(`epoch ${epoch} taken by ${[...who].join(' and ')}`);
  }
  const writers = new Map<number, Set<string>>();
  for (const j of jobs) {
    for (const a of j.history ?? []) {
      const m = /^(w-\d+)@(\d+)$/.exec(a.by ?? '');
      if (!m) continue;
      const set = writers.get(Number(m[2])) ?? new Set<string>();
      set.add(m[1]!);
      writers.set(Number(m[2]), set);
    }
  }
  for (const [epoch, who] of writers) {
    if (who.size > 1) out.push(`records written under epoch ${epoch} by ${[...who].join(' and ')}`);
    const leader = elected.get(epoch);
    if (leader && leader.size === 1 && !leader.has([...who][0]!)) {
      out.push(`records written under epoch ${epoch} by ${[...who].join(', ')}, which did not take it`);
    }
  }
  return out;
}

/** What a run did, for its summary. */
export interface RunTally {
  jobs: number;
  completed: number;
  notFinal: string[];
  report: VerifyReport;
  /** `zkjobs verify --json` on the same tree and logs: exit code and its report. */
  cli: { code: number | null; ok: boolean | null; stderr: string };
  /** Epochs taken by more than one worker, or written under by another. */
  epochViolations: string[];
  /** Distinct epochs taken during the run. */
  epochs: number;
  /** Extra runs in the ledgers (a job run under n claims counts n − 1). */
  extraRuns: number;
  workers: number;
  files: string[];
}

/** Waits until every one of `ids` has a final record, or `timeoutMs` passes; returns those that are not. */
export async function awaitFinal(queue: Queue, ids: readonly string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let notFinal: string[] = [...ids];
  for (;;) {
    const jobs = await queue.getJobs().catch(() => null);
    if (jobs) {
      const byId = new Map(jobs.map((j) => [j.id, j]));
      notFinal = ids.filter((id) => {
        const j = byId.get(id);
        return !j || !isFinalState(j.state);
      });
      if (notFinal.length === 0) return [];
    }
    if (Date.now() > deadline) return notFinal.map((id) => `${id}:not final`);
    await sleep(1000);
  }
}

/**
 * Stops the workers (SIGTERM, then SIGKILL), then checks the run: the library's `verify()` and
 * `zkjobs verify --json` on the tree and every log, and one leader per epoch.
 */
export async function finishRun(o: {
  rig: HostsRig;
  namespace: string;
  dir: string;
  ids: readonly string[];
  workers: CliWorker[];
  sessionTimeoutMs: number;
  finalTimeoutMs: number;
}): Promise<RunTally> {
  const ns = o.rig.client.usingNamespace(o.namespace);
  const queue = new Queue(o.rig.client, { namespace: o.namespace, logger });
  const notFinal = await awaitFinal(queue, o.ids, o.finalTimeoutMs);
  // Late (refused) completions of workers that were cut off reach their logs; then a graceful stop.
  await sleep(o.sessionTimeoutMs);
  for (const w of o.workers) if (!w.dead) w.child.kill('SIGTERM');
  await Promise.race([Promise.all(o.workers.map((w) => w.exited)), sleep(15_000)]);
  await killAll(o.workers);
  const files = historyFiles(o.dir);
  const events = await readHistoryFiles(files);
  const report = await verify(ns, { events, submitted: [...o.ids], settleMs: 1000 });
  const jobs = await queue.getJobs();
  const runs = new Map<string, Set<number>>();
  for (const e of events) if (e.kind === 'effect') runs.set(e.job, (runs.get(e.job) ?? new Set()).add(e.token ?? -1));
  const extraRuns = [...runs.values()].reduce((s, t) => s + t.size - 1, 0);
  const eventFiles = files.filter((f) => /\/events-[^/]*\.jsonl$/.test(f));
  const epochViolations = leaderPerEpochViolations(eventFiles, jobs);
  const epochs = new Set(
    eventFiles.flatMap((f) =>
      readJsonLines(f)
        .filter((l) => l['event'] === 'leader-elected')
        .map((l) => l['epoch']),
    ),
  ).size;
  const res = await runCli(
    ['--connect', o.rig.cluster.connectString, '--namespace', o.namespace, '--json', 'verify', '--history', ...files],
    180_000,
  );
  let ok: boolean | null = null;
  try {
    ok = (JSON.parse(res.stdout) as VerifyReport).ok;
  } catch {
    ok = null;
  }
  return {
    jobs: o.ids.length,
    completed: jobs.filter((j) => j.state === 'completed').length,
    notFinal,
    report,
    cli: { code: res.code, ok, stderr: res.stderr },
    epochViolations,
    epochs,
    extraRuns,
    workers: o.workers.length,
    files,
  };
}

/** One line per fact of a run, for the test's output. */
export function describeTally(name: string, t: RunTally, extra: string[] = []): string {
  const s = t.report.stats;
  return [
    `${name}:`,
    `  jobs       ${t.jobs} submitted, ${t.completed} completed, ${t.notFinal.length} not final`,
    ...extra.map((e) => `  ${e}`),
    `  re-runs    ${s.reruns} jobs ran more than once (${t.extraRuns} extra runs in the ledgers)`,
    `  refused    ${s.refused} refused completions, ${s.stalled} lost claims, ${s.requeued} requeued claims`,
    `  leaders    ${t.epochs} epochs taken by ${t.workers} worker processes; ${t.epochViolations.length} epoch violations`,
    `  verdict    ${t.report.ok ? 'PASS' : 'FAIL'} (${t.report.checks.map((c) => `${c.name} ${c.ok ? 'ok' : `FAIL ${c.total}`}`).join(', ')}); zkjobs verify exit ${t.cli.code}`,
  ].join('\n');
}

/** What a scenario's fault step gets. */
export interface ScenarioContext {
  rig: HostsRig;
  /** The namespaced controller client. */
  ns: ZkClient;
  workers: CliWorker[];
  /** The worker hosts, by worker (same order). */
  hostOfWorker: Map<CliWorker, NetworkHost>;
  rng: Rng;
  sessionTimeoutMs: number;
  /** Notes what the fault did (printed with the summary). */
  note(s: string): void;
  /** Resolves once `count` jobs have been claimed (`active` events), or throws after `timeoutMs`. */
  claimed(count: number, timeoutMs?: number): Promise<void>;
}

/** A scenario: jobs on fresh workers in the rig's worker hosts, one fault step, heal, checks. */
export interface Scenario {
  name: string;
  jobs: number;
  /** ms range of each job's work. */
  jobMs: [number, number];
  sessionTimeoutMs: number;
  /** Environment of the worker processes (e.g. the broken build). */
  env?: Record<string, string>;
  fault(ctx: ScenarioContext): Promise<void>;
}

/** Runs `scenario` on `rig` under a fresh namespace: workers, jobs, the fault, heal, checks. */
export async function runScenario(
  rig: HostsRig,
  scenario: Scenario,
  o: { seed: number; parentDir: string; finalTimeoutMs?: number },
): Promise<{ tally: RunTally; notes: string[]; namespace: string; dir: string }> {
  const rng = new Rng(o.seed);
  const namespace = `/t/hosts-${scenario.name.replace(/[^a-z0-9]+/gi, '-')}-${o.seed.toString(16)}`;
  const dir = mkdtempSync(join(o.parentDir, `${scenario.name.replace(/[^a-z0-9]+/gi, '-')}-`));
  const ns = rig.client.usingNamespace(namespace);
  const queue = new Queue(rig.client, { namespace, logger });
  await queue.client();
  const workers: CliWorker[] = [];
  const hostOfWorker = new Map<CliWorker, NetworkHost>();
  const notes: string[] = [];
  try {
    for (const h of rig.workerHosts) {
      const w = await spawnCliWorker({
        connect: rig.cluster.connectString,
        namespace,
        dir,
        label: `${h.name}-g0`,
        concurrency: 3,
        sessionTimeoutMs: scenario.sessionTimeoutMs,
        netns: h.netns,
        startTimeoutMs: 60_000,
        ...(scenario.env ? { env: scenario.env } : {}),
      });
      workers.push(w);
      hostOfWorker.set(w, h);
    }
    const ids = Array.from({ length: scenario.jobs }, (_, i) => `j-${String(i).padStart(5, '0')}`);
    await queue.addBulk(
      ids.map((id) => ({
        type: 'work',
        data: { ms: rng.int(scenario.jobMs[0], scenario.jobMs[1]) },
        // Above the most faults of any scenario (8 flaps): each ends at most one claim of a job, and
        // a job lost `attempts` times ends dead by design (the stall limit).
        opts: { jobId: id, attempts: 10, backoff: 200 },
      })),
    );
    const claimed = async (count: number, timeoutMs = 60_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const n = workers.reduce(
          (s, w) => s + readJsonLines(w.eventsFile).filter((l) => l['event'] === 'active').length,
          0,
        );
        if (n >= count) return;
        if (Date.now() > deadline) throw new Error(`only ${n} of ${count} claims within ${timeoutMs} ms`);
        await sleep(100);
      }
    };
    try {
      await scenario.fault({
        rig,
        ns,
        workers,
        hostOfWorker,
        rng,
        sessionTimeoutMs: scenario.sessionTimeoutMs,
        note: (s) => notes.push(s),
        claimed,
      });
    } finally {
      await rig.network.heal();
      for (const m of rig.cluster.members) if (!m.running) await m.start();
    }
    await rig.cluster.waitForQuorum(90_000);
    const tally = await finishRun({
      rig,
      namespace,
      dir,
      ids,
      workers,
      sessionTimeoutMs: scenario.sessionTimeoutMs,
      finalTimeoutMs: o.finalTimeoutMs ?? 120_000,
    });
    return { tally, notes, namespace, dir };
  } finally {
    await killAll(workers);
  }
}

/** Waits until `pred` holds (polling every `everyMs`), or throws naming `what` after `timeoutMs`. */
export async function until(
  pred: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
