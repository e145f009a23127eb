/**
 * The failover demo: a 3-node ZooKeeper ensemble (or $ZK_CONNECT), 3 `zkjobs worker start`
 * processes, a few hundred jobs, and a SIGKILL of the leader's process while jobs run. Prints
 * the failover timeline measured from ZooKeeper itself, then checks every job's completion
 * record: each job completed exactly once, none lost. Exits 0 only when that holds, and leaves
 * no process behind.
 *
 *   npm run demo                      (from the repository root; sets everything up first)
 *   node examples/failover-demo/index.js [--jobs 300] [--workers 3] [--session-timeout 2000]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ZkClient } from '@zkjobs/core';
import { TestingCluster } from '@zkjobs/core/testing';
import { Queue, queueDir } from '@zkjobs/worker';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../packages/worker/dist/cli/index.js');
const handlers = join(here, 'handlers.js');

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '300' },
    workers: { type: 'string', default: '3' },
    'session-timeout': { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '4' },
  },
});
const JOBS = Number(args.jobs);
const WORKERS = Number(args.workers);
const SESSION_TIMEOUT = Number(args['session-timeout']);
const CONCURRENCY = Number(args.concurrency);
for (const [name, v, min] of [
  ['--jobs', JOBS, 1],
  ['--workers', WORKERS, 2],
  ['--session-timeout', SESSION_TIMEOUT, 1000],
  ['--concurrency', CONCURRENCY, 1],
]) {
  if (!Number.isInteger(v) || v < min) {
    console.error(`failover-demo: ${name} must be an integer ≥ ${min}`);
    process.exit(2);
  }
}

const t = () => performance.now();
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (s) => process.stdout.write(s + '\n');

const children = new Set();
let cluster;
let root;
let client;
let queue;
const workDir = mkdtempSync(join(tmpdir(), 'zkjobs-demo-'));
const ledger = join(workDir, 'ledger.jsonl');

async function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  await queue?.close().catch(() => {});
  await root?.close().catch(() => {});
  await cluster?.close().catch(() => {});
  rmSync(workDir, { recursive: true, force: true });
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    say(`\n${sig}: stopping`);
    void cleanup().then(() => process.exit(130));
  });
}

/** Starts one `zkjobs worker start` process; resolves with its handle once it printed its name. */
function startWorker(connect, namespace, n) {
  const child = spawn(
    process.execPath,
    [
      cli,
      '--connect',
      connect,
      '--namespace',
      namespace,
      '--json',
      '--log-level',
      'warn',
      'worker',
      'start',
      '--handlers',
      handlers,
      '--concurrency',
      String(CONCURRENCY),
      '--session-timeout',
      String(SESSION_TIMEOUT),
      '--grace',
      '2000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEMO_LEDGER: ledger } },
  );
  children.add(child);
  const w = {
    n,
    child,
    pid: child.pid,
    name: null,
    completed: 0,
    events: [],
    exited: new Promise((r) =>
      child.once('exit', (code, signal) => {
        children.delete(child);
        r({ code, signal });
      }),
    ),
  };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        continue;
      }
      if (ev.worker && !w.name) w.name = ev.worker;
      if (ev.event === 'completed') w.completed++;
      w.events.push({ at: t(), ...ev });
    }
  });
  let err = '';
  child.stderr.on('data', (d) => {
    err += d.toString();
    if (err.length > 20000) err = err.slice(-10000);
  });
  w.stderr = () => err;
  return w;
}

