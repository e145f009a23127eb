/**
 * Handlers of the failover demo. `work` sleeps `data.ms` ms (honouring its signal) and appends
 * one line per execution to the ledger file named by `$DEMO_LEDGER`: the side effect an
 * external system would see, with the fencing token it was given.
 */
import { appendFileSync } from 'node:fs';

const ledger = process.env.DEMO_LEDGER;

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

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
