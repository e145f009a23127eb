import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A JSON line printed by the worker fixture. */
export interface WorkerLine {
  t: number;
  pid: number;
  event: string;
  [k: string]: unknown;
}

/** A spawned worker-process fixture with its stdout lines. */
export interface WorkerProc {
  child: ChildProcess;
  pid: number;
  lines: WorkerLine[];
  name?: string;
  /** Resolves with the first line matching `pred` (already seen or future). */
  waitLine(pred: (l: WorkerLine) => boolean, timeoutMs?: number): Promise<WorkerLine>;
  exited: Promise<number | null>;
}

const fixture = fileURLToPath(new URL('./fixtures/worker-process.mjs', import.meta.url));

/** Spawns `node fixtures/worker-process.mjs` with `env`; waits until it printed `started`. */
export async function spawnWorker(env: Record<string, string>): Promise<WorkerProc> {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: WorkerLine[] = [];
  const waiters: { pred: (l: WorkerLine) => boolean; resolve: (l: WorkerLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (s) => {
    let l: WorkerLine;
    try {
      l = JSON.parse(s) as WorkerLine;
    } catch {
      return;
    }
    lines.push(l);
    for (const w of [...waiters]) {
      if (w.pred(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const proc: WorkerProc = {
    child,
    pid: child.pid!,
    lines,
    exited,
    waitLine(pred, timeoutMs = 20_000) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(`pid ${child.pid}: no matching line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`),
            ),
          timeoutMs,
        );
        waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
  };
  const started = await proc.waitLine((l) => l.event === 'started');
  proc.name = started['worker'] as string;
  return proc;
}

/** Kills every process that is still running (SIGCONT first, in case it is stopped). */
export async function killAll(procs: WorkerProc[]): Promise<void> {
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      try {
        process.kill(p.pid, 'SIGCONT');
        p.child.kill('SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  await Promise.all(procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))])));
}

/** One ledger line: an execution phase of a job. */
export interface LedgerLine {
  phase: 'start' | 'end';
  id: string;
  token: number;
  attempt: number;
  pid: number;
  worker: string;
  t: number;
}

export function readLedger(path: string): LedgerLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LedgerLine);
}
