/**
 * The dashboard's HTTP side (hono on @hono/node-server): the page, a JSON API over a
 * {@link NamespaceWatch}, server-sent events, `/metrics`, and — only when allowed and with the
 * token — the cancel action.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JobNotFoundError } from '../errors.js';
import { JOB_ID_RE } from '../options.js';
import { JOB_STATES, isFinalState, type Job, type JobState } from '../job.js';
import { jobPath } from '../layout.js';
import type { Queue } from '../queue.js';
import type { ZkClient } from '@zkjobs/core';
import { attemptsJson } from '../cli/job-json.js';
import { NamespaceWatch } from './live.js';
import { DASHBOARD_PAGE } from './page.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** A client without a namespace (not closed by the dashboard). */
  client: ZkClient;
  /** A Queue on `namespace` over `client` (not closed by the dashboard). */
  queue: Queue;
  /** The namespace root. */
  namespace: string;
  /** TCP port; 0 picks a free one. @defaultValue 3000 */
  port?: number;
  /** Address to listen on. @defaultValue `'127.0.0.1'` */
  host?: string;
  /**
   * The token that enables actions (cancel): requests must carry `Authorization: Bearer <token>`.
   * Without it, actions are off (the API answers 403). At least 16 characters.
   */
  actionToken?: string;
  /** At most one read of the counts, and one scan for the lists, per this many ms while jobs change. @defaultValue 1000 */
  debounceMs?: number;
  /** Logger. */
  log: Logger;
}

/** A running dashboard. */
export interface Dashboard {
  /** `http://<host>:<port>/`. */
  readonly url: string;
  readonly port: number;
  /** The watch behind it (for tests and metrics). */
  readonly watch: NamespaceWatch;
  /** Ends the event streams, stops listening and closes the watches. */
  close(): Promise<void>;
}

