import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '@zkjobs/core/testing';
import { Redis } from 'ioredis';
import { track } from './resources.js';
import { sleep, withTimeout } from './util.js';

export type Persistence = 'none' | 'aof-everysec';

/** Path of Debian's redis-server (or `$REDIS_SERVER`). */
export function redisServerPath(): string {
  return process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
}

/**
 * A redis-server on 127.0.0.1 and a free port, in a temp dir, started by the bench. It runs
 * under a `sh` watchdog that reads a pipe from this process: if the bench dies by any means the
 * pipe closes and the watchdog SIGKILLs the server. Stopped with SHUTDOWN (then SIGKILL).
 */
export class RedisServer {
  private readonly untrack: () => void;
  private constructor(
    readonly port: number,
    readonly persistence: Persistence,
    readonly version: string,
    private readonly proc: ChildProcess,
    private readonly dir: string,
  ) {
    this.untrack = track(`redis-server :${port}`, () => this.stop());
  }

  /** The watchdog's pid: the redis-server is its child (for CPU accounting), or null. */
  get pid(): number | null {
    return this.proc.pid ?? null;
  }

  static async start(persistence: Persistence): Promise<RedisServer> {
    const [port] = await freePorts(1);
    const dir = await mkdtemp(join(tmpdir(), 'zkjobs-bench-redis-'));
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', dir,
      '--daemonize', 'no', '--logfile', join(dir, 'redis.log'), '--save', '',
      ...(persistence === 'none'
        ? ['--appendonly', 'no']
        : ['--appendonly', 'yes', '--appendfsync', 'everysec']),
    ]; // prettier-ignore
    // fd 3 = our pipe (an asynchronous list's stdin would be /dev/null); EOF on it = we are gone.
    const watchdog =
      'exec 3<&0; "$0" "$@" </dev/null & p=$!; (read _ <&3; kill -KILL $p 2>/dev/null) & w=$!; wait $p; rc=$?; kill $w 2>/dev/null; exit $rc';
    const proc = spawn('sh', ['-c', watchdog, redisServerPath(), ...args], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    let gone: string | null = null;
    proc.once('exit', (code, signal) => (gone = `${code ?? signal}`));
    let version = '';
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const client = new Redis({
          host: '127.0.0.1',
          port,
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          const info = await client.info('server');
          version = /redis_version:(\S+)/.exec(info)?.[1] ?? '';
          break;
        } catch (err) {
          await sleep(100);
          if (gone !== null) throw new Error(`redis-server exited (${gone}); see ${join(dir, 'redis.log')}`);
          if (Date.now() > deadline) throw err;
        } finally {
          client.disconnect();
        }
      }
    } catch (err) {
      try {
        if (proc.pid) process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      throw err;
    }
    return new RedisServer(port!, persistence, version, proc, dir);
  }

  /** FLUSHALL: an empty database between rounds. */
  async flush(): Promise<void> {
    const c = new Redis({ host: '127.0.0.1', port: this.port, maxRetriesPerRequest: 1 });
    try {
      await withTimeout(c.flushall(), 10_000, 'FLUSHALL');
    } finally {
      c.disconnect();
    }
  }

  async stop(): Promise<void> {
    this.untrack();
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
      const c = new Redis({ host: '127.0.0.1', port: this.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      await c.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
      c.disconnect();
      try {
        await withTimeout(exited, 5_000, 'redis shutdown');
      } catch {
        try {
          if (this.proc.pid) process.kill(-this.proc.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
