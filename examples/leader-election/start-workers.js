#!/usr/bin/env node
// Starts N workers (worker.js) as child processes with prefixed output and, with --chaos,
// SIGKILLs the current leader every few seconds so you can watch the next one take over
// (after the killed worker's session times out) while nobody else is woken.
//
//   node examples/leader-election/start-workers.js [--workers 3] [--chaos] [--connect host:port,...]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '3' },
    chaos: { type: 'boolean', default: false },
    connect: { type: 'string', default: process.env.ZK_CONNECT ?? '127.0.0.1:2181' },
    namespace: { type: 'string', default: '/zkjobs/examples' },
  },
});
const script = fileURLToPath(new URL('./worker.js', import.meta.url));
const workers = new Map();
let next = 1;

function startWorker() {
  const name = `worker-${next++}`;
  const child = spawn(
    process.execPath,
    [script, '--connect', values.connect, '--namespace', values.namespace, '--name', name],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const w = { name, child, leading: false };
  workers.set(name, w);
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.includes('LEADING now')) w.leading = true;
    if (line.includes('no longer leading')) w.leading = false;
    console.log(line);
  });
  child.on('exit', () => workers.delete(name));
}

for (let i = 0; i < Number(values.workers); i++) startWorker();

if (values.chaos) {
  setInterval(() => {
    const leader = [...workers.values()].find((w) => w.leading);
    if (!leader) return;
    console.log(`--- SIGKILL ${leader.name} (the leader); a new worker joins at the back ---`);
    leader.child.kill('SIGKILL');
    startWorker();
  }, 8000);
}

const stop = () => {
  for (const w of workers.values()) w.child.kill('SIGTERM');
  setTimeout(() => process.exit(0), 500);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
