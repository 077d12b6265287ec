/**
 * A small HTTPS stand-in for a Kubernetes API server with OIDC authentication, for the kubectl
 * proof of oidc-token (issue 17): `GET /api` answers APIVersions only for a request whose Bearer
 * token is a valid ID token of the test IdP for the client (signature from the IdP's JWKS, iss,
 * aud, exp: what kube-apiserver's --oidc-* flags check); anything else gets 401 as Kubernetes
 * sends it. Verification uses jose, the JOSE library the test IdP (oidc-provider) itself uses.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface KubeApi {
  readonly url: string;
  /** ID tokens accepted, in order. */
  readonly accepted: string[];
  /** Why requests were refused, in order. */
  readonly refused: string[];
  close(): Promise<void>;
}

export async function startKubeApi(options: { issuer: string; audience: string; tls: { key: string; cert: string } }): Promise<KubeApi> {
  const jwks = createRemoteJWKSet(new URL(`${options.issuer.replace(/\/$/, '')}/jwks`));
  const accepted: string[] = [];
  const refused: string[] = [];
  const server = https.createServer(options.tls, (req, res) => {
    void (async () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const unauthorized = (why: string) => {
        refused.push(why);
        send(401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      };
      const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!auth) return unauthorized('no bearer token');
      try {
        await jwtVerify(auth[1]!, jwks, { issuer: options.issuer, audience: options.audience, algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] });
      } catch (err) {
        return unauthorized(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      }
      accepted.push(auth[1]!);
      if (req.method === 'GET' && req.url === '/api') {
        return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
      }
      send(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    accepted,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A kubeconfig whose user gets its credential from `oidc-token` (a kubeconfig `exec` entry). */
export function kubeconfig(options: { server: string; caFile: string; execApiVersion: string; args?: string[] }): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${options.server}`,
    `    certificate-authority: ${options.caFile}`,
    'users:',
    '- name: oidc',
    '  user:',
    '    exec:',
    `      apiVersion: ${options.execApiVersion}`,
    '      command: oidc-token',
    '      args:',
    ...(options.args ?? ['--format', 'exec-credential']).map((a) => `      - ${JSON.stringify(a)}`),
    'contexts:',
    '- name: test',
    '  context:',
    '    cluster: test',
    '    user: oidc',
    'current-context: test',
    '',
  ].join('\n');
}
