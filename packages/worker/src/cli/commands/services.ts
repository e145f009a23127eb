import { Option, type Command } from 'commander';
import { ServiceDiscovery, type ServiceInstance } from '@zkjobs/core';
import { parseJsonArg } from '../json-input.js';
import { checkPath, fmtTime, globalOptions, intArg, Output, table, waitForSignal, withZk } from '../context.js';
import { UsageError } from '../errors.js';

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
    .description('register an instance and keep it registered until interrupted (SIGINT/SIGTERM)')
    .argument('<service>', 'service name, e.g. cache')
    .argument('[id]', 'instance id, e.g. c6 (default: a random UUID)')
    .requiredOption('--host <host>', 'host name or address clients connect to')
    .requiredOption('--port <port>', 'TCP port clients connect to', intArg(1, 65535))
    .option('--payload <json>', 'JSON (or @file) clients should know, e.g. {"zone":"a"}')
    .addOption(rootOption())
    .action(
      async (
        name: string,
        id: string | undefined,
        opts: { host: string; port: number; payload?: string; root: string },
        cmd: Command,
      ) => {
        const g = globalOptions(cmd);
        checkPath(opts.root, '--root');
        checkSegment('service', name);
        if (id !== undefined) checkSegment('id', id);
        if (opts.host.trim() === '' || /\s|\//.test(opts.host))
          throw new UsageError(`--host: invalid host ${JSON.stringify(opts.host)}`);
        const payload = opts.payload === undefined ? undefined : await parseJsonArg(opts.payload, '--payload');
        await withZk(g, async (client) => {
          const discovery = new ServiceDiscovery(client, opts.root);
          const out = new Output(g.json);
          discovery.on('reregistered', (i) =>
            out.result(
              { event: 'reregistered', instance: i },
              `re-registered ${opts.root}/${i.name}/${i.id} (new session)`,
            ),
          );
          discovery.on('error', (err) =>
            process.stderr.write(`zkjobs: re-registration failed, retrying: ${err.message}\n`),
          );
          try {
            const inst = await discovery.register({
              name,
              host: opts.host,
              port: opts.port,
              ...(id !== undefined ? { id } : {}),
              ...(payload !== undefined ? { payload } : {}),
            });
            const path = `${opts.root}/${inst.name}/${inst.id}`;
            out.result(
              { event: 'registered', path, instance: inst, session: client.sessionIdHex },
              `registered ${path} → ${inst.host}:${inst.port} (ephemeral, session ${client.sessionIdHex}); Ctrl-C to unregister`,
            );
            await waitForSignal();
            await discovery.close();
            out.result({ event: 'unregistered', path }, `unregistered ${path}`);
          } finally {
            await discovery.close().catch(() => undefined);
          }
        });
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
        try {
          const cache = await discovery.watch(name);
          cache.on('change', print);
          cache.on('error', (err) => process.stderr.write(`zkjobs: refresh failed, retrying: ${err.message}\n`));
          print(cache.instances());
          await waitForSignal();
        } finally {
          await discovery.close().catch(() => undefined);
        }
      });
    });
}