/** Everything `job explain --json` shows, and the job's own fields, for the detail page. */
export function jobDetail(j: Job): Record<string, unknown> {
  return {
    id: j.id,
    type: j.type,
    state: j.state,
    data: j.data,
    priority: j.opts.priority,
    attemptsMade: j.attemptsMade,
    maxAttempts: j.opts.attempts,
    createdAt: j.createdAt,
    ...(j.finishedAt !== undefined ? { finishedAt: j.finishedAt } : {}),
    ...(j.opts.delay > 0 ? { delay: j.opts.delay } : {}),
    ...(j.opts.dependsOn.length > 0 ? { dependsOn: j.opts.dependsOn } : {}),
    ...(j.result !== undefined ? { result: j.result } : {}),
    ...(j.error ? { error: j.error } : {}),
    ...(j.notes && j.notes.length > 0 ? { notes: j.notes } : {}),
    final: isFinalState(j.state),
    attempts: attemptsJson(j),
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Starts the dashboard: reads the cluster and the counts once, arms the watches, and listens (the
 * job lists are scanned when a page first asks for one).
 * @throws the listen error (`EADDRINUSE`, …); errors of the first reads
 */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { client, queue, namespace, log } = opts;
  const host = opts.host ?? '127.0.0.1';
  const watch = new NamespaceWatch(client, { namespace, queue, debounceMs: opts.debounceMs ?? 1000 });
  watch.on('error', (err) => log.warn({ err }, 'dashboard: a read failed; retried on the next change'));
  await watch.start();

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  new Gauge({
    name: 'zkjobs_cluster_jobs',
    help: "Jobs in the namespace by type and state, from the namespace's counter",
    labelNames: ['type', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const [type, states] of Object.entries(watch.counts()?.byType ?? {})) {
        for (const s of JOB_STATES) this.set({ type, state: s }, states[s]);
      }
    },
  });
  new Gauge({
    name: 'zkjobs_cluster_workers',
    help: 'Live workers in the namespace',
    registers,
    collect() {
      this.set(watch.cluster()?.workers.length ?? 0);
    },
  });
  new Gauge({
    name: 'zkjobs_cluster_leader_epoch',
    help: 'The epoch of the recorded leader, -1 before the first election',
    registers,
    collect() {
      this.set(watch.cluster()?.leader?.epoch ?? -1);
    },
  });
  new Gauge({
    name: 'zkjobs_cluster_pending_markers',
    help: 'Pending markers waiting for the scheduler',
    registers,
    collect() {
      this.set(watch.cluster()?.pendingMarkers ?? 0);
    },
  });
  new Counter({
    name: 'zkjobs_dashboard_scans_total',
    help: 'Scans of the job records the dashboard made',
    registers,
    collect() {
      this.reset();
      this.inc(watch.scans);
    },
  });
  const scanSeconds = new Histogram({
    name: 'zkjobs_dashboard_scan_duration_seconds',
    help: 'Duration of a scan of the job records, seconds',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  watch.on('scan', (ms) => scanSeconds.observe(ms / 1000));
  const streams = new Set<SSEStreamingApi>();
  new Gauge({
    name: 'zkjobs_dashboard_event_streams',
    help: 'Open server-sent event streams',
    registers,
    collect() {
      this.set(streams.size);
    },
  });
  new Gauge({
    name: 'zkjobs_dashboard_watches',
    help: 'ZooKeeper watches the dashboard keeps armed',
    registers,
    collect() {
      this.set(watch.watchCount);
    },
  });

  const expected = opts.actionToken !== undefined ? digest(opts.actionToken) : null;
  const authorised = (c: Context): boolean => {
    const m = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '');
    return expected !== null && m !== null && timingSafeEqual(digest(m[1]!), expected);
  };

  const app = new Hono();
  // Bound to loopback, answer only requests addressed to loopback (a page elsewhere cannot
  // reach it through a rebound DNS name).
  if (LOOPBACK.has(host)) {
    app.use('*', async (c, next) => {
      const h = (c.req.header('host') ?? '').replace(/:\d+$/, '');
      if (!LOOPBACK.has(h)) return c.text(`refused: Host ${h} is not a loopback name\n`, 421);
      await next();
    });
  }
  app.get('/', (c) => c.html(DASHBOARD_PAGE));
  app.get('/api/config', (c) => c.json({ namespace, actions: expected !== null, states: JOB_STATES }));
  app.get('/api/cluster', (c) => c.json(watch.cluster()));
  app.get('/api/counts', (c) => c.json(watch.counts()));
  app.get('/api/jobs', async (c) => {
    const state = c.req.query('state');
    const order = c.req.query('order') ?? 'newest';
    const offset = Number(c.req.query('offset') ?? '0');
    const limit = Number(c.req.query('limit') ?? '50');
    if (state !== undefined && state !== '' && !(JOB_STATES as readonly string[]).includes(state)) {
      return c.json({ error: `state: must be one of ${JOB_STATES.join(', ')}` }, 400);
    }
    if (order !== 'newest' && order !== 'oldest') return c.json({ error: 'order: must be newest or oldest' }, 400);
    if (!Number.isSafeInteger(offset) || offset < 0) return c.json({ error: 'offset: must be an integer ≥ 0' }, 400);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500) {
      return c.json({ error: 'limit: must be an integer 1–500' }, 400);
    }
    const type = c.req.query('type');
    return c.json(
      await watch.page({
        ...(state ? { state: state as JobState } : {}),
        ...(type ? { type } : {}),
        order,
        offset,
        limit,
      }),
    );
  });
  app.get('/api/jobs/:id', async (c) => {
    const id = c.req.param('id');
    if (!JOB_ID_RE.test(id)) return c.json({ error: 'not a job id' }, 400);
    const job = await queue.getJob(id);
    return job ? c.json(jobDetail(job)) : c.json({ error: `no job ${id} in ${namespace}` }, 404);
  });
  app.post('/api/jobs/:id/cancel', async (c) => {
    if (expected === null) {
      return c.json({ error: 'actions are off: start the dashboard with --allow-actions and a token' }, 403);
    }
    if (!authorised(c)) return c.json({ error: 'missing or wrong token (Authorization: Bearer <token>)' }, 401);
    const id = c.req.param('id');
    if (!JOB_ID_RE.test(id)) return c.json({ error: 'not a job id' }, 400);
    try {
      const cancelled = await queue.cancel(id);
      log.info({ jobId: id, cancelled }, 'dashboard: cancel');
      void watch.rescan();
      const job = await queue.getJob(id);
      return c.json({ id, cancelled, state: job?.state ?? null });
    } catch (err) {
      if (err instanceof JobNotFoundError) return c.json({ error: `no job ${id} in ${namespace}` }, 404);
      throw err;
    }
  });
  const sse = (c: Context, run: (stream: SSEStreamingApi) => Promise<() => void>) =>
    streamSSE(c, async (stream) => {
      streams.add(stream);
      let stop: () => void = () => undefined;
      let ended!: () => void;
      const done = new Promise<void>((r) => (ended = r));
      stream.onAbort(() => ended());
      try {
        stop = await run(stream);
        // A comment-like ping keeps proxies from closing an idle stream.
        while (!stream.aborted && !stream.closed) {
          await Promise.race([done, stream.sleep(15_000)]);
          if (stream.aborted || stream.closed) break;
          await stream.writeSSE({ event: 'ping', data: String(Date.now()) });
        }
      } finally {
        stop();
        streams.delete(stream);
      }
    });
  app.get('/api/events', (c) =>
    sse(c, async (stream) => {
      const send = (event: string, data: unknown): void => void stream.writeSSE({ event, data: JSON.stringify(data) });
      const onCluster = (v: unknown): void => send('cluster', v);
      const onCounts = (v: unknown): void => send('counts', v);
      const onJobs = (at: number): void => send('jobs', { at });
      watch.on('cluster', onCluster);
      watch.on('counts', onCounts);
      watch.on('jobs', onJobs);
      send('cluster', watch.cluster());
      send('counts', watch.counts());
      return () => {
        watch.off('cluster', onCluster);
        watch.off('counts', onCounts);
        watch.off('jobs', onJobs);
      };
    }),
  );
  app.get('/api/jobs/:id/events', (c) => {
    const id = c.req.param('id');
    if (!JOB_ID_RE.test(id)) return c.json({ error: 'not a job id' }, 400);
    // One data watch on the record, re-armed on each change; one getData per change.
    return sse(c, async (stream) => {
      const ns = client.usingNamespace(namespace);
      const h = ns.watchData(jobPath(id), () => {
        queue.getJob(id).then(
          (job) => void stream.writeSSE({ event: 'job', data: JSON.stringify(job ? jobDetail(job) : null) }),
          (err: unknown) => log.warn({ err, jobId: id }, 'dashboard: could not read a job'),
        );
      });
      return () => h.close();
    });
  });
  app.get('/metrics', async (c) => {
    c.header('content-type', registry.contentType);
    return c.body(await registry.metrics());
  });
  app.onError((err, c) => {
    log.warn({ err, path: c.req.path }, 'dashboard: request failed');
    return c.json({ error: err.message }, 500);
  });

  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port ?? 3000, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown === '127.0.0.1' ? '127.0.0.1' : shown}:${addr.port}/`,
    port: addr.port,
    watch,
    close: async () => {
      for (const s of streams) void s.close();
      watch.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
