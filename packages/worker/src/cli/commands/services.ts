import { Option, type Command } from 'commander';
import {
  NodeExistsError,
  ServiceDiscovery,
  type ServiceDiscoveryEvents,
  type ServiceInstance,
  type ZkClient,
} from '@zkjobs/core';
import { parseJsonArg } from '../json-input.js';
import {
  checkPath,
  fmtTime,
  globalOptions,
  intArg,
  Output,
  reportConnection,
  table,
  waitForSignal,
  withZk,
  type GlobalOptions,
} from '../context.js';
import { OperationError, UsageError } from '../errors.js';

/** What the `displaced` event of {@link ServiceDiscovery} carries. */
type Displacement = ServiceDiscoveryEvents['displaced'][0];

const SEGMENT = /^[A-Za-z0-9._:@-]{1,200}$/;

function checkSegment(what: string, s: string): string {
  if (!SEGMENT.test(s) || s === '.' || s === '..')
    throw new UsageError(`${what}: ${JSON.stringify(s)} must be one path segment of [A-Za-z0-9._:@-]`);
  return s;
}

function instanceLine(i: ServiceInstance): string[] {
  return [
    i.id,
    `${i.host}:${i.port}`,
    fmtTime(i.registeredAt),
    i.payload === undefined ? '' : JSON.stringify(i.payload),
  ];
}

function instancesText(name: string, list: ServiceInstance[]): string {
  if (list.length === 0) return `${name}: no live instances`;
  return table([['ID', 'ADDRESS', 'REGISTERED', 'PAYLOAD'], ...list.map(instanceLine)]);
}

/**
 * `zkjobs services register|ls|watch`: the talk's name service. An instance is an ephemeral
 * znode `<root>/<service>/<id>` (default root `/servers`, an absolute path not under
 * `--namespace`) holding `{name, id, host, port, payload, registeredAt}`; it lives as long as
 * the registering process's session.
 */
