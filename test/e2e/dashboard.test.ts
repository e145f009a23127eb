// `zkjobs dashboard` in a real browser (Debian's Chromium through playwright-core): the page
// shows the workers and counts of a cluster this test made, follows a job to completed through
// server-sent events, and cancels a job with the action token; the API refuses actions without it.
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker, createLogger, type Processor } from '@zkjobs/worker';
import { launchChromium } from '../support/browser.js';
import { scrape } from '../support/prometheus.js';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { killAll, run, start, type Running } from './cli.js';

/** The page's document as the functions run inside it see it (the tests' tsconfig has no DOM types). */
declare const document: {
  querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null;
};

const logger = createLogger('silent');
const shots = join(dirname(dirname(dirname(fileURLToPath(import.meta.url)))), '.zkjobs');
const TOKEN = 'dashboard-test-token-0123456789';

/** Handlers: `echo`, `fail` (always), and `gate`, which runs until the test opens its gate (or its signal aborts). */
const gates = new Map<string, () => void>();
const handlers: Record<string, Processor> = {
  echo: async (job) => job.data,
  fail: async () => {
    throw new Error('failed on purpose');
  },
  gate: (job, { signal }) =>
    new Promise((resolve, reject) => {
      gates.set(job.id, () => resolve('opened'));
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }),
};

async function listening(d: Running): Promise<string> {
  const line = await d.waitForLine((l) => l.includes('"event":"listening"'), 30_000, 'the dashboard listening');
  return (JSON.parse(line) as { url: string }).url;
}

