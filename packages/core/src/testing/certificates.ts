import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** True when an `openssl` binary is on the PATH (the harness makes its certificates with it). */
export function opensslInstalled(): boolean {
  return (process.env['PATH'] ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'openssl')));
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args[0]} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/** A certificate and its private key, as files (PEM) and their text. */
export interface IssuedCertificate {
  /** Path of the certificate (PEM). */
  certFile: string;
  /** Path of the unencrypted PKCS#8 private key (PEM). */
  keyFile: string;
  /** The certificate's PEM text. */
  cert: string;
  /** The key's PEM text. */
  key: string;
}

/** Options of {@link TestCertificates.issue}. */
export interface IssueOptions {
  /** Subject common name. @defaultValue the name */
  cn?: string;
  /** Subject alternative names: IP addresses and DNS names. @defaultValue `['127.0.0.1', 'localhost']` */
  hosts?: string[];
  /** Days of validity. @defaultValue 2 */
  days?: number;
  /**
   * Explicit validity (e.g. in the past, for an expired certificate); both or neither.
   * Overrides `days`.
   */
  validity?: { from: Date; to: Date };
}

/** `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate` takes it. */
function opensslTime(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A throw-away certificate authority made with `openssl` at test time, and certificates it
 * signs (RSA 2048, SHA-256, for both server and client authentication, with loopback names by
 * default). Everything lives in `dir`; nothing is trusted outside the tests that read it.
 */
export class TestCertificates {
  private constructor(
    /** The directory holding every file. */
    readonly dir: string,
    /** Path of the CA certificate (PEM): the trust store of servers and clients. */
    readonly caFile: string,
    /** The CA certificate's PEM text. */
    readonly ca: string,
    private readonly caKeyFile: string,
  ) {}

  /**
   * Makes a new CA in `dir` (created if missing).
   * @param opts.name - file name stem and common name; default `zkjobs-test-ca`
   * @throws Error when openssl is missing or fails
   */
  static async create(dir: string, opts: { name?: string } = {}): Promise<TestCertificates> {
    const name = opts.name ?? 'zkjobs-test-ca';
    await mkdir(dir, { recursive: true });
    const keyFile = join(dir, `${name}.key`);
    const certFile = join(dir, `${name}.pem`);
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '3',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      dir,
    );
    return new TestCertificates(dir, certFile, await readFile(certFile, 'utf8'), keyFile);
  }

  /**
   * Issues a certificate signed by this CA, named `name` (files `<name>.pem`, `<name>.key`).
   * @throws Error when openssl fails
   */
  async issue(name: string, opts: IssueOptions = {}): Promise<IssuedCertificate> {
    const keyFile = join(this.dir, `${name}.key`);
    const csrFile = join(this.dir, `${name}.csr`);
    const certFile = join(this.dir, `${name}.pem`);
    const extFile = join(this.dir, `${name}.ext`);
    const hosts = opts.hosts ?? ['127.0.0.1', 'localhost'];
    const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    await writeFile(
      extFile,
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        ...(san ? [`subjectAltName=${san}`] : []),
        '',
      ].join('\n'),
    );
    await openssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${opts.cn ?? name}`, '-keyout', keyFile, '-out', csrFile],
      this.dir,
    );
    if (opts.validity) {
      // `openssl ca` is the tool that takes explicit dates; it wants a database and a config.
      const db = join(this.dir, `${name}.db`);
      await mkdir(db, { recursive: true });
      await writeFile(join(db, 'index.txt'), '');
      await writeFile(join(db, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
      await writeFile(
        join(db, 'ca.cnf'),
        [
          '[ ca ]',
          'default_ca = test_ca',
          '[ test_ca ]',
          `database = ${join(db, 'index.txt')}`,
          `new_certs_dir = ${db}`,
          `serial = ${join(db, 'serial')}`,
          'default_md = sha256',
          'policy = anything',
          'unique_subject = no',
          '[ anything ]',
          'commonName = supplied',
          '',
        ].join('\n'),
      );
      await openssl(
        [
          'ca',
          '-batch',
          '-config',
          join(db, 'ca.cnf'),
          '-cert',
          this.caFile,
          '-keyfile',
          this.caKeyFile,
          '-in',
          csrFile,
          '-startdate',
          opensslTime(opts.validity.from),
          '-enddate',
          opensslTime(opts.validity.to),
          '-extfile',
          extFile,
          '-notext',
          '-out',
          certFile,
        ],
        this.dir,
      );
    } else {
      await openssl(
        [
          'x509',
          '-req',
          '-sha256',
          '-in',
          csrFile,
          '-CA',
          this.caFile,
          '-CAkey',
          this.caKeyFile,
          '-set_serial',
          String(Date.now() * 1000 + Math.floor(Math.random() * 1000)),
          '-days',
          String(opts.days ?? 2),
          '-extfile',
          extFile,
          '-out',
          certFile,
        ],
        this.dir,
      );
    }
    return { certFile, keyFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  }
}
