import { connect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/**
 * Sends a ZooKeeper four-letter-word command (`srvr`, `mntr`, `ruok`, `stat`, …) to a server
 * and resolves with its whole reply. The server must whitelist the command
 * (`4lw.commands.whitelist=*`, as the harness configures it).
 *
 * @param host - server address, e.g. `127.0.0.1`
 * @param port - the server's client port
 * @param command - four letters
 * @param timeoutMs - whole-exchange timeout in ms (default 1000): a server that is still starting
 *   can hold a connection half-open forever, so every probe is bounded.
 * @param tls - for a TLS port (`secureClientPort`): Node's `tls.connect` options (CA, client
 *   certificate); default plain TCP
 * @throws Error when the connection fails or the timeout passes.
 */
export function fourLetterWord(
  host: string,
  port: number,
  command: string,
  timeoutMs = 1000,
  tls?: ConnectionOptions,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tls ? tlsConnect({ ...tls, host, port }) : connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`'${command}' to ${host}:${port} got no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write(command));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** The server's role as `srvr` reports it, or null while it serves no clients. */
export type ServerMode = 'standalone' | 'leader' | 'follower' | 'observer' | 'read-only';

/**
 * Reads a server's mode from `srvr`.
 * @returns the mode, or null when the server is unreachable, still starting, or not serving
 *   ("This ZooKeeper instance is not currently serving requests").
 */
export async function serverMode(
  host: string,
  port: number,
  timeoutMs = 1000,
  tls?: ConnectionOptions,
): Promise<ServerMode | null> {
  try {
    const reply = await fourLetterWord(host, port, 'srvr', timeoutMs, tls);
    const m = /^Mode: (\S+)/m.exec(reply);
    return m ? (m[1] as ServerMode) : null;
  } catch {
    return null;
  }
}

/** Parses `mntr` output (`zk_key\tvalue` lines) into a map; numeric values become numbers. */
export async function monitor(
  host: string,
  port: number,
  timeoutMs = 2000,
  tls?: ConnectionOptions,
): Promise<Record<string, string | number>> {
  const reply = await fourLetterWord(host, port, 'mntr', timeoutMs, tls);
  const out: Record<string, string | number> = {};
  for (const line of reply.split('\n')) {
    const [k, v] = line.split('\t');
    if (!k || v === undefined) continue;
    const n = Number(v);
    out[k] = Number.isFinite(n) && v.trim() !== '' ? n : v;
  }
  return out;
}
