/**
 * Bad input to the `zkjobs` command line: connect strings, credentials, TLS files, options,
 * paths, payloads, handler modules. Each case asserts the exit code, that stderr names what is
 * wrong (one line, no stack trace) and that the tree is unchanged.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestId, ZkClient } from '@zkjobs/core';
import { TestCertificates, type IssuedCertificate } from '@zkjobs/core/testing';
import { Queue, createLogger } from '@zkjobs/worker';
import { describeNeeding, fileNamespace, opensslUnavailableReason, zkConnect } from '../support/zk.js';
import { expectTreeUnchanged } from '../support/tree-dump.js';
import { run } from '../e2e/cli.js';

const base = fileNamespace(import.meta.filename);
const ns = `${base}/cluster`;
const dir = mkdtempSync(join(tmpdir(), 'zkjobs-bad-cli-'));
const file = (name: string, text: string, mode = 0o600): string => {
  const p = join(dir, name);
  writeFileSync(p, text, { mode });
  return p;
};
let root: ZkClient;

beforeAll(async () => {
  root = await ZkClient.connect(zkConnect);
  await root.create(`${base}/cfg/flag`, { data: '1', parents: true });
  const q = new Queue(root, { namespace: ns, logger: createLogger('silent') });
  await q.add('echo', { n: 1 }, { jobId: 'j1' });
});
afterAll(async () => {
  await root.close();
  rmSync(dir, { recursive: true, force: true });
});

/** [name, argv (after --connect), exit code, what stderr says, env] */
type CliCase = [name: string, args: string[], code: number, stderr: RegExp, env?: Record<string, string>];

async function refused([, args, code, message, env]: CliCase): Promise<void> {
  await expectTreeUnchanged(root, base, async () => {
    const r = await run(['--connect', zkConnect, ...args], env ? { env } : {});
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  });
}

