/**
 * TLS to ZooKeeper's `secureClientPort`: the options of {@link ZkClientOptions.tls}, their
 * checks (before anything connects), and how a failed attempt is told apart: a definite TLS
 * answer (untrusted certificate, refused client certificate, a TLS port reached without TLS or
 * the reverse) from a transient failure.
 * @packageDocumentation
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import {
  checkServerIdentity,
  connect as tlsConnect,
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
} from 'node:tls';
import { BadArgumentsError, TlsError } from '../errors.js';
import { describeValue } from './args.js';

/** PEM text or its bytes. */
export type Pem = string | Buffer;

/**
 * TLS options of {@link ZkClientOptions.tls}. Certificates and keys are PEM (text or bytes, not
 * file names). With TLS, the connect string names the servers' `secureClientPort`s.
 */
export interface ZkTlsOptions {
  /**
   * The CA certificate(s) that signed the servers' certificates (one PEM text may hold several).
   * @defaultValue Node's bundled root CAs
   */
  ca?: Pem | Pem[];
  /** The client's certificate (chain), for servers with `ssl.clientAuth=need` or `want`. Needs `key`. */
  cert?: Pem;
  /** The private key of `cert`. */
  key?: Pem;
  /** The passphrase of an encrypted `key`. */
  passphrase?: string;
  /**
   * Check that the server's certificate names the host of the connect string (or `servername`).
   * Turn off only for certificates without the right names. @defaultValue true
   */
  verifyHostname?: boolean;
  /**
   * Verify the server's certificate at all. `false` is insecure: the connection is encrypted
   * but the server is not authenticated (anyone in the middle can pose as it). @defaultValue true
   */
  verifyCertificate?: boolean;
  /** The name to send (SNI) and to check the certificate against. @defaultValue the host of the connect string */
  servername?: string;
}

/** What the patched library's `tls.connect` gets. @internal */
export interface LibTlsOptions {
  secureContext: SecureContext;
  rejectUnauthorized: boolean;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  servername?: string;
}

const TLS_KEYS = ['ca', 'cert', 'key', 'passphrase', 'verifyHostname', 'verifyCertificate', 'servername'];
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const HAS_CERT = /-----BEGIN CERTIFICATE-----/;

function pemText(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  throw new BadArgumentsError(`${what} must be PEM text or a Buffer of it, got ${describeValue(v)}`);
}

function shortReason(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^error:[0-9A-F]+:/, '').replace(/^[A-Za-z0-9 ]+ routines::/, '');
}

/** Parses every certificate of a PEM text; names the option and the certificate that is wrong. */
function parseCertificates(text: string, what: string): X509Certificate[] {
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    throw new BadArgumentsError(
      `${what}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----${/PRIVATE KEY-----/.test(text) ? '; this is a private key' : ''})`,
    );
  }
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new BadArgumentsError(
        `${what}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate (${shortReason(e)})`,
        { cause: e },
      );
    }
  });
}

function checkValidity(c: X509Certificate, what: string, now: number): void {
  if (Date.parse(c.validTo) < now)
    throw new BadArgumentsError(`${what}: the certificate ${c.subject.replace(/\n/g, ', ')} expired on ${c.validTo}`);
  if (Date.parse(c.validFrom) > now)
    throw new BadArgumentsError(
      `${what}: the certificate ${c.subject.replace(/\n/g, ', ')} is not valid before ${c.validFrom}`,
    );
}

/**
 * Checks TLS options and builds what the connection uses. Everything is checked here, before a
 * connection is made: PEM that does not parse, a key that does not belong to its certificate,
 * an encrypted key without its passphrase, an expired certificate, a certificate without key.
 * @param opts - the `tls` option (`true` = TLS with the defaults)
 * @throws BadArgumentsError naming the option (`tls.ca`, `tls.cert`, `tls.key`, …) and what is wrong
 */
