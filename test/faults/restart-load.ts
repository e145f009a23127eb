// `node --import tsx test/faults/restart-load.ts [--label L] [--restarts N]`: requests per second on
// every member around a member restart. A 3-member ensemble (tickTime 500), eight
// `zkjobs worker start` processes (concurrency 2, session timeout 10 s: a restart is a short
// suspension for the clients it drops) and a steady 10 jobs/s. `mntr`'s `zk_packets_received` is
// read on every member every 250 ms; the rate is summed over the members in one-second windows.
// After a baseline, the member serving the leading worker's session (found with `cons`) is
// restarted (SIGTERM, start, serving again), N times. Prints, and writes to
// .zkjobs/restart-load-<label>.json: the baseline (median of the windows before), the peak window
// of the 15 s after each restart, the epochs taken, and the re-listings (`getChildren`) served.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ZkClient } from '@zkjobs/core';
import { TestingCluster, fourLetterWord, monitor, type ZkServerProcess } from '@zkjobs/core/testing';
import { Queue, createLogger, type LeaderInfo } from '@zkjobs/worker';
import { killAll, readJsonLines, spawnCliWorker, type CliWorker } from './support.js';

const { values } = parseArgs({
  options: {
    label: { type: 'string', default: 'run' },
    restarts: { type: 'string', default: '3' },
    workers: { type: 'string', default: '8' },
  },
});
const RESTARTS = Number(values.restarts);
const WORKERS = Number(values.workers);
const SAMPLE_MS = 250;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

interface Sample {
  at: number;
  /** Per member: `zk_packets_received` (null while it does not answer). */
  received: (number | null)[];
}

async function main(): Promise<void> {
  const cluster = await TestingCluster.start({ size: 3, tickTime: 500, startTimeoutMs: 90_000 });
  const client = await ZkClient.connect(cluster.connectString, { sessionTimeoutMs: 10_000 });
  const namespace = `/restart-load/${Date.now().toString(36)}`;
  const ns = client.usingNamespace(namespace);
  const queue = new Queue(client, { namespace, logger: createLogger('silent') });
  await queue.client();
  const dir = mkdtempSync(join(tmpdir(), 'zkjobs-restart-load-'));
  const workers: CliWorker[] = [];
  process.once('exit', () => {
    for (const w of workers) if (!w.dead) w.child.kill('SIGKILL');
  });
  for (let i = 0; i < WORKERS; i++) {
    workers.push(
      await spawnCliWorker({
        connect: cluster.connectString,
        namespace,
        dir,
        label: `w${i}`,
        concurrency: 2,
        sessionTimeoutMs: 10_000,
        startTimeoutMs: 120_000,
      }),
    );
  }

  let running = true;
  let n = 0;
  const submitter = (async () => {
    while (running) {
      const ids = Array.from({ length: 10 }, () => `j-${n++}`);
      await queue
        .addBulk(ids.map((id) => ({ type: 'work', data: { ms: 50 + (n % 250) }, opts: { jobId: id, attempts: 5 } })))
        .catch(() => undefined);
      await sleep(1000);
    }
  })();

  const samples: Sample[] = [];
  const sampler = (async () => {
    while (running) {
      const at = Date.now();
      const received = await Promise.all(
        cluster.members.map((m) =>
          m.running
            ? monitor(m.host, m.spec.clientPort, 1000)
                .then((r) => (typeof r['zk_packets_received'] === 'number' ? r['zk_packets_received'] : null))
                .catch(() => null)
            : Promise.resolve(null),
        ),
      );
      samples.push({ at, received });
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - at)));
    }
  })();

  /** Requests per second over all members in one-second windows between `from` and `to`. */
  const windows = (from: number, to: number): number[] => {
    const out: number[] = [];
    for (let t = from; t + 1000 <= to; t += 1000) {
      let sum = 0;
      for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1]!;
        const b = samples[i]!;
        if (b.at <= t || b.at > t + 1000) continue;
        for (let m = 0; m < b.received.length; m++) {
          const x = a.received[m];
          const y = b.received[m];
          if (y === null || y === undefined) continue;
          // A restarted member's counter starts again from zero.
          sum += x === null || x === undefined || y < x ? y : y - x;
        }
      }
      out.push(sum);
    }
    return out;
  };

  const leaderMember = async (): Promise<ZkServerProcess> => {
    for (;;) {
      try {
        const info = JSON.parse((await ns.getData('/leader')).data.toString('utf8')) as LeaderInfo;
        for (const m of cluster.members) {
          const cons = await fourLetterWord(m.host, m.spec.clientPort, 'cons', 2000).catch(() => '');
          if (cons.includes(`sid=${info.session},`)) return m;
        }
      } catch {
        // no leader yet
      }
      await sleep(250);
    }
  };

  await sleep(20_000); // warm-up
  const baseFrom = Date.now();
  await sleep(20_000);
  const baseline = windows(baseFrom, Date.now());
  const restarts: { member: number; peak: number; windows: number[] }[] = [];
  for (let r = 0; r < RESTARTS; r++) {
    const m = await leaderMember();
    const from = Date.now();
    await m.stop();
    await m.start();
    await m.waitForMode(90_000);
    await sleep(15_000);
    const w = windows(from, from + 15_000);
    restarts.push({ member: m.spec.id, peak: Math.max(...w), windows: w });
    await sleep(5_000);
  }
  running = false;
  await Promise.all([submitter, sampler]);
  const epochs = new Set(
    workers.flatMap((w) =>
      readJsonLines(w.eventsFile)
        .filter((l) => l['event'] === 'leader-elected')
        .map((l) => l['epoch']),
    ),
  ).size;
  const stats = await Promise.all(cluster.members.map((m) => fourLetterWord(m.host, m.spec.clientPort, 'srvr', 2000)));
  const result = {
    label: values.label,
    workers: WORKERS,
    jobsSubmitted: n,
    baselineMedian: median(baseline),
    baselineMax: Math.max(...baseline),
    restarts: restarts.map((r) => ({ member: r.member, peak: r.peak, windows: r.windows })),
    peakMedian: median(restarts.map((r) => r.peak)),
    peakMax: Math.max(...restarts.map((r) => r.peak)),
    epochsTaken: epochs,
    load: loadavg().map((x) => Number(x.toFixed(2))),
    members: stats.map((s) => /^Mode: (\S+)/m.exec(s)?.[1] ?? null),
  };
  console.log(JSON.stringify(result, null, 1));
  const out = join(fileURLToPath(new URL('../..', import.meta.url)), '.zkjobs');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `restart-load-${values.label}.json`), JSON.stringify(result, null, 2) + '\n');
  await killAll(workers);
  await client.close();
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