export function registerServicesCommands(program: Command): void {
  const services = program
    .command('services')
    .description('service discovery: ephemeral registrations under --root (default /servers)');
  const rootOption = () =>
    new Option('--root <path>', 'absolute root znode of the services (not under --namespace)').default('/servers');

  services
    .command('register')
    .description(
      'register an instance and keep it registered until interrupted (SIGINT/SIGTERM); ' +
        'exit 1 if another registrant takes its id over',
    )
    .argument('<service>', 'service name, e.g. cache')
    .argument('[id]', 'instance id, e.g. c6 (default: a random UUID)')
    .requiredOption('--host <host>', 'host name or address clients connect to (required)')
    .requiredOption('--port <port>', 'TCP port clients connect to (required)', intArg(1, 65535))
    .option('--payload <json>', 'JSON (or @file) clients should know, e.g. {"zone":"a"}')
    .option('--no-replace', 'refuse (exit 1) if another live session has registered this id, instead of taking it over')
    .addOption(rootOption())
    .action(
      async (
        name: string,
        id: string | undefined,
        opts: { host: string; port: number; payload?: string; root: string; replace: boolean },
        cmd: Command,
      ) => {
        const g = globalOptions(cmd);
        checkPath(opts.root, '--root');
        checkSegment('service', name);
        if (id !== undefined) checkSegment('id', id);
        if (opts.host.trim() === '' || /\s|\//.test(opts.host))
          throw new UsageError(`--host: invalid host ${JSON.stringify(opts.host)}`);
        const payload = opts.payload === undefined ? undefined : await parseJsonArg(opts.payload, '--payload');
        await withZk(g, (client) => registerInstance(g, client, { ...opts, name, id, payload }));
      },
    );

  services
    .command('ls')
    .description('list the live instances of a service, or every service with its instance count')
    .argument('[service]', 'service name')
    .addOption(rootOption())
    .action(async (name: string | undefined, opts: { root: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(opts.root, '--root');
      if (name !== undefined) checkSegment('service', name);
      await withZk(g, async (client) => {
        const discovery = new ServiceDiscovery(client, opts.root);
        const out = new Output(g.json);
        try {
          if (name !== undefined) {
            const list = await discovery.queryInstances(name);
            out.result({ service: name, instances: list }, instancesText(name, list));
            return;
          }
          const names = (await discovery.queryNames()).sort();
          const rows = await Promise.all(
            names.map(async (n) => ({ service: n, instances: (await discovery.queryInstances(n)).length })),
          );
          out.result(
            { services: rows },
            rows.length === 0
              ? `no services under ${opts.root}`
              : table([['SERVICE', 'INSTANCES'], ...rows.map((r) => [r.service, String(r.instances)])]),
          );
        } finally {
          await discovery.close().catch(() => undefined);
        }
      });
    });

  services
    .command('watch')
    .description('print the live instances of a service now and on every change, until interrupted')
    .argument('<service>', 'service name')
    .addOption(rootOption())
    .action(async (name: string, opts: { root: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      checkPath(opts.root, '--root');
      checkSegment('service', name);
      await withZk(g, async (client) => {
        const discovery = new ServiceDiscovery(client, opts.root);
        const out = new Output(g.json);
        const print = (list: ServiceInstance[]): void =>
          out.result(
            { service: name, at: Date.now(), instances: list },
            `${fmtTime(Date.now())} ${name}: ${list.length} instance(s)` +
              (list.length ? '\n' + list.map((i) => `  ${i.id} ${i.host}:${i.port}`).join('\n') : ''),
          );
        const stopReporting = reportConnection(client, {
          json: g.json,
          suspendedNote: `the last list of ${name} may be stale until reconnected`,
          lostNote: `the list is read again on the new session`,
        });
        try {
          const cache = await discovery.watch(name);
          cache.on('change', print);
          cache.on('error', (err) => process.stderr.write(`zkjobs: refresh failed, retrying: ${err.message}\n`));
          print(cache.instances());
          await waitForSignal();
        } finally {
          stopReporting();
          await discovery.close().catch(() => undefined);
        }
      });
    });
}

/** Options of {@link registerInstance}. */
interface RegisterArgs {
  name: string;
  id: string | undefined;
  host: string;
  port: number;
  payload: unknown;
  root: string;
  /** False with `--no-replace`. */
  replace: boolean;
}

/**
 * `services register`: registers, then waits for a signal (exit 0 after unregistering) or for
 * the registration to be taken over by another registrant (exit 1, the node is left to it).
 * Connection changes go to stderr; re-registrations after a new session are printed.
 */
async function registerInstance(g: GlobalOptions, client: ZkClient, a: RegisterArgs): Promise<void> {
  const discovery = new ServiceDiscovery(client, a.root, { replace: a.replace });
  const out = new Output(g.json);
  const path = (i: { name: string; id: string }): string => `${a.root}/${i.name}/${i.id}`;
  let displaced: ((d: Displacement) => void) | undefined;
  const lostIt = new Promise<Displacement>((r) => (displaced = r));
  discovery.on('displaced', (d) => displaced?.(d));
  discovery.on('reregistered', (i) =>
    out.result(
      { event: 'reregistered', path: path(i), instance: i, session: client.sessionIdHex },
      `re-registered ${path(i)} (new session ${client.sessionIdHex})`,
    ),
  );
  discovery.on('error', (err) => process.stderr.write(`zkjobs: re-registration failed, retrying: ${err.message}\n`));
  const stopReporting = reportConnection(client, {
    json: g.json,
    suspendedNote: 'the registration stays while the session lives',
    lostNote: 'the registration went with it and is made again on the new session',
  });
  try {
    let inst: ServiceInstance;
    try {
      inst = await discovery.register({
        name: a.name,
        host: a.host,
        port: a.port,
        ...(a.id !== undefined ? { id: a.id } : {}),
        ...(a.payload !== undefined ? { payload: a.payload } : {}),
      });
    } catch (err) {
      if (err instanceof NodeExistsError && !a.replace) {
        const owner = /\(0x[0-9a-f]+\)/.exec(err.message)?.[0] ?? '';
        throw new OperationError(
          `id ${a.id ?? '?'} is registered by another live session${owner ? ` ${owner}` : ''} at ${a.root}/${a.name}/${a.id ?? '?'}; ` +
            'not registered (--no-replace)',
          { cause: err },
        );
      }
      throw err;
    }
    const p = path(inst);
    out.result(
      { event: 'registered', path: p, instance: inst, session: client.sessionIdHex },
      `registered ${p} → ${inst.host}:${inst.port} (ephemeral, session ${client.sessionIdHex}); Ctrl-C to unregister`,
    );
    const outcome = await Promise.race([waitForSignal(), lostIt]);
    if (typeof outcome !== 'string') {
      const by = outcome.by === null ? null : `0x${outcome.by.toString(16)}`;
      out.result(
        { event: 'displaced', path: p, by },
        by === null
          ? `displaced: ${p} was deleted by another client; not re-registering`
          : `displaced: ${p} was taken over by session ${by} (another registrant of id ${inst.id}); not re-registering`,
      );
      throw new OperationError(
        by === null
          ? `${p} was deleted by another client`
          : `${p} was taken over by another registrant (session ${by})`,
      );
    }
    try {
      await discovery.close();
    } catch (err) {
      const reasons =
        err instanceof AggregateError
          ? err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ')
          : (err as Error).message;
      throw new OperationError(`unregistering ${p} failed: ${reasons}`, { cause: err });
    }
    out.result({ event: 'unregistered', path: p }, `unregistered ${p}`);
  } finally {
    stopReporting();
    await discovery.close().catch(() => undefined);
  }
}