export function prepareTls(opts: ZkTlsOptions | true): LibTlsOptions {
  const o: ZkTlsOptions = opts === true ? {} : opts;
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new BadArgumentsError(
      `tls must be true or an options object ({ ${TLS_KEYS.join(', ')} }), got ${describeValue(o)}`,
    );
  for (const k of Object.keys(o))
    if (!TLS_KEYS.includes(k))
      throw new BadArgumentsError(
        `tls: unknown option ${JSON.stringify(k)} (the options are { ${TLS_KEYS.join(', ')} })`,
      );
  for (const k of ['verifyHostname', 'verifyCertificate'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'boolean')
      throw new BadArgumentsError(`tls.${k} must be true or false, got ${describeValue(o[k])}`);
  if (o.servername !== undefined && (typeof o.servername !== 'string' || o.servername === ''))
    throw new BadArgumentsError(`tls.servername must be a non-empty host name, got ${describeValue(o.servername)}`);
  if (o.passphrase !== undefined && typeof o.passphrase !== 'string')
    throw new BadArgumentsError(`tls.passphrase must be a string, got ${describeValue(o.passphrase)}`);
  const now = Date.now();
  let ca: string[] | undefined;
  if (o.ca !== undefined) {
    const list = Array.isArray(o.ca) ? o.ca : [o.ca];
    if (list.length === 0)
      throw new BadArgumentsError(
        'tls.ca: an empty list (give the CA certificate, or leave tls.ca out for the bundled roots)',
      );
    ca = list.map((v, i) => pemText(v, list.length > 1 ? `tls.ca[${i}]` : 'tls.ca'));
    const certs = ca.flatMap((text, i) => parseCertificates(text, list.length > 1 ? `tls.ca[${i}]` : 'tls.ca'));
    // A bundle may hold a root that has expired; one that holds no valid certificate verifies nothing.
    const valid = certs.filter((c) => Date.parse(c.validFrom) <= now && Date.parse(c.validTo) >= now);
    if (valid.length === 0) checkValidity(certs[0]!, 'tls.ca', now);
  }
  if ((o.cert === undefined) !== (o.key === undefined))
    throw new BadArgumentsError(
      o.cert === undefined ? 'tls.key is given without tls.cert' : 'tls.cert is given without tls.key',
    );
  let cert: string | undefined;
  let key: KeyObject | undefined;
  if (o.cert !== undefined && o.key !== undefined) {
    cert = pemText(o.cert, 'tls.cert');
    const leaf = parseCertificates(cert, 'tls.cert')[0]!;
    checkValidity(leaf, 'tls.cert', now);
    const keyText = pemText(o.key, 'tls.key');
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyText))
      throw new BadArgumentsError(
        `tls.key: no PEM private key in it (expected -----BEGIN PRIVATE KEY-----${HAS_CERT.test(keyText) ? '; this is a certificate' : ''})`,
      );
    try {
      key = createPrivateKey(o.passphrase !== undefined ? { key: keyText, passphrase: o.passphrase } : keyText);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      const encrypted = /ENCRYPTED/.test(keyText) || code === 'ERR_MISSING_PASSPHRASE';
      throw new BadArgumentsError(
        encrypted && o.passphrase === undefined
          ? 'tls.key is encrypted: give tls.passphrase'
          : encrypted
            ? `tls.key: cannot decrypt it with tls.passphrase (${shortReason(e)})`
            : `tls.key is not a valid private key (${shortReason(e)})`,
        { cause: e },
      );
    }
    if (!leaf.checkPrivateKey(key))
      throw new BadArgumentsError(`tls.key is not the key of tls.cert (${leaf.subject.replace(/\n/g, ', ')})`);
  }
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({
      ...(ca ? { ca } : {}),
      ...(cert !== undefined && key ? { cert, key: key.export({ format: 'pem', type: 'pkcs8' }) } : {}),
    });
  } catch (e) {
    throw new BadArgumentsError(`tls: ${shortReason(e)}`, { cause: e });
  }
  const verifyHostname = o.verifyHostname ?? true;
  return {
    secureContext,
    rejectUnauthorized: o.verifyCertificate ?? true,
    checkServerIdentity: verifyHostname ? (host, c) => checkServerIdentity(o.servername ?? host, c) : () => undefined,
    ...(o.servername !== undefined ? { servername: o.servername } : {}),
  };
}

/** OpenSSL/Node codes of a server certificate that does not verify. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The verdict on one failed connection attempt. @internal */
export type AttemptVerdict =
  /** A definite TLS answer: retrying cannot help. */
  | { definite: TlsError }
  /** Ask the server which protocol it speaks: `tls` (a plain client was cut off) or `plain` (a TLS client was). */
  | { probe: 'tls' | 'plain' }
  /** Transient, or not about TLS. */
  | null;

