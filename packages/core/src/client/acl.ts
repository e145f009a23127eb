import { createHash } from 'node:crypto';
import { BadArgumentsError } from '../errors.js';
import { describeValue } from './args.js';

/** Permission bits of an {@link Acl}. */
export const Perms = {
  READ: 1,
  WRITE: 2,
  CREATE: 4,
  DELETE: 8,
  ADMIN: 16,
  ALL: 31,
} as const;

/** One ACL entry: who (`scheme`:`id`) may do what (`perms`, a bitmask of {@link Perms}). */
export interface Acl {
  /** Bitmask of {@link Perms}: READ=1 WRITE=2 CREATE=4 DELETE=8 ADMIN=16 ALL=31. */
  perms: number;
  /** `world`, `auth`, `digest`, `ip`, … */
  scheme: string;
  /** The id within the scheme: `anyone` for `world`, `user:base64(sha1(user:password))` for `digest`. */
  id: string;
}

/** Everyone may do everything: `world:anyone`, ALL. The default ACL of created nodes. */
export const OPEN_ACL_UNSAFE: Acl[] = [{ perms: Perms.ALL, scheme: 'world', id: 'anyone' }];
/** Everyone may read: `world:anyone`, READ. */
export const READ_ACL_UNSAFE: Acl[] = [{ perms: Perms.READ, scheme: 'world', id: 'anyone' }];
/** All permissions for the authenticated identities of the creating session (`auth` scheme). */
export const CREATOR_ALL_ACL: Acl[] = [{ perms: Perms.ALL, scheme: 'auth', id: '' }];

/**
 * A `digest` ACL entry for `user`/`password`: id `user:base64(sha1("user:password"))`, as
 * ZooKeeper's `DigestAuthenticationProvider.generateDigest`. Authenticate with
 * `addAuth('digest', 'user:password')`.
 */
export function digestAcl(user: string, password: string, perms: number): Acl {
  const digest = createHash('sha1').update(`${user}:${password}`).digest('base64');
  return { perms, scheme: 'digest', id: `${user}:${digest}` };
}

/** Who an ACL entry is about: a scheme and an id within it (`digest` / `user:base64(sha1)`, `x509` / `CN=…`). */
export interface AclIdentity {
  /** `digest`, `x509`, `ip`, `sasl`, `world`, `auth`, … */
  scheme: string;
  /** The id within the scheme. */
  id: string;
}

/**
 * Decides the ACL of every node a client creates without an explicit `acl` (Curator's
 * `ACLProvider`): the namespace, the parents `create({ parents: true })` and `mkdirp` make,
 * and transaction creates alike.
 * @param path - the node's absolute path (the client's namespace included; a chroot of the
 *   connect string excluded)
 * @returns a non-empty ACL list
 */
export type AclProvider = (path: string) => Acl[];

/** The `digest` identity of `user`/`password`: `{ scheme: 'digest', id: 'user:base64(sha1("user:password"))' }`. */
export function digestId(user: string, password: string): AclIdentity {
  const { id } = digestAcl(user, password, Perms.ALL);
  return { scheme: 'digest', id };
}

/**
 * The ACL of a protected tree: `owner` may do everything, each of `readOnly` may read (list
 * children and read data; e.g. a dashboard's identity). Nobody else may read, write, create,
 * delete or change the ACL.
 *
 * ```ts
 * const acl = ownerAcl(digestId('jobs', secret), { readOnly: [digestId('dashboard', other)] });
 * ```
 */
export function ownerAcl(owner: AclIdentity, opts: { readOnly?: AclIdentity[] } = {}): Acl[] {
  return [
    { perms: Perms.ALL, scheme: owner.scheme, id: owner.id },
    ...(opts.readOnly ?? [])
      .filter((r) => !(r.scheme === owner.scheme && r.id === owner.id))
      .map((r) => ({ perms: Perms.READ, scheme: r.scheme, id: r.id })),
  ];
}

