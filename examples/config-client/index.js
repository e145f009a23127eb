#!/usr/bin/env node
// A simple configuration client (the talk's first program): creates the parents of a key like
// `mkdir -p`, sets the key, and reads it back.
//
//   node examples/config-client/index.js [connectString] [path] [value]
//
// connectString: host:port[,host:port...]; defaults to $ZK_CONNECT, then 127.0.0.1:2181.
// path defaults to /app/features/pymk/enabled. With a value, sets it then reads it back;
// without one, only reads it (exit code 1 when the key does not exist).
import { NodeExistsError, NoNodeError, parentOf, ZkClient } from '@zkjobs/core';

const args = process.argv.slice(2);
const connectString =
  args[0] !== undefined && !args[0].startsWith('/') ? args.shift() : (process.env.ZK_CONNECT ?? '127.0.0.1:2181');
const path = args[0] ?? '/app/features/pymk/enabled';
const value = args.length >= 2 ? args[1] : args.length === 0 ? 'true' : undefined;

const client = await ZkClient.connect(connectString, { connectTimeoutMs: 10_000 });
try {
  if (value !== undefined) {
    // mkdir -p the parents, then create or overwrite the key itself.
    await client.mkdirp(parentOf(path));
    try {
      await client.create(path, { data: value });
      console.log(`created ${path}`);
    } catch (err) {
      if (!(err instanceof NodeExistsError)) throw err;
      await client.setData(path, value);
      console.log(`set ${path}`);
    }
  }
  try {
    const { data, stat } = await client.getData(path);
    console.log(`${path} = ${data.toString('utf8')} (version ${stat.version})`);
  } catch (err) {
    if (!(err instanceof NoNodeError)) throw err;
    console.error(`${path} does not exist`);
    process.exitCode = 1;
  }
} finally {
  await client.close();
}
