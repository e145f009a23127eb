#!/usr/bin/env node
// A key-change watcher (the talk's second program): prints the value of each key, then every
// change, until Ctrl-C. Keys that do not exist yet are reported when they are created. After a
// disconnection the keys are re-read, so a change made meanwhile is printed too.
//
//   node examples/config-watcher/index.js [connectString] [path ...]
//
// connectString: host:port[,host:port...]; defaults to $ZK_CONNECT, then 127.0.0.1:2181.
// Paths default to /app/features/pymk/enabled.
import { ZkClient } from '@zkjobs/core';

const args = process.argv.slice(2);
const connectString =
  args[0] !== undefined && !args[0].startsWith('/') ? args.shift() : (process.env.ZK_CONNECT ?? '127.0.0.1:2181');
const paths = args.length > 0 ? args : ['/app/features/pymk/enabled'];

const client = await ZkClient.connect(connectString, { connectTimeoutMs: 10_000 });
const now = () => new Date().toISOString();
client.on('state', (state) => console.log(`${now()} [connection ${state}]`));

const handles = paths.map((path) => {
  let last;
  return client.watchData(path, (data, stat) => {
    const value = data === null ? '(none)' : data.toString('utf8');
    const shown = stat === null ? value : `${value} (version ${stat.version})`;
    console.log(last === undefined ? `${now()} ${path} = ${shown}` : `${now()} ${path}: ${last} -> ${shown}`);
    last = value;
  });
});

const stop = async () => {
  for (const h of handles) h.close();
  await client.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
