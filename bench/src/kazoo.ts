import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { track } from './resources.js';
import { withTimeout } from './util.js';

const SCRIPT = fileURLToPath(new URL('../peers/kazoo_queue.py', import.meta.url));

/** Debian's python3 (or `$BENCH_PYTHON`). */
export function pythonPath(): string {
  return process.env['BENCH_PYTHON'] ?? '/usr/bin/python3';
}

/** Kazoo's version when `python3 -c 'import kazoo'` works, else null. */
export function kazooVersion(): string | null {
  const r = spawnSync(pythonPath(), ['-c', 'import kazoo.version as v; print(v.__version__)'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function pythonVersion(): string | null {
  const r = spawnSync(pythonPath(), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? (r.stdout || r.stderr).trim() : null;
}

type PyMsg = { event: string; [k: string]: unknown };

/** One python process of the Kazoo peer, reporting JSON lines. */
export class PyProc {
  readonly proc: ChildProcess;
  readonly msgs: PyMsg[] = [];
  count = 0;
  last = 0;
  errors = 0;
  private readonly listeners = new Set<(m: PyMsg) => void>();
  private readonly untrack: () => void;
  private exited = false;

  /** @param logFile - where the script's stderr goes (Kazoo logs tracebacks there while a session closes) */
  constructor(args: string[], logFile: string) {
    const fd = openSync(logFile, 'a');
    this.proc = spawn(pythonPath(), [SCRIPT, ...args], { stdio: ['pipe', 'pipe', fd] });
    closeSync(fd);
    this.proc.on('exit', () => {
      this.exited = true;
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: PyMsg;
      try {
        m = JSON.parse(line) as PyMsg;
      } catch {
        return;
      }
      if (m.event === 'count') {
        this.count = Number(m['n']);
        this.last = Number(m['last']);
      }
      if (m.event === 'error') this.errors++;
      this.msgs.push(m);
      for (const l of [...this.listeners]) l(m);
    });
    this.untrack = track(`kazoo ${args[0]}`, () => this.stop());
  }

  waitFor(event: string, timeoutMs: number): Promise<PyMsg> {
    const found = this.msgs.find((m) => m.event === event);
    if (found) return Promise.resolve(found);
    let off = (): void => undefined;
    const p = new Promise<PyMsg>((resolve, reject) => {
      const l = (m: PyMsg): void => {
        if (m.event === event) resolve(m);
      };
      this.listeners.add(l);
      const onExit = (): void => reject(new Error(`kazoo process exited before '${event}'`));
      this.proc.once('exit', onExit);
      off = () => {
        this.listeners.delete(l);
        this.proc.off('exit', onExit);
      };
      if (this.exited) onExit();
    });
    return withTimeout(p, timeoutMs, `kazoo ${event}`).finally(() => off());
  }

  /** SIGTERM (the script closes its session), then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    this.untrack();
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    try {
      await withTimeout(exited, 5_000, 'kazoo stop');
    } catch {
      this.proc.kill('SIGKILL');
    }
  }
}
