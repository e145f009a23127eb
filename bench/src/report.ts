import { HARNESS_JVM_FLAGS } from '@zkjobs/core/testing';
import type { FailoverRun } from './failover.js';
import type { FootprintRun } from './footprint.js';
import type { FloorRun, LatencyRun, ThroughputRun } from './engines.js';
import type { Machine } from './machine.js';
import type { VariantResult } from './variants.js';
import { summarize, type Summary } from './util.js';

/** Everything a run measured (bench/results/latest.json). */
export interface Results {
  startedAt: string;
  finishedAt?: string;
  partial: boolean;
  args: string[];
  quick: boolean;
  settings: Record<string, unknown>;
  machine: Machine;
  /** Raw ZooKeeper rates per round. */
  raw: {
    createsPerSec: number[];
    multiZnodesPerSec: number[];
    /** CPU per znode created, ms: the three members and the one client (absent in older results). */
    createsCpu?: { server: number; client: number }[];
    multiCpu?: { server: number; client: number }[];
    /** Multis of 100 creates, 10 in flight (absent in older results). */
    bigMultiZnodesPerSec?: number[];
    bigMultiCpu?: { server: number; client: number }[];
  };
  /** Throughput per system, one entry per round. */
  throughput: Record<string, ThroughputRun[]>;
  /** zkjobs throughput by worker count. */
  scaling: Record<string, ThroughputRun[]>;
  latency: Record<string, LatencyRun[]>;
  /** ZooKeeper's own write and read latency on the idle ensemble, per latency round. */
  latencyFloor: FloorRun[];
  /** Throughput variants by name (`standalone`, `c64`, `work1`, `work10`), zkjobs beside BullMQ (AOF). */
  variants: Record<string, VariantResult>;
  failover: FailoverRun[];
  footprint: FootprintRun[];
  /** Sections skipped or failed, with the reason. */
  notes: string[];
}

export function emptyResults(
  args: string[],
  quick: boolean,
  machine: Machine,
  settings: Record<string, unknown>,
): Results {
  return {
    startedAt: new Date().toISOString(),
    partial: true,
    args,
    quick,
    settings,
    machine,
    raw: { createsPerSec: [], multiZnodesPerSec: [] },
    throughput: {},
    scaling: {},
    latency: {},
    latencyFloor: [],
    variants: {},
    failover: [],
    footprint: [],
    notes: [],
  };
}

const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const mib = (x: number | null | undefined): string =>
  x === null || x === undefined ? '–' : `${(x / 2 ** 20).toFixed(1)} MiB`;

/** `median (min–max)` */
const f3 = (x: number): string => x.toFixed(3);

