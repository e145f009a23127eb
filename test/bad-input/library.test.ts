/**
 * Bad input to the library (ZkClient, Transaction, the connect options, the engine's job
 * options): each case asserts that the error names what is wrong and that the tree is
 * unchanged (every znode's path, versions, mzxid and pzxid before and after).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthFailedError,
  BadArgumentsError,
  CreateMode,
  digestAuth,
  InvalidPathError,
  MAX_DATA_BYTES,
  NoNodeError,
  Perms,
  ZkClient,
  type Acl,
  type ZkClientOptions,
} from '@zkjobs/core';
import { TestCertificates, type IssuedCertificate } from '@zkjobs/core/testing';
import { JobValidationError, Queue } from '@zkjobs/worker';
import { describeNeeding, fileNamespace, opensslUnavailableReason, zkConnect } from '../support/zk.js';
import { expectTreeUnchanged } from '../support/tree-dump.js';

const ns = fileNamespace(import.meta.filename);
let root: ZkClient;
let c: ZkClient;

beforeAll(async () => {
  root = await ZkClient.connect(zkConnect);
  c = root.usingNamespace(ns);
  await c.create('/node', { data: 'x' });
  await c.create('/parent/child', { data: 'y', parents: true });
  await c.create('/jobs-ns/placeholder', { parents: true });
});
afterAll(async () => {
  await root.close();
});

/** Any value, typed as whatever the call wants (JavaScript callers pass what they like). */
const any = <T = never>(v: unknown): T => v as T;

type Case = [name: string, run: () => Promise<unknown> | unknown, message: RegExp, kind?: new (...a: never[]) => Error];

/** Runs a bad call and checks its error and that nothing under the namespace changed. */
async function refused(run: () => Promise<unknown> | unknown, message: RegExp, kind: new (...a: never[]) => Error) {
  const err = await expectTreeUnchanged(root, ns, async () => {
    try {
      await run();
    } catch (e) {
      return e;
    }
    return null;
  });
  expect(err, 'the call should have failed').toBeInstanceOf(kind);
  expect((err as Error).message).toMatch(message);
}

const BIG = Buffer.alloc(MAX_DATA_BYTES + 1);

describe('positional versions and other clients’ signatures', () => {
  const cases: Case[] = [
    [
      'setData(path, data, 0): a bare version',
      () => c.setData('/node', 'z', any(0)),
      /^setData: the third argument is an options object \(\{ version \}\), got the number 0 \(\/node\)$/,
    ],
    [
      'setData(path, data, 5): a bare version',
      () => c.setData('/node', 'z', any(5)),
      /setData: the third argument is an options object \(\{ version \}\), got the number 5/,
    ],
    [
      'delete(path, 0): a bare version',
      () => c.delete('/node', any(0)),
      /^delete: the second argument is an options object \(\{ version \}\), got the number 0 \(\/node\)$/,
    ],
    [
      'transaction setData(path, data, 0)',
      () => c.transaction().setData('/node', 'z', any(0)).commit(),
      /transaction setData: the third argument is an options object \(\{ version \}\), got the number 0/,
    ],
    [
      'transaction delete(path, 0)',
      () => c.transaction().delete('/node', any(0)).commit(),
      /transaction delete: the second argument is an options object \(\{ version \}\), got the number 0/,
    ],
    [
      'transaction: a bad op after good ones commits none',
      () => c.transaction().setData('/node', 'z').create('/new').delete('/parent/child', any(0)).commit(),
      /transaction delete: the second argument is an options object/,
    ],
    [
      'create(path, "data"): data in place of the options',
      () => c.create('/new', any('data')),
      /create: the second argument is an options object \(\{ data, mode, acl, parents, protection \}\), got the string "data"/,
    ],
    [
      'create(path, buffer)',
      () => c.create('/new', any(Buffer.from('x'))),
      /create: the second argument is an options object .*got a Buffer of 1 bytes/,
    ],
    [
      'exists(path, watcher): a watcher function in place of the options',
      () =>
        c.exists(
          '/node',
          any(() => undefined),
        ),
      /exists: the second argument is an options object \(\{ watch \}\), got a function/,
    ],
    [
      'getData(path, watcher)',
      () =>
        c.getData(
          '/node',
          any(() => undefined),
        ),
      /getData: the second argument is an options object \(\{ watch \}\), got a function/,
    ],
    [
      'getChildren(path, watcher)',
      () =>
        c.getChildren(
          '/parent',
          any(() => undefined),
        ),
      /getChildren: the second argument is an options object \(\{ watch \}\), got a function/,
    ],
    [
      'watch that is not a function',
      () => c.getData('/node', { watch: any('yes') }),
      /getData: watch must be a function, got the string "yes"/,
    ],
    [
      'setACL(path, acl, 0): a bare version',
      () => c.setACL('/node', [], any(0)),
      /setACL: the third argument is an options object \(\{ version \}\)/,
    ],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));
});

