/**
 * Authentication, default ACL and TLS of every command's connection, from the global options
 * `--auth` / `ZK_AUTH` / `--auth-file`, `--read-only-identity`, `--tls`, `--tls-ca`,
 * `--tls-cert`, `--tls-key` (`ZK_TLS_KEY_PASSPHRASE`), `--tls-insecure` and
 * `--tls-no-verify-hostname`. Every file and value is checked before anything connects; a
 * problem is a {@link UsageError} naming the option.
 */
import { readFile, stat } from 'node:fs/promises';
import {
  BadArgumentsError,
  DIGEST_ID,
  digestId,
  ownerAcl,
  prepareTls,
  type Acl,
  type AclIdentity,
  type ZkClientOptions,
  type ZkTlsOptions,
} from '@zkjobs/core';
import { UsageError } from './errors.js';

/** The security options of {@link GlobalOptions}. */
export interface SecurityOptions {
  /** `digest:<user>:<password>` (from `--auth` or `ZK_AUTH`). */
  auth?: string;
  /** A file holding the `--auth` value. */
  authFile?: string;
  /** Identities that may read what this command creates: `digest:<user>:<base64 sha1>`, `x509:<DN>`, `ip:<addr>`, `sasl:<name>`. */
  readOnlyIdentity?: string[];
  /** Connect with TLS. */
  tls?: boolean;
  /** CA certificate file (PEM). */
  tlsCa?: string;
  /** Client certificate file (PEM). */
  tlsCert?: string;
  /** Client key file (PEM). */
  tlsKey?: string;
  /** Do not verify the server's certificate. */
  tlsInsecure?: boolean;
  /** Do not check that the server's certificate names the host. */
  tlsNoVerifyHostname?: boolean;
}

/** What a command connects with: the ZkClient options, and who it is for messages. */
export interface ClientSecurity {
  /** `auth`, `defaultAcl` and `tls` of ZkClientOptions (those that apply). */
  options: Pick<ZkClientOptions, 'auth' | 'defaultAcl' | 'tls'>;
  /** `digest:alice`, when authenticated. */
  identity: string | null;
  /** The owner identity (for `acl apply`), when authenticated. */
  owner: AclIdentity | null;
  /** The default ACL of the nodes this command creates (OPEN without `--auth`). */
  acl: Acl[] | null;
}

/**
 * Parses `digest:<user>:<password>` (the password may contain `:`).
 * @param what - the option's name for messages
 * @throws UsageError naming the option and the expected form (never echoing the password)
 */
export function parseAuth(value: string, what: string): { user: string; password: string } {
  const v = value.replace(/\r?\n$/, '');
  const scheme = v.slice(0, v.indexOf(':') < 0 ? v.length : v.indexOf(':'));
  if (v.indexOf(':') < 0)
    throw new UsageError(
      `${what}: expected digest:<user>:<password>, got a value without ':' (${v.length} characters)`,
    );
  if (scheme !== 'digest') {
    throw new UsageError(
      `${what}: only the digest scheme is supported (digest:<user>:<password>), got scheme ${JSON.stringify(scheme)}` +
        (/^[A-Za-z0-9_.-]+$/.test(scheme) && v.split(':').length === 2
          ? ' (the form is digest:<user>:<password>; did you leave out "digest:"?)'
          : ''),
    );
  }
  const rest = v.slice('digest:'.length);
  const colon = rest.indexOf(':');
  if (colon < 0)
    throw new UsageError(`${what}: expected digest:<user>:<password>, got digest:<user> without a password`);
  const user = rest.slice(0, colon);
  const password = rest.slice(colon + 1);
  if (user === '') throw new UsageError(`${what}: the user of digest:<user>:<password> is empty`);
  if (password === '') throw new UsageError(`${what}: the password of digest:${user}:<password> is empty`);
  if (/\s/.test(user)) throw new UsageError(`${what}: the user ${JSON.stringify(user)} contains white space`);
  return { user, password };
}

/**
 * Parses a `--read-only-identity`: `digest:<user>:<base64 sha1>` (as `zkjobs acl digest`
 * prints it; never a password), `x509:<subject DN>`, `ip:<address[/bits]>` or `sasl:<name>`.
 * @throws UsageError naming the value and the accepted forms
 */
export function parseIdentity(value: string): AclIdentity {
  const i = value.indexOf(':');
  const scheme = i < 0 ? '' : value.slice(0, i);
  const id = i < 0 ? '' : value.slice(i + 1);
  const forms =
    'digest:<user>:<base64 sha1> (print it with `zkjobs acl digest`), x509:<subject DN>, ip:<address>[/bits] or sasl:<name>';
  if (scheme === 'digest') {
    if (!DIGEST_ID.test(id)) {
      throw new UsageError(
        `--read-only-identity: ${JSON.stringify(value)} is not a digest id: expected digest:<user>:<base64 sha1 of user:password> ` +
          '(28 characters ending in =; `echo user:password | zkjobs acl digest` prints it — never pass the password here)',
      );
    }
    return { scheme, id };
  }
  if (['x509', 'ip', 'sasl'].includes(scheme) && id !== '') return { scheme, id };
  throw new UsageError(`--read-only-identity: ${JSON.stringify(value)} is not an identity; expected ${forms}`);
}

