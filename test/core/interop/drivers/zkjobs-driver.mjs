// One zkjobs contender, driven by lines on stdin; replies one line each on stdout.
// Usage: node zkjobs-driver.mjs <connect> <namespace> <ledger file> <id>
// See interop-driver.ts for the protocol. The ledger gets "enter <id> <what>" after an
// acquisition and "exit <id> <what>" before a release, appended (O_APPEND) one line per write.
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { LeaderLatch, Mutex, ReadWriteLock, Semaphore, SharedValue, ZkClient } from '@zkjobs/core';

const [connect, namespace, ledgerFile, id] = process.argv.slice(2);
const say = (line) => process.stdout.write(line + '\n');
const log = (what, kind) => appendFileSync(ledgerFile, `${what} ${id} ${kind}\n`);
/** `key=value` words after the path. */
const options = (words) => Object.fromEntries(words.map((x) => x.split('=')));

const client = await ZkClient.connect(connect, { namespace, sessionTimeoutMs: 2000 });
say('ready');

let lock = null;
let kind = '';
let latch = null;
let leading = false;
let shared = null;
const lines = createInterface({ input: process.stdin });
for await (const raw of lines) {
  const w = raw.trim().split(' ');
  try {
    switch (w[0]) {
      case 'mutex': {
        // mutex <path> [prefix=…]
        const o = options(w.slice(2));
        lock = new Mutex(client, w[1], o.prefix ? { prefix: o.prefix } : {});
        kind = 'mutex';
        say('ok');
        break;
      }
      case 'read':
      case 'write': {
        // read|write <path> [readPrefix=…] [writePrefix=…]
        const rw = new ReadWriteLock(client, w[1], options(w.slice(2)));
        lock = w[0] === 'read' ? rw.readLock : rw.writeLock;
        kind = w[0];
        say('ok');
        break;
      }
      case 'semaphore':
        lock = new Semaphore(client, w[1], Number(w[2]));
        kind = 'semaphore';
        say('ok');
        break;
      case 'acquire':
        if (await lock.acquire({ timeoutMs: w[1] ? Number(w[1]) : 60_000 })) {
          log('enter', kind);
          say('held');
        } else say('timeout');
        break;
      case 'release':
        log('exit', kind);
        await lock.release();
        say('released');
        break;
      case 'lead': {
        // lead <path> [prefix=…]
        const o = options(w.slice(2));
        latch = new LeaderLatch(client, w[1], { id, ...(o.prefix ? { prefix: o.prefix } : {}) });
        await latch.start();
        await latch.awaitLeadership();
        leading = true;
        log('enter', 'leader');
        // Leadership lost (suspended, session gone) ends the term in the ledger.
        latch.once('notLeader', () => {
          if (leading) log('exit', 'leader');
          leading = false;
        });
        say('leader');
        break;
      }
      case 'resign':
        if (leading) log('exit', 'leader');
        leading = false;
        await latch.close();
        latch = null;
        say('resigned');
        break;
      case 'shared': {
        // shared <path> <seed base64>
        shared = new SharedValue(client, w[1], { seed: Buffer.from(w[2] ?? '', 'base64') });
        shared.on('change', ({ value }) => say(`changed ${value.toString('base64')}`));
        await shared.start();
        say(`value ${shared.getValue().toString('base64')}`);
        break;
      }
      case 'get':
        say(`value ${shared.getValue().toString('base64')}`);
        break;
      case 'set':
        await shared.setValue(Buffer.from(w[1] ?? '', 'base64'));
        say('ok');
        break;
      case 'quit':
        await client.close();
        say('bye');
        process.exit(0);
        break;
      default:
        say(`error unknown command ${w[0]}`);
    }
  } catch (err) {
    say(`error ${String(err?.name ?? 'Error')}: ${String(err?.message ?? err).replace(/\n/g, ' ')}`);
  }
}
process.exit(0);
