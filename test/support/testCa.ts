/**
 * A certificate authority made for one test run with the `openssl` command line (Node cannot
 * issue X.509 certificates): the CA a company would install on its machines, and server
 * certificates for an IdP on 127.0.0.1 that are trusted, expired, for another host name, or
 * issued by a CA nobody trusts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ServerCertificate {
  key: string;
  cert: string;
}

export interface TestCa {
  readonly dir: string;
  /** The CA certificate (PEM file) to trust. */
  readonly caFile: string;
  readonly caPem: string;
  /** For 127.0.0.1 and localhost, valid now. */
  readonly valid: ServerCertificate;
  /** For 127.0.0.1, expired yesterday. */
  readonly expired: ServerCertificate;
  /** Valid now, but for idp.example.test only. */
  readonly wrongHost: ServerCertificate;
  /** For 127.0.0.1, from a second CA that nobody trusts. */
  readonly untrusted: ServerCertificate;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '3', '-subj', `/CN=oidc-auth ${name}`]);
}

function issue(dir: string, ca: string, name: string, san: string, days: number): ServerCertificate {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  // A negative -days puts notAfter before now: expired.
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', String(days), '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return { key: fs.readFileSync(path.join(dir, `${name}.key`), 'utf8'), cert: fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8') };
}

/** Makes the CA and the four server certificates in a new temporary folder. */
export function makeTestCa(): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-ca-'));
  makeCa(dir, 'test-ca');
  makeCa(dir, 'other-ca');
  const caFile = path.join(dir, 'test-ca.pem');
  return {
    dir,
    caFile,
    caPem: fs.readFileSync(caFile, 'utf8'),
    valid: issue(dir, 'test-ca', 'valid', 'IP:127.0.0.1,DNS:localhost', 2),
    expired: issue(dir, 'test-ca', 'expired', 'IP:127.0.0.1,DNS:localhost', -1),
    wrongHost: issue(dir, 'test-ca', 'wrong-host', 'DNS:idp.example.test', 2),
    untrusted: issue(dir, 'other-ca', 'untrusted', 'IP:127.0.0.1,DNS:localhost', 2),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
