/**
 * TLS to a TLS-only server the harness starts (`secureClientPort` only, `ssl.clientAuth=need`,
 * certificates made by openssl for this run): the client connects, reconnects and runs jobs
 * over it; a plain client, an untrusted server certificate, a missing or foreign client
 * certificate, a wrong host name and TLS to a plain port each fail at once with a TlsError
 * that says which.
 */
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { digestAuth, TlsError, ZkClient, type ZkClientOptions } from '@zkjobs/core';
import { opensslInstalled, TestCertificates, TestingServer, type IssuedCertificate } from '@zkjobs/core/testing';
import { Queue, Worker, createLogger } from '@zkjobs/worker';
import {
  canStartServers,
  describeNeeding,
  opensslUnavailableReason,
  serversUnavailableReason,
  waitFor,
  zkConnect,
} from '../support/zk.js';
import { exampleHandlers, json, killAll, run, start } from '../e2e/cli.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
let server: TestingServer;
let strangers: TestCertificates; // another CA
let stranger: IssuedCertificate;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  if (!canStartServers || !opensslInstalled()) return;
  server = await TestingServer.start({ tls: true, tickTime: 500 });
  strangers = await TestCertificates.create(join(server.dir, 'strangers'), { name: 'stranger-ca' });
  stranger = await strangers.issue('stranger');
}, 60_000);
afterAll(async () => {
  await killAll();
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await server?.close();
});

/** Connects with the server's client options, changed by `over`; closed after the file. */
async function connect(
  over: Partial<NonNullable<Exclude<ZkClientOptions['tls'], true>>> | null,
  opts: ZkClientOptions = {},
) {
  const c = await ZkClient.connect(server.connectString, {
    connectTimeoutMs: 20_000,
    ...(over === null ? {} : { tls: { ...server.tls!.clientOptions, ...over } }),
    ...opts,
  });
  closers.push(() => c.close());
  return c;
}

/** The error of a connect that must fail. */
async function connectError(
  over: Parameters<typeof connect>[0],
  connectString = server.connectString,
): Promise<TlsError> {
  const err = await ZkClient.connect(connectString, {
    connectTimeoutMs: 20_000,
    ...(over === null ? {} : { tls: { ...server.tls!.clientOptions, ...over } }),
  }).then(
    () => null,
    (e: unknown) => e,
  );
  // A TlsError, not the ConnectTimeoutError that waiting out the 20 s would give.
  expect(err).toBeInstanceOf(TlsError);
  return err as TlsError;
}

