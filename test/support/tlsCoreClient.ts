/**
 * The core signing in against https IdPs, in a Node process started with NODE_EXTRA_CA_CERTS
 * naming the test CA: trust the way a company's CA is given to Node tools (the process reads
 * it at start, so the TLS core suite runs this in a child). Usage:
 *   node tlsCoreClient.js <trusted issuer> <untrusted> <expired> <wrong host>
 * Prints one JSON line: what sign-in, refresh and sign-out did at the trusted IdP, and the error
 * each other IdP ended in.
 */
import { OidcError } from '../../src/core/errors';
import { CertificateError } from '../../src/core/transport/transportErrors';
import { robotSignIn, testManager } from './coreHarness';

const CONFIG = { clientId: 'oidc-auth-test', scopes: ['openid', 'profile', 'offline_access'], flow: 'loopback' as const, loopbackPort: 0 };

async function failure(issuer: string): Promise<Record<string, unknown>> {
  const manager = testManager({ ...CONFIG, issuer: new URL(issuer) });
  try {
    await manager.createSession(['openid'], robotSignIn());
    return { signedIn: true };
  } catch (err) {
    return {
      name: err instanceof Error ? err.constructor.name : typeof err,
      kind: err instanceof OidcError ? err.kind : undefined,
      reason: err instanceof OidcError ? err.reason : undefined,
      problem: err instanceof CertificateError ? err.problem : undefined,
      code: err instanceof CertificateError ? err.code : undefined,
      hasCause: err instanceof Error && err.cause !== undefined,
      message: err instanceof Error ? err.message : String(err),
    };
  } finally {
    manager.dispose();
  }
}

async function main(): Promise<void> {
  const [trusted, untrusted, expired, wrongHost] = process.argv.slice(2) as [string, string, string, string];
  // A refresh skew beyond the token's lifetime: freshSession() refreshes at once.
  const manager = testManager({ ...CONFIG, issuer: new URL(trusted) }, { refreshSkewMs: 24 * 3600_000 });
  const session = await manager.createSession(['openid'], robotSignIn());
  const refreshed = await manager.freshSession(session.id);
  const removed = await manager.removeSessions([session.id]);
  manager.dispose();
  const result = {
    signedIn: session.accessToken.length > 0,
    refreshed: refreshed !== undefined && refreshed.accessToken !== session.accessToken,
    revokeError: removed.revokeError?.message ?? null,
    untrusted: await failure(untrusted),
    expired: await failure(expired),
    wrongHost: await failure(wrongHost),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
