// `pnpm soak --faults N [--seed S] [--hosts] [--max-minutes M]`: a long nemesis run that stops by
// itself. A 3-member ensemble and five `zkjobs worker start` processes run jobs submitted at a
// steady rate while two seeded lanes inject faults — processes: SIGKILL of a worker (the leader
// now and then) and a replacement, SIGSTOP past the session timeout; network: SIGKILL and restart
// of a ZooKeeper member, a black-holed TcpProxy in front of one worker and, with --hosts (members
// and four workers on hosts of their own, a TestingNetwork), host partitions: a member alone, a
// member with the workers it serves, the leader's host cut off every member, two members cut apart
// (quorum lost), a flapping link shorter than the session timeout, a cut healed around the session
// timeout. Once N faults were injected (or --max-minutes passed) everything is healed, every job
// must reach a final state, and `verify` runs on the tree and every log. The summary goes to
// .zkjobs/soak-<seed>.json and .md (and soak-latest.*). Exit 0 when the verdict is PASS.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ZkClient } from '@zkjobs/core';
import { TcpProxy, TestingCluster, type NetworkHost, type ZkServerProcess } from '@zkjobs/core/testing';
import { Queue, createLogger, isFinalState, readHistoryFiles, verify } from '@zkjobs/worker';
import {
  hostOf,
  leaderOf,
  leaderPerEpochViolations,
  memberServing,
  startHostsRig,
  type HostsRig,
} from './hosts-rig.js';
import { Rng, historyFiles, killAll, readJsonLines, runCli, spawnCliWorker, type CliWorker } from './support.js';

