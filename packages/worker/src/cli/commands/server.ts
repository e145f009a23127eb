import { Command, InvalidArgumentError } from 'commander';
import { TestingCluster, TestingServer } from '@zkjobs/core/testing';
import { globalOptions } from '../context.js';

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError(`must be a port number 1-65535, got '${v}'`);
  return n;
}

/**
 * `zkjobs server start [--nodes 1|3] [--base-port P] [--dir D] [--tick-time ms]`: a local
 * ZooKeeper (standalone or a 3-node ensemble on 127.0.0.1) for development. Prints the
 * connect string, serves until SIGINT/SIGTERM, then stops its servers and removes what it
 * created (unless --dir was given).
 */
export function registerServerCommands(program: Command): void {
  const server = program.command('server').description('a local ZooKeeper for development');
  server
    .command('start')
    .description('start a local ZooKeeper (standalone or 3-node ensemble) and serve until interrupted')
    .option(
      '--nodes <n>',
      '1 (standalone) or 3 (ensemble)',
      (v) => {
        if (v !== '1' && v !== '3') throw new InvalidArgumentError(`must be 1 or 3, got '${v}'`);
        return Number(v);
      },
      1,
    )
    .option('--base-port <port>', 'client port of the first server (others follow); default: free ports', parsePort)
    .option('--dir <dir>', 'data directory to use and keep (default: a temp dir, removed on exit)')
    .option(
      '--tick-time <ms>',
      'ZooKeeper tickTime in ms (sessions: 2–20 × tickTime)',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 50) throw new InvalidArgumentError(`must be an integer ≥ 50 (ms), got '${v}'`);
        return n;
      },
      1000,
    )
    .action(async (opts: { nodes: number; basePort?: number; dir?: string; tickTime: number }, cmd: Command) => {
      const g = globalOptions(cmd);
      const common = {
        tickTime: opts.tickTime,
        ...(opts.basePort !== undefined ? { port: opts.basePort } : {}),
        ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
      };
      const ensemble =
        opts.nodes === 3 ? await TestingCluster.start({ ...common, size: 3 }) : await TestingServer.start(common);
      const connectString = ensemble.connectString;
      if (g.json) {
        process.stdout.write(
          JSON.stringify({ connectString, nodes: opts.nodes, dir: ensemble.dir, pid: process.pid }) + '\n',
        );
      } else {
        process.stdout.write(
          `ZooKeeper (${opts.nodes === 3 ? '3-node ensemble' : 'standalone'}) serving at ${connectString}\n`,
        );
        process.stdout.write(`  export ZK_CONNECT=${connectString}\n  data: ${ensemble.dir}\n  stop with Ctrl-C\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await ensemble.close();
      if (!g.json) process.stdout.write('ZooKeeper stopped\n');
    });
}