describe('zkjobs dashboard', () => {
  const namespace = fileNamespace(import.meta.filename);
  const workers: Worker[] = [];
  let queue: Queue;
  afterAll(async () => {
    await killAll();
    for (const g of gates.values()) g();
    await queue?.close();
    for (const w of workers) await w.close({ graceMs: 500 }).catch(() => undefined);
  });

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const w = new Worker(zkConnect, handlers, { namespace, logger, concurrency: 2, sessionTimeoutMs: 4000 });
      await w.start();
      workers.push(w);
    }
    queue = new Queue(zkConnect, { namespace, logger });
  });

  it('shows the cluster and the counts, follows a job to completed, and cancels one with the token', async () => {
    const done = await queue.addBulk<unknown>([
      { type: 'echo', data: 1 },
      { type: 'echo', data: 2 },
      { type: 'echo', data: 3 },
    ]);
    for (const j of done) await queue.waitUntilFinished(j.id, { timeoutMs: 30_000 });
    const failing = await queue.add('fail', {});
    await expect(queue.waitUntilFinished(failing.id, { timeoutMs: 30_000 })).rejects.toThrow(/dead/);
    const followed = await queue.add('gate', { follow: true });
    const doomed = await queue.add('gate', { cancel: true });
    await waitFor(() => gates.has(followed.id) && gates.has(doomed.id), 30_000, 25, 'both gate jobs running');

    const d = start(
      ['--connect', zkConnect, '--namespace', namespace, '--json', 'dashboard', '--port', '0', '--allow-actions'],
      {
        ZKJOBS_DASHBOARD_TOKEN: TOKEN,
      },
    );
    const url = await listening(d);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(url);
      const text = (sel: string) => page.locator(sel).first().innerText({ timeout: 30_000 });
      const eventually = async (sel: string, want: string | RegExp) => {
        await page.waitForFunction(
          ([s, w, isRe]) => {
            const t = document.querySelector(s as string)?.textContent ?? '';
            return isRe ? new RegExp(w as string).test(t) : t.trim() === w;
          },
          [sel, want instanceof RegExp ? want.source : want, want instanceof RegExp] as const,
          { timeout: 30_000 },
        );
      };

      // The cluster: both workers, the leader marked, the epoch in the header.
      const leader = workers.find((w) => w.isLeader())!;
      await page.locator('[data-testid=worker-row]').nth(1).waitFor({ timeout: 30_000 });
      const rows = await page
        .locator('[data-testid=worker-row]')
        .evaluateAll((els) => els.map((e) => ({ name: e.getAttribute('data-worker'), text: e.textContent ?? '' })));
      expect(rows.map((r) => r.name).sort()).toEqual(workers.map((w) => w.name).sort());
      expect(rows.find((r) => r.name === leader.name)!.text).toContain('leader');
      expect(rows.filter((r) => r.text.includes('leader'))).toHaveLength(1);
      expect(rows[0]!.text).toContain(String(process.pid)); // in-process workers: this pid
      await eventually('[data-testid=leader]', `${leader.name} · epoch ${leader.epoch}`);
      await eventually('[data-testid=connection]', 'connected');

      // The counts, as the test made them.
      const count = (s: string) => `[data-testid=count-${s}] .n`;
      await eventually(count('completed'), '3');
      expect(await text(count('dead'))).toBe('1');
      expect(await text(count('active'))).toBe('2');
      expect(await text(count('all'))).toBe('6');
      expect(await text('[data-type=echo]')).toContain('3');
      expect(await text('[data-testid=counts-source]')).toContain("from the namespace's counter (no job record read)");
      await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });

      // The list of active jobs, newest first: the two gate jobs.
      await page.locator('[data-testid=count-active]').click();
      await eventually('[data-testid=range]', '1–2 of 2');
      const listed = await page
        .locator('[data-testid=job-row]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
      expect(listed).toEqual([doomed.id, followed.id]);
      await page.selectOption('[data-testid=order]', 'oldest');
      await page.waitForFunction(
        (id) => document.querySelector('[data-testid=job-row]')?.getAttribute('data-id') === id,
        followed.id,
        {
          timeout: 30_000,
        },
      );

      // Follow a job: its page turns completed when the worker records it, without a reload.
      await page.locator(`[data-testid=job-row][data-id="${followed.id}"] a`).click();
      await eventually('[data-testid=job-state]', 'active');
      expect(await page.locator('[data-testid=attempt]').count()).toBe(1);
      gates.get(followed.id)!();
      await eventually('[data-testid=job-state]', 'completed');
      await eventually('[data-testid=result]', '"opened"');
      expect(await text('[data-testid=timeline]')).toMatch(/attempt 1\s*completed on w-\d{10}/);
      await page.screenshot({ path: join(shots, 'dashboard-job.png'), fullPage: true });

      // An action: a wrong token is refused, the right one cancels.
      await page.goto(`${url}#/job/${encodeURIComponent(doomed.id)}`);
      await eventually('[data-testid=job-state]', 'active');
      await page.fill('[data-testid=token]', 'not-the-token-at-all');
      await page.click('[data-testid=cancel]');
      await eventually('[data-testid=action-error]', /wrong token/);
      expect((await queue.getJob(doomed.id))!.state).toBe('active');
      await page.fill('[data-testid=token]', TOKEN);
      await page.click('[data-testid=cancel]');
      await eventually('[data-testid=job-state]', 'cancelled');
      expect((await queue.getJob(doomed.id))!.state).toBe('cancelled');

      // Back home: the counts followed.
      await page.goto(url);
      await eventually(count('completed'), '4');
      await eventually(count('cancelled'), '1');
      expect(await text(count('active'))).toBe('0');

      // A worker joins and leaves: the page follows the workers' znodes without a reload.
      const extra = new Worker(zkConnect, handlers, { namespace, logger, sessionTimeoutMs: 4000 });
      await extra.start();
      await page.locator(`[data-testid=worker-row][data-worker="${extra.name}"]`).waitFor({ timeout: 30_000 });
      await extra.close();
      await page
        .locator(`[data-testid=worker-row][data-worker="${extra.name}"]`)
        .waitFor({ state: 'detached', timeout: 30_000 });
      expect(await page.locator('[data-testid=worker-row]').count()).toBe(2);

      const m = await scrape(`${url}metrics`);
      expect(m.value('zkjobs_cluster_jobs', { type: 'echo', state: 'completed' })).toBe(3);
      expect(m.value('zkjobs_cluster_jobs', { type: 'gate', state: 'cancelled' })).toBe(1);
      expect(m.value('zkjobs_cluster_workers')).toBe(2);
      expect(m.value('zkjobs_cluster_leader_epoch')).toBe(leader.epoch);
      // Counts from the counter: no watch on the 64 job and 64 pending buckets.
      expect(m.value('zkjobs_dashboard_watches')).toBeLessThan(64);
      expect(m.value('zkjobs_dashboard_scans_total')).toBeGreaterThan(0); // the lists
    } finally {
      await browser.close();
      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(0);
    }
  });

  it('refuses actions without --allow-actions, and requests addressed to another host', async () => {
    const d = start(['--connect', zkConnect, '--namespace', namespace, '--json', 'dashboard', '--port', '0']);
    try {
      const url = await listening(d);
      const job = (await queue.getJobs({ limit: 1 }))[0]!;
      const cancel = await fetch(`${url}api/jobs/${job.id}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(cancel.status).toBe(403);
      expect(((await cancel.json()) as { error: string }).error).toMatch(/--allow-actions/);
      // fetch() keeps its own Host header: ask with node:http.
      const rebound = await new Promise<number>((resolve, reject) => {
        const u = new URL(`${url}api/counts`);
        const req = request(
          { host: u.hostname, port: u.port, path: u.pathname, headers: { host: 'attacker.example' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(rebound).toBe(421);
      // Pages of the list: disjoint, in order, adding up to the total.
      type Page = { total: number; jobs: { id: string; createdAt: number }[] };
      const page = (q: string) => fetch(`${url}api/jobs?${q}`).then((r) => r.json() as Promise<Page>);
      const [p1, p2, all] = await Promise.all([
        page('order=oldest&limit=4&offset=0'),
        page('order=oldest&limit=4&offset=4'),
        page('order=newest&limit=500'),
      ]);
      expect(p1.total).toBe(all.total);
      expect(all.total).toBeGreaterThan(4);
      expect([...p1.jobs, ...p2.jobs].map((j) => j.id)).toEqual(
        all.jobs
          .map((j) => j.id)
          .reverse()
          .slice(0, p1.jobs.length + p2.jobs.length),
      );
      const bad = await fetch(`${url}api/jobs?state=finished`);
      expect(bad.status).toBe(400);
      expect(await fetch(`${url}api/jobs/no-such-job`).then((r) => r.status)).toBe(404);
    } finally {
      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(0);
    }
  });

  it('--allow-actions needs a token of 16 characters or more (exit 2)', async () => {
    const base = ['--connect', zkConnect, '--namespace', namespace, 'dashboard', '--port', '0', '--allow-actions'];
    const [none, short] = await Promise.all([run(base), run(base, { env: { ZKJOBS_DASHBOARD_TOKEN: 'short' } })]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--allow-actions needs a token: set $ZKJOBS_DASHBOARD_TOKEN or pass --token-file');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('the token is 5 characters; use 16 or more');
  });
});

mkdirSync(shots, { recursive: true });
