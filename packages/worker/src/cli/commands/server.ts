import { Command, InvalidArgumentError } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestingCluster, TestingServer, type ZkServerProcess } from '@zkjobs/core/testing';
import { globalOptions } from '../context.js';
import { OperationError } from '../errors.js';

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
      let ensemble: TestingServer | TestingCluster;
      try {
        ensemble =
          opts.nodes === 3 ? await TestingCluster.start({ ...common, size: 3 }) : await TestingServer.start(common);
      } catch (err) {
        const msg = (err as Error).message;
        if (/is in use by another process|another server answers/.test(msg) && opts.basePort !== undefined) {
          throw new OperationError(
            `--base-port ${opts.basePort}: ${msg.replace(/; see \S+$/, '')}; choose other ports, or leave --base-port out for free ones`,
            { cause: err },
          );
        }
        throw err;
      }
      const members: ZkServerProcess[] = ensemble instanceof TestingServer ? [ensemble.member] : ensemble.members;
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
      // Serve until a signal, or until a server exits on its own (then say why, and clean up).
      let stop = (): void => undefined;
      const signalled = new Promise<null>((resolve) => {
        stop = () => resolve(null);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      const died = await Promise.race([signalled, ...members.map((m) => m.whenExited().then(() => m))]);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (died !== null) {
        const log = join(died.dir, 'zookeeper.log');
        const errors = await readFile(log, 'utf8')
          .then((t) =>
            t
              .split('\n')
              .filter((l) => / (ERROR|FATAL) /.test(l))
              .slice(-3),
          )
          .catch(() => [] as string[]);
        await ensemble.close(); // removes the temp dir, log included: its errors are quoted here
        const where = opts.dir !== undefined ? `; see ${log}` : '';
        throw new OperationError(
          `ZooKeeper member ${died.spec.id} (${died.address}) exited on its own` +
            (errors.length > 0
              ? `${where}; its last errors:\n  ${errors.join('\n  ')}`
              : `${where} (no ERROR in its log)`),
        );
      }
      await ensemble.close();
      if (!g.json) process.stdout.write('ZooKeeper stopped\n');
    });
}
