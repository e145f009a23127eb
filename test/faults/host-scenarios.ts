// The host-partition scenarios: each one a fault step on a HostsRig (see hosts-rig.ts). Used by
// test/faults/hosts.test.ts and by `pnpm soak --hosts` (so: no vitest import here).
import type { NetworkHost } from '@zkjobs/core/testing';
import type { CliWorker } from './support.js';
import { hostOf, leaderOf, memberServing, sleep, until, type Scenario, type ScenarioContext } from './hosts-rig.js';

/** The session timeout of the scenarios' workers, ms (tickTime 500: the server keeps it). */
export const SESSION_TIMEOUT_MS = 2000;

/** The current leader worker, waiting for one (a fault step starts from a led cluster). */
export async function currentLeader(ctx: ScenarioContext, timeoutMs = 60_000): Promise<CliWorker> {
  let found: CliWorker | null = null;
  await until(
    async () => (found = await leaderOf(ctx.ns, ctx.workers)) !== null,
    timeoutMs,
    'a leader among the workers',
    200,
  );
  return found!;
}

/** The member a worker's session is served by now, waiting until one serves it. */
async function memberOfWorker(
  ctx: ScenarioContext,
  w: CliWorker,
): Promise<NonNullable<Awaited<ReturnType<typeof memberServing>>>> {
  const host = ctx.hostOfWorker.get(w)!;
  let m: Awaited<ReturnType<typeof memberServing>> = null;
  await until(
    async () => (m = await memberServing(ctx.rig, host)) !== null,
    30_000,
    `the member serving ${host.name}`,
    200,
  );
  return m!;
}

/** The worker hosts whose clients a member serves now. */
async function workersServedBy(ctx: ScenarioContext, memberHost: NetworkHost): Promise<NetworkHost[]> {
  const out: NetworkHost[] = [];
  for (const h of ctx.rig.workerHosts) {
    const m = await memberServing(ctx.rig, h);
    if (m && hostOf(ctx.rig, m) === memberHost) out.push(h);
  }
  return out;
}

const others = (all: readonly NetworkHost[], out: readonly NetworkHost[]): NetworkHost[] =>
  all.filter((h) => !out.includes(h));

function scenario(
  name: string,
  fault: (ctx: ScenarioContext) => Promise<void>,
  over: Partial<Scenario> = {},
): Scenario {
  return { name, jobs: 40, jobMs: [300, 1500], sessionTimeoutMs: SESSION_TIMEOUT_MS, fault, ...over };
}

/**
 * The member the leading worker is connected to is cut off from every other host (a minority of
 * one): it loses its quorum and drops its clients; the leader's host stays with the majority, so
 * its client moves to another member — within the session timeout, with its session.
 */
export const memberMinority = scenario('member-minority', async (ctx) => {
  await ctx.claimed(6);
  const leader = await currentLeader(ctx);
  const m = await memberOfWorker(ctx, leader);
  const mh = hostOf(ctx.rig, m);
  await ctx.rig.network.isolate([mh]);
  const ms = ctx.sessionTimeoutMs + ctx.rng.int(1000, 3000);
  ctx.note(`cut member ${m.spec.id} (serving leader ${leader.name}) off for ${ms} ms`);
  await sleep(ms);
});

/**
 * The member the leading worker is connected to is cut off together with every worker connected
 * to it (the leader among them): a minority with clients; their sessions expire on the majority,
 * which elects another leader and requeues their jobs.
 */
export const memberWithItsWorkers = scenario('member-with-its-workers', async (ctx) => {
  await ctx.claimed(6);
  const leader = await currentLeader(ctx);
  const m = await memberOfWorker(ctx, leader);
  const mh = hostOf(ctx.rig, m);
  const served = await workersServedBy(ctx, mh);
  const minority = [mh, ...served];
  await ctx.rig.network.isolate(minority);
  const ms = ctx.sessionTimeoutMs + ctx.rng.int(2000, 4000);
  ctx.note(
    `cut ${minority.map((h) => h.name).join(' + ')} (leader ${leader.name} on member ${m.spec.id}) off for ${ms} ms`,
  );
  await sleep(ms);
});

/**
 * The leading worker's host is cut off from every member: its session expires, another worker
 * takes a new epoch and requeues its jobs; its own completions are refused once it is back.
 */
export const leaderCutOff = scenario('leader-cut-off', async (ctx) => {
  await ctx.claimed(6);
  const leader = await currentLeader(ctx);
  const lh = ctx.hostOfWorker.get(leader)!;
  await ctx.rig.network.partition([lh], ctx.rig.memberHosts);
  const ms = ctx.sessionTimeoutMs + ctx.rng.int(2000, 4000);
  ctx.note(`cut leader ${leader.name} (${lh.name}) off every member for ${ms} ms`);
  await sleep(ms);
});

