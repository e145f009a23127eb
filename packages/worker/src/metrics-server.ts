/** A small HTTP server for a prom-client registry: `GET /metrics`, nothing else. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Options of {@link serveMetrics}. */
export interface ServeMetricsOptions {
  /** TCP port; 0 picks a free one (see {@link MetricsServer.port}). Integer 0–65535. */
  port: number;
  /** Address to listen on. @defaultValue `'127.0.0.1'` (pass `'0.0.0.0'` or `'::'` for a scraper on another host) */
  host?: string;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port it listens on (the one picked when 0 was asked for). */
  readonly port: number;
  /** The address it listens on. */
  readonly host: string;
  /** `http://<host>:<port>/metrics`. */
  readonly url: string;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/**
 * Serves `registry` in Prometheus' text format at `GET /metrics` (and `HEAD`); any other path is
 * 404, any other method 405. Resolves once listening.
 * @throws RangeError for a port outside 0–65535; the listen error (`EADDRINUSE`, `EACCES`, …) when
 *   the port cannot be had
 */
export async function serveMetrics(registry: Registry, opts: ServeMetricsOptions): Promise<MetricsServer> {
  const { port } = opts;
  const host = opts.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`metrics port must be an integer 0–65535, got ${String(port)}`);
  }
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`could not collect metrics: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    port: addr.port,
    host: addr.address,
    url: `http://${shown}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
