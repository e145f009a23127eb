import type { Command } from 'commander';
import { globalOptions } from '../context.js';

/**
 * `zkjobs cluster status`: the live workers, which one leads and since when, the leader epoch,
 * and the queue depths (jobs by state and by type from the counts — `Queue.getJobCounts`, no
 * scan — pending markers, and the assignments waiting in each worker's queue).
 */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('the cluster under --namespace');
  cluster
    .command('status')
    .description('workers, leader and epoch, queue depths by state')
    .action(async (_o: unknown, cmd: Command) => {
      await (await import('../actions/cluster.js')).clusterStatus(globalOptions(cmd));
    });
}
