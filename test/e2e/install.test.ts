// Installable outside the repository: `pnpm pack` of @zkjobs/core and @zkjobs/worker, installed
// with npm into an empty project (the two tarballs, their dependencies from the registry), where
// a TypeScript program importing Queue and Worker type-checks under --strict, compiles, runs a
// job against ZooKeeper, and the `zkjobs` bin prints its version.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { zkConnect } from '../support/zk.js';

const exec = promisify(execFile);
const repo = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const work = mkdtempSync(join(tmpdir(), 'zkjobs-install-'));
const version = (JSON.parse(readFileSync(join(repo, 'packages/worker/package.json'), 'utf8')) as { version: string })
  .version;

const APP = `
import { Queue, Worker, createLogger, type Job, type Processor } from '@zkjobs/worker';
import { ZkClient } from '@zkjobs/core';

const square: Processor<{ n: number }, number> = async (job: Job<{ n: number }>) => job.data.n * job.data.n;
const connect: string = process.argv[2] ?? '127.0.0.1:2181';
const namespace = \`/install-\${process.pid}\`;
const logger = createLogger('warn');

/** Never called: tsc must refuse what the published types forbid. */
export function refusedByTypes(): Worker {
  // @ts-expect-error concurrency is a number
  return new Worker(connect, { square }, { concurrency: 'two' });
}

const worker = new Worker(connect, { square }, { namespace, concurrency: 2, logger });
await worker.start();
const queue = new Queue(connect, { namespace, logger });
const job = await queue.add('square', { n: 12 });
const done: Job<{ n: number }, number> = await queue.waitUntilFinished<{ n: number }, number>(job.id, { timeoutMs: 30_000 });
const result: number | undefined = done.result;
console.log(JSON.stringify({ result, state: done.state }));
await queue.close();
await worker.close();
const root = await ZkClient.connect(connect);
await root.deleteRecursive(namespace);
await root.close();
`;

describe('the packed packages', () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('install with npm into an empty project, type-check under --strict, run a job, and run the bin', async () => {
    const packs = join(work, 'packs');
    for (const pkg of ['core', 'worker']) {
      await exec('pnpm', ['pack', '--pack-destination', packs], { cwd: join(repo, 'packages', pkg), timeout: 120_000 });
    }
    const tarballs = readdirSync(packs).sort();
    expect(tarballs).toEqual([`zkjobs-core-${version}.tgz`, `zkjobs-worker-${version}.tgz`]);
    // workspace:* became the version; the patched ZooKeeper library travels inside @zkjobs/core.
    const { stdout: workerPkg } = await exec('tar', ['-xzOf', join(packs, tarballs[1]!), 'package/package.json']);
    expect((JSON.parse(workerPkg) as { dependencies: Record<string, string> }).dependencies['@zkjobs/core']).toBe(
      version,
    );

    const app = join(work, 'app');
    await exec('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const typescript = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    await exec(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(packs, tarballs[0]!),
        join(packs, tarballs[1]!),
        `typescript@${typescript.devDependencies['typescript']}`,
        '@types/node@^20',
      ],
      { cwd: app, timeout: 300_000 },
    );
    const patched = readFileSync(
      join(app, 'node_modules/@zkjobs/core/node_modules/node-zookeeper-client/lib/ConnectionManager.js'),
      'utf8',
    );
    expect(patched).toContain('zkjobs patch');

    writeFileSync(join(app, 'app.ts'), APP);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          outDir: 'out',
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    );
    await exec(join(app, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: app, timeout: 120_000 }).catch(
      (err: unknown) => {
        const e = err as { stdout?: string; stderr?: string };
        throw new Error(`tsc --strict failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      },
    );
    const ran = await exec(process.execPath, ['out/app.js', zkConnect], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(ran.stdout.trim())).toEqual({ result: 144, state: 'completed' });

    const bin = await exec(join(app, 'node_modules/.bin/zkjobs'), ['--version'], { cwd: app, timeout: 30_000 });
    expect(bin.stdout).toBe(`${version}\n`);
  }, 600_000);
});
