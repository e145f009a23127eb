#!/usr/bin/env node
// A worker with automatic leader election (the talk's third program).
//
// Every worker joins the election under <namespace>/election with an EPHEMERAL_SEQUENTIAL
// znode, watches only the worker just before it, and leads when its znode is the lowest.
// It prints who it watches and when it leads; the leader does the "leader's work" (a tick a
// second) until it stops leading.
//
//   node examples/leader-election/worker.js [--connect host:port,...] [--namespace /zkjobs/examples] [--name NAME]
//
// --connect defaults to $ZK_CONNECT, then 127.0.0.1:2181.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { LeaderLatch, ZkClient, basename } from '@zkjobs/core';

const { values } = parseArgs({
  options: {
    connect: { type: 'string', default: process.env.ZK_CONNECT ?? '127.0.0.1:2181' },
    namespace: { type: 'string', default: '/zkjobs/examples' },
    name: { type: 'string', default: `${hostname()}-${process.pid}` },
    'session-timeout': { type: 'string', default: '4000' },
  },
});
const name = values.name;
const say = (msg) => console.log(`${new Date().toISOString().slice(11, 23)} [${name}] ${msg}`);

let client;
try {
  client = await ZkClient.connect(values.connect, {
    namespace: values.namespace,
    sessionTimeoutMs: Number(values['session-timeout']),
  });
} catch (err) {
  console.error(`cannot connect to ZooKeeper at ${values.connect}: ${err.message}`);
  console.error('start one with `pnpm exec zkjobs server start` and set ZK_CONNECT');
  process.exit(1);
}
client.on('state', (s) => say(`connection: ${s}`));

const latch = new LeaderLatch(client, '/election', { id: name, prefix: 'w-', data: name });
let ticker = null;

latch.on('watching', async (predecessor) => {
  let who = '?';
  try {
    who = (await client.getData(predecessor)).data.toString();
  } catch {
    who = 'gone already';
  }
  say(`watching ${basename(predecessor)} (${who})`);
});
latch.on('isLeader', () => {
  say(`LEADING now (my znode ${basename(latch.ourPath)}, session ${client.sessionIdHex})`);
  let n = 0;
  ticker = setInterval(() => say(`leader's work: tick ${++n}`), 1000);
});
latch.on('notLeader', () => {
  say('no longer leading');
  clearInterval(ticker);
});

await latch.start();
say(`joined as ${basename(latch.ourPath)}; ${(await latch.getParticipants()).length} worker(s) in the election`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say('leaving');
  clearInterval(ticker);
  await latch.close();
  await client.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