describe('connect strings', () => {
  const cases: CliCase[] = [
    ['port 0', ['--connect', '127.0.0.1:0', 'config', 'get', '/x'], 2, /--connect: malformed server "127\.0\.0\.1:0"/],
    [
      'an empty server between commas',
      ['--connect', `${zkConnect},,${zkConnect}`, 'config', 'get', '/x'],
      2,
      /--connect: malformed server ""/,
    ],
    [
      'a malformed chroot',
      ['--connect', `${zkConnect}/a//b`, 'config', 'get', '/x'],
      2,
      /--connect: invalid chroot "\/a\/\/b" in ".*": empty segment/,
    ],
    [
      'a chroot and no servers',
      ['--connect', '/chroot', 'config', 'get', '/x'],
      2,
      /--connect: no servers before the chroot in "\/chroot"/,
    ],
    [
      'a chroot that does not exist',
      ['--connect', `${zkConnect}${base}/missing`, 'config', 'set', '/x', '1'],
      1,
      new RegExp(`the chroot ${base}/missing of the connect string does not exist`),
    ],
    [
      '--connect-timeout 0',
      ['--connect-timeout', '0', 'config', 'get', '/x'],
      2,
      /--connect-timeout.*must be an integer 1–600000 \(ms\), got '0'/,
    ],
    [
      '--connect-timeout 1e3',
      ['--connect-timeout', '1e3', 'config', 'get', '/x'],
      2,
      /must be an integer 1–600000 \(ms\), got '1e3'/,
    ],
  ];
  // (a later --connect overrides the one refused() puts first)
  it.each(cases.map((c) => [c[0], c] as const))('%s', (_n, c) => refused(c));

  it('a chroot that exists is accepted: paths are under it', async () => {
    const r = await run(['--connect', `${zkConnect}${base}/cfg`, 'config', 'get', '/flag']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1\n');
  });
});

describe('credentials', () => {
  const dash = digestId('dashboard', 'pw');
  const cases: () => CliCase[] = () => [
    [
      '--auth without a scheme',
      ['--auth', 'alice:pw', 'config', 'get', '/x'],
      2,
      /--auth: only the digest scheme is supported \(digest:<user>:<password>\), got scheme "alice" \(the form is digest:<user>:<password>; did you leave out "digest:"\?\)/,
    ],
    [
      '--auth without a password',
      ['--auth', 'digest:alice', 'config', 'get', '/x'],
      2,
      /--auth: expected digest:<user>:<password>, got digest:<user> without a password/,
    ],
    [
      '--auth with an empty user',
      ['--auth', 'digest::pw', 'config', 'get', '/x'],
      2,
      /--auth: the user of digest:<user>:<password> is empty/,
    ],
    [
      '--auth with an empty password',
      ['--auth', 'digest:alice:', 'config', 'get', '/x'],
      2,
      /--auth: the password of digest:alice:<password> is empty/,
    ],
    [
      '--auth with another scheme',
      ['--auth', 'sasl:alice:pw', 'config', 'get', '/x'],
      2,
      /--auth: only the digest scheme is supported .* got scheme "sasl"/,
    ],
    [
      '--auth that is one word',
      ['--auth', 'secret', 'config', 'get', '/x'],
      2,
      /--auth: expected digest:<user>:<password>, got a value without ':' \(6 characters\)/,
    ],
    [
      'ZK_AUTH malformed',
      ['config', 'get', '/x'],
      2,
      /--auth: expected digest:<user>:<password>, got digest:<user> without a password/,
      { ZK_AUTH: 'digest:alice' },
    ],
    [
      '--auth-file that does not exist',
      ['--auth-file', join(dir, 'nope'), 'config', 'get', '/x'],
      2,
      /--auth-file: cannot read .*nope: no such file/,
    ],
    [
      '--auth-file that is a directory',
      ['--auth-file', dir, 'config', 'get', '/x'],
      2,
      /--auth-file: .* is a directory, not a file/,
    ],
    [
      '--auth-file that is empty',
      ['--auth-file', file('empty', '\n'), 'config', 'get', '/x'],
      2,
      /--auth-file: .*empty is empty \(expected one line digest:<user>:<password>\)/,
    ],
    [
      '--auth-file of two lines',
      ['--auth-file', file('two', 'digest:a:b\ndigest:c:d\n'), 'config', 'get', '/x'],
      2,
      /--auth-file: .*two has 2 lines \(expected one/,
    ],
    [
      '--auth-file with a bad line',
      ['--auth-file', file('bad', 'alice:pw\n'), 'config', 'get', '/x'],
      2,
      /--auth-file .*bad: only the digest scheme is supported/,
    ],
    [
      '--auth-file and --auth together',
      ['--auth-file', file('ok', 'digest:a:b\n'), '--auth', 'digest:a:b', 'config', 'get', '/x'],
      2,
      /--auth-file cannot be combined with --auth \(or ZK_AUTH\)/,
    ],
    [
      '--read-only-identity with a password',
      ['--auth', 'digest:a:b', '--read-only-identity', 'digest:dashboard:pw', 'config', 'get', '/x'],
      2,
      /--read-only-identity: "digest:dashboard:pw" is not a digest id: expected digest:<user>:<base64 sha1 of user:password>/,
    ],
    [
      '--read-only-identity of an unknown form',
      ['--auth', 'digest:a:b', '--read-only-identity', 'dashboard', 'config', 'get', '/x'],
      2,
      /--read-only-identity: "dashboard" is not an identity; expected digest:<user>:<base64 sha1>/,
    ],
    [
      '--read-only-identity without --auth',
      ['--read-only-identity', `digest:${dash.id}`, 'config', 'get', '/x'],
      2,
      /--read-only-identity needs --auth/,
    ],
    ['acl apply without --auth', ['--namespace', ns, 'acl', 'apply'], 2, /acl apply needs --auth/],
    [
      'acl apply on /',
      ['--auth', 'digest:a:b', 'acl', 'apply', '/'],
      2,
      /path: refusing to change the ACL of \/ \(the root of every tree\)/,
    ],
    [
      'acl apply under /zookeeper',
      ['--auth', 'digest:a:b', 'acl', 'apply', '/zookeeper/quota'],
      2,
      /refusing to change the ACL of \/zookeeper\/quota \(ZooKeeper's reserved tree\)/,
    ],
    ['acl get of a missing node', ['acl', 'get', `${base}/missing`], 1, new RegExp(`no node at ${base}/missing`)],
  ];
  it.each(cases().map((c) => [c[0], c] as const))('%s', (_n, c) => refused(c));

  it('acl digest: a line that is not user:password', async () => {
    const { spawnSync } = await import('node:child_process');
    const { cliPath } = await import('../e2e/cli.js');
    const r = spawnSync(process.execPath, [cliPath, 'acl', 'digest'], {
      input: 'dashboard:pw\nnocolon\n',
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("acl digest: line 2 is not user:password (no ':')");
  });
});

describeNeeding(opensslUnavailableReason, 'TLS files', () => {
  let cert: IssuedCertificate;
  let other: IssuedCertificate;
  let expired: IssuedCertificate;
  let encKey: string;
  beforeAll(async () => {
    const ca = await TestCertificates.create(join(dir, 'ca'));
    cert = await ca.issue('client');
    other = await ca.issue('other');
    expired = await ca.issue('expired', {
      validity: { from: new Date('2020-01-01T00:00:00Z'), to: new Date('2020-01-02T00:00:00Z') },
    });
    encKey = file(
      'enc.key',
      createPrivateKey(cert.key).export({
        format: 'pem',
        type: 'pkcs8',
        cipher: 'aes-256-cbc',
        passphrase: 'pw',
      }) as string,
    );
    mkdirSync(join(dir, 'adir'), { recursive: true });
  });
  type LazyCase = [name: string, args: () => string[], code: number, stderr: RegExp, env?: Record<string, string>];
  const cases: LazyCase[] = [
    [
      '--tls-ca that does not exist',
      () => ['--tls-ca', join(dir, 'nope.pem'), 'config', 'get', '/x'],
      2,
      /--tls-ca: cannot read .*nope\.pem: no such file/,
    ],
    [
      '--tls-ca that is a directory',
      () => ['--tls-ca', join(dir, 'adir'), 'config', 'get', '/x'],
      2,
      /--tls-ca: .*adir is a directory/,
    ],
    [
      '--tls-ca that is not PEM',
      () => ['--tls-ca', file('junk.pem', 'hello'), 'config', 'get', '/x'],
      2,
      /--tls-ca .*junk\.pem: no PEM certificate in it \(expected -----BEGIN CERTIFICATE-----\)/,
    ],
    [
      '--tls-ca that is a private key',
      () => ['--tls-ca', cert.keyFile, 'config', 'get', '/x'],
      2,
      /--tls-ca .*client\.key: no PEM certificate in it \(expected -----BEGIN CERTIFICATE-----; this is a private key\)/,
    ],
    [
      '--tls-cert without --tls-key',
      () => ['--tls-cert', cert.certFile, 'config', 'get', '/x'],
      2,
      /--tls-cert needs --tls-key/,
    ],
    [
      '--tls-key without --tls-cert',
      () => ['--tls-key', cert.keyFile, 'config', 'get', '/x'],
      2,
      /--tls-key needs --tls-cert/,
    ],
    [
      '--tls-key of another certificate',
      () => ['--tls-cert', cert.certFile, '--tls-key', other.keyFile, 'config', 'get', '/x'],
      2,
      /--tls-key .*other\.key is not the key of --tls-cert .*client\.pem \(CN=client\)/,
    ],
    [
      '--tls-cert that is a key',
      () => ['--tls-cert', cert.keyFile, '--tls-key', cert.keyFile, 'config', 'get', '/x'],
      2,
      /--tls-cert .*: no PEM certificate in it .*this is a private key/,
    ],
    [
      'an expired --tls-cert',
      () => ['--tls-cert', expired.certFile, '--tls-key', expired.keyFile, 'config', 'get', '/x'],
      2,
      /--tls-cert .*expired\.pem: the certificate CN=expired expired on Jan {1,2}2 00:00:00 2020 GMT/,
    ],
    [
      'an encrypted --tls-key without its passphrase',
      () => ['--tls-cert', cert.certFile, '--tls-key', encKey, 'config', 'get', '/x'],
      2,
      /--tls-key .*enc\.key is encrypted: give ZK_TLS_KEY_PASSPHRASE/,
    ],
    [
      'an encrypted --tls-key with the wrong passphrase',
      () => ['--tls-cert', cert.certFile, '--tls-key', encKey, 'config', 'get', '/x'],
      2,
      /--tls-key .*enc\.key: cannot decrypt it with ZK_TLS_KEY_PASSPHRASE/,
      { ZK_TLS_KEY_PASSPHRASE: 'wrong' },
    ],
    ['--tls-insecure without --tls', () => ['--tls-insecure', 'config', 'get', '/x'], 2, /--tls-insecure needs --tls/],
    [
      '--tls-no-verify-hostname without --tls',
      () => ['--tls-no-verify-hostname', 'config', 'get', '/x'],
      2,
      /--tls-no-verify-hostname needs --tls/,
    ],
    [
      '--tls-insecure with --tls-ca',
      () => ['--tls-insecure', '--tls-ca', cert.certFile, 'config', 'get', '/x'],
      2,
      /--tls-insecure skips verifying the server, so --tls-ca would not be used/,
    ],
  ];
  it.each(cases.map((c) => [c[0], c] as const))('%s', (_n, [name, args, ...rest]) => refused([name, args(), ...rest]));
});

describe('options, paths and payloads', () => {
  const big = file('big.json', JSON.stringify({ s: 'x'.repeat(1_100_000) }));
  const cases: CliCase[] = [
    [
      '--namespace relative',
      ['--namespace', 'prod', 'job', 'list'],
      2,
      /--namespace: invalid znode path "prod": must start with \//,
    ],
    [
      '--namespace under /zookeeper',
      ['--namespace', '/zookeeper/x', 'job', 'list'],
      2,
      /--namespace: \/zookeeper\/x is under \/zookeeper, ZooKeeper's reserved tree/,
    ],
    [
      '--log-level loud',
      ['--log-level', 'loud', 'job', 'list'],
      2,
      /option '--log-level <level>' argument 'loud' is invalid/,
    ],
    ['an unknown option', ['--namespace', ns, 'job', 'list', '--stat', 'active'], 2, /unknown option '--stat'/],
    [
      'job list --state nope',
      ['--namespace', ns, 'job', 'list', '--state', 'nope'],
      2,
      /argument 'nope' is invalid\. Allowed choices are/,
    ],
    [
      'job submit --priority -1',
      ['--namespace', ns, 'job', 'submit', 'echo', '--priority', '-1'],
      2,
      /--priority.*must be an integer 0–1000000, got '-1'/,
    ],
    [
      'job submit --backoff linear:5',
      ['--namespace', ns, 'job', 'submit', 'echo', '--backoff', 'linear:5'],
      2,
      /--backoff.*must be fixed:<ms> or exponential:<ms> with ms 0–86400000, got 'linear:5'/,
    ],
    [
      'job submit malformed --data',
      ['--namespace', ns, 'job', 'submit', 'echo', '--any-type', '--data', '{"a": 1,}'],
      2,
      /malformed JSON in --data at line 1, column 9: expected a double-quoted property name but found '\}'/,
    ],
    [
      'job submit --data @missing',
      ['--namespace', ns, 'job', 'submit', 'echo', '--any-type', '--data', `@${join(dir, 'missing.json')}`],
      2,
      /cannot read --data file .*missing\.json: ENOENT: no such file or directory/,
    ],
    [
      'job submit --data over the cap (1.1 MB, near jute.maxbuffer)',
      ['--namespace', ns, 'job', 'submit', 'echo', '--any-type', '--data', `@${big}`],
      2,
      /--data: payload is 1100008 bytes, over the cap of 262144 bytes/,
    ],
    [
      'job submit --id with a slash',
      ['--namespace', ns, 'job', 'submit', 'echo', '--any-type', '--id', 'a/b'],
      2,
      /--id: invalid job id "a\/b": must be 1-128 characters of \[A-Za-z0-9\._:@-\]/,
    ],
    [
      'job submit of an unknown type',
      ['--namespace', ns, 'job', 'submit', 'nosuchtype'],
      2,
      /unknown job type "nosuchtype": no live worker/,
    ],
    [
      'job status of an invalid id',
      ['--namespace', ns, 'job', 'status', '..'],
      2,
      /invalid job id "\.\.": '\.' and '\.\.' are not allowed/,
    ],
    ['job wait without ids', ['--namespace', ns, 'job', 'wait'], 2, /missing required argument 'id'/],
    [
      'config set under /zookeeper',
      ['config', 'set', '/zookeeper/quota', 'x'],
      2,
      /path: refusing to write \/zookeeper\/quota: \/zookeeper is ZooKeeper's reserved tree/,
    ],
    [
      'config set with a trailing slash',
      ['config', 'set', `${base}/cfg/`, 'x'],
      2,
      /path: invalid znode path ".*\/cfg\/": must not end with \//,
    ],
    ['config rm /', ['config', 'rm', '/'], 2, /path: refusing to delete \/ \(the root of every application's tree\)/],
    [
      'config rm -r --version',
      ['config', 'rm', '-r', '--version', '1', `${base}/cfg`],
      2,
      /--version cannot be combined with -r/,
    ],
    [
      'config set --version that does not match',
      ['config', 'set', `${base}/cfg/flag`, '2', '--version', '5'],
      1,
      /version mismatch at .*\/cfg\/flag: expected version 5, node is at version 0; value unchanged/,
    ],
    [
      'services register --port 0',
      ['services', 'register', 'cache', '--host', 'h', '--port', '0'],
      2,
      /--port.*must be an integer 1–65535, got '0'/,
    ],
    [
      'services register with a host with a space',
      ['services', 'register', 'cache', '--host', 'a b', '--port', '1'],
      2,
      /--host: invalid host "a b"/,
    ],
    [
      'services register with a bad service name',
      ['services', 'register', 'a/b', '--host', 'h', '--port', '1'],
      2,
      /service: "a\/b" must be one path segment/,
    ],
    [
      'verify --skew -1',
      ['--namespace', ns, 'verify', '--skew', '-1'],
      2,
      /--skew.*must be an integer 0–600000 \(ms\), got '-1'/,
    ],
    [
      'server start --base-port 70000',
      ['server', 'start', '--base-port', '70000'],
      2,
      /--base-port.*must be a port number 1-65535, got '70000'/,
    ],
    ['an unknown command', ['jobs', 'list'], 2, /unknown command 'jobs'/],
  ];
  it.each(cases.map((c) => [c[0], c] as const))('%s', (_n, c) => refused(c));
});

describe('handler modules', () => {
  const start = (handlers: string): string[] => ['--namespace', ns, 'worker', 'start', '--handlers', handlers];
  const cases = (): CliCase[] => [
    [
      'a module that does not exist',
      start(join(dir, 'nope.mjs')),
      2,
      /--handlers: cannot find module ".*nope\.mjs" \(no such file, and not a package resolvable from/,
    ],
    [
      'a module that throws when loaded',
      start(file('throws.mjs', "throw new Error('no database configured');\n")),
      2,
      /--handlers: cannot load .*throws\.mjs \(.*throws\.mjs:1\): no database configured/,
    ],
    [
      'a module with a syntax error',
      start(file('syntax.mjs', 'export default {\n  a: async () => 1\n  b: 2,\n};\n')),
      2,
      /--handlers: cannot load .*syntax\.mjs \(.*syntax\.mjs:3\): SyntaxError/,
    ],
    [
      'a module that exports nothing',
      start(file('empty.mjs', 'export {};\n')),
      2,
      /--handlers: .*empty\.mjs exports no handlers/,
    ],
    [
      'a handler that is not a function',
      start(file('notfn.mjs', 'export default { echo: "echo" };\n')),
      2,
      /export default \{ echo \} is not a function \(got string\)/,
    ],
    [
      'a job type with a space',
      start(file('badtype.mjs', "export default { 'send mail': async () => 1 };\n")),
      2,
      /--handlers: .*badtype\.mjs: invalid job type "send mail"/,
    ],
    [
      'worker start --concurrency 0',
      [...start(file('ok.mjs', 'export default { echo: async () => 1 };\n')), '--concurrency', '0'],
      2,
      /--concurrency.*must be an integer 1–10000, got '0'/,
    ],
    [
      'worker start --session-timeout 500',
      [...start(file('ok2.mjs', 'export default { echo: async () => 1 };\n')), '--session-timeout', '500'],
      2,
      /--session-timeout.*must be an integer 1000–600000 \(ms\), got '500'/,
    ],
  ];
  it.each(cases().map((c) => [c[0], c] as const))('%s', (_n, c) => refused(c));
});