const USAGE = 'usage: pnpm soak --faults N [--seed S] [--hosts] [--max-minutes M] [--keep]';
const { values } = parseArgs({
  options: {
    faults: { type: 'string' },
    seed: { type: 'string' },
    hosts: { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '240' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const FAULTS = Number(values.faults);
if (!Number.isInteger(FAULTS) || FAULTS < 1) {
  console.error(`--faults must be a positive integer\n${USAGE}`);
  process.exit(2);
}
const SEED = values.seed !== undefined ? Number(values.seed) >>> 0 : Math.floor(Math.random() * 2 ** 31);
const MAX_MS = Number(values['max-minutes']) * 60_000;
if (!(MAX_MS > 0)) {
  console.error(`--max-minutes must be a positive number\n${USAGE}`);
  process.exit(2);
}
const HOSTS = values.hosts;
const SESSION_TIMEOUT_MS = 2000;
const SLOTS = 5;
/** The slot whose worker reaches the ensemble through TCP proxies (in this namespace). */
const PROXIED = SLOTS - 1;
/** Jobs submitted per second while the nemesis runs. */
const JOBS_PER_S = 3;
const repo = fileURLToPath(new URL('../..', import.meta.url));
const outDir = join(repo, '.zkjobs');
const logger = createLogger('silent');

type Kind =
  | 'worker-kill'
  | 'worker-pause'
  | 'zk-kill'
  | 'proxy-cut'
  | 'host-member-alone'
  | 'host-member-with-workers'
  | 'host-leader-cut-off'
  | 'host-quorum-loss'
  | 'host-flap'
  | 'host-heal-at-timeout';
const PROCESS_KINDS: Kind[] = ['worker-kill', 'worker-pause'];
const NETWORK_KINDS: Kind[] = [
  'zk-kill',
  'proxy-cut',
  ...(HOSTS
    ? ([
        'host-member-alone',
        'host-member-with-workers',
        'host-leader-cut-off',
        'host-quorum-loss',
        'host-flap',
        'host-heal-at-timeout',
      ] as Kind[])
    : []),
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const say = (s: string): void => console.log(`[soak +${Math.round((Date.now() - t0) / 1000)} s] ${s}`);

async function main(): Promise<number> {
  const rng = new Rng(SEED);
  say(`seed ${SEED}, ${FAULTS} faults, ${HOSTS ? 'hosts of their own' : 'loopback'}, bound ${MAX_MS / 60_000} min`);
  const run = mkdtempSync(join(tmpdir(), 'zkjobs-soak-'));
  let rig: HostsRig | null = null;
  let cluster: TestingCluster;
  let client: ZkClient;
  if (HOSTS) {
    rig = await startHostsRig({ members: 3, workers: SLOTS - 1 });
    cluster = rig.cluster;
    client = rig.client;
  } else {
    cluster = await TestingCluster.start({ size: 3, tickTime: 500, startTimeoutMs: 90_000 });
    client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 10_000 });
  }
  const proxies: TcpProxy[] = [];
  for (const m of cluster.members) proxies.push(await TcpProxy.start(m.host, m.spec.clientPort));
  const namespace = `/soak/s${SEED}-${Date.now().toString(36)}`;
  const ns = client.usingNamespace(namespace);
  const queue = new Queue(client, { namespace, logger });
  await queue.client();
  const all: CliWorker[] = [];
  const slots: CliWorker[] = [];
  const slotHost = (i: number): NetworkHost | null => (rig && i !== PROXIED ? rig.workerHosts[i]! : null);
  let gen = 0;
  let startFailures = 0;
  const spawnSlot = async (i: number): Promise<CliWorker> => {
    const host = slotHost(i);
    // A replacement can start inside a host that a partition has just cut off: `worker start`
    // then gives up (exit 1: its session was lost while it registered), as it would under a
    // supervisor, which starts it again — so does this, a few times.
    for (let tries = 1; ; tries++) {
      try {
        const w = await spawnCliWorker({
          connect: i === PROXIED ? proxies.map((p) => p.address).join(',') : cluster.connectString,
          namespace,
          dir: run,
          label: `s${i}-g${gen++}`,
          concurrency: 3,
          sessionTimeoutMs: SESSION_TIMEOUT_MS,
          startTimeoutMs: 120_000,
          ...(host ? { netns: host.netns } : {}),
        });
        all.push(w);
        slots[i] = w;
        return w;
      } catch (err) {
        startFailures++;
        if (tries >= 10) throw err;
        say(`worker slot ${i} did not start (try ${tries}): ${String(err).split('\n')[0]}`);
        await sleep(2000);
      }
    }
  };
  // Workers outside the hosts die with the network's watchdog; these, with this process.
  process.once('exit', () => {
    for (const w of all) if (!w.dead) w.child.kill('SIGKILL');
  });
  for (let i = 0; i < SLOTS; i++) await spawnSlot(i);
  say(`ensemble ${cluster.connectString}; ${SLOTS} workers`);

  const faults = Object.fromEntries([...PROCESS_KINDS, ...NETWORK_KINDS].map((k) => [k, 0])) as Record<Kind, number>;
  const total = (): number => Object.values(faults).reduce((a, b) => a + b, 0);
  const deadline = t0 + MAX_MS;
  let stopNemesis = false;
  const going = (): boolean => !stopNemesis && total() < FAULTS && Date.now() < deadline;
  let leaderKills = 0;
  const busy = new Set<number>();

  // ----- submitter ---------------------------------------------------------------------------
  const ids: string[] = [];
  let submitting = true;
  const submitter = (async () => {
    while (submitting) {
      const batch = Array.from({ length: JOBS_PER_S }, (_, i) => `j-${String(ids.length + i).padStart(6, '0')}`);
      for (let tries = 0; ; tries++) {
        try {
          await queue.addBulk(
            batch.map((id) => ({
              type: 'work',
              data: { ms: rng.int(200, 1500) },
              // Above the faults: each ends at most one claim of a job, and a job lost `attempts`
              // times ends dead by design (the stall limit), so every job must complete.
              opts: { jobId: id, attempts: Math.min(1000, FAULTS + 1), backoff: 200 },
            })),
          );
          break;
        } catch (err) {
          if (tries >= 120) throw err;
          await sleep(500); // jobId is the idempotency key: a retry adds nothing twice
        }
      }
      ids.push(...batch);
      await sleep(1000);
    }
  })();

  // ----- the lanes ---------------------------------------------------------------------------
  const freeSlot = (pred: (i: number) => boolean = () => true): number | null => {
    const free = [...Array(SLOTS).keys()].filter((i) => !busy.has(i) && pred(i));
    return free.length ? rng.pick(free) : null;
  };
  const leaderSlot = async (): Promise<number | null> => {
    const w = await leaderOf(ns, slots);
    const i = w ? slots.indexOf(w) : -1;
    return i >= 0 ? i : null;
  };

  const processLane = async (): Promise<void> => {
    while (going()) {
      const kind = rng.pick(PROCESS_KINDS);
      if (kind === 'worker-kill') {
        const wantLeader = faults['worker-kill'] % 3 === 0;
        const li = wantLeader ? await leaderSlot() : null;
        const i = li !== null && !busy.has(li) ? li : freeSlot();
        if (i === null) {
          await sleep(200);
          continue;
        }
        busy.add(i);
        const w = slots[i]!;
        const wasLeader = (await leaderSlot()) === i;
        w.child.kill('SIGKILL');
        await w.exited;
        faults['worker-kill']++;
        if (wasLeader) leaderKills++;
        await sleep(rng.int(100, 800));
        await spawnSlot(i);
        busy.delete(i);
      } else {
        const i = freeSlot();
        if (i === null) {
          await sleep(200);
          continue;
        }
        busy.add(i);
        const w = slots[i]!;
        process.kill(w.pid, 'SIGSTOP');
        faults['worker-pause']++;
        await sleep(rng.int(SESSION_TIMEOUT_MS + 500, SESSION_TIMEOUT_MS + 1500));
        process.kill(w.pid, 'SIGCONT');
        busy.delete(i);
      }
      await sleep(rng.int(300, 1000));
    }
  };

  const hold = (): number => SESSION_TIMEOUT_MS + rng.int(500, 2500);
  const workerHostsServedBy = async (r: HostsRig, m: ZkServerProcess): Promise<NetworkHost[]> => {
    const out: NetworkHost[] = [];
    for (const h of r.workerHosts) if ((await memberServing(r, h)) === m) out.push(h);
    return out;
  };
  const leaderHost = async (): Promise<NetworkHost | null> => {
    const i = await leaderSlot();
    return i === null ? null : slotHost(i);
  };

  const networkLane = async (): Promise<void> => {
    while (going()) {
      const kind = rng.pick(NETWORK_KINDS);
      if (kind === 'zk-kill') {
        const m = rng.next() < 0.4 ? await cluster.leader() : rng.pick(cluster.members);
        await m.kill();
        faults['zk-kill']++;
        await sleep(rng.int(300, 1500));
        await m.start();
        await m.waitForMode(90_000);
      } else if (kind === 'proxy-cut') {
        while (busy.has(PROXIED)) await sleep(100);
        busy.add(PROXIED);
        for (const p of proxies) p.cut();
        faults['proxy-cut']++;
        await sleep(hold());
        for (const p of proxies) p.heal();
        busy.delete(PROXIED);
      } else if (rig) {
        const net = rig.network;
        if (kind === 'host-member-alone') {
          const lh = await leaderHost();
          const m = (lh ? await memberServing(rig, lh) : null) ?? rng.pick(cluster.members);
          await net.isolate([hostOf(rig, m)]);
          faults[kind]++;
          await sleep(hold());
        } else if (kind === 'host-member-with-workers') {
          const m = rng.pick(cluster.members);
          const served = await workerHostsServedBy(rig, m);
          await net.isolate([hostOf(rig, m), ...served]);
          faults[kind]++;
          await sleep(hold() + 1000);
        } else if (kind === 'host-leader-cut-off') {
          const lh = (await leaderHost()) ?? rng.pick(rig.workerHosts);
          await net.partition([lh], rig.memberHosts);
          faults[kind]++;
          await sleep(hold() + 1000);
        } else if (kind === 'host-quorum-loss') {
          const [a, b] = rng.next() < 0.5 ? [0, 1] : [1, 2];
          const ha = rig.memberHosts[a]!;
          const hb = rig.memberHosts[b]!;
          await net.partition(
            [ha],
            [hb],
            net.hosts.filter((h) => h !== ha && h !== hb),
          );
          faults[kind]++;
          await sleep(hold() + 1000);
        } else if (kind === 'host-flap') {
          for (let k = 0; k < 3 && going(); k++) {
            const h = rng.next() < 0.5 ? ((await leaderHost()) ?? rng.pick(rig.workerHosts)) : null;
            if (h) await net.partition([h], rig.memberHosts);
            else await net.isolate([rng.pick(rig.memberHosts)]);
            faults[kind]++;
            await sleep(Math.round(SESSION_TIMEOUT_MS * (0.2 + 0.6 * rng.next())));
            await net.heal();
            await sleep(Math.round(SESSION_TIMEOUT_MS * (0.2 + 0.6 * rng.next())));
          }
        } else {
          const h = (await leaderHost()) ?? rng.pick(rig.workerHosts);
          await net.partition([h], rig.memberHosts);
          faults['host-heal-at-timeout']++;
          await sleep(SESSION_TIMEOUT_MS + rng.int(-300, 300));
        }
        await net.heal();
        await cluster.waitForQuorum(90_000);
      }
      await sleep(rng.int(300, 1000));
    }
  };

  const progress = setInterval(() => {
    const k = Object.entries(faults)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    say(`${total()}/${FAULTS} faults (${k}); ${ids.length} jobs submitted; load ${loadavg()[0]!.toFixed(1)}`);
  }, 60_000);
  let stoppedBy = 'fault count';
  const failure: { error: string | null } = { error: null };
  // A lane that fails stops both (going() turns false) and the run still heals, verifies and
  // writes its summary, with the error in it.
  const guard = (lane: () => Promise<void>) => () =>
    lane().catch((err: unknown) => {
      failure.error ??= err instanceof Error ? err.message : String(err);
      stopNemesis = true;
      say(`nemesis lane failed: ${failure.error}`);
    });
  try {
    await Promise.all([guard(processLane)(), guard(networkLane)()]);
    if (failure.error !== null) stoppedBy = `lane error (${failure.error.split('\n')[0]})`;
    else if (total() < FAULTS) stoppedBy = `time bound (${MAX_MS / 60_000} min)`;
  } finally {
    clearInterval(progress);
    submitting = false;
    await submitter.catch((err: unknown) => say(`submitter failed: ${String(err)}`));
    // Heal everything, whatever happened.
    for (const p of proxies) p.heal();
    await rig?.network.heal();
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
  say(`nemesis done after ${Math.round(nemesisMs / 1000)} s (${stoppedBy}): ${total()} faults, ${ids.length} jobs`);
  await cluster.waitForQuorum(120_000);

  // ----- every job reaches a final state ------------------------------------------------------
  const finalDeadline = Date.now() + 15 * 60_000;
  let notFinal: string[] = [];
  for (;;) {
    const jobs = await queue.getJobs().catch(() => null);
    if (jobs) {
      const byId = new Map(jobs.map((j) => [j.id, j]));
      notFinal = ids.filter((id) => !isFinalState(byId.get(id)?.state ?? 'waiting'));
      if (notFinal.length === 0) break;
    }
    if (Date.now() > finalDeadline) break;
    await sleep(5000);
  }
  await sleep(SESSION_TIMEOUT_MS);
  for (const w of slots) if (!w.dead) w.child.kill('SIGTERM');
  await Promise.race([Promise.all(slots.map((w) => w.exited)), sleep(20_000)]);
  await killAll(all);

  // ----- verify -------------------------------------------------------------------------------
  say('verifying');
  const files = historyFiles(run);
  const events = await readHistoryFiles(files);
  const report = await verify(ns, { events, submitted: ids, settleMs: 1000 });
  const jobs = await queue.getJobs();
  const completed = jobs.filter((j) => j.state === 'completed').length;
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
  const cli = await runCli(
    ['--connect', cluster.connectString, '--namespace', namespace, '--json', 'verify', '--history', ...files],
    600_000,
  );
  const laneError = failure.error;
  const pass =
    laneError === null &&
    report.ok &&
    cli.code === 0 &&
    notFinal.length === 0 &&
    completed === ids.length &&
    epochViolations.length === 0;
  const s = report.stats;
  const summary = {
    verdict: pass ? 'PASS' : 'FAIL',
    seed: SEED,
    hosts: HOSTS,
    faultsRequested: FAULTS,
    faultsInjected: total(),
    stoppedBy,
    durationS: Math.round((Date.now() - t0) / 1000),
    nemesisS: Math.round(nemesisMs / 1000),
    jobs: { submitted: ids.length, completed, other: jobs.length - completed, notFinal: notFinal.length },
    faults,
    leaderKills,
    workerProcesses: all.length,
    workerStartFailures: startFailures,
    laneError,
    reruns: s.reruns,
    extraRunsInLedgers: extraRuns,
    refusedCompletions: s.refused,
    lostClaims: s.stalled,
    requeues: s.requeued,
    epochs,
    epochViolations,
    checks: Object.fromEntries(report.checks.map((c) => [c.name, c.ok ? 'ok' : `FAIL ${c.total}`])),
    cliVerifyExit: cli.code,
    history: { events: s.events, logs: files.length, claims: s.claims, completions: s.completions },
    machine: { cores: cpus().length, loadAtEnd: loadavg().map((x) => Number(x.toFixed(2))) },
    finishedAt: new Date().toISOString(),
  };
  mkdirSync(outDir, { recursive: true });
  const md = [
    `# Soak run, seed ${SEED}: ${summary.verdict}`,
    '',
    `\`pnpm soak --faults ${FAULTS} --seed ${SEED}${HOSTS ? ' --hosts' : ''}\` — finished ${summary.finishedAt}, ${cpus().length} cores, load at end ${summary.machine.loadAtEnd.join(' / ')}.`,
    '',
    '| what | value |',
    '| --- | --- |',
    `| verdict | **${summary.verdict}** (${Object.entries(summary.checks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; zkjobs verify exit ${cli.code}; ${epochViolations.length} epoch violations) |`,
    `| seed | ${SEED} |`,
    `| duration | ${summary.durationS} s (${summary.nemesisS} s of faults; stopped by the ${stoppedBy}) |`,
    `| jobs | ${ids.length} submitted, ${completed} completed, ${jobs.length - completed} other, ${notFinal.length} not final |`,
    `| faults | ${total()} of ${FAULTS} requested |`,
    ...Object.entries(faults)
      .filter(([k]) => HOSTS || !k.startsWith('host-'))
      .map(([k, n]) => `| — ${k} | ${n}${k === 'worker-kill' ? ` (${leaderKills} of the leader)` : ''} |`),
    `| re-runs | ${s.reruns} jobs ran more than once (${extraRuns} extra runs in the ledgers) |`,
    `| refused completions | ${s.refused} |`,
    `| lost claims | ${s.stalled} |`,
    `| requeues | ${s.requeued} |`,
    `| leader epochs | ${epochs} taken, by ${all.length} worker processes in all (${startFailures} starts that gave up and were retried) |`,
    ...(laneError ? [`| nemesis error | ${laneError.split('\n')[0]} |`] : []),
    `| history | ${s.events} events from ${files.length} logs; ${s.claims} claims, ${s.completions} completions |`,
    '',
  ].join('\n');
  const base = join(outDir, `soak-${SEED}`);
  writeFileSync(`${base}.json`, JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(`${base}.md`, md);
  writeFileSync(join(outDir, 'soak-latest.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(outDir, 'soak-latest.md'), md);
  console.log(md);
  if (!report.ok) {
    console.log(
      JSON.stringify(
        report.checks.filter((c) => !c.ok),
        null,
        1,
      ).slice(0, 8000),
    );
  }
  say(`summary: ${base}.json, ${base}.md`);

  for (const p of proxies) await p.close().catch(() => undefined);
  if (rig) await rig.close();
  else {
    await client.close().catch(() => undefined);
    await cluster.close();
  }
  if (!values.keep && pass) rmSync(run, { recursive: true, force: true });
  else say(`logs kept in ${run}`);
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
