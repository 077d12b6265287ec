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

/** One more server certificate from the test CA, for `san` (e.g. `DNS:idp.corp.test`), valid now. */
export function issueFromTestCa(ca: TestCa, name: string, san: string): ServerCertificate {
  return issue(ca.dir, 'test-ca', name, san, 2);
}

const CERTIFICATES = ['valid', 'expired', 'wrong-host', 'untrusted'] as const;

/** Makes the CA and the four server certificates in `dir` (default a new temporary folder). */
export function makeTestCa(dir: string = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-ca-'))): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, 'test-ca');
  makeCa(dir, 'other-ca');
  issue(dir, 'test-ca', 'valid', 'IP:127.0.0.1,DNS:localhost', 2);
  issue(dir, 'test-ca', 'expired', 'IP:127.0.0.1,DNS:localhost', -1);
  issue(dir, 'test-ca', 'wrong-host', 'DNS:idp.example.test', 2);
  issue(dir, 'other-ca', 'untrusted', 'IP:127.0.0.1,DNS:localhost', 2);
  return loadTestCa(dir);
}

/** The CA makeTestCa made in `dir` (another process, e.g. the extension host, reads it). */
export function loadTestCa(dir: string): TestCa {
  const read = (name: string): ServerCertificate => ({
    key: fs.readFileSync(path.join(dir, `${name}.key`), 'utf8'),
    cert: fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8'),
  });
  const [valid, expired, wrongHost, untrusted] = CERTIFICATES.map(read) as [ServerCertificate, ServerCertificate, ServerCertificate, ServerCertificate];
  const caFile = path.join(dir, 'test-ca.pem');
  return { dir, caFile, caPem: fs.readFileSync(caFile, 'utf8'), valid, expired, wrongHost, untrusted, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Debian's system bundle, which update-ca-certificates writes and OpenSSL reads by default. */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Environment for a VS Code server whose extension host should trust the test CA as a company CA
 * in the operating system's store, without changing this machine: SSL_CERT_FILE names a copy of
 * the system bundle with the test CA appended (what `update-ca-certificates` would write; Node's
 * system store, which VS Code loads, reads it). The other CA goes into NODE_EXTRA_CA_CERTS only,
 * which the suites show VS Code's fetch does not honour.
 */
export function testCaEnvironment(ca: TestCa): Record<string, string> {
  const bundle = path.join(ca.dir, 'system-bundle-with-test-ca.pem');
  const system = fs.existsSync(SYSTEM_BUNDLE) ? fs.readFileSync(SYSTEM_BUNDLE, 'utf8') : '';
  fs.writeFileSync(bundle, `${system}\n${ca.caPem}`);
  return { SSL_CERT_FILE: bundle, NODE_EXTRA_CA_CERTS: path.join(ca.dir, 'other-ca.pem'), [TEST_CA_ENV]: ca.dir };
}

/** The folder of the test CA, for suites in the extension host. */
export const TEST_CA_ENV = 'OIDC_TEST_CA_DIR';