/**
 * Client options for a tree only `user` may touch: its digest credentials (`auth`, sent on
 * every connection and session) and `defaultAcl` = {@link ownerAcl} of that identity, with
 * `readOnly` identities allowed to read. Spread them into {@link ZkClientOptions}:
 *
 * ```ts
 * const client = await ZkClient.connect(hosts, { ...digestAuth('jobs', secret), namespace: '/zkjobs/prod' });
 * ```
 * @throws BadArgumentsError when `user` is empty or contains `:`
 */
export function digestAuth(
  user: string,
  password: string,
  opts: { readOnly?: AclIdentity[] } = {},
): { auth: { scheme: string; auth: string }[]; defaultAcl: Acl[] } {
  checkDigestUser(user, 'digestAuth');
  return {
    auth: [{ scheme: 'digest', auth: `${user}:${password}` }],
    defaultAcl: ownerAcl(digestId(user, password), opts),
  };
}

/** @throws BadArgumentsError when a digest user name is empty or contains `:` */
function checkDigestUser(user: unknown, op: string): void {
  if (typeof user !== 'string' || user === '' || user.includes(':'))
    throw new BadArgumentsError(
      `${op}: a digest user name must be a non-empty string without ':', got ${describeValue(user)}`,
    );
}

const KNOWN_PERMS = Perms.ALL;

/**
 * Checks an ACL list before it is sent: a non-empty array of `{ perms, scheme, id }` with perms
 * an integer bitmask 0–31, scheme a non-empty string and id a string (`digest` ids
 * `user:base64-sha1`, `world` only `anyone`).
 * @param what - what the list is, for messages (`acl`, `defaultAcl`)
 * @throws BadArgumentsError naming the entry and what is wrong with it
 */
export function checkAcl(acl: unknown, what: string, path?: string): Acl[] {
  const ctx = path === undefined ? {} : { path };
  if (!Array.isArray(acl))
    throw new BadArgumentsError(`${what} must be an array of { perms, scheme, id }, got ${describeValue(acl)}`, ctx);
  if (acl.length === 0) throw new BadArgumentsError(`${what}: an ACL list must not be empty`, ctx);
  acl.forEach((a: unknown, i) => {
    const at = `${what}[${i}]`;
    if (a === null || typeof a !== 'object' || Array.isArray(a))
      throw new BadArgumentsError(`${at} must be { perms, scheme, id }, got ${describeValue(a)}`, ctx);
    const { perms, scheme, id } = a as Partial<Acl>;
    if (typeof perms !== 'number' || !Number.isInteger(perms) || perms < 0 || perms > KNOWN_PERMS)
      throw new BadArgumentsError(
        `${at}.perms must be an integer bitmask 0–31 of Perms (READ 1, WRITE 2, CREATE 4, DELETE 8, ADMIN 16), got ${describeValue(perms)}`,
        ctx,
      );
    if (typeof scheme !== 'string' || scheme === '')
      throw new BadArgumentsError(
        `${at}.scheme must be a non-empty string (world, auth, digest, ip, x509, …), got ${describeValue(scheme)}`,
        ctx,
      );
    if (typeof id !== 'string') throw new BadArgumentsError(`${at}.id must be a string, got ${describeValue(id)}`, ctx);
    if (scheme === 'world' && id !== 'anyone')
      throw new BadArgumentsError(`${at}: the world scheme has the one id 'anyone', got ${JSON.stringify(id)}`, ctx);
    if (scheme === 'digest' && !DIGEST_ID.test(id))
      throw new BadArgumentsError(
        `${at}: a digest id is user:base64(sha1(user:password)) (28 characters after the ':'; see digestId), got ${JSON.stringify(id)}`,
        ctx,
      );
  });
  return acl as Acl[];
}

/** A digest ACL id: `user:` and the 28-character base64 of a SHA-1. */
export const DIGEST_ID = /^[^:]+:[A-Za-z0-9+/]{27}=$/;
