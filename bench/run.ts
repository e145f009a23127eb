/**
 * zkjobs benchmarks. Run from the repository root with `pnpm bench` (set-up, build,
 * then this file), or `node --import tsx bench/run.ts [flags]` after a build.
 *
 *   --quick              small counts and 1 round (~2 minutes; development numbers only)
 *   --only a,b           sections: raw, throughput, scaling, latency, variants, failover, footprint
 *   --rounds N           rounds per measurement (default 3; failover at least 5)
 *   --jobs N             jobs per throughput run (default 10000)
 *   --kazoo-jobs N       items per Kazoo run (default 2000), --kazoo-cap-s S (default 120)
 *   --workers N          workers of the comparison (default 3); --scale 1,2,4,8
 *   --concurrency N      handlers per worker, every system (default 8)
 *   --prefetch N         zkjobs Worker prefetch (default: the Worker's, max(4 × concurrency, 32))
 *   --latency-jobs N     single jobs per latency round (default 200)
 *   --variants a,b       throughput variants, zkjobs beside BullMQ (appendfsync everysec): standalone
 *                        (a standalone forceSync server of the section's own), c64 (concurrency 64),
 *                        work1, work10 (1 or 10 ms of simulated work per job); default all
 *   --variant-jobs N     jobs per variant run (default: --jobs)
 *   --members N          ZooKeeper members (default 3; 1: a standalone forceSync server)
 *   --zk-heap-mb N       each ZooKeeper member's JVM heap limit (default 512)
 *   --zk-jvm-flags="F …" more JVM flags for each member, split at spaces (default none)
 *   --work-ms N          simulated work per job in every system's handler, ms (default 0: no-op)
 *   --warmup-jobs N      jobs through each system once before the throughput and variants rounds,
 *                        not counted (default 5000)
 *   --footprint-jobs N   waiting jobs of the footprint section (default 100000)
 *   --session-ms N       requested session timeout of the failover workers (default 2000)
 *   --no-bullmq, --no-kazoo   leave a peer out
 *   --out DIR            where latest.json / latest.md go (default bench/results)
 *   --tick-ms N          the ensemble's tickTime (100); sessions expire on tick boundaries
 *   --max-minutes N      the whole run's time limit (default 60, quick 10)
 *   --cpu-prof DIR       worker children write V8 CPU profiles of their whole life into DIR
 *                        (summary: node bench/prof-summary.mjs DIR); their CPU figures include
 *                        the profiler's own cost
 *
 * Everything runs on 127.0.0.1: a 3-node ZooKeeper ensemble (forceSync, tickTime 100), two
 * redis-servers on free ports, worker child processes; for the `standalone` variant, a standalone
 * ZooKeeper server (forceSync) for that section. All are stopped at the end, on failure,
 * on SIGINT/SIGTERM and at the time limit.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ZkClient } from '@zkjobs/core';
import { zookeeperInstalled } from '@zkjobs/core/testing';
import type { Ctx } from './src/context.js';
import {
  bullmqLatency,
  bullmqThroughput,
  kazooThroughput,
  zkjobsLatency,
  zkFloor,
  zkjobsThroughput,
  type LatencyRun,
  type ThroughputRun,
} from './src/engines.js';
import { failoverRound } from './src/failover.js';
import { footprintRun, type BacklogKind } from './src/footprint.js';
import { kazooVersion } from './src/kazoo.js';
import { describeMachine } from './src/machine.js';
import { RedisServer, redisServerPath } from './src/redis.js';
import { emptyResults, toMarkdown, type Results } from './src/report.js';
import { closeAll, track } from './src/resources.js';
import { errorMessage, log, now } from './src/util.js';
import {
  VARIANTS,
  VARIANT_DEFS,
  parseVariants,
  startStandalone,
  variantCtx,
  variantResult,
  type Standalone,
  type VariantName,
} from './src/variants.js';
import { deleteTree, pipelinedCreates, pipelinedMultis, startZkServers } from './src/zk.js';
import { selfCpuMs, treeCpuMs } from './src/cpu.js';
import { setChildCpuProfDir } from './src/children.js';
import { existsSync } from 'node:fs';

const SECTIONS = ['raw', 'throughput', 'scaling', 'latency', 'variants', 'failover', 'footprint'] as const;
type Section = (typeof SECTIONS)[number];
const HERE = fileURLToPath(new URL('.', import.meta.url));

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    jobs: { type: 'string' },
    'kazoo-jobs': { type: 'string' },
    'kazoo-cap-s': { type: 'string' },
    workers: { type: 'string' },
    scale: { type: 'string' },
    concurrency: { type: 'string' },
    prefetch: { type: 'string' },
    'latency-jobs': { type: 'string' },
    variants: { type: 'string' },
    'variant-jobs': { type: 'string' },
    'warmup-jobs': { type: 'string' },
    members: { type: 'string' },
    'zk-heap-mb': { type: 'string' },
    'zk-jvm-flags': { type: 'string' },
    'work-ms': { type: 'string' },
    'footprint-jobs': { type: 'string' },
    'session-ms': { type: 'string' },
    'tick-ms': { type: 'string' },
    'no-bullmq': { type: 'boolean', default: false },
    'no-kazoo': { type: 'boolean', default: false },
    out: { type: 'string' },
    'max-minutes': { type: 'string' },
    'cpu-prof': { type: 'string' },
    'update-readme': { type: 'boolean' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (a.help) {
  const src = await readFile(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write((/\/\*\*([\s\S]*?)\*\//.exec(src)?.[1] ?? '').replace(/^ \* ?/gm, '') + '\n');
  process.exit(0);
}

const quick = a.quick!;
function int(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} must be a positive integer, got ${v}\n`);
    process.exit(2);
  }
  return n;
}
const only = new Set<Section>(
  a.only
    ? a.only.split(',').map((s) => {
        if (!(SECTIONS as readonly string[]).includes(s)) {
          process.stderr.write(`bench: unknown section ${s} (one of ${SECTIONS.join(', ')})\n`);
          process.exit(2);
        }
        return s as Section;
      })
    : SECTIONS,
);
const rounds = int(a.rounds, quick ? 1 : 3, 'rounds');
const variants = ((): VariantName[] => {
  const v = parseVariants(a.variants ?? VARIANTS.join(','));
  if ('unknown' in v) {
    process.stderr.write(`bench: unknown variant ${v.unknown} (one of ${VARIANTS.join(', ')})\n`);
    process.exit(2);
  }
  if (v.length === 0) {
    process.stderr.write(`bench: --variants names none (one or more of ${VARIANTS.join(', ')})\n`);
    process.exit(2);
  }
  return v;
})();
const jobs = int(a.jobs, quick ? 1000 : 10_000, 'jobs');
const settings = {
  rounds,
  jobs,
  kazooJobs: int(a['kazoo-jobs'], quick ? 200 : 2000, 'kazoo-jobs'),
  kazooCapMs: int(a['kazoo-cap-s'], quick ? 20 : 120, 'kazoo-cap-s') * 1000,
  workers: int(a.workers, 3, 'workers'),
  scale: (a.scale ?? (quick ? '1,4' : '1,2,4,8')).split(',').map((x) => int(x, 1, 'scale')),
  concurrency: int(a.concurrency, 8, 'concurrency'),
  prefetch: a.prefetch === undefined ? null : int(a.prefetch, 1, 'prefetch'),
  latencyJobs: int(a['latency-jobs'], quick ? 30 : 200, 'latency-jobs'),
  // The variants section: which, and the jobs of each run.
  variants,
  variantJobs: int(a['variant-jobs'], jobs, 'variant-jobs'),
  // One unmeasured throughput run of each system first: the ZooKeeper JVMs start cold (their JIT
  // compilers take a third of their CPU for the first ~20 s), Redis does not.
  warmupJobs: int(a['warmup-jobs'], quick ? 1000 : 5000, 'warmup-jobs'),
  // 3: the ensemble of the targets; 1: a standalone forceSync server.
  members: int(a.members, 3, 'members'),
  // Simulated work per job in every system's handler (a sleep), ms.
  workMs: int(a['work-ms'], 0, 'work-ms'),
  // Each member's JVM heap limit: the harness's 512 MB holds about 1.5 M small znodes; a
  // backlog of a million records wants more.
  zkHeapMb: int(a['zk-heap-mb'], 512, 'zk-heap-mb'),
  zkJvmFlags: (a['zk-jvm-flags'] ?? '').split(' ').filter((f) => f !== ''),
  footprintJobs: int(a['footprint-jobs'], quick ? 5000 : 100_000, 'footprint-jobs'),
  failoverSessionMs: int(a['session-ms'], 2000, 'session-ms'),
  failoverRounds: Math.max(quick ? 1 : 5, rounds),
  rawCreates: quick ? 2000 : 20_000,
};
const outDir = a.out ?? join(HERE, 'results');
if (a['cpu-prof'] !== undefined) {
  const dir = resolve(a['cpu-prof']); // the children run in the repository root
  await mkdir(dir, { recursive: true });
  setChildCpuProfDir(dir);
}
const tickMs = int(a['tick-ms'], 100, 'tick-ms');
const maxMinutes = int(a['max-minutes'], quick ? 10 : 60, 'max-minutes');
const updateReadme = a['update-readme'] ?? (!quick && a.only === undefined);

let results: Results | null = null;
let stopping = false;

async function save(final: boolean): Promise<void> {
  if (!results) return;
  results.partial = !final;
  if (final) {
    results.finishedAt = new Date().toISOString();
    results.machine.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  }
  await mkdir(outDir, { recursive: true });
  const md = toMarkdown(results);
  for (const [name, body] of [
    ['latest.json', JSON.stringify(results, null, 2) + '\n'],
    ['latest.md', md + '\n'],
  ] as const) {
    await writeFile(join(outDir, `${name}.tmp`), body);
    await rename(join(outDir, `${name}.tmp`), join(outDir, name));
  }
  if (final && updateReadme) {
    const readme = join(HERE, 'README.md');
    if (existsSync(readme)) {
      const text = await readFile(readme, 'utf8');
      const start = '<!-- results:start -->';
      const end = '<!-- results:end -->';
      const i = text.indexOf(start);
      const j = text.indexOf(end);
      if (i >= 0 && j > i) {
        let next = text.slice(0, i + start.length) + '\n\n' + md + '\n' + text.slice(j);
        try {
          // Keep `pnpm run lint` (prettier --check) green: format as the repository does.
          const prettier = await import('prettier');
          const options = (await prettier.resolveConfig(readme)) ?? {};
          next = await prettier.format(next, { ...options, filepath: readme });
        } catch (err) {
          log(`bench/README.md: not formatted (${errorMessage(err)}); run pnpm exec prettier --write bench/README.md`);
        }
        await writeFile(readme, next);
        log('bench/README.md: latest table updated');
      }
    }
  }
}

async function shutdown(code: number, why: string): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  log(`stopping (${why}): closing every server and child`);
  await save(false).catch(() => undefined);
  await closeAll();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130, 'SIGINT'));
process.on('SIGTERM', () => void shutdown(143, 'SIGTERM'));
process.on('uncaughtException', (err) => void shutdown(1, `uncaught: ${errorMessage(err)}`));
process.on('unhandledRejection', (err) => void shutdown(1, `unhandled rejection: ${errorMessage(err)}`));
setTimeout(() => void shutdown(1, `time limit of ${maxMinutes} minutes`), maxMinutes * 60_000).unref();

/** Runs one measurement; a failure is noted and the section goes on. */
async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
  const t0 = now();
  try {
    const r = await fn();
    log(`${what}: ${Math.round(now() - t0)} ms`);
    return r;
  } catch (err) {
    log(`${what} FAILED: ${errorMessage(err)}`);
    results?.notes.push(`${what} failed: ${errorMessage(err)}`);
    return null;
  }
}