describeNeeding(serversUnavailableReason ?? opensslUnavailableReason, 'TLS', () => {
  it('the harness serves TLS only: srvr and conf over TLS, no plain client port', async () => {
    expect(server.secureConnectString).toBe(server.connectString);
    expect(await server.member.mode()).toBe('standalone');
    const conf = await server.member.fourLetterWord('conf');
    expect(conf).toMatch(new RegExp(`^secureClientPort=${server.port}$`, 'm'));
    expect(conf).toMatch(/^clientPort=-1$/m);
    const refused = await new Promise<string>((resolve) => {
      const s = netConnect(server.member.spec.clientPort, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('a client with the CA and a client certificate works, and reconnects over TLS after a server restart', async () => {
    const c = await connect({});
    await c.create('/tls-node', { data: 'over tls' });
    const seen: string[] = [];
    const h = c.watchData('/tls-node', (d) => seen.push(d ? d.toString() : 'none'));
    await waitFor(() => seen.length === 1, 10_000, 25, 'the first value');
    const states: string[] = [];
    c.on('state', (s) => states.push(s));
    await server.restart();
    await waitFor(
      () => states.includes('suspended') && ['connected', 'reconnected'].includes(states.at(-1) ?? ''),
      20_000,
      50,
      'connected again after the restart',
    );
    const other = await connect({});
    await other.setData('/tls-node', 'changed');
    await waitFor(() => seen.at(-1) === 'changed', 20_000, 25, 'the change after the restart');
    expect((await c.getData('/tls-node')).data.toString()).toBe('changed');
    h.close();
  });

  it('a plain client is told the server speaks TLS', async () => {
    const e = await connectError(null);
    expect(e.kind).toBe('tls-port');
    expect(e.message).toContain(
      `${server.connectString} closed the connection without answering the handshake: it speaks TLS`,
    );
  });

  it('a CA that did not sign the server’s certificate: untrusted', async () => {
    const e = await connectError({ ca: strangers.ca });
    expect(e.kind).toBe('untrusted-server');
    expect(e.message).toMatch(
      /TLS: the certificate of 127\.0\.0\.1:\d+ is not trusted: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\); give tls\.ca/,
    );
  });

  it('no client certificate (ssl.clientAuth=need), or one from another CA: the server refuses it', async () => {
    const none = await connectError({ cert: undefined, key: undefined } as never);
    expect(none.kind).toBe('client-certificate');
    expect(none.message).toMatch(/refused the client's certificate \(alert "[a-z ]+", ERR_SSL_\w+\)/);
    const foreign = await connectError({ cert: stranger.cert, key: stranger.key });
    expect(foreign.kind).toBe('client-certificate');
  });

  it('a certificate that does not name the host: refused unless the check is turned off', async () => {
    const e = await connectError({ servername: 'zookeeper.example' });
    expect(e.kind).toBe('hostname');
    expect(e.message).toContain('does not name the host connected to');
    const c = await connect({ servername: 'zookeeper.example', verifyHostname: false });
    expect(await c.exists('/')).not.toBeNull();
  });

  it('verifyCertificate: false connects to a server it cannot verify (insecure, but encrypted)', async () => {
    const c = await connect({ ca: strangers.ca, verifyCertificate: false });
    expect(await c.exists('/')).not.toBeNull();
  });

  it('TLS to a plain port is told it is plain', async () => {
    const e = await connectError({}, zkConnect.split(',')[0]!);
    expect(e.kind).toBe('plain-port');
    expect(e.message).toContain('it is a plain (non-TLS) ZooKeeper port');
  });

  it('a Worker and a Queue run jobs over TLS (with digest auth on top)', async () => {
    const namespace = '/tls-jobs';
    const auth = digestAuth('jobs', 'pw');
    const wc = await connect({}, { sessionTimeoutMs: 4000, ...auth });
    const qc = await connect({}, auth);
    const worker = new Worker(
      wc,
      { square: async (job: { data: number }) => job.data ** 2 },
      { namespace, concurrency: 2, logger },
    );
    closers.push(() => worker.close({ graceMs: 100 }));
    await worker.start();
    const queue = new Queue(qc, { namespace, logger });
    const jobs = await queue.addBulk(Array.from({ length: 10 }, (_, n) => ({ type: 'square', data: n })));
    const done = await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 })));
    expect(done.map((j) => j.result)).toEqual(jobs.map((_, n) => n * n));
  });
});

describeNeeding(serversUnavailableReason ?? opensslUnavailableReason, 'TLS on the command line', () => {
  const tlsArgs = (): string[] => [
    '--tls-ca',
    server.tls!.caFile,
    '--tls-cert',
    server.tls!.client.certFile,
    '--tls-key',
    server.tls!.client.keyFile,
  ];
  const zk = (...args: string[]) => run(['--connect', server.connectString, '--namespace', '/tls-cli', ...args]);

  it('worker start and job submit --wait over TLS', async () => {
    const w = start([
      '--connect',
      server.connectString,
      '--namespace',
      '/tls-cli',
      ...tlsArgs(),
      '--json',
      '--log-level',
      'warn',
      'worker',
      'start',
      '--handlers',
      exampleHandlers,
      '--session-timeout',
      '4000',
      '--grace',
      '1000',
    ]);
    await w.waitForLine((l) => l.includes('"event":"started"'), 30_000, 'worker started');
    const r = await zk(
      ...tlsArgs(),
      '--json',
      'job',
      'submit',
      'echo',
      '--data',
      '{"tls":true}',
      '--wait',
      '--wait-timeout',
      '20000',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(json<{ state: string; result: { echo: unknown } }>(r)).toMatchObject({
      state: 'completed',
      result: { echo: { tls: true } },
    });
    const status = await zk(...tlsArgs(), '--json', 'cluster', 'status');
    expect(status.code, status.stderr).toBe(0);
    expect(json<{ workers: unknown[] }>(status).workers).toHaveLength(1);
    w.child.kill('SIGINT');
    expect(await w.exited).toBe(0);
  });

  it('without --tls, with the wrong CA, without a client certificate, and --tls to a plain port: exit 1 saying what to pass', async () => {
    const plain = await zk('job', 'list');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(
      /it speaks TLS \(a ZooKeeper secureClientPort\) and this client connected without TLS; pass --tls \(with --tls-ca/,
    );
    const wrongCa = await zk(
      '--tls-ca',
      strangers.caFile,
      '--tls-cert',
      server.tls!.client.certFile,
      '--tls-key',
      server.tls!.client.keyFile,
      'job',
      'list',
    );
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toMatch(
      /is not trusted: .*; pass --tls-ca with the CA certificate that signed the servers' certificates/,
    );
    const noCert = await zk('--tls-ca', server.tls!.caFile, 'job', 'list');
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toContain('pass --tls-cert and --tls-key with a certificate the server trusts');
    const toPlain = await run(['--connect', zkConnect, ...tlsArgs(), 'config', 'get', '/']);
    expect(toPlain.code).toBe(1);
    expect(toPlain.stderr).toContain(
      "it is a plain (non-TLS) ZooKeeper port (it answers in plain text); drop --tls, or --connect to the servers' secureClientPort",
    );
    for (const r of [plain, wrongCa, noCert, toPlain]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