describe('versions, option names and modes', () => {
  const cases: Case[] = [
    [
      'version as a string',
      () => c.setData('/node', 'z', { version: any('0') }),
      /setData: version must be an integer from -1 \(any version\) to 2147483647, got the string "0"/,
    ],
    [
      'version 1.5',
      () => c.setData('/node', 'z', { version: 1.5 }),
      /version must be an integer .* got the number 1\.5/,
    ],
    ['version -2', () => c.delete('/node', { version: -2 }), /delete: version must be an integer from -1/],
    ['version NaN', () => c.delete('/node', { version: NaN }), /got the number NaN/],
    ['version 2^31', () => c.setData('/node', 'z', { version: 2 ** 31 }), /got the number 2147483648/],
    [
      'a misspelt option: versoin',
      () => c.setData('/node', 'z', any({ versoin: 0 })),
      /setData: unknown option "versoin" \(the options are \{ version \}\)/,
    ],
    [
      'an unknown create option: ephemeral',
      () => c.create('/new', any({ ephemeral: true })),
      /create: unknown option "ephemeral"/,
    ],
    [
      'create mode 7',
      () => c.create('/new', { mode: any(7) }),
      /create: mode must be a CreateMode \(0 PERSISTENT, 1 EPHEMERAL, 2 PERSISTENT_SEQUENTIAL, 3 EPHEMERAL_SEQUENTIAL\), got the number 7/,
    ],
    [
      'create mode as a name',
      () => c.create('/new', { mode: any('EPHEMERAL') }),
      /mode must be a CreateMode .* got the string "EPHEMERAL"/,
    ],
    [
      'create parents: "yes"',
      () => c.create('/a/b', { parents: any('yes') }),
      /create: parents must be true or false, got the string "yes"/,
    ],
    [
      'transaction check with a string version',
      () => c.transaction().check('/node', any('0')).commit(),
      /transaction check: version must be an integer/,
    ],
    [
      'transaction create mode 9',
      () =>
        c
          .transaction()
          .create('/new', { mode: any(9) })
          .commit(),
      /transaction create: mode must be a CreateMode/,
    ],
    [
      'mkdirp with data as the second argument',
      () => c.mkdirp('/a/b', any('data')),
      /mkdirp: the second argument is an options object \(\{ data \}\)/,
    ],
    [
      'watchData with no listener',
      () => c.watchData('/node', any(undefined)),
      /watchData: the second argument is the listener function, got undefined/,
    ],
    [
      'watchChildren onError that is not a function',
      () => c.watchChildren('/parent', () => undefined, { onError: any(1) }),
      /watchChildren: onError must be a function, got the number 1/,
    ],
    ['delete the root', () => root.usingNamespace('/').delete('/'), /cannot delete the root/],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));
});

