/** `--metrics-port` of `worker start`: the worker's metrics and the process's, served over HTTP. */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { workerMetrics } from '../metrics.js';
import { serveMetrics, type MetricsServer } from '../metrics-server.js';
import type { Worker } from '../worker.js';
import { OperationError } from './errors.js';

/**
 * Registers the worker's `zkjobs_*` metrics and prom-client's default process metrics
 * (`process_*`, `nodejs_*`) in a new registry and serves it at `http://<host>:<port>/metrics`.
 * @throws OperationError when the port cannot be had (in use, or not allowed)
 */
export async function startMetrics(worker: Worker, port: number, host: string): Promise<MetricsServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = workerMetrics(worker, registry);
  try {
    const server = await serveMetrics(registry, { port, host });
    return {
      ...server,
      close: async () => {
        metrics.close();
        await server.close();
      },
    };
  } catch (err) {
    metrics.close();
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'not allowed' : String(err);
    throw new OperationError(`--metrics-port: cannot listen on ${host}:${port}: ${why}`, { cause: err });
  }
}
