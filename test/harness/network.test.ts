// TestingNetwork: hosts as network namespaces on a bridge; partitions drop packets between sets
// of hosts (the controller keeps reaching all), links go down and up, and nothing outlives the
// process that made the network — not when it closes it, not when it is SIGKILLed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestingNetwork } from '@zkjobs/core/testing';
import { describeWithHosts } from '../support/hosts.js';
import { waitFor } from '../support/zk.js';

const fixture = fileURLToPath(new URL('./fixtures/start-network.mjs', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP echo of one line in `host` on port 7000, as a script for `node -e`. */
const SERVER = `require('net').createServer((s) => s.end('hello from ' + process.argv[1] + '\\n')).listen(7000, process.argv[1], () => console.log('listening'))`;
/** Connects to argv[1]:7000 and prints what it hears, or "timeout" after 1.5 s. */
const CLIENT = `const s = require('net').connect(7000, process.argv[1]); let b = ''; s.on('data', (d) => (b += d)); s.on('end', () => { console.log(b.trim()); process.exit(0); }); s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); }); setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);`;

describeWithHosts('TestingNetwork: hosts of their own', () => {
  let net: TestingNetwork;

  beforeAll(async () => {
    net = await TestingNetwork.create({ hosts: ['a', 'b', 'c'] });
    for (const h of net.hosts) {
      const server = net.spawn(h, process.execPath, ['-e', SERVER, h.address], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
    }
  }, 60_000);
  afterAll(async () => {
    await net?.close();
  });

  const hear = (from: string, to: string): Promise<string> =>
    net.exec(from, process.execPath, ['-e', CLIENT, net.host(to).address]).then((s) => s.trim());

  it('each host has its own address in 10.213.<n>.0/24 and reaches the others; the controller reaches all', async () => {
    expect(net.subnet).toMatch(/^10\.213\.\d+\.0\/24$/);
    expect(new Set(net.hosts.map((h) => h.address)).size).toBe(3);
    for (const h of net.hosts) expect(h.netns.startsWith(net.prefix)).toBe(true);
    expect(await net.exec('a', 'ip', ['-4', '-o', 'addr', 'show', 'eth0'])).toContain(net.host('a').address);
    expect(await hear('a', 'b')).toBe(`hello from ${net.host('b').address}`);
    expect(await hear('c', 'a')).toBe(`hello from ${net.host('a').address}`);
  });

  it('partition: packets between the two sides are dropped both ways, silently; the rest and the controller are untouched; heal restores', async () => {
    await net.partition(['a'], ['b']);
    expect(net.isCut('a', 'b') && net.isCut('b', 'a')).toBe(true);
    expect(await hear('a', 'b')).toBe('timeout');
    expect(await hear('b', 'a')).toBe('timeout');
    expect(await hear('a', 'c')).toBe(`hello from ${net.host('c').address}`);
    expect(await hear('c', 'b')).toBe(`hello from ${net.host('b').address}`);
    await net.heal();
    expect(net.isCut('a', 'b')).toBe(false);
    expect(await hear('a', 'b')).toBe(`hello from ${net.host('b').address}`);
  });

  it('isolate: one host cut off from every other; a host in two groups is refused', async () => {
    await net.isolate(['c']);
    expect(await hear('c', 'a')).toBe('timeout');
    expect(await hear('b', 'c')).toBe('timeout');
    expect(await hear('a', 'b')).toBe(`hello from ${net.host('b').address}`);
    await expect(net.partition(['a'], ['a', 'b'])).rejects.toThrow(/two groups/);
    await net.heal();
    expect(await hear('b', 'c')).toBe(`hello from ${net.host('c').address}`);
  });

  it('linkDown: a host with its link down reaches no one; linkUp brings it back', async () => {
    await net.linkDown('b');
    expect(await hear('a', 'b')).toBe('timeout');
    expect(await hear('b', 'c')).toMatch(/^(timeout|error)/);
    await net.linkUp('b');
    expect(await waitFor(async () => (await hear('a', 'b')).startsWith('hello'), 10_000, 200, 'b back')).toBe(true);
  });

  it('close(): its namespaces are gone and the processes inside are dead', async () => {
    const tag = `t${randomBytes(3).toString('hex')}`;
    const other = await TestingNetwork.create({ hosts: ['x'], tag });
    const sleeper = other.spawn('x', 'sleep', ['3600'], { stdio: 'ignore' });
    expect(await TestingNetwork.leftovers(tag)).toEqual(expect.arrayContaining([other.host('x').netns]));
    await other.close();
    expect(await TestingNetwork.leftovers(tag)).toEqual([]);
    await waitFor(() => !alive(sleeper.pid!), 20_000, 50, 'the process inside to die');
  });

  it('networks of the same tag made at once get subnets of their own, and closing one leaves the other whole', async () => {
    const tag = `t${randomBytes(3).toString('hex')}`;
    const nets = await Promise.all([0, 1, 2].map(() => TestingNetwork.create({ hosts: ['x', 'y'], tag })));
    try {
      expect(new Set(nets.map((n) => n.subnet)).size).toBe(3);
      expect(new Set(nets.map((n) => n.prefix)).size).toBe(3);
      await nets[0]!.close();
      const left = await TestingNetwork.leftovers(tag);
      for (const n of nets.slice(1)) {
        expect(left).toEqual(expect.arrayContaining(n.hosts.map((h) => h.netns)));
        expect(await n.exec('x', 'ip', ['-4', '-o', 'addr', 'show', 'eth0'])).toContain(n.host('x').address);
      }
      expect(left.some((ns) => ns.startsWith(nets[0]!.prefix))).toBe(false);
    } finally {
      for (const n of nets) await n.close();
    }
    expect(await TestingNetwork.leftovers(tag)).toEqual([]);
  });

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`${signal} of the process that made it: its namespaces are gone and the processes inside are dead`, async () => {
      const tag = `t${randomBytes(3).toString('hex')}`;
      const child = spawn(process.execPath, [fixture, tag], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        const line = await waitFor(() => out.split('\n').find((l) => l.startsWith('{')), 60_000, 50, 'the fixture');
        const { pid, netns } = JSON.parse(line) as { pid: number; netns: string[] };
        expect(alive(pid)).toBe(true);
        expect(await TestingNetwork.leftovers(tag)).toEqual(expect.arrayContaining(netns));
        child.kill(signal);
        await waitFor(
          async () => (await TestingNetwork.leftovers(tag)).length === 0,
          20_000,
          100,
          `namespaces of ${tag} gone`,
        );
        await waitFor(() => !alive(pid), 20_000, 50, `process ${pid} inside the host to die`);
      } finally {
        child.kill('SIGKILL');
      }
    }, 90_000);
  }
});