describe('paths', () => {
  const cases: Case[] = [
    ['relative', () => c.getData('a/b'), /invalid path "a\/b": must start with \//, InvalidPathError],
    ['trailing slash', () => c.create('/new/'), /invalid path "\/new\/": must not end with \//, InvalidPathError],
    ['empty segment', () => c.setData('/a//b', 'x'), /invalid path "\/a\/\/b": empty segment/, InvalidPathError],
    [
      'a .. segment',
      () => c.delete('/parent/../node'),
      /invalid path "\/parent\/\.\.\/node": relative segment \.\./,
      InvalidPathError,
    ],
    ['NUL', () => c.create('/a\u0000b'), /contains NUL/, InvalidPathError],
    [
      'not a string',
      () => c.getData(any(42)),
      /invalid path "42": must be a string, got the number 42/,
      InvalidPathError,
    ],
    ['empty', () => c.exists(''), /invalid path "": empty/, InvalidPathError],
    [
      'a bad path inside a transaction',
      () => c.transaction().create('/ok').create('nope').commit(),
      /invalid path "nope"/,
      InvalidPathError,
    ],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));
});

describe("sizes near ZooKeeper's jute.maxbuffer", () => {
  const cases: Case[] = [
    [
      'setData one byte over the limit',
      () => c.setData('/node', BIG),
      new RegExp(`data of ${MAX_DATA_BYTES + 1} bytes exceeds the limit of ${MAX_DATA_BYTES} bytes`),
    ],
    ['create one byte over the limit', () => c.create('/big', { data: BIG }), /exceeds the limit of/],
    [
      'a transaction create over the limit',
      () => c.transaction().create('/big', { data: BIG }).commit(),
      /data of \d+ bytes exceeds the limit/,
    ],
    [
      'a transaction whose operations together exceed one request',
      () => {
        const part = Buffer.alloc(Math.floor(MAX_DATA_BYTES / 2));
        return c
          .transaction()
          .create('/t1', { data: part })
          .create('/t2', { data: part })
          .create('/t3', { data: part })
          .commit();
      },
      /transaction of 3 operations is \d+ bytes, over the limit of \d+ bytes of one request \(ZooKeeper's jute\.maxbuffer/,
    ],
    ['data that is a number', () => c.setData('/node', any(5)), /data must be a Buffer or a string/],
    [
      'a job payload over the Queue cap',
      () => new Queue(root, { namespace: `${ns}/jobs-ns` }).add('t', 'x'.repeat(300_000)),
      /^data: payload is 300002 bytes, over the cap of 262144 bytes$/,
      JobValidationError,
    ],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));

  it('data of exactly the limit is stored', async () => {
    await c.create('/exactly', { data: Buffer.alloc(MAX_DATA_BYTES, 7) });
    expect((await c.exists('/exactly'))?.dataLength).toBe(MAX_DATA_BYTES);
    await c.delete('/exactly');
  });
});

describe('ACLs', () => {
  const acl = (a: unknown): Acl[] => a as Acl[];
  const cases: Case[] = [
    ['an empty ACL list', () => c.create('/new', { acl: [] }), /acl: an ACL list must not be empty/],
    [
      'an ACL that is not a list',
      () => c.create('/new', { acl: acl({ perms: 31 }) }),
      /acl must be an array of \{ perms, scheme, id \}, got the object/,
    ],
    [
      'perms 32',
      () => c.create('/new', { acl: acl([{ perms: 32, scheme: 'world', id: 'anyone' }]) }),
      /acl\[0\]\.perms must be an integer bitmask 0–31 .* got the number 32/,
    ],
    [
      'perms as a word',
      () => c.setACL('/node', acl([{ perms: 'all', scheme: 'world', id: 'anyone' }])),
      /setACL: acl\[0\]\.perms must be an integer bitmask/,
    ],
    [
      'an empty scheme',
      () => c.create('/new', { acl: acl([{ perms: 1, scheme: '', id: 'x' }]) }),
      /acl\[0\]\.scheme must be a non-empty string/,
    ],
    [
      'a world id other than anyone',
      () => c.create('/new', { acl: [{ perms: 1, scheme: 'world', id: 'everyone' }] }),
      /acl\[0\]: the world scheme has the one id 'anyone', got "everyone"/,
    ],
    [
      'a digest id with a password in it',
      () => c.create('/new', { acl: [{ perms: 31, scheme: 'digest', id: 'alice:secret' }] }),
      /acl\[0\]: a digest id is user:base64\(sha1\(user:password\)\)/,
    ],
    [
      'the auth scheme without credentials',
      () => c.create('/new', { acl: [{ perms: 31, scheme: 'auth', id: '' }] }),
      /acl: the auth scheme means "the identities this session authenticated as", and this client has no credentials/,
    ],
    [
      'setACL with a bad version',
      () => c.setACL('/node', [{ perms: Perms.ALL, scheme: 'world', id: 'anyone' }], { version: -5 }),
      /setACL: version \(the ACL version, aversion\) must be an integer/,
    ],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));

  it('a default ACL provider that returns an empty list fails the create that asked it', async () => {
    const p = await ZkClient.connect(zkConnect, { defaultAcl: () => [] });
    try {
      await refused(
        () => p.create(`${ns}/new`),
        new RegExp(`defaultAcl\\("${ns}/new"\\): an ACL list must not be empty`),
        BadArgumentsError,
      );
    } finally {
      await p.close();
    }
  });

  it('a default ACL provider that throws is named', async () => {
    const p = await ZkClient.connect(zkConnect, {
      defaultAcl: () => {
        throw new Error('no rule for this path');
      },
    });
    try {
      await refused(
        () => p.mkdirp(`${ns}/a/b`),
        /defaultAcl: the ACL provider threw for .*: no rule for this path/,
        BadArgumentsError,
      );
    } finally {
      await p.close();
    }
  });

  it('an unknown ACL scheme is refused by the server (InvalidACL), nothing created', async () => {
    await refused(
      () => c.create('/new', { acl: [{ perms: 31, scheme: 'nosuch', id: 'x' }] }),
      /invalid ACL \(create \/new\)/,
      Error,
    );
  });
});

