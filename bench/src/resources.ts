import { errorMessage, log } from './util.js';

/**
 * Everything the bench starts (servers, children, connections) is registered here and stopped
 * in reverse order by {@link closeAll} — at the end of a section, and on failure, SIGINT,
 * SIGTERM or the run's time limit.
 */
interface Entry {
  name: string;
  close: () => Promise<void> | void;
}

const entries = new Set<Entry>();
let stopping = false;

/**
 * Registers a closer; returns a function that unregisters it (call it after closing normally).
 * Once {@link closeAll} has begun nothing new may start: the closer runs at once and this throws.
 */
export function track(name: string, close: () => Promise<void> | void): () => void {
  if (stopping) {
    void Promise.resolve()
      .then(close)
      .catch(() => undefined);
    throw new Error(`bench is stopping: ${name} not started`);
  }
  const e: Entry = { name, close };
  entries.add(e);
  return () => {
    entries.delete(e);
  };
}

/** Closes what is registered, newest first; each closer gets at most `perEntryMs`. */
export async function closeAll(perEntryMs = 15_000): Promise<void> {
  stopping = true;
  const list = [...entries].reverse();
  entries.clear();
  for (const e of list) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(e.close),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), perEntryMs);
        }),
      ]);
    } catch (err) {
      log(`clean-up of ${e.name} failed: ${errorMessage(err)}`);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}

/** Runs `fn`, then closes what it registered (also when it throws). */
export async function scoped<T>(fn: () => Promise<T>): Promise<T> {
  const before = new Set(entries);
  try {
    return await fn();
  } finally {
    const mine = [...entries].filter((e) => !before.has(e));
    for (const e of mine) entries.delete(e);
    for (const e of mine.reverse()) {
      try {
        await e.close();
      } catch (err) {
        log(`clean-up of ${e.name} failed: ${errorMessage(err)}`);
      }
    }
  }
}