function push<T>(map: Record<string, T[]>, k: string, v: T | null): void {
  if (v !== null) (map[k] ??= []).push(v);
}

async function main(): Promise<void> {
  if (!zookeeperInstalled())
    throw new Error('ZooKeeper is not installed: run bash scripts/setup.sh (or `pnpm bench`, which does)');
  const logDir = join(tmpdir(), `zkjobs-bench-${process.pid}`);
  await mkdir(logDir, { recursive: true });
  log(
    `starting ${settings.members === 1 ? 'a standalone server' : `a ${settings.members}-node ensemble`} (forceSync, tickTime ${tickMs}); child logs in ${logDir}`,
  );
  const { servers: cluster } = await startZkServers(
    { members: settings.members, tickMs, heapMb: settings.zkHeapMb, jvmFlags: settings.zkJvmFlags },
    'ZooKeeper ensemble',
  );
  const client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 10_000 });
  track('bench ZooKeeper client', () => client.close());
  const machine = await describeMachine(cluster);
  machine.tickMs = tickMs;
  results = emptyResults(process.argv.slice(2), quick, machine, settings);
  log(`machine: ${machine.nproc} cores, ${machine.cpuModel}, load ${machine.loadavgAtStart.join(' ')}`);

  const needPeers = only.has('throughput') || only.has('latency');
  // The variants compare with BullMQ on the appendfsync everysec server only.
  const wantBull = (needPeers || only.has('variants')) && !a['no-bullmq'];
  let redis: Ctx['redis'] = { none: null, aof: null };
  if (wantBull) {
    if (!existsSync(redisServerPath())) {
      results.notes.push(`BullMQ skipped: no redis-server at ${redisServerPath()} (bench/setup.sh installs Debian's)`);
    } else {
      const none = needPeers
        ? await attempt('start redis-server (no persistence)', () => RedisServer.start('none'))
        : null;
      const aof = await attempt('start redis-server (appendfsync everysec)', () => RedisServer.start('aof-everysec'));
      redis = { none, aof };
    }
  }
  const kazoo = only.has('throughput') && !a['no-kazoo'] && kazooVersion() !== null;
  if (only.has('throughput') && !a['no-kazoo'] && !kazoo)
    results.notes.push(
      "Kazoo skipped: /usr/bin/python3 cannot import kazoo (bench/setup.sh installs Debian's python3-kazoo)",
    );

  const ctx: Ctx = {
    quick,
    rounds,
    jobs: settings.jobs,
    kazooJobs: settings.kazooJobs,
    kazooCapMs: settings.kazooCapMs,
    workers: settings.workers,
    scale: settings.scale,
    concurrency: settings.concurrency,
    workMs: settings.workMs,
    ...(settings.prefetch ? { prefetch: settings.prefetch } : {}),
    latencyJobs: settings.latencyJobs,
    footprintJobs: settings.footprintJobs,
    failoverSessionMs: settings.failoverSessionMs,
    cluster,
    client,
    redis,
    kazoo,
    logFile: join(logDir, 'children.log'),
  };
  const R = results;

  if ((only.has('throughput') || only.has('variants')) && settings.warmupJobs > 0) {
    log(`warm-up: ${settings.warmupJobs} jobs through each system, not counted`);
    await attempt('warm-up zkjobs', () => zkjobsThroughput(ctx, ctx.workers, settings.warmupJobs));
    if (redis.none)
      await attempt('warm-up BullMQ', () => bullmqThroughput(ctx, redis.none!, ctx.workers, settings.warmupJobs));
    if (redis.aof)
      await attempt('warm-up BullMQ (AOF)', () => bullmqThroughput(ctx, redis.aof!, ctx.workers, settings.warmupJobs));
  }

  // Raw limit and throughput, alternated round by round (the order rotates each round).
  if (only.has('raw') || only.has('throughput')) {
    type Step = [string, () => Promise<void>];
    for (let r = 0; r < rounds; r++) {
      const steps: Step[] = [];
      if (only.has('raw'))
        steps.push([
          'raw',
          async () => {
            const dir = `/bench/raw-${r}`;
            try {
              await pipelinedCreates(client, `${dir}/warm`, 500, 200); // warm-up (JIT, connection), not counted
              // CPU per znode of the members and of this (the only) client, as the throughput runs count it.
              const pids = ctx.cluster.members.map((x) => x.pid);
              const measured = async (what: string, run: () => Promise<number>) => {
                const s0 = treeCpuMs(pids);
                const b0 = selfCpuMs();
                const rate = await attempt(what, run);
                const s1 = treeCpuMs(pids);
                const b1 = selfCpuMs();
                const n = settings.rawCreates;
                const cpu = s0 === null || s1 === null ? null : { server: (s1 - s0) / n, client: (b1 - b0) / n };
                return { rate, cpu };
              };
              const c = await measured(`round ${r + 1} raw creates`, () =>
                pipelinedCreates(client, `${dir}/c`, settings.rawCreates, 1000),
              );
              const m = await measured(`round ${r + 1} raw multis`, () =>
                pipelinedMultis(client, `${dir}/m`, settings.rawCreates, 10, 100),
              );
              const b = await measured(`round ${r + 1} raw multis of 100`, () =>
                pipelinedMultis(client, `${dir}/b`, settings.rawCreates, 100, 10),
              );
              const keep = (x: typeof c, rates: number[], cpus: { server: number; client: number }[]) => {
                if (x.rate === null) return;
                rates.push(x.rate);
                if (x.cpu) cpus.push(x.cpu);
              };
              keep(c, R.raw.createsPerSec, (R.raw.createsCpu ??= []));
              keep(m, R.raw.multiZnodesPerSec, (R.raw.multiCpu ??= []));
              keep(b, (R.raw.bigMultiZnodesPerSec ??= []), (R.raw.bigMultiCpu ??= []));
            } finally {
              await deleteTree(client, dir);
            }
          },
        ]);
      if (only.has('throughput')) {
        steps.push([
          'zkjobs',
          async () =>
            push(
              R.throughput,
              'zkjobs',
              await attempt(`round ${r + 1} zkjobs throughput`, () => zkjobsThroughput(ctx, ctx.workers, ctx.jobs)),
            ),
        ]);
        if (redis.none)
          steps.push([
            'bullmq-none',
            async () =>
              push(
                R.throughput,
                'bullmq-none',
                await attempt(`round ${r + 1} BullMQ (no persistence)`, () =>
                  bullmqThroughput(ctx, redis.none!, ctx.workers, ctx.jobs),
                ),
              ),
          ]);
        if (redis.aof)
          steps.push([
            'bullmq-aof',
            async () =>
              push(
                R.throughput,
                'bullmq-aof',
                await attempt(`round ${r + 1} BullMQ (AOF everysec)`, () =>
                  bullmqThroughput(ctx, redis.aof!, ctx.workers, ctx.jobs),
                ),
              ),
          ]);
        if (kazoo)
          steps.push([
            'kazoo',
            async () =>
              push(
                R.throughput,
                'kazoo',
                await attempt(`round ${r + 1} Kazoo LockingQueue`, () =>
                  kazooThroughput(ctx, ctx.workers, ctx.kazooJobs),
                ),
              ),
          ]);
      }
      for (let i = 0; i < steps.length; i++) await steps[(i + r) % steps.length]![1]();
      await save(false);
    }
  }

  if (only.has('scaling')) {
    for (let r = 0; r < rounds; r++) {
      for (const w of ctx.scale) {
        push<ThroughputRun>(
          R.scaling,
          String(w),
          await attempt(`round ${r + 1} zkjobs ${w} workers`, () => zkjobsThroughput(ctx, w, ctx.jobs)),
        );
      }
      await save(false);
    }
  }

  if (only.has('latency')) {
    for (let r = 0; r < rounds; r++) {
      const floor = await attempt(`round ${r + 1} ZooKeeper latency floor`, () => zkFloor(ctx, ctx.latencyJobs));
      if (floor) R.latencyFloor.push(floor);
      const steps: [string, () => Promise<LatencyRun>][] = [['zkjobs', () => zkjobsLatency(ctx, ctx.latencyJobs)]];
      if (redis.none) steps.push(['bullmq-none', () => bullmqLatency(ctx, redis.none!, ctx.latencyJobs)]);
      if (redis.aof) steps.push(['bullmq-aof', () => bullmqLatency(ctx, redis.aof!, ctx.latencyJobs)]);
      for (let i = 0; i < steps.length; i++) {
        const [k, fn] = steps[(i + r) % steps.length]!;
        push<LatencyRun>(R.latency, k, await attempt(`round ${r + 1} ${k} latency`, fn));
      }
      await save(false);
    }
  }
  // Throughput variants: in each round every variant (the order rotating), and within a variant
  // zkjobs and BullMQ (appendfsync everysec) in an order that alternates round by round.
  if (only.has('variants')) {
    const chosen = variants.map((n) => VARIANT_DEFS[n]);
    let standalone: Standalone | null = null;
    try {
      if (chosen.some((v) => v.standalone)) {
        standalone = await attempt('start a standalone ZooKeeper server (variants)', () =>
          startStandalone({ tickMs, heapMb: settings.zkHeapMb, jvmFlags: settings.zkJvmFlags }),
        );
        // Its JVM starts cold, as the ensemble's did: one unmeasured run first.
        const s = standalone;
        if (s && settings.warmupJobs > 0)
          await attempt('warm-up zkjobs (standalone)', () =>
            zkjobsThroughput(variantCtx(ctx, VARIANT_DEFS.standalone, s), ctx.workers, settings.warmupJobs),
          );
      }
      const runnable = chosen.filter((v) => !v.standalone || standalone);
      for (let r = 0; r < rounds; r++) {
        for (let j = 0; j < runnable.length; j++) {
          const v = runnable[(j + r) % runnable.length]!;
          const vctx = variantCtx(ctx, v, standalone);
          const entry = (R.variants[v.name] ??= variantResult(vctx, settings.variantJobs));
          const steps: [string, string, () => Promise<ThroughputRun>][] = [
            ['zkjobs', 'zkjobs', () => zkjobsThroughput(vctx, ctx.workers, settings.variantJobs)],
          ];
          if (redis.aof)
            steps.push([
              'bullmq-aof',
              'BullMQ (AOF everysec)',
              () => bullmqThroughput(vctx, redis.aof!, ctx.workers, settings.variantJobs),
            ]);
          for (let i = 0; i < steps.length; i++) {
            const [k, what, fn] = steps[(i + r) % steps.length]!;
            push(entry.runs, k, await attempt(`round ${r + 1} variant ${v.name}: ${what}`, fn));
          }
        }
        await save(false);
      }
    } finally {
      await standalone?.close().catch((err: unknown) => log(`standalone ZooKeeper server: ${errorMessage(err)}`));
    }
  }

  await redis.none?.stop();
  await redis.aof?.stop();

  if (only.has('failover')) {
    for (let r = 0; r < settings.failoverRounds; r++) {
      const runs = await attempt(`failover round ${r + 1}`, () => failoverRound(ctx));
      if (runs) R.failover.push(...runs);
      await save(false);
    }
  }

  if (only.has('footprint')) {
    for (let r = 0; r < (quick ? 1 : Math.min(rounds, 2)); r++) {
      for (const kind of ['unhandled-type', 'delayed-1h'] as BacklogKind[]) {
        const fp = await attempt(`footprint ${kind} round ${r + 1}`, () => footprintRun(ctx, kind));
        if (fp) R.footprint.push(fp);
        await save(false);
      }
    }
  }
}

const t0 = now();
try {
  await main();
  await save(true);
  log(`done in ${Math.round((now() - t0) / 1000)} s: ${join(outDir, 'latest.md')}`);
  process.stdout.write(toMarkdown(results!) + '\n');
} catch (err) {
  log(`bench failed: ${errorMessage(err)}`);
  await save(false).catch(() => undefined);
  process.exitCode = 1;
} finally {
  await closeAll();
}
process.exit(process.exitCode ?? 0);