describe('connect strings, options and credentials', () => {
  const connect = (cs: string, o: ZkClientOptions = {}) => ZkClient.connect(cs, { connectTimeoutMs: 3000, ...o });
  const cases: Case[] = [
    ['an empty connect string', () => connect(''), /no servers in connect string ""/],
    [
      'a port out of range',
      () => connect('127.0.0.1:99999'),
      /malformed server "127\.0\.0\.1:99999" \(expected host:port, port 1-65535\)/,
    ],
    ['an empty server between commas', () => connect(`${zkConnect},,${zkConnect}`), /malformed server ""/],
    ['a malformed chroot', () => connect(`${zkConnect}/a//b`), /bad chroot: invalid path "\/a\/\/b": empty segment/],
    [
      'a connect string that is not a string',
      () => ZkClient.connect(any(2181)),
      /connect string must be a string .* got the number 2181/,
    ],
    [
      'sessionTimeoutMs -5',
      () => connect(zkConnect, { sessionTimeoutMs: -5 }),
      /connect: sessionTimeoutMs must be a positive integer \(ms\), got the number -5/,
    ],
    [
      'connectTimeoutMs as text',
      () => ZkClient.connect(zkConnect, { connectTimeoutMs: any('10s') }),
      /connect: connectTimeoutMs must be a positive integer \(ms\), got the string "10s"/,
    ],
    [
      'a misspelt connect option',
      () => connect(zkConnect, any({ sessiontimeout: 5000 })),
      /connect: unknown option "sessiontimeout"/,
    ],
    [
      'auth that is not a list',
      () => connect(zkConnect, { auth: any({ scheme: 'digest', auth: 'a:b' }) }),
      /connect: auth must be an array of \{ scheme, auth \}/,
    ],
    [
      'digest credentials without a colon',
      () => connect(zkConnect, { auth: [{ scheme: 'digest', auth: 'alice' }] }),
      /connect: auth\[0\]: digest credentials are user:password \(a non-empty user, then ':'\), got no ':'/,
    ],
    [
      'digest credentials with an empty user',
      () => connect(zkConnect, { auth: [{ scheme: 'digest', auth: ':pw' }] }),
      /got an empty user/,
    ],
    [
      'a namespace that is not a string',
      () => connect(zkConnect, { namespace: any(5) }),
      /connect: namespace must be a path string/,
    ],
    [
      'a relative namespace',
      () => connect(zkConnect, { namespace: '/a/' }),
      /invalid path "\/a\/": must not end with \//,
      InvalidPathError,
    ],
    [
      'a logger that is not one',
      () => connect(zkConnect, { logger: any('console') }),
      /connect: logger must be pino-compatible/,
    ],
    [
      'a retry policy that is not one',
      () => connect(zkConnect, { retry: any(3) }),
      /connect: retry must be a RetryPolicy/,
    ],
    [
      'a default ACL that is invalid',
      () => connect(zkConnect, { defaultAcl: [] }),
      /defaultAcl: an ACL list must not be empty/,
    ],
    [
      'digestAuth with a colon in the user',
      () => digestAuth('a:b', 'pw'),
      /digestAuth: a digest user name must be a non-empty string without ':'/,
    ],
    [
      'addAuth digest without a colon',
      async () => root.addAuth('digest', 'nocolon'),
      /addAuth: digest credentials are user:password/,
    ],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));

  it('an unknown auth scheme is rejected by the server and named', async () => {
    await refused(
      () => connect(zkConnect, { auth: [{ scheme: 'nosuch', auth: 'x' }] }),
      /the server rejected the credentials \(scheme nosuch\)/,
      AuthFailedError,
    );
  });

  it('a chroot that does not exist is named, and nothing is created', async () => {
    await refused(
      () => connect(`${zkConnect}${ns}/nope`),
      new RegExp(`the chroot ${ns}/nope of the connect string does not exist`),
      NoNodeError,
    );
  });

  it('a chroot that exists is accepted: paths are under it', async () => {
    const chrooted = await connect(`${zkConnect}${ns}/parent`);
    try {
      expect((await chrooted.getData('/child')).data.toString()).toBe('y');
    } finally {
      await chrooted.close();
    }
  });
});

