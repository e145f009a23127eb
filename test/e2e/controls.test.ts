// `zkjobs queue pause|resume|status`, `zkjobs limits set|ls|rm` and `zkjobs schedule
// add|ls|rm|pause|resume`, run as a user would.
import { afterAll, describe, expect, it } from 'vitest';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { exampleHandlers, json, killAll, run, start } from './cli.js';

const ns = fileNamespace(import.meta.filename);
const zk = (...args: string[]) => run(['--connect', zkConnect, '--namespace', ns, ...args]);

describe('zkjobs queue and limits', () => {
  afterAll(killAll);

  it('pause holds a submitted job; status shows it; resume runs it', async () => {
    const w = start([
      '--connect',
      zkConnect,
      '--namespace',
      ns,
      '--json',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
    ]);
    await w.waitForLine((l) => l.includes('"event":"started"'), 30_000, 'worker started');
    const p = await zk('queue', 'pause', 'echo');
    expect(p).toMatchObject({ code: 0 });
    expect(p.stdout).toBe(`paused echo in ${ns}; paused: echo\n`);
    expect(json(await zk('--json', 'queue', 'status'))).toEqual({
      namespace: ns,
      paused: { all: false, types: ['echo'] },
    });
    const sub = await zk('--json', 'job', 'submit', 'echo', '--id', 'held', '--data', '{"n":1}');
    expect(sub.code).toBe(0);
    const waited = await zk('job', 'wait', 'held', '--timeout', '1500');
    expect(waited.code).toBe(1); // still waiting: paused
    expect(json<{ state: string }>(await zk('--json', 'job', 'status', 'held')).state).toBe('waiting');
    const r = await zk('queue', 'resume');
    expect(r.stdout).toBe(`resumed everything in ${ns}; nothing is paused\n`);
    expect((await zk('job', 'wait', 'held', '--timeout', '20000')).code).toBe(0);
    w.child.kill('SIGTERM');
    await w.exited;
  }, 60_000);

  it('schedule add fires its slots as jobs <id>@<slot>; ls, pause, resume, rm; bad input exits 2 naming the option', async () => {
    const w = start([
      '--connect',
      zkConnect,
      '--namespace',
      ns,
      '--json',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
    ]);
    await w.waitForLine((l) => l.includes('"event":"started"'), 30_000, 'worker started');
    const add = await zk(
      '--json',
      'schedule',
      'add',
      's1',
      'echo',
      '--every',
      '1000',
      '--limit',
      '2',
      '--data',
      '{"n":1}',
    );
    expect(add.code).toBe(0);
    const s = json<{ id: string; next: number; every: number }>(add);
    expect(s).toMatchObject({ id: 's1', every: 1000 });
    // The jobs exist once their slots fired.
    await waitFor(
      async () =>
        json<{ schedules: { fired: number }[] }>(await zk('--json', 'schedule', 'ls')).schedules[0]?.fired === 2,
      20_000,
      200,
      'two slots fired',
    );
    const waited = await zk('job', 'wait', `s1@${s.next}`, `s1@${s.next + 1000}`, '--timeout', '20000');
    expect(waited.code).toBe(0);
    const ls = json<{ schedules: { id: string; fired: number; next: number | null }[] }>(
      await zk('--json', 'schedule', 'ls'),
    );
    expect(ls.schedules).toEqual([expect.objectContaining({ id: 's1', fired: 2, next: null })]);
    const human = await zk('schedule', 'ls');
    expect(human.stdout).toMatch(/s1\s+every 1000 ms\s+echo\s+ended\s+2\s+0/);
    expect(
      (await zk('schedule', 'add', 'c1', 'echo', '--cron', '0 0 3 * * *', '--tz', 'Europe/Berlin')).stdout,
    ).toMatch(/^schedule c1: cron 0 0 3 \* \* \* \(Europe\/Berlin\), job type echo; next \S+; fired 0\n$/);
    expect((await zk('schedule', 'pause', 'c1')).stdout).toContain('; paused;');
    expect((await zk('schedule', 'resume', 'c1')).stdout).toContain('; next ');
    expect((await zk('schedule', 'rm', 'c1')).code).toBe(0);
    const gone = await zk('schedule', 'rm', 'c1');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no schedule c1 in ${ns}`);
    const bad: [string[], string][] = [
      [['schedule', 'add', 'x', 'echo', '--cron', '* * *'], '--cron:'],
      [['schedule', 'add', 'x', 'echo', '--cron', '* * * * *', '--tz', 'Mars/Olympus'], '--tz: unknown time zone'],
      [['schedule', 'add', 'x', 'echo'], '--cron: give exactly one of cron and every'],
      [['schedule', 'add', 'a@b', 'echo', '--every', '1000'], '<id>:'],
      [['schedule', 'add', 'x', 'echo', '--every', '1000', '--start-at', 'soon'], '--start-at: not a time'],
    ];
    for (const [args, msg] of bad) {
      const r = await zk(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(msg);
    }
    expect(
      json<{ schedules: { id: string }[] }>(await zk('--json', 'schedule', 'ls')).schedules.map((x) => x.id),
    ).toEqual(['s1']);
    w.child.kill('SIGTERM');
    await w.exited;
  }, 60_000);

  it('limits set, ls and rm; bad input exits 2 naming the option and writes nothing', async () => {
    const set = await zk('limits', 'set', 'email', '--max', '10', '--duration', '1000', '--concurrency', '3');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('limits of email set');
    const ls = json<{ limits: Record<string, unknown> }>(await zk('--json', 'limits', 'ls'));
    expect(ls.limits).toEqual({ email: { max: 10, duration: 1000, concurrency: 3 } });
    const human = await zk('limits', 'ls');
    expect(human.stdout).toMatch(/email\s+10 per 1000 ms\s+3/);
    const bad = await zk('limits', 'set', 'email', '--max', '5');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--duration: a rate limit needs both max (jobs) and duration (ms)');
    const badType = await zk('queue', 'pause', 'bad type!');
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('<type>:');
    expect(json<{ limits: Record<string, unknown> }>(await zk('--json', 'limits', 'ls')).limits).toEqual({
      email: { max: 10, duration: 1000, concurrency: 3 },
    });
    expect((await zk('limits', 'rm', 'email')).code).toBe(0);
    const again = await zk('limits', 'rm', 'email');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`email has no limits in ${ns}`);
    expect((await zk('limits', 'ls')).stdout).toBe('no limits\n');
  }, 60_000);
});