async function main() {
  const t0 = t();
  let connect = process.env.ZK_CONNECT;
  if (!connect) {
    say('starting a local 3-node ZooKeeper ensemble (127.0.0.1) …');
    cluster = await TestingCluster.start({ size: 3, tickTime: 500 });
    connect = cluster.connectString;
    say(`  ensemble serving at ${connect} (${fmt(t() - t0)})`);
  } else {
    say(`using ZooKeeper at ZK_CONNECT=${connect}`);
  }
  const namespace = `/zkjobs/demo-${randomBytes(3).toString('hex')}`;
  root = await ZkClient.connect(connect, { sessionTimeoutMs: 4000 });
  client = root.usingNamespace(namespace);
  queue = new Queue(root, { namespace });

  say(
    `starting ${WORKERS} workers (zkjobs worker start, concurrency ${CONCURRENCY}, session timeout ${SESSION_TIMEOUT} ms) under ${namespace} …`,
  );
  const workers = [];
  for (let i = 0; i < WORKERS; i++) workers.push(startWorker(connect, namespace, i + 1));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const leader = await client.getData('/leader').catch(() => null);
    const registered = (await client.getChildren('/workers').catch(() => ({ children: [] }))).children.length;
    if (leader && registered === WORKERS && workers.every((w) => w.name)) break;
    for (const w of workers)
      if (w.child.exitCode !== null) throw new Error(`worker ${w.n} exited early:\n${w.stderr()}`);
    if (Date.now() > deadline)
      throw new Error(`workers did not register within 30 s:\n${workers.map((w) => w.stderr()).join('\n')}`);
    await sleep(50);
  }
  const leaderInfo = JSON.parse((await client.getData('/leader')).data.toString());
  const firstEpoch = (await client.getData('/leader')).stat.version;
  // In znode order (the order they registered, which need not be the order they were started).
  for (const w of [...workers].sort((x, y) => (x.name < y.name ? -1 : 1)))
    say(
      `  worker ${w.n}: pid ${w.pid}, znode ${w.name}${w.name === leaderInfo.worker ? '  ← leader (lowest w- znode)' : ''}`,
    );

  // Submit the jobs.
  const ids = Array.from({ length: JOBS }, (_, i) => `demo-${String(i).padStart(4, '0')}`);
  const tSubmit = t();
  await queue.addBulk(
    ids.map((id, i) => ({ type: 'work', data: { ms: 40 + ((i * 37) % 80) }, opts: { jobId: id, attempts: 3 } })),
  );
  say(`submitted ${JOBS} jobs in ${fmt(t() - tSubmit)}`);

  // Let a third of them finish, then kill the leader's process while jobs run on it.
  const leaderWorker = workers.find((w) => w.name === leaderInfo.worker);
  if (!leaderWorker) throw new Error(`leader ${leaderInfo.worker} is not one of the demo's workers`);
  const waitStart = Date.now();
  while (workers.reduce((s, w) => s + w.completed, 0) < JOBS / 3) {
    if (Date.now() - waitStart > 60_000) {
      throw new Error(
        `jobs are not completing (${workers.map((w) => w.completed).join('/')} done); worker logs:\n${workers.map((w) => w.stderr().slice(-3000)).join('\n')}`,
      );
    }
    await sleep(10);
  }
  const survivors = workers.filter((w) => w !== leaderWorker);

  // Watch, from ZooKeeper, for: the killed worker's znode going (its session expired), the leader
  // znode's new version (the new epoch), the first assignment written with that epoch.
  const timeline = {};
  const killedPath = `/workers/${leaderWorker.name}`;
  const gone = new Promise((resolveGone) => {
    void client
      .exists(killedPath, {
        watch: (e) => {
          if (e.type === 'deleted') resolveGone(t());
        },
      })
      .then((st) => {
        if (!st) resolveGone(t());
      });
  });
  const elected = new Promise((resolveElected) => {
    const h = client.watchData('/leader', (data, stat) => {
      if (stat && stat.version > firstEpoch) {
        h.close();
        resolveElected({ at: t(), epoch: stat.version, info: JSON.parse(data.toString()), mtime: stat.mtime });
      }
    });
  });
  let newEpoch = null;
  const seen = [];
  const scheduled = new Promise((resolveScheduled) => {
    const handles = survivors.map((w) =>
      client.watchChildren(queueDir(w.name), (kids) => {
        for (const k of kids) {
          if (!k.startsWith('a-')) continue;
          void client.getData(`${queueDir(w.name)}/${k}`).then(
            ({ data, stat }) => {
              const epoch = JSON.parse(data.toString()).epoch;
              seen.push({ epoch, ctime: stat.ctime, at: t() });
              if (newEpoch !== null && epoch >= newEpoch) {
                for (const h of handles) h.close();
                resolveScheduled({ at: t(), ctime: stat.ctime, worker: w.name });
              }
            },
            () => {},
          );
        }
      }),
    );
  });

  const runningOnLeader = leaderWorker.events.filter((e) => e.event === 'active').length - leaderWorker.completed;
  const killWall = Date.now();
  const tKill = t();
  process.kill(leaderWorker.pid, 'SIGKILL');
  say(
    `\nSIGKILL the leader: worker ${leaderWorker.n} (pid ${leaderWorker.pid}, ${leaderWorker.name}), ~${Math.max(0, runningOnLeader)} jobs running on it`,
  );
  await leaderWorker.exited;

  const tGone = await gone;
  const e = await elected;
  newEpoch = e.epoch;
  // An assignment of the new epoch may have been seen before the epoch was known.
  const early = seen.filter((s) => s.epoch >= newEpoch).sort((a, b) => a.ctime - b.ctime)[0];
  const sch = early ? { ctime: early.ctime } : await Promise.race([scheduled, sleep(30_000).then(() => null)]);
  timeline.expired = tGone - tKill;
  timeline.elected = e.at - tKill;
  timeline.scheduled = sch ? Math.max(0, sch.ctime - killWall) : null;

  say('\nfailover timeline (t = the SIGKILL):');
  say(`  t+0.000 s  leader ${leaderWorker.name} killed`);
  say(
    `  t+${fmt(timeline.expired)}  its session expired: znode ${killedPath} deleted by ZooKeeper (session timeout ${SESSION_TIMEOUT} ms)`,
  );
  say(
    `  t+${fmt(timeline.elected)}  new leader elected: ${e.info.worker} (pid ${e.info.pid}), epoch ${firstEpoch} → ${e.epoch}`,
  );
  say(
    timeline.scheduled === null
      ? '  (no job scheduled by the new leader within 30 s)'
      : `  t+${fmt(timeline.scheduled)}  first jobs scheduled by the new leader (assignment znode ctime, epoch ${e.epoch})`,
  );

  // Wait for every job, then check the completion records.
  const tWait = t();
  let states = {};
  for (;;) {
    const jobs = await queue.getJobs({});
    states = {};
    for (const j of jobs) states[j.state] = (states[j.state] ?? 0) + 1;
    const finished = jobs.filter((j) => ['completed', 'failed', 'dead', 'cancelled'].includes(j.state)).length;
    if (finished >= JOBS) break;
    if (t() - tWait > 120_000) break;
    await sleep(250);
  }
  say(
    `\nall jobs finished ${fmt(t() - tKill)} after the kill (${Object.entries(states)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')})`,
  );

  const runs = new Map();
  if (existsSync(ledger)) {
    for (const line of readFileSync(ledger, 'utf8').split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line);
      runs.set(r.job, [...(runs.get(r.job) ?? []), r]);
    }
  }
  const problems = [];
  let reran = 0;
  let sideEffectsTwice = 0;
  for (const id of ids) {
    const job = await queue.getJob(id);
    if (!job) {
      problems.push(`${id}: no record (lost)`);
      continue;
    }
    const completions = job.history.filter((h) => h.outcome === 'completed');
    if (job.state !== 'completed') problems.push(`${id}: state ${job.state}`);
    if (completions.length !== 1) problems.push(`${id}: ${completions.length} completion records`);
    const result = job.result;
    if (completions.length === 1 && result?.token !== completions[0].token)
      problems.push(`${id}: result token ${result?.token} ≠ completion token ${completions[0].token}`);
    if (job.history.length > 1) reran++;
    const executions = runs.get(id) ?? [];
    if (executions.length > 1) {
      sideEffectsTwice++;
      // A second execution is allowed (at-least-once), but must be explained by the history.
      if (!job.history.some((h) => h.outcome !== 'completed'))
        problems.push(`${id}: ran ${executions.length} times with no requeue in its history`);
    }
    if (executions.length === 0 && job.state === 'completed')
      problems.push(`${id}: completed but no execution in the ledger`);
  }
  const bad = new Set(problems.map((p) => p.split(':')[0])).size;
  say(
    `checked ${JOBS} completion records: ${JOBS - bad} completed exactly once, ${bad} not; ${reran} needed a second attempt (running on the killed worker, requeued by the new leader)`,
  );
  const executions = [...runs.values()].reduce((n, r) => n + r.length, 0);
  say(
    sideEffectsTwice === 0
      ? `ledger of side effects: ${executions} executions, one per job${reran > 0 ? ` (the ${reran} run(s) cut short by the kill had not written theirs)` : ''}`
      : `ledger of side effects: ${executions} executions; ${sideEffectsTwice} job(s) wrote theirs twice (at-least-once: a run cut short after its side effect), each explained by a requeue in its history`,
  );
  for (const p of problems.slice(0, 20)) say(`  ✗ ${p}`);

  // Graceful stop of the survivors.
  for (const w of survivors) w.child.kill('SIGTERM');
  const exits = await Promise.all(survivors.map((w) => w.exited));
  const cleanExits = exits.every((x) => x.code === 0);
  if (!cleanExits) problems.push(`a surviving worker did not exit cleanly: ${JSON.stringify(exits)}`);

  const ok = problems.length === 0 && timeline.scheduled !== null;
  say(
    `\nVERDICT: ${ok ? 'PASS' : 'FAIL'} — ${JOBS} jobs, leader killed mid-run, new leader after ${fmt(timeline.elected)}, ` +
      `${ok ? 'every job completed exactly once, none lost' : `${problems.length} problem(s)`}`,
  );
  return ok;
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  if (!interrupted) say(`\nVERDICT: FAIL — ${err instanceof Error ? (err.stack ?? err.message) : err}`);
} finally {
  if (!interrupted) await cleanup();
}
process.exit(ok ? 0 : 1);
