/**
 * Handlers of the failover demo. `work` sleeps `data.ms` ms (honouring its signal) and appends
 * one line per execution to the ledger file named by `$DEMO_LEDGER`: the side effect an
 * external system would see, with the fencing token it was given.
 */
import { appendFileSync } from 'node:fs';
import { sleep } from '../lib/sleep.js';

const ledger = process.env.DEMO_LEDGER;

export default {
  async work(job, { token, signal, worker }) {
    const started = Date.now();
    await sleep(Number(job.data?.ms ?? 50), signal);
    if (ledger) {
      appendFileSync(
        ledger,
        JSON.stringify({ job: job.id, token, worker, pid: process.pid, started, ended: Date.now() }) + '\n',
      );
    }
    return { worker, token };
  },
};
