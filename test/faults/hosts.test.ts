// Fault lanes on hosts of their own: a 3-member ensemble whose members each run in a network
// namespace (TestingNetwork), three `zkjobs worker start` processes each in one more, and real
// partitions between them (nftables drop rules on the bridge). Each scenario runs its jobs on
// fresh workers under a fresh namespace, injects its fault, heals, and then every job must be
// final (completed), `verify()` and `zkjobs verify` must pass on the tree and all logs (every
// re-run explained), and one worker must have led each epoch. The broken build
// (ZKJOBS_BROKEN_COMPLETION=1) under a host partition must fail `verify`.
//
// CI runs every scenario once with 40–60 jobs (about 2.5 minutes on 2 cores). ZKJOBS_HOSTS=big runs
// each one 3 times (each run with its own seed) with 3 × the jobs; ZKJOBS_SEED replays.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithHosts } from '../support/hosts.js';
import { HOST_SCENARIOS, brokenCutHolder } from './host-scenarios.js';
import { describeTally, runScenario, startHostsRig, type HostsRig, type Scenario } from './hosts-rig.js';
import { runSeed } from './support.js';

const BIG = process.env['ZKJOBS_HOSTS'] === 'big';
/** Each scenario, `ROUNDS` times (each round its own seed), with `SCALE` × its jobs. */
const ROUNDS = BIG ? 3 : 1;
const SCALE = BIG ? 3 : 1;
const LANE = HOST_SCENARIOS.flatMap((s) =>
  Array.from({ length: ROUNDS }, (_, round) => ({ scenario: { ...s, jobs: s.jobs * SCALE }, round })),
);

describeWithHosts('fault lanes on hosts of their own (network namespaces, nftables partitions)', () => {
  let rig: HostsRig | undefined;
  let dir: string | undefined;
  const seed = runSeed();

  beforeAll(async () => {
    console.log(`hosts seed ${seed} (replay: ZKJOBS_SEED=${seed})`);
    dir = mkdtempSync(join(tmpdir(), 'zkjobs-hosts-'));
    rig = await startHostsRig({ members: 3, workers: 3 });
  }, 180_000);

  const go = (s: Scenario, scenarioSeed: number) => runScenario(rig!, s, { seed: scenarioSeed, parentDir: dir! });

  afterAll(async () => {
    await rig?.close();
    if (dir && !process.env['ZKJOBS_KEEP']) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  for (const [i, { scenario: s, round }] of LANE.entries()) {
    const scenarioSeed = seed + i + 1000 * round;
    const title = `${s.name}${ROUNDS > 1 ? ` (round ${round + 1})` : ''}`;
    it(`${title}: ${s.jobs} jobs all complete, verify passes, every re-run explained, one leader per epoch`, async () => {
      const { tally, notes } = await go(s, scenarioSeed);
      console.log(describeTally(`${title} (seed ${scenarioSeed})`, tally, notes));
      expect(tally.notFinal, 'jobs not final after healing').toEqual([]);
      expect(tally.completed).toBe(tally.jobs);
      expect(tally.report.checks.every((c) => c.ran)).toBe(true);
      expect(tally.report.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([]);
      expect(tally.report.ok).toBe(true);
      expect(tally.cli.stderr).toBe('');
      expect(tally.cli.code).toBe(0);
      expect(tally.epochViolations).toEqual([]);
      expect(tally.epochs).toBeGreaterThanOrEqual(1);
    }, 300_000);
  }

  it('the broken build (completion without its claim check) under a host partition fails verify', async () => {
    const { tally, notes } = await go(brokenCutHolder, seed + 100);
    console.log(describeTally(`${brokenCutHolder.name} (seed ${seed + 100})`, tally, notes));
    const failed = tally.report.checks.filter((c) => !c.ok).map((c) => c.name);
    expect(tally.report.ok).toBe(false);
    expect(failed).toContain('stale-completion');
    expect(tally.cli.code).toBe(1);
    expect(tally.cli.ok).toBe(false);
    expect(tally.cli.stderr).toContain('stale-completion');
  }, 300_000);
});
