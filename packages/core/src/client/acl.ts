import { createHash } from 'node:crypto';

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
