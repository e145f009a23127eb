// `zkjobs worker start --metrics-port`: Prometheus metrics scraped over HTTP and read back, the
// counters and histogram counts matching the jobs the test ran through the worker.
import { afterAll, describe, expect, it } from 'vitest';
import { Queue, createLogger } from '@zkjobs/worker';
import { scrape } from '../support/prometheus.js';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { exampleHandlers, killAll, run, start } from './cli.js';

const logger = createLogger('silent');

describe('zkjobs worker start --metrics-port', () => {
  afterAll(killAll);

  it('serves /metrics whose counters and histograms match the jobs run', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const w = start([
      '--connect',
      zkConnect,
      '--namespace',
      namespace,
      '--json',
      '--log-level',
      'warn',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
      '--concurrency',
      '2',
      '--metrics-port',
      '0',
    ]);
    const queue = new Queue(zkConnect, { namespace, logger });
    try {
      const metricsLine = await w.waitForLine((l) => l.includes('"event":"metrics"'), 30_000, 'the metrics line');
      const url = (JSON.parse(metricsLine) as { url: string }).url;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const elected = await w.waitForLine((l) => l.includes('"event":"leader-elected"'), 30_000, 'leadership');
      const epoch = (JSON.parse(elected) as { epoch: number }).epoch;

      const before = await scrape(url);
      expect(before.types.get('zkjobs_jobs_completed_total')).toBe('counter');
      expect(before.types.get('zkjobs_job_duration_seconds')).toBe('histogram');
      expect(before.valueOr0('zkjobs_jobs_completed_total', { type: 'echo' })).toBe(0);
      expect(before.value('zkjobs_leader')).toBe(1);
      expect(before.value('zkjobs_leader_epoch')).toBe(epoch);
      expect(before.value('zkjobs_zookeeper_connection_state', { state: 'connected' })).toBe(1);
      expect(before.value('zkjobs_zookeeper_connection_state', { state: 'suspended' })).toBe(0);
      expect(before.value('zkjobs_worker_concurrency')).toBe(2);
      expect(before.types.get('process_cpu_user_seconds_total')).toBe('counter'); // prom-client's defaults

      // A job that runs until cancelled: seen running, then its claim is lost (stalled).
      const long = await queue.add('sleep', { ms: 120_000 });
      await w.waitForLine((l) => l.includes('"event":"active"') && l.includes(long.id), 30_000, 'the long job active');
      const running = await scrape(url);
      expect(running.value('zkjobs_jobs_active')).toBe(1);
      expect(await queue.cancel(long.id)).toBe(true);
      await w.waitForLine((l) => l.includes('"event":"stalled"') && l.includes(long.id), 30_000, 'the stall');

      await queue.addBulk<unknown>([
        { type: 'echo', data: 1 },
        { type: 'echo', data: 2 },
        { type: 'echo', data: 3 },
        { type: 'flaky', data: { failures: 1 }, opts: { attempts: 2 } },
        { type: 'fail', data: {}, opts: { attempts: 2 } },
        { type: 'fail', data: { unrecoverable: true }, opts: { attempts: 3 } },
      ]);
      const count = (event: string, extra = ''): number =>
        w.lines().filter((l) => l.includes(`"event":"${event}"`) && l.includes(extra)).length;
      await waitFor(
        () => count('completed') === 4 && count('dead') === 1 && count('failed', '"final":true') === 2,
        60_000,
        50,
        'four completions, one dead job, one failed for good',
      );

      const m = await scrape(url);
      expect(m.value('zkjobs_jobs_completed_total', { type: 'echo' })).toBe(3);
      expect(m.value('zkjobs_jobs_completed_total', { type: 'flaky' })).toBe(1);
      expect(m.value('zkjobs_jobs_failed_total', { type: 'flaky' })).toBe(1);
      expect(m.value('zkjobs_jobs_failed_total', { type: 'fail' })).toBe(3);
      expect(m.value('zkjobs_jobs_retried_total', { type: 'flaky' })).toBe(1);
      expect(m.value('zkjobs_jobs_retried_total', { type: 'fail' })).toBe(1);
      expect(m.value('zkjobs_jobs_dead_total', { type: 'fail' })).toBe(1);
      expect(m.valueOr0('zkjobs_jobs_dead_total', { type: 'flaky' })).toBe(0);
      expect(m.value('zkjobs_jobs_stalled_total', { type: 'sleep' })).toBe(1);
      const d = 'zkjobs_job_duration_seconds_count';
      expect(m.value(d, { type: 'echo', outcome: 'completed' })).toBe(3);
      expect(m.value(d, { type: 'flaky', outcome: 'failed' })).toBe(1);
      expect(m.value(d, { type: 'flaky', outcome: 'completed' })).toBe(1);
      expect(m.value(d, { type: 'fail', outcome: 'failed' })).toBe(3);
      expect(m.value('zkjobs_job_duration_seconds_bucket', { type: 'echo', outcome: 'completed', le: '+Inf' })).toBe(3);
      // Start latency: first attempts only.
      const l = 'zkjobs_job_start_latency_seconds_count';
      expect(m.value(l, { type: 'echo' })).toBe(3);
      expect(m.value(l, { type: 'flaky' })).toBe(1);
      expect(m.value(l, { type: 'fail' })).toBe(2);
      expect(m.value(l, { type: 'sleep' })).toBe(1);
      expect(m.value('zkjobs_jobs_active')).toBe(0);
      expect(m.value('zkjobs_jobs_assigned')).toBe(0);
      expect(m.value('zkjobs_leader_elections_total')).toBe(1);
      expect(m.value('zkjobs_zookeeper_sessions_lost_total')).toBe(0);
      // Every recorded outcome is a multi; the claims are too.
      expect(
        m.value('zkjobs_zookeeper_request_duration_seconds_count', { op: 'multi', error: 'none' }),
      ).toBeGreaterThan(8);
      expect(m.samples.every((s) => !('jobId' in s.labels) && !('id' in s.labels))).toBe(true);

      const notFound = await fetch(url.replace('/metrics', '/other'));
      expect(notFound.status).toBe(404);
    } finally {
      await queue.close();
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
    }
  });

  it('refuses a --metrics-port outside 0–65535 with exit 2', async () => {
    const r = await run([
      '--connect',
      zkConnect,
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
      '--metrics-port',
      '70000',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--metrics-port <port>' argument '70000' is invalid");
  });
});