/** Tells what a failed attempt means. `phase` and `error` come from the patched library's `attemptFailed` event. @internal */
export function judgeAttempt(
  server: string,
  phase: string | undefined,
  error: (Error & { code?: string }) | null | undefined,
  usingTls: boolean,
): AttemptVerdict {
  const code = error?.code;
  if (usingTls && error && code !== undefined && (UNTRUSTED.has(code) || code.startsWith('ERR_SSL_'))) {
    const msg = error.message.split('\n')[0]!;
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return {
        definite: new TlsError(
          'hostname',
          server,
          `TLS: the certificate of ${server} does not name the host connected to: ${msg} (${code})`,
          'connect with a name the certificate carries, or set tls.servername (or tls.verifyHostname: false)',
          code,
          error,
        ),
      };
    }
    if (UNTRUSTED.has(code)) {
      return {
        definite: new TlsError(
          'untrusted-server',
          server,
          `TLS: the certificate of ${server} is not trusted: ${msg} (${code})`,
          "give tls.ca the CA certificate that signed the server's certificate",
          code,
          error,
        ),
      };
    }
    const alert = /alert ([a-z ]+?)(?::|$)/.exec(error.message)?.[1];
    if (alert !== undefined && /certificate|unknown ca|access denied/.test(alert)) {
      return {
        definite: new TlsError(
          'client-certificate',
          server,
          `TLS: ${server} refused the client's certificate (alert "${alert}", ${code})`,
          'the server wants a client certificate its trust store accepts: give tls.cert and tls.key',
          code,
          error,
        ),
      };
    }
    return {
      definite: new TlsError(
        'handshake',
        server,
        `TLS: the handshake with ${server} failed: ${alert !== undefined ? `alert "${alert}"` : shortReason(error)} (${code})`,
        'check the TLS versions and ciphers of client and server',
        code,
        error,
      ),
    };
  }
  if (
    usingTls &&
    phase === 'tls' &&
    (code === 'ECONNRESET' || code === 'EPIPE' || error === null || error === undefined)
  )
    return { probe: 'plain' };
  if (!usingTls && phase === 'handshake') return { probe: 'tls' };
  return null;
}

function split(server: string): { host: string; port: number } {
  const i = server.lastIndexOf(':');
  return { host: server.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(server.slice(i + 1)) };
}

/**
 * True when `server` completes a TLS handshake (its certificate unchecked) or answers with a TLS
 * alert: it is a TLS port. Bounded by `timeoutMs`. @internal
 */
export function speaksTls(server: string, timeoutMs: number): Promise<boolean> {
  const { host, port } = split(server);
  return new Promise((resolve) => {
    const s = tlsConnect({ host, port, rejectUnauthorized: false, checkServerIdentity: () => undefined });
    const done = (v: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('secureConnect', () => done(true));
    s.once('error', (e: Error & { code?: string }) =>
      done(e.code?.startsWith('ERR_SSL_') === true && /alert/.test(e.message)),
    );
    s.once('close', () => done(false));
  });
}

/**
 * True when `server` answers ZooKeeper's `srvr` four-letter word in plain text (whitelisted or
 * not, ZooKeeper answers in words): it is a plain port. Bounded by `timeoutMs`. @internal
 */
export function speaksPlain(server: string, timeoutMs: number): Promise<boolean> {
  const { host, port } = split(server);
  return new Promise((resolve) => {
    const s = netConnect({ host, port });
    let reply = '';
    const done = (v: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => s.write('srvr'));
    s.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (/Zookeeper version|not executed|not currently serving/.test(reply)) done(true);
    });
    s.once('error', () => done(false));
    s.once('close', () => done(/Zookeeper version|not executed|not currently serving/.test(reply)));
  });
}

/** The TlsError for a server that the probe found speaking the other protocol. @internal */
export function mismatchError(server: string, serverSpeaks: 'tls' | 'plain'): TlsError {
  return serverSpeaks === 'tls'
    ? new TlsError(
        'tls-port',
        server,
        `${server} closed the connection without answering the handshake: it speaks TLS (a ZooKeeper secureClientPort) ` +
          'and this client connected without TLS',
        'connect with TLS (the tls option)',
      )
    : new TlsError(
        'plain-port',
        server,
        `${server} closed the TLS handshake: it is a plain (non-TLS) ZooKeeper port (it answers in plain text)`,
        "connect without TLS, or to the server's secureClientPort",
      );
}