/**
 * Two members are cut off, each alone: no side has a quorum, every client is suspended (and,
 * past the session timeout without a reply, lost). Then the quorum comes back.
 */
export const quorumLoss = scenario('quorum-loss', async (ctx) => {
  await ctx.claimed(6);
  const [a, b] = ctx.rng.next() < 0.5 ? [0, 1] : [1, 2];
  const ha = ctx.rig.memberHosts[a]!;
  const hb = ctx.rig.memberHosts[b]!;
  await ctx.rig.network.partition([ha], [hb], others(ctx.rig.network.hosts, [ha, hb]));
  await until(
    async () => (await Promise.all(ctx.rig.cluster.members.map((m) => m.mode(500)))).every((x) => x === null),
    30_000,
    'no member serving',
  );
  const ms = ctx.sessionTimeoutMs + ctx.rng.int(1000, 4000);
  ctx.note(`cut members ${a + 1} and ${b + 1} apart (no quorum) for ${ms} ms after the last member stopped serving`);
  await sleep(ms);
  await ctx.rig.network.heal();
  await ctx.rig.cluster.waitForQuorum(90_000);
  ctx.note('quorum regained');
});

/**
 * Flapping links, every cut shorter than the session timeout: the leader's host loses every
 * member, then one member loses the others, each 0.2–0.8 × the session timeout with gaps as long.
 */
export const flapping = scenario('flapping', async (ctx) => {
  await ctx.claimed(6);
  const leader = await currentLeader(ctx);
  const lh = ctx.hostOfWorker.get(leader)!;
  const flaps: string[] = [];
  for (let i = 0; i < 8; i++) {
    const ms = Math.round(ctx.sessionTimeoutMs * (0.2 + 0.6 * ctx.rng.next()));
    if (i % 2 === 0) await ctx.rig.network.partition([lh], ctx.rig.memberHosts);
    else {
      const mh = ctx.rng.pick(ctx.rig.memberHosts);
      await ctx.rig.network.isolate([mh]);
    }
    await sleep(ms);
    await ctx.rig.network.heal();
    flaps.push(String(ms));
    await sleep(Math.round(ctx.sessionTimeoutMs * (0.2 + 0.6 * ctx.rng.next())));
  }
  ctx.note(`${flaps.length} flaps (leader ${leader.name}'s host and single members), ms: ${flaps.join(', ')}`);
});

/**
 * Heals exactly around the session timeout: a worker host (the leader's first, then any) is cut
 * off every member for the session timeout −300, −100, 0, +100 and +300 ms — just before and just
 * after its session can expire.
 */
export const healAtTimeout = scenario(
  'heal-at-timeout',
  async (ctx) => {
    await ctx.claimed(6);
    const cuts: string[] = [];
    for (const delta of [-300, -100, 0, 100, 300]) {
      const leader = cuts.length === 0 ? await currentLeader(ctx) : ctx.rng.pick(ctx.workers.filter((w) => !w.dead));
      const h = ctx.hostOfWorker.get(leader)!;
      await ctx.rig.network.partition([h], ctx.rig.memberHosts);
      await sleep(ctx.sessionTimeoutMs + delta);
      await ctx.rig.network.heal();
      cuts.push(`${h.name} ${delta >= 0 ? '+' : ''}${delta}`);
      await sleep(ctx.sessionTimeoutMs + 500);
    }
    ctx.note(`cut worker hosts for the session timeout ${cuts.join(', ')} ms`);
  },
  { jobs: 60 },
);

/**
 * The deliberately broken build (`ZKJOBS_BROKEN_COMPLETION=1`: the completion multi without its
 * claim check, re-sent until it goes through) with a host partition: a worker holding claims is
 * cut off every member past its session timeout; the leader requeues its jobs, they run again
 * elsewhere; once healed, the cut-off worker's completions — made while it was cut off — go
 * through on its new session. `verify` must fail.
 */
export const brokenCutHolder = scenario(
  'broken-cut-holder',
  async (ctx) => {
    await ctx.claimed(6);
    const leader = await currentLeader(ctx);
    // A worker that is not the leader and runs jobs now.
    const holder = ctx.workers.find((w) => w !== leader && !w.dead)!;
    const h = ctx.hostOfWorker.get(holder)!;
    await ctx.rig.network.partition([h], ctx.rig.memberHosts);
    const ms = ctx.sessionTimeoutMs + 3000;
    ctx.note(`broken build: cut ${holder.name} (${h.name}, not the leader) off every member for ${ms} ms`);
    await sleep(ms);
  },
  { jobMs: [800, 1600], env: { ZKJOBS_BROKEN_COMPLETION: '1' } },
);

/** Every sound scenario, in the order the full lane runs them. */
export const HOST_SCENARIOS: readonly Scenario[] = [
  memberMinority,
  memberWithItsWorkers,
  leaderCutOff,
  quorumLoss,
  flapping,
  healAtTimeout,
];