describe('job options of the engine', () => {
  let queue: Queue;
  beforeAll(() => {
    queue = new Queue(root, { namespace: `${ns}/jobs-ns` });
  });
  const forms =
    /must be a delay in ms \(an integer 0–86400000\), \{ type: 'fixed' \| 'exponential', delay: <ms> \}, or \{ type: 'custom', delays: \[<ms>, …\] \}/;
  const cases: Case[] = [
    [
      'backoff: a function',
      () => queue.add('t', 1, { backoff: any(() => 100) }),
      new RegExp(`^opts\\.backoff: ${forms.source}.*; got a function$`),
      JobValidationError,
    ],
    [
      'backoff: an unknown type',
      () => queue.add('t', 1, { backoff: any({ type: 'linear', delay: 5 }) }),
      /opts\.backoff: must be a delay in ms .*; got the object \{"type":"linear","delay":5\}/,
      JobValidationError,
    ],
    [
      'backoff: a negative delay',
      () => queue.add('t', 1, { backoff: { type: 'fixed', delay: -5 } }),
      /opts\.backoff\.delay: .*>=0/,
      JobValidationError,
    ],
    [
      'backoff: as text',
      () => queue.add('t', 1, { backoff: any('exponential:100') }),
      /opts\.backoff: must be a delay in ms .* got the string "exponential:100"/,
      JobValidationError,
    ],
    [
      'removeOnComplete: "yes"',
      () => queue.add('t', 1, { removeOnComplete: any('yes') }),
      /^opts\.removeOnComplete: must be true, false, or \{ age\?: <ms>, count\?: <n> \} with at least one \(age an integer 0–31536000000 ms, count an integer 1–100000\); got the string "yes"$/,
      JobValidationError,
    ],
    [
      'removeOnComplete: { count: 0 } (retention by count keeps at least one)',
      () => queue.add('t', 1, { removeOnComplete: { count: 0 } }),
      /opts\.removeOnComplete\.count: .*>=1/,
      JobValidationError,
    ],
    [
      'removeOnFail: a negative age',
      () => queue.add('t', 1, { removeOnFail: { age: -1 } }),
      /opts\.removeOnFail\.age: .*>=0/,
      JobValidationError,
    ],
    [
      'removeOnFail: a number',
      () => queue.add('t', 1, { removeOnFail: any(3) }),
      /opts\.removeOnFail: must be true, false, or \{ age\?: <ms>, count\?: <n> \}.*got the number 3/,
      JobValidationError,
    ],
  ];
  for (const [name, run, message, kind] of cases) it(name, () => refused(run, message, kind ?? BadArgumentsError));
});

