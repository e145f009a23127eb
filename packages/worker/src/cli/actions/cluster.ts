import { emptyStateCounts, liveWorkers, queueDepths, readLeader } from '../cluster-info.js';
import { fmtDuration, fmtTime, Output, table, type GlobalOptions } from '../context.js';
import { withQueue } from '../jobs-common.js';
import { describeAcl } from './acl.js';

/** `zkjobs cluster status`. */
export async function clusterStatus(g: GlobalOptions): Promise<void> {
  await withQueue(
    g,
    async ({ queue, client, ns, namespace }) => {
      // Whether the namespace is protected: its ACL (reading it needs READ or ADMIN on it).
      const { acl } = await client.getACL(namespace);
      const protection = describeAcl(acl);
      const workers = await liveWorkers(ns);
      const leader = await readLeader(ns, workers);
      const depths = await queueDepths(ns);
      const jobs = { ...emptyStateCounts(), ...(await queue.getJobCounts()) };
      const jobsByType = await queue.getJobCountsByType();
      const now = Date.now();
      const doc = {
        namespace,
        at: now,
        protected: !protection.open,
        acl: acl.map((a) => ({ scheme: a.scheme, id: a.id, perms: a.perms })),
        leader,
        workers: workers.map((w) => ({ ...w, leader: leader?.alive === true && leader.worker === w.name })),
        jobs,
        jobsByType,
        pendingMarkers: depths.pendingMarkers,
        assigned: depths.assigned,
      };
      new Output(g.json).result(doc, () => {
        const lines: string[] = [`cluster ${namespace}`];
        lines.push(
          `acl      ${protection.text}` +
            (protection.open ? ' — protect it with zkjobs acl apply --auth digest:<user>:<password>' : ''),
        );
        if (!leader) lines.push('leader   none elected yet');
        else {
          const who = `${leader.worker}${leader.host ? ` (${leader.host}:${leader.pid ?? '?'})` : ''}`;
          const since = leader.since
            ? ` since ${fmtTime(leader.since)} (${fmtDuration(Math.max(0, now - leader.since))} ago)`
            : '';
          lines.push(
            `leader   ${who}${since}, epoch ${leader.epoch}${leader.alive ? '' : ' — GONE, election pending'}`,
          );
        }
        lines.push(`workers  ${workers.length}`);
        if (workers.length > 0) {
          lines.push(
            table([
              ['  NAME', 'HOST', 'PID', 'CONC', 'ASSIGNED', 'TYPES', 'STARTED', 'SESSION'],
              ...workers.map((w) => [
                `${leader?.alive && leader.worker === w.name ? '* ' : '  '}${w.name}`,
                w.host ?? '?',
                String(w.pid ?? '?'),
                String(w.concurrency ?? '?'),
                String(depths.assigned[w.name] ?? 0),
                (w.types ?? []).join(','),
                fmtTime(w.startedAt),
                w.session ?? '?',
              ]),
            ]),
          );
        }
        lines.push(
          `jobs     ${Object.entries(jobs)
            .map(([s, n]) => `${s} ${n}`)
            .join(', ')}`,
        );
        for (const [type, c] of Object.entries(jobsByType)) {
          const nonZero = Object.entries(c).filter(([, n]) => n !== 0);
          lines.push(`  ${type}: ${nonZero.map(([st, n]) => `${st} ${n}`).join(', ')}`);
        }
        lines.push(`pending  ${depths.pendingMarkers} marker(s) waiting for the scheduler`);
        return lines.join('\n');
      });
    },
    { existing: true },
  );
}
