// Leader election shared with the real Apache Curator 5.4 (LeaderLatch) and Kazoo 2.8
// (Election): participants of two libraries on one path; each leader appends to one ledger,
// holds a moment, then resigns or is SIGKILLed (its node goes when its session expires);
// the ledger must never show two leaders.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { fileNamespace, sleep, zkConnect } from '../../support/zk.js';
import { checkKazoo, curatorCommand, Driver, Ledger, type Library } from './interop-driver.js';

const namespace = fileNamespace(import.meta.filename);
let admin: ZkClient;
let dir: string;
let drivers: Driver[] = [];

beforeAll(async () => {
  curatorCommand();
  checkKazoo();
  dir = mkdtempSync(join(tmpdir(), 'zkjobs-interop-'));
  admin = await ZkClient.connect(zkConnect, { namespace });
  await admin.mkdirp('/elections');
});

afterEach(async () => {
  // Participants still waiting to lead read no commands: kill them (their sessions expire).
  await Promise.all(drivers.map((d) => d.kill()));
  drivers = [];
});

afterAll(async () => {
  await admin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `rounds` terms among participants of `libs`, `lead` being each library's command; the
 * leaders of rounds in `kills` are SIGKILLed (and replaced by a new process of their library).
 * @returns the ledger and the libraries of the killed leaders
 */
async function runElection(
  name: string,
  libs: Library[],
  lead: (lib: Library) => string,
  rounds: number,
  kills: Set<number>,
): Promise<{ ledger: Ledger; killed: Library[] }> {
  const ledger = new Ledger(join(dir, `ledger-${name}`));
  let n = 0;
  const start = async (lib: Library) => {
    const d = await Driver.start(lib, `${lib}-${++n}`, zkConnect, namespace, ledger.file);
    drivers.push(d);
    return d;
  };
  const pending = new Map<Driver, Promise<Driver>>();
  const join_ = (d: Driver) => {
    d.send(lead(d.lib));
    const p = d.reply(120_000).then((r) => {
      if (r !== 'leader') throw new Error(`${d.id}: expected 'leader', got ${r}`);
      return d;
    });
    p.catch(() => undefined); // the participants still waiting at the end are killed
    pending.set(d, p);
  };
  for (const d of await Promise.all(libs.map(start))) join_(d);
  const killed: Library[] = [];
  for (let round = 0; round < rounds; round++) {
    const leader = await Promise.race(pending.values());
    pending.delete(leader);
    await sleep(5 + Math.floor(Math.random() * 15));
    if (kills.has(round)) {
      await leader.kill();
      // Dead, it leads no more; its node stays until the server expires its session.
      ledger.append('exit', leader.id, 'leader');
      killed.push(leader.lib);
      join_(await start(leader.lib));
    } else {
      expect(await leader.call('resign')).toBe('resigned');
      join_(leader);
    }
  }
  // The next participant may already lead (and have written its entry): stop them all first.
  await Promise.all(drivers.map((d) => d.kill()));
  return { ledger, killed };
}

const oneLeader = (holders: Map<string, string>) => holders.size <= 1;

describe("LeaderLatch beside Curator's LeaderLatch", () => {
  it('one leader at a time over 14 terms among 2 zkjobs and 2 Curator participants, leaders SIGKILLed in 3 of them', async () => {
    const { ledger, killed } = await runElection(
      'curator',
      ['zkjobs', 'curator', 'zkjobs', 'curator'],
      () => 'lead /elections/curator',
      14,
      new Set([2, 6, 10]),
    );
    const { violations, enters } = ledger.check(oneLeader);
    expect(violations).toEqual([]);
    expect(enters).toBeGreaterThanOrEqual(14);
    expect(killed).toHaveLength(3);
    expect(new Set(ledger.entries().map((e) => e.id.split('-')[0]))).toEqual(new Set(['zkjobs', 'curator']));
  });
});

describe("LeaderLatch (prefix 'lock-') beside Curator's LeaderSelector", () => {
  it('one leader at a time over 8 terms among 2 zkjobs and 2 Curator LeaderSelector participants, leaders SIGKILLed in 2 of them', async () => {
    const { ledger, killed } = await runElection(
      'selector',
      ['zkjobs', 'curator', 'zkjobs', 'curator'],
      (lib) => (lib === 'zkjobs' ? 'lead /elections/selector prefix=lock-' : 'select /elections/selector'),
      8,
      new Set([2, 5]),
    );
    const { violations, enters } = ledger.check(oneLeader);
    expect(violations).toEqual([]);
    expect(enters).toBeGreaterThanOrEqual(8);
    expect(killed).toHaveLength(2);
    expect(new Set(ledger.entries().map((e) => e.id.split('-')[0]))).toEqual(new Set(['zkjobs', 'curator']));
  });
});

describe("LeaderLatch (prefix '__lock__') beside Kazoo's Election", () => {
  it('one leader at a time over 14 terms among 2 zkjobs and 2 Kazoo participants, leaders SIGKILLed in 3 of them', async () => {
    const { ledger, killed } = await runElection(
      'kazoo',
      ['zkjobs', 'kazoo', 'zkjobs', 'kazoo'],
      (lib) => (lib === 'zkjobs' ? 'lead /elections/kazoo prefix=__lock__' : 'lead /elections/kazoo'),
      14,
      new Set([2, 6, 10]),
    );
    const { violations, enters } = ledger.check(oneLeader);
    expect(violations).toEqual([]);
    expect(enters).toBeGreaterThanOrEqual(14);
    expect(killed).toHaveLength(3);
    expect(new Set(ledger.entries().map((e) => e.id.split('-')[0]))).toEqual(new Set(['zkjobs', 'kazoo']));
  });
});
