/**
 * Pipes whose reader goes away (`zkjobs job list | head -2`, `worker start | tee log` stopped
 * with Ctrl-C). Node ignores SIGPIPE, so a write to a closed pipe is an `EPIPE` error on the
 * stream, which, unhandled, ends the process with a stack trace in the middle of whatever it
 * was doing. Instead: once stdout's reader is gone, nothing more is written to it, a
 * long-running command stops as if interrupted (a worker closes gracefully), and the command
 * exits 0 — its output was simply not wanted any more. An `EPIPE` on stderr is ignored.
 */

let stdoutClosed = false;
const listeners = new Set<() => void>();
let installed = false;

function isEpipe(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/** Installs the EPIPE handlers on stdout and stderr (idempotent). Other stream errors are rethrown. */
export function installPipeGuards(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err) => {
    if (!isEpipe(err)) throw err;
    if (stdoutClosed) return;
    stdoutClosed = true;
    for (const l of [...listeners]) l();
  });
  process.stderr.on('error', (err) => {
    if (!isEpipe(err)) throw err;
  });
}

/** True once a write to stdout failed because its reader went away. */
export function isStdoutClosed(): boolean {
  return stdoutClosed;
}

/**
 * Calls `fn` once when stdout's reader goes away (at once, on the next tick, if it has gone).
 * @returns a function that removes `fn`
 */
export function onStdoutClosed(fn: () => void): () => void {
  if (stdoutClosed) {
    const t = setImmediate(fn);
    return () => clearImmediate(t);
  }
  const once = (): void => {
    listeners.delete(once);
    fn();
  };
  listeners.add(once);
  return () => listeners.delete(once);
}
