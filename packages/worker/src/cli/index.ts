#!/usr/bin/env node
/**
 * The `zkjobs` command line. Exit codes: 0 ok, 1 operation failed, 2 usage error.
 * Global options: --connect (default $ZK_CONNECT, then 127.0.0.1:2181), --namespace
 * (default /zkjobs/default), --json, --log-level, --connect-timeout (default 10000 ms).
 */
import { buildProgram, runCli } from './program.js';

await runCli(buildProgram(), process.argv);
// Every command closes what it opened; should a stray handle remain, do not hang on it.
setTimeout(() => process.exit(), 2000).unref();