function mmm(s: Summary | null, fmt: (x: number) => string = f0): string {
  if (!s) return '–';
  return s.n === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

/** Median CPU per job (ms) of one part over the runs, "–" when not measured. */
function cpuCell(runs: ThroughputRun[], k: 'server' | 'workers' | 'bench'): string {
  const s = summarize(runs.map((r) => r.cpu?.[k]).filter((x): x is number => typeof x === 'number'));
  return s ? f2(s.median) : '–';
}

function cpuCells(runs: ThroughputRun[]): string {
  if (!runs.some((r) => r.cpu)) return ' | ';
  const busy = summarize(runs.map((r) => r.cpu?.busyPct).filter((x): x is number => typeof x === 'number'));
  return ` ${cpuCell(runs, 'server')} / ${cpuCell(runs, 'workers')} / ${cpuCell(runs, 'bench')} | ${busy ? `${f0(busy.median)} %` : '–'} `;
}

/** CPU per job of all three parts together (server + workers + submitter), ms, over the runs that measured it. */
function cpuAll(runs: ThroughputRun[] | undefined): Summary | null {
  return summarize(
    (runs ?? [])
      .map((x) => (x.cpu ? (x.cpu.server ?? 0) + (x.cpu.workers ?? 0) + x.cpu.bench : null))
      .filter((x): x is number => x !== null),
  );
}

/** zkjobs's client-counted znode writes or requests per job over the runs that counted them. */
function clientCount(runs: ThroughputRun[] | undefined, k: 'writes' | 'requests'): Summary | null {
  return summarize((runs ?? []).map((x) => x.client?.[k]).filter((x): x is number => typeof x === 'number'));
}

const sum = (runs: ThroughputRun[] | undefined, k: keyof ThroughputRun): Summary | null =>
  summarize((runs ?? []).map((r) => Number(r[k])));
const lat = (runs: LatencyRun[] | undefined, k: keyof LatencyRun): Summary | null =>
  summarize((runs ?? []).map((r) => Number(r[k])));

const LABEL: Record<string, string> = {
  zkjobs: 'zkjobs',
  'bullmq-none': 'BullMQ, Redis without persistence',
  'bullmq-aof': 'BullMQ, Redis appendfsync everysec',
  kazoo: "Kazoo's LockingQueue",
};

/** Markdown: the targets beside the measured values, then the detail tables. */
export function toMarkdown(r: Results): string {
  const L: string[] = [];
  const m = r.machine;
  const zk = r.throughput['zkjobs'];
  const zkRate = sum(zk, 'jobsPerSec');
  const bull = r.throughput['bullmq-none'];
  const bullRate = sum(bull, 'jobsPerSec');
  const raw = summarize(r.raw.createsPerSec);
  const multi = summarize(r.raw.multiZnodesPerSec);
  const rpj = sum(zk, 'requestsPerJob');
  const zl = r.latency['zkjobs'];
  const bl = r.latency['bullmq-aof'] ?? r.latency['bullmq-none']; // the same peer as the throughput target
  const kills = r.failover.filter((x) => x.kind === 'sigkill');
  const graceful = r.failover.filter((x) => x.kind === 'graceful');
  const overFloor = summarize(kills.map((x) => x.firstJobMs - x.sessionTimeoutMs));
  const gracefulFirst = summarize(graceful.map((x) => x.afterCloseMs ?? x.firstJobMs));
  const gracefulTotal = summarize(graceful.map((x) => x.firstJobMs));
  const verdict = (ok: boolean | null): string => (ok === null ? 'not measured' : ok ? '**met**' : '**not met**');

  L.push(
    `Run ${r.startedAt}${r.quick ? ' — `--quick` (small counts, 1 round: development numbers only)' : ''}${r.partial ? ' — PARTIAL (interrupted)' : ''}.`,
  );
  L.push('');
  L.push(
    `Machine: ${m.nproc} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}; load average at start ${m.loadavgAtStart.join(' / ')}` +
      (m.loadavgAtEnd ? `, at end ${m.loadavgAtEnd.join(' / ')}` : '') +
      `. Node ${m.node}, ZooKeeper ${m.zookeeper ?? '?'} (${Number(r.settings['members'] ?? 3) === 1 ? 'a standalone server' : `${String(r.settings['members'] ?? 3)}-node ensemble`}, forceSync=yes, tickTime ${m.tickMs ?? 500}, JVM ${[...HARNESS_JVM_FLAGS.filter((f) => !f.startsWith('-Xmx')), `-Xmx${String(r.settings['zkHeapMb'] ?? 512)}m`, ...((r.settings['zkJvmFlags'] as string[] | undefined) ?? [])].join(' ')}), node-zookeeper-client ${m.nodeZookeeperClient ?? '?'}, ` +
      `Redis ${m.redis ?? '–'}, BullMQ ${m.bullmq ?? '–'}, ${m.python ?? 'python –'}, Kazoo ${m.kazoo ?? '–'}. Commit ${m.commit ?? '?'}${m.dirtyTree ? ' (with uncommitted changes in the tree)' : ''}.`,
  );
  L.push('');
  L.push(
    `Figures are median (min–max) over rounds; rates are per second. Handlers: ${Number(r.settings['workMs'] ?? 0) > 0 ? `${String(r.settings['workMs'])} ms of simulated work (a sleep)` : 'no-op'}, concurrency ${String(r.settings['concurrency'])}.`,
  );
  L.push('');
  L.push('### Targets');
  L.push('');
  L.push('| target | measured | verdict |');
  L.push('| --- | --- | --- |');
  const aof = r.throughput['bullmq-aof'];
  const aofRate = sum(aof, 'jobsPerSec');
  const zCpu = cpuAll(zk);
  const aCpu = cpuAll(aof);
  const wpj = clientCount(zk, 'writes');
  const cpj = clientCount(zk, 'requests');
  L.push(
    `| throughput ≥ 1.0 × BullMQ's (Redis appendfsync everysec) in the same run (${r.settings['workers']} workers × concurrency ${r.settings['concurrency']}, ${f0(Number(r.settings['jobs']))} jobs) | zkjobs ${mmm(zkRate)} jobs/s vs BullMQ ${mmm(aofRate)} jobs/s (ratio ${zkRate && aofRate ? f2(zkRate.median / aofRate.median) : '–'}; without persistence ${mmm(bullRate)}) | ${verdict(zkRate && aofRate ? zkRate.median >= aofRate.median : null)} |`,
  );
  L.push(
    `| CPU per job, all parts together, ≤ BullMQ's (appendfsync everysec) | zkjobs ${mmm(zCpu, f2)} ms vs BullMQ ${mmm(aCpu, f2)} ms | ${verdict(zCpu && aCpu ? zCpu.median <= aCpu.median : null)} |`,
  );
  L.push(
    `| ≤ 1 znode write per job, amortized (client-counted: creates, sets, deletes, in and out of multis) | ${mmm(wpj, f2)} | ${verdict(wpj ? wpj.median <= 1 : null)} |`,
  );
  L.push(
    `| ≤ 1.5 requests per job, amortized | ${mmm(cpj, f2)} client-counted requests per job (a multi is one; pings not counted); ${mmm(rpj, f2)} packets received by the servers (pings included) | ${verdict(cpj ? cpj.median <= 1.5 : null)} |`,
  );
  const zs50 = lat(zl, 'startP50');
  const bs50 = lat(bl, 'startP50');
  const zs99 = lat(zl, 'startP99');
  const bs99 = lat(bl, 'startP99');
  const chains = (r.latencyFloor ?? []).filter((x) => x.chainP50 !== undefined);
  const c50 = summarize(chains.map((x) => x.chainP50!));
  const c99 = summarize(chains.map((x) => x.chainP99!));
  const chainNote = (c: Summary | null): string =>
    c ? `; the same two-write chain on ZooKeeper alone (see the latency section) ${mmm(c, f1)} ms` : '';
  L.push(
    `| idle submit→start p50 ≤ 2 × BullMQ's (appendfsync everysec) | ${mmm(zs50, f1)} ms vs BullMQ ${mmm(bs50, f1)} ms${chainNote(c50)} | ${verdict(zs50 && bs50 ? zs50.median <= 2 * bs50.median : null)} |`,
  );
  L.push(
    `| idle submit→start p99 ≤ 3 × BullMQ's (appendfsync everysec) | ${mmm(zs99, f1)} ms vs BullMQ ${mmm(bs99, f1)} ms${chainNote(c99)} | ${verdict(zs99 && bs99 ? zs99.median <= 3 * bs99.median : null)} |`,
  );
  L.push(
    `| SIGKILL of the leader: first job ≤ session timeout + 0.2 s (median), + 0.5 s (worst) | first job at session timeout ${mmm(overFloor, (x) => `${x >= 0 ? '+' : ''}${f0(x)}`)} ms over ${kills.length} kills (timeout ${kills[0] ? f0(kills[0].sessionTimeoutMs) : '–'} ms) | ${verdict(overFloor ? overFloor.median <= 200 && overFloor.max <= 500 : null)} |`,
  );
  L.push(
    `| graceful stop of the leader: first job ≤ 50 ms | ${mmm(gracefulFirst, f1)} ms after close() returned (${mmm(gracefulTotal, f1)} ms from the stop request, close included) over ${graceful.length} stops | ${verdict(gracefulFirst ? gracefulFirst.median <= 50 : null)} |`,
  );
  for (const fp of r.footprint) {
    const ratio = fp.latencyLoaded.startP50 / fp.latencyEmpty.startP50;
    L.push(
      `| ${f0(fp.jobs)} pending jobs (${fp.kind}): no error, consumer latency ≤ 1.2 × empty | ${fp.submitErrors} failed submits; p50 start ${f1(fp.latencyLoaded.startP50)} ms vs ${f1(fp.latencyEmpty.startP50)} ms empty (× ${f2(ratio)}), ${fp.latencyLoaded.timeouts} probes timed out | ${verdict(fp.submitErrors === 0 && fp.latencyLoaded.timeouts === 0 && ratio <= 1.2)} |`,
    );
  }
  for (const fp of r.footprint) {
    if (!fp.counts) continue;
    L.push(
      `| getJobCounts with ${f0(fp.jobs)} records (${fp.kind}): ≤ 50 ms, O(1) reads in the number of jobs | ${f1(fp.counts.ms)} ms, ${fp.counts.requests} requests (waiting ${f0(fp.counts.waiting)}, delayed ${f0(fp.counts.delayed)}) seconds after the submit${fp.countsAtOnce ? `; ${f1(fp.countsAtOnce.ms)} ms, ${fp.countsAtOnce.requests} requests as soon as the last addBulk returned` : ''} | ${verdict(fp.counts.ms <= 50 && (fp.countsAtOnce?.ms ?? 0) <= 50)} |`,
    );
  }
  if (r.footprint.length === 0)
    L.push('| 100,000 pending jobs: no error, consumer latency ≤ 1.2 × empty | – | not measured |');
  L.push('');

  L.push('### Throughput and the raw limit');
  L.push('');
  L.push(
    '| system | jobs/s | × zkjobs | submit time, ms | ZooKeeper packets / job | CPU ms / job: server / workers / submitter | cores busy | rounds |',
  );
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const rawCpu = (xs: { server: number; client: number }[] | undefined): string =>
    xs && xs.length > 0
      ? `${mmm(summarize(xs.map((x) => x.server)), f3)} / – / ${mmm(summarize(xs.map((x) => x.client)), f3)} per znode`
      : '';
  L.push(
    `| raw pipelined creates (ZkClient → ensemble) | ${mmm(raw)} creates/s | ${zkRate && raw ? `zkjobs = ${f2(zkRate.median / raw.median)} × raw` : '–'} | | | ${rawCpu(r.raw.createsCpu)} | | ${raw?.n ?? 0} |`,
  );
  L.push(
    `| raw pipelined multis of 10 creates | ${mmm(multi)} znodes/s | ${zkRate && multi ? `zkjobs = ${f2(zkRate.median / multi.median)} × raw` : '–'} | | | ${rawCpu(r.raw.multiCpu)} | | ${multi?.n ?? 0} |`,
  );
  const big = summarize(r.raw.bigMultiZnodesPerSec ?? []);
  if (big)
    L.push(
      `| raw pipelined multis of 100 creates | ${mmm(big)} znodes/s | ${zkRate ? `zkjobs = ${f2(zkRate.median / big.median)} × raw` : '–'} | | | ${rawCpu(r.raw.bigMultiCpu)} | | ${big.n} |`,
    );
  for (const [k, runs] of Object.entries(r.throughput)) {
    const s = sum(runs, 'jobsPerSec');
    const capped = runs.some((x) => x.capped);
    const items = runs[0]?.jobs;
    L.push(
      `| ${LABEL[k] ?? k}${items !== undefined && items !== r.settings['jobs'] ? ` (${f0(items)} items)` : ''}${capped ? ' (time-capped)' : ''} | ${mmm(s)} | ${s && zkRate ? f2(s.median / zkRate.median) : '–'} | ${mmm(sum(runs, 'submitMs'))} | ${runs.some((x) => x.requestsPerJob !== undefined) ? mmm(sum(runs, 'requestsPerJob'), f2) : ''} |${cpuCells(runs)}| ${runs.length} |`,
    );
  }
  L.push('');
  L.push(
    'CPU per job: user + system time (Linux /proc) from the first submit to the last completion, divided by the jobs: "server" is the three ZooKeeper JVMs for zkjobs, the redis-server for BullMQ (not measured for Kazoo); "cores busy" is the three parts\' CPU over the wall time and the machine\'s cores. For the raw rows the CPU is per znode created: the three JVMs, and the one client (the bench process) in the submitter column.',
  );
  L.push('');
  const withClient = (zk ?? []).filter((x) => x.client);
  if (withClient.length > 0) {
    const keys = (f: (c: NonNullable<ThroughputRun['client']>) => Record<string, number>): string[] =>
      [...new Set(withClient.flatMap((x) => Object.keys(f(x.client!))))].sort();
    const cell = (f: (c: NonNullable<ThroughputRun['client']>) => Record<string, number>, k: string): string =>
      mmm(summarize(withClient.map((x) => f(x.client!)[k] ?? 0)), f3);
    L.push('zkjobs per job, counted by its clients (workers and submitter; a multi is one request):');
    L.push('');
    L.push(
      `| requests: ${keys((c) => c.requestsByOp).join(' | ')} | writes: ${keys((c) => c.writesByKind).join(' | ')} |`,
    );
    L.push(`| ${[...keys((c) => c.requestsByOp), ...keys((c) => c.writesByKind)].map(() => '---').join(' | ')} |`);
    L.push(
      `| ${keys((c) => c.requestsByOp)
        .map((k) => cell((c) => c.requestsByOp, k))
        .join(' | ')} | ${keys((c) => c.writesByKind)
        .map((k) => cell((c) => c.writesByKind, k))
        .join(' | ')} |`,
    );
    L.push('');
  }
  const withThreads = (zk ?? []).filter((x) => x.serverThreads);
  if (withThreads.length > 0) {
    // Each thread name's median over the rounds; the names that make up most of the total.
    const names = [...new Set(withThreads.flatMap((x) => Object.keys(x.serverThreads!)))];
    const med = names
      .map((n) => ({ n, s: summarize(withThreads.map((x) => x.serverThreads![n] ?? 0))! }))
      .sort((a, b) => b.s.median - a.s.median);
    const shown = med.filter((m) => m.s.median >= 0.01);
    const rest = med.filter((m) => m.s.median < 0.01).reduce((t, m) => t + m.s.median, 0);
    L.push(
      "The ZooKeeper members' CPU per job by thread (ms, the three JVMs together; Linux keeps 15 bytes of a thread's name, digits shown as #):",
    );
    L.push('');
    L.push(`| ${shown.map((m) => `\`${m.n}\``).join(' | ')} | others |`);
    L.push(`| ${shown.map(() => '---').join(' | ')} | --- |`);
    L.push(`| ${shown.map((m) => mmm(m.s, f3)).join(' | ')} | ${f3(rest)} |`);
    L.push('');
  }
  const variants = Object.entries(r.variants ?? {});
  if (variants.length > 0) {
    L.push('### Throughput variants');
    L.push('');
    L.push(
      '| variant | system | jobs/s | × BullMQ | CPU ms / job: server / workers / submitter | cores busy | znode writes / job | requests / job | rounds |',
    );
    L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, v] of variants) {
      const what =
        `${name}: ${v.members === 1 ? 'zkjobs on a standalone server' : `${v.members}-node ensemble`}, ` +
        `${v.workers} workers × ${v.concurrency}, ${v.workMs > 0 ? `${v.workMs} ms of work per job` : 'no-op'}, ${f0(v.jobs)} jobs`;
      const bull = sum(v.runs['bullmq-aof'], 'jobsPerSec');
      for (const k of ['zkjobs', 'bullmq-aof']) {
        const runs = v.runs[k];
        if (!runs) continue;
        const s = sum(runs, 'jobsPerSec');
        L.push(
          `| ${what} | ${LABEL[k] ?? k} | ${mmm(s)}${runs.some((x) => x.capped) ? ' (time-capped)' : ''} | ${s && bull ? f2(s.median / bull.median) : '–'} |${cpuCells(runs)}| ${mmm(clientCount(runs, 'writes'), f2)} | ${mmm(clientCount(runs, 'requests'), f2)} | ${runs.length} |`,
        );
      }
    }
    L.push('');
    L.push(
      'Each variant is the throughput workload with one thing changed, for every system in it (BullMQ runs on the Redis with appendfsync everysec; the `standalone` variant changes only where zkjobs runs: a standalone forceSync ZooKeeper server started for this section, with the ensemble\'s tickTime and heap). CPU per job as above; "server" is the ZooKeeper JVMs zkjobs ran on (one for `standalone`), the redis-server for BullMQ. Znode writes and requests per job are counted by the zkjobs clients (workers and submitter; a multi is one request; pings not counted).',
    );
    L.push('');
  }
  if (Object.keys(r.scaling).length > 0) {
    L.push('### zkjobs scaling (same job count, workers as child processes)');
    L.push('');
    L.push('| workers | jobs/s | ZooKeeper packets / job | rounds |');
    L.push('| --- | --- | --- | --- |');
    for (const [w, runs] of Object.entries(r.scaling)) {
      L.push(
        `| ${w} | ${mmm(sum(runs, 'jobsPerSec'))}${runs.some((x) => x.capped) ? ' (time-capped)' : ''} | ${mmm(sum(runs, 'requestsPerJob'), f2)} | ${runs.length} |`,
      );
    }
    L.push('');
  }
  if (Object.keys(r.latency).length > 0) {
    L.push('### Idle latency, single jobs one at a time (ms)');
    L.push('');
    L.push('| system | submit→start p50 | p99 | submit→complete p50 | p99 | jobs per round | timeouts |');
    L.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [k, runs] of Object.entries(r.latency)) {
      L.push(
        `| ${LABEL[k] ?? k} | ${mmm(lat(runs, 'startP50'), f1)} | ${mmm(lat(runs, 'startP99'), f1)} | ${mmm(lat(runs, 'completeP50'), f1)} | ${mmm(lat(runs, 'completeP99'), f1)} | ${runs[0]?.n ?? '–'} | ${runs.reduce((s, x) => s + x.timeouts, 0)} |`,
      );
    }
    L.push('');
    const fl = r.latencyFloor ?? [];
    if (fl.length > 0) {
      const w50 = summarize(fl.map((x) => x.writeP50));
      const w99 = summarize(fl.map((x) => x.writeP99));
      const r50 = summarize(fl.map((x) => x.readP50));
      const zl = (r.latency['zkjobs'] ?? []).filter((x) => x.onLeader !== undefined);
      const counted = zl.reduce((s, x) => s + x.n, 0);
      const led = zl.reduce((s, x) => s + (x.onLeader ?? 0), 0);
      const floor = (writes: number, reads: number): string =>
        w50 && r50 ? f1(writes * w50.median + reads * r50.median) : '–';
      const where =
        counted > 0
          ? ` In these rounds ${f0(led)} of the ${f0(counted)} counted zkjobs jobs started on the leader's own worker.`
          : '';
      L.push(
        `The floor, measured on the same idle ensemble in the same rounds: one fsync'd quorum write (a multi of one create, awaited) takes ${mmm(w50, f1)} ms at the median (p99 ${mmm(w99, f1)}), one read ${mmm(r50, f1)} ms. On an idle cluster the leader takes a job itself and claims it inside its assignment multi: two writes in sequence between the submit and the start (the submit; the assignment with the claim) and one read by the leader (the marker and its first job's record, in one multiRead), ${floor(2, 1)} ms from the medians alone. A job assigned to another worker meets three writes (the submit; the assignment; that worker's claim) and three reads (the marker; the assignment; the record): ${floor(3, 3)} ms. Each change reaches the next actor by a watch notification sent with its commit.${where}`,
      );
      if (c50) {
        L.push('');
        L.push(
          `That chain measured without the engine, in the same rounds: a create awaited by one session; another session, told by a persistent recursive watch, reads the new znode twice in one multiRead (as the marker and the record) and writes a multi of one create; from the first create's start to the second's reply: p50 ${mmm(c50, f1)} ms, p99 ${mmm(c99, f1)} ms. It is the floor of the idle leader's own path, against which the zkjobs row above is to be read: what lies above it is the engine's own time.`,
        );
      }
      L.push('');
    }
  }
  if (r.failover.length > 0) {
    L.push('### Failover (ms from the kill / the stop request)');
    L.push('');
    L.push(
      '| how | session timeout | to new leader | to its first job | first job − timeout | close() of the old leader took | runs |',
    );
    L.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, runs] of [
      ['SIGKILL of the leader process', kills],
      ['graceful stop (Worker.close)', graceful],
    ] as const) {
      if (runs.length === 0) continue;
      L.push(
        `| ${name} | ${mmm(summarize(runs.map((x) => x.sessionTimeoutMs)))} | ${mmm(summarize(runs.map((x) => x.leaderMs)))} | ${mmm(summarize(runs.map((x) => x.firstJobMs)))} | ${name.startsWith('SIGKILL') ? mmm(summarize(runs.map((x) => x.firstJobMs - x.sessionTimeoutMs))) : ''} | ${name.startsWith('SIGKILL') ? '' : mmm(summarize(runs.map((x) => x.closeMs ?? NaN)))} | ${runs.length} |`,
      );
    }
    L.push('');
  }
  if (r.footprint.length > 0) {
    L.push('### Footprint of a waiting backlog');
    L.push('');
    L.push(
      '| backlog | jobs | submit, s | failed | data size (before → after) | znodes | heap after GC | JVM RSS | start p50 / p99 empty | start p50 / p99 loaded |',
    );
    L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const fp of r.footprint) {
      L.push(
        `| ${fp.kind} | ${f0(fp.jobs)} | ${f1(fp.submitMs / 1000)} | ${fp.submitErrors} | ${mib(fp.before.dataSizeBytes)} → ${mib(fp.after.dataSizeBytes)} | ${f0(fp.before.znodes)} → ${f0(fp.after.znodes)} | ${mib(fp.before.heapBytes)} → ${mib(fp.after.heapBytes)} | ${mib(fp.before.rssBytes)} → ${mib(fp.after.rssBytes)} | ${f1(fp.latencyEmpty.startP50)} / ${f1(fp.latencyEmpty.startP99)} | ${f1(fp.latencyLoaded.startP50)} / ${f1(fp.latencyLoaded.startP99)}${fp.latencyLoaded.timeouts ? ` (${fp.latencyLoaded.timeouts} timed out)` : ''} |`,
      );
      for (const e of fp.errorSamples) L.push(`|  | error: ${e.replace(/\|/g, '\\|').slice(0, 200)} | | | | | | | | |`);
    }
    L.push('');
  }
  if (r.notes.length > 0) {
    L.push('### Notes of this run');
    L.push('');
    for (const n of r.notes) L.push(`- ${n}`);
    L.push('');
  }
  return L.join('\n');
}
