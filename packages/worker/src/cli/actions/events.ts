import { EVENT_VALUE_MAX_BYTES, QUEUE_EVENT_NAMES, QueueEvents, type JobEventName } from '../../index.js';
import {
  Output,
  cliLogger,
  connectZk,
  fmtTime,
  jobNamespace,
  reportConnection,
  requireCluster,
  waitForSignal,
  type GlobalOptions,
} from '../context.js';

/** The human line of an event's payload: what it adds to `jobId type`. */
function detail(name: JobEventName, p: Record<string, unknown>): string {
  const parts: string[] = [];
  if (p['attemptsMade'] !== undefined) parts.push(`attempt ${String(p['attemptsMade'])}`);
  if (p['prev'] !== undefined) parts.push(`from ${String(p['prev'])}`);
  const value = name === 'completed' ? 'returnvalue' : name === 'progress' ? 'data' : 'failedReason';
  if (p[value] !== undefined) parts.push(`${value === 'failedReason' ? 'error' : value}: ${JSON.stringify(p[value])}`);
  if (p[`${value}Omitted`])
    parts.push(`${value} over ${EVENT_VALUE_MAX_BYTES} bytes, not in the event (job status shows it)`);
  if (p['delay'] !== undefined) parts.push(`delay ${String(p['delay'])} ms`);
  if (p['withOutcome']) parts.push('with its outcome');
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** `zkjobs events`: prints every event until interrupted. */
export async function followEvents(g: GlobalOptions, from: 'now' | 'earliest' | number): Promise<void> {
  const namespace = jobNamespace(g);
  const log = await cliLogger(g, 'warn');
  const client = await connectZk(g, { logger: log });
  try {
    await requireCluster(client, namespace);
    const out = new Output(g.json);
    const events = new QueueEvents(client, { namespace, from, logger: log });
    let failure: Error | undefined;
    for (const name of QUEUE_EVENT_NAMES) {
      events.on(name as 'waiting', (payload, id) => {
        const p = payload as unknown as Record<string, unknown>;
        out.result(
          { event: name, id, ...p },
          `${fmtTime(Date.now())} ${id} ${name} ${String(p['jobId'])} ${String(p['type'])}${detail(name, p)}`,
        );
      });
    }
    events.on('gap', (gap) => {
      out.result(
        { event: 'gap', ...gap },
        `${fmtTime(Date.now())} gap: events after ${gap.from} through ${gap.to} lost — ${gap.reason}`,
      );
    });
    events.on('error', (err) => log.warn({ err }, 'events'));
    const stopReporting = reportConnection(client, {
      json: g.json,
      suspendedNote: 'events are printed again once reconnected (none is lost while the retention keeps them)',
      lostNote: 'the watch is set again on the new session; a gap line follows if events were pruned meanwhile',
    });
    try {
      await events.waitUntilReady();
      if (g.json) process.stderr.write(JSON.stringify({ event: 'following', namespace, cursor: events.cursor }) + '\n');
      else process.stderr.write(`zkjobs: following the events of ${namespace} after cursor ${events.cursor}\n`);
      await waitForSignal();
    } catch (err) {
      failure = err as Error;
    } finally {
      stopReporting();
      await events.close();
    }
    if (failure) throw failure;
  } finally {
    await client.close().catch(() => undefined);
  }
}
