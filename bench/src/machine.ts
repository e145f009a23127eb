import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, availableParallelism, totalmem, loadavg, release } from 'node:os';
import { createRequire } from 'node:module';
import { fourLetterWord } from '@zkjobs/core/testing';
import { kazooVersion, pythonVersion } from './kazoo.js';
import type { ZkServers } from './zk.js';

const require = createRequire(import.meta.url);

function pkgVersion(name: string, from?: string): string | null {
  try {
    const base = from ? createRequire(require.resolve(`${from}/package.json`)) : require;
    return (JSON.parse(readFileSync(base.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  loadavgAtStart: number[];
  loadavgAtEnd?: number[];
  node: string;
  zookeeper: string | null;
  /** The bench ensemble's tickTime, ms. */
  tickMs?: number;
  nodeZookeeperClient: string | null;
  redis: string | null;
  bullmq: string | null;
  ioredis: string | null;
  python: string | null;
  kazoo: string | null;
  commit: string | null;
  dirtyTree: boolean;
}

export async function describeMachine(cluster: ZkServers | null): Promise<Machine> {
  let zookeeper: string | null = null;
  if (cluster) {
    const m = cluster.members[0]!;
    const srvr = await fourLetterWord('127.0.0.1', m.spec.clientPort, 'srvr', 2000).catch(() => '');
    // Debian's build leaves a literal "-${mvngit.commit.id}" in the version string.
    zookeeper =
      /Zookeeper version: ([^,\n]+)/
        .exec(srvr)?.[1]
        ?.replace(/-\$\{[^}]*\}/, '')
        .trim() ?? null;
  }
  let redis: string | null = null;
  try {
    const out = execFileSync(process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server', ['--version'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    redis = /v=(\S+)/.exec(out)?.[1] ?? null;
  } catch {
    redis = null;
  }
  const status = git(['status', '--porcelain']);
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    zookeeper,
    nodeZookeeperClient: pkgVersion('node-zookeeper-client', '@zkjobs/core'),
    redis,
    bullmq: pkgVersion('bullmq'),
    ioredis: pkgVersion('ioredis'),
    python: pythonVersion(),
    kazoo: kazooVersion(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirtyTree: status !== null && status !== '',
  };
}
