#!/usr/bin/env node
/**
 * The `zkjobs` command line. Exit codes: 0 ok, 1 operation failed, 2 usage error.
 * Global options: --connect (default $ZK_CONNECT, then 127.0.0.1:2181), --namespace
 * (default /zkjobs/default), --json, --log-level.
 */
import { buildProgram, runCli } from './program.js';

await runCli(buildProgram(), process.argv);