describeNeeding(opensslUnavailableReason, 'TLS options (checked before anything connects)', () => {
  let dir: string;
  let ca: TestCertificates;
  let other: TestCertificates;
  let cert: IssuedCertificate;
  let stranger: IssuedCertificate;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zkjobs-tls-bad-'));
    ca = await TestCertificates.create(join(dir, 'a'));
    other = await TestCertificates.create(join(dir, 'b'));
    cert = await ca.issue('client');
    stranger = await other.issue('stranger');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const connect = (tls: unknown) => ZkClient.connect(zkConnect, { connectTimeoutMs: 3000, tls: any(tls) });
  const cases: [string, () => unknown, RegExp][] = [
    [
      'tls that is not an object',
      () => connect('yes'),
      /tls must be true or an options object .* got the string "yes"/,
    ],
    ['an unknown tls option', () => connect({ rejectUnauthorized: false }), /tls: unknown option "rejectUnauthorized"/],
    [
      'a CA that is not PEM',
      () => connect({ ca: 'not a certificate' }),
      /tls\.ca: no PEM certificate in it \(expected -----BEGIN CERTIFICATE-----\)/,
    ],
    [
      'a private key given as the CA',
      () => connect({ ca: cert.key }),
      /tls\.ca: no PEM certificate in it .*this is a private key/,
    ],
    [
      'a CA certificate that does not parse',
      () => connect({ ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }),
      /tls\.ca: certificate 1 of 1 is not a valid X\.509 certificate/,
    ],
    [
      'a certificate without its key',
      () => connect({ ca: ca.ca, cert: cert.cert }),
      /tls\.cert is given without tls\.key/,
    ],
    [
      'a key without its certificate',
      () => connect({ ca: ca.ca, key: cert.key }),
      /tls\.key is given without tls\.cert/,
    ],
    [
      'a certificate given as the key',
      () => connect({ cert: cert.cert, key: cert.cert }),
      /tls\.key: no PEM private key in it .*this is a certificate/,
    ],
    [
      'a key that is not the certificate’s',
      () => connect({ cert: cert.cert, key: stranger.key }),
      /tls\.key is not the key of tls\.cert \(CN=client\)/,
    ],
    [
      'a verifyHostname that is not a boolean',
      () => connect({ verifyHostname: 'no' }),
      /tls\.verifyHostname must be true or false, got the string "no"/,
    ],
  ];
  for (const [name, run, message] of cases) it(name, () => refused(run, message, BadArgumentsError));

  it('an expired client certificate', async () => {
    const old = await ca.issue('expired', {
      validity: { from: new Date('2020-01-01T00:00:00Z'), to: new Date('2020-01-02T00:00:00Z') },
    });
    await refused(
      () => connect({ ca: ca.ca, cert: old.cert, key: old.key }),
      /tls\.cert: the certificate CN=expired expired on Jan {1,2}2 00:00:00 2020 GMT/,
      BadArgumentsError,
    );
  });

  it('an encrypted key without its passphrase', async () => {
    const { createPrivateKey } = await import('node:crypto');
    const encrypted = createPrivateKey(cert.key).export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    }) as string;
    await refused(
      () => connect({ cert: cert.cert, key: encrypted }),
      /tls\.key is encrypted: give tls\.passphrase/,
      BadArgumentsError,
    );
    await refused(
      () => connect({ cert: cert.cert, key: encrypted, passphrase: 'wrong' }),
      /tls\.key: cannot decrypt it with tls\.passphrase/,
      BadArgumentsError,
    );
  });

  it('the checks accept good material (the plain server then says it is not TLS)', async () => {
    await expect(connect({ ca: ca.ca, cert: cert.cert, key: cert.key })).rejects.toMatchObject({
      name: 'TlsError',
      kind: 'plain-port',
    });
  });
});

describe('CreateMode values are what ZooKeeper expects', () => {
  it('all four modes are accepted', async () => {
    for (const mode of Object.values(CreateMode)) {
      const p = await c.create(`/mode-${mode}-`, { mode });
      await c.delete(p);
    }
  });
});