async function readOptionFile(path: string, what: string): Promise<string> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new UsageError(`${what}: ${path} is a directory, not a file`);
    return await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new UsageError(`${what}: cannot read ${path}: ${why}`, { cause: err });
  }
}

/** The `--auth` value from the options: `--auth`/`ZK_AUTH`, or the first line of `--auth-file`. */
async function authValue(o: SecurityOptions): Promise<{ value: string; from: string } | null> {
  if (o.authFile !== undefined) {
    if (o.auth !== undefined)
      throw new UsageError('--auth-file cannot be combined with --auth (or ZK_AUTH): give the credentials once');
    const text = await readOptionFile(o.authFile, '--auth-file');
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    if (lines.length === 0)
      throw new UsageError(`--auth-file: ${o.authFile} is empty (expected one line digest:<user>:<password>)`);
    if (lines.length > 1)
      throw new UsageError(
        `--auth-file: ${o.authFile} has ${lines.length} lines (expected one: digest:<user>:<password>)`,
      );
    const mode = (await stat(o.authFile)).mode & 0o777;
    if ((mode & 0o077) !== 0)
      process.stderr.write(
        `zkjobs: warning: --auth-file ${o.authFile} can be read by other users (mode ${mode.toString(8).padStart(3, '0')}); chmod 600 it\n`,
      );
    return { value: lines[0]!, from: `--auth-file ${o.authFile}` };
  }
  if (o.auth !== undefined) return { value: o.auth, from: '--auth' };
  return null;
}

/**
 * The connection's security from the global options: the digest credentials and, with them, the
 * default ACL of created nodes (that identity all permissions, each `--read-only-identity`
 * read); the TLS options with the certificate files read and checked.
 * @throws UsageError naming the option whose value or file is wrong
 */
export async function clientSecurity(o: SecurityOptions): Promise<ClientSecurity> {
  const out: ClientSecurity = { options: {}, identity: null, owner: null, acl: null };
  const auth = await authValue(o);
  const readers = (o.readOnlyIdentity ?? []).map(parseIdentity);
  if (auth) {
    const { user, password } = parseAuth(auth.value, auth.from === '--auth' ? '--auth' : auth.from);
    const owner = digestId(user, password);
    const acl = ownerAcl(owner, { readOnly: readers });
    out.options.auth = [{ scheme: 'digest', auth: `${user}:${password}` }];
    out.options.defaultAcl = acl;
    out.identity = `digest:${user}`;
    out.owner = owner;
    out.acl = acl;
  } else if (readers.length > 0) {
    throw new UsageError(
      '--read-only-identity needs --auth (or ZK_AUTH, --auth-file): it names who may read what this identity creates',
    );
  }
  const tlsWanted = o.tls === true || o.tlsCa !== undefined || o.tlsCert !== undefined || o.tlsKey !== undefined;
  if (!tlsWanted && (o.tlsInsecure || o.tlsNoVerifyHostname))
    throw new UsageError(`${o.tlsInsecure ? '--tls-insecure' : '--tls-no-verify-hostname'} needs --tls`);
  if (tlsWanted) {
    if (o.tlsInsecure && o.tlsCa !== undefined)
      throw new UsageError(
        '--tls-insecure skips verifying the server, so --tls-ca would not be used: give one of them',
      );
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined))
      throw new UsageError(o.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
    const tls: ZkTlsOptions = {};
    if (o.tlsCa !== undefined) tls.ca = await readOptionFile(o.tlsCa, '--tls-ca');
    if (o.tlsCert !== undefined) tls.cert = await readOptionFile(o.tlsCert, '--tls-cert');
    if (o.tlsKey !== undefined) tls.key = await readOptionFile(o.tlsKey, '--tls-key');
    const passphrase = process.env['ZK_TLS_KEY_PASSPHRASE'];
    if (passphrase !== undefined && passphrase !== '') tls.passphrase = passphrase;
    if (o.tlsInsecure) tls.verifyCertificate = false;
    if (o.tlsNoVerifyHostname) tls.verifyHostname = false;
    try {
      prepareTls(tls);
    } catch (err) {
      if (err instanceof BadArgumentsError) throw new UsageError(tlsOptionMessage(err.message, o), { cause: err });
      throw err;
    }
    out.options.tls = tls;
  }
  return out;
}

/** Rewrites a `tls.ca: …` message of the core as `--tls-ca: <file>: …`. */
function tlsOptionMessage(message: string, o: SecurityOptions): string {
  const files: Record<string, [string, string | undefined]> = {
    'tls.ca': ['--tls-ca', o.tlsCa],
    'tls.cert': ['--tls-cert', o.tlsCert],
    'tls.key': ['--tls-key', o.tlsKey],
    'tls.passphrase': ['ZK_TLS_KEY_PASSPHRASE', undefined],
  };
  let m = message;
  for (const [k, [opt, file]] of Object.entries(files)) m = m.split(k).join(file ? `${opt} ${file}` : opt);
  return m.replace(/^tls: /, '--tls: ');
}
