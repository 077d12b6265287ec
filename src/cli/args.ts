/** The `oidc-token` command line: its arguments, its exit codes and its help text (no I/O). */
import { EXEC_CREDENTIAL_VERSIONS, isExecCredentialVersion, type ExecCredentialVersion } from '../core/terminal/execCredential';
import { PROVIDER_ID_PATTERN, SCOPE_PATTERN, type FailureCode } from '../core/terminal/protocol';

export type OutputFormat = 'token' | 'json' | 'exec-credential';

export interface CliOptions {
  provider: string;
  scopes: string[];
  idToken: boolean;
  format: OutputFormat;
  /** Only for `exec-credential`; undefined: the version kubectl asks for, else v1. */
  execVersion?: ExecCredentialVersion;
  signIn: boolean;
}

export type ParsedArgs = { kind: 'run'; options: CliOptions } | { kind: 'help' } | { kind: 'error'; message: string };

/** Exit codes, documented in the help text and the README. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notSignedIn: 3,
  noSuchProvider: 4,
  unreachable: 5,
  consentDenied: 6,
  /** No channel: not in a VS Code terminal, the window was closed, or the secret was refused. */
  noChannel: 7,
} as const;

/** The exit code for each way the window can refuse a token. */
const EXIT_FOR_FAILURE: Record<FailureCode, number> = {
  notSignedIn: EXIT.notSignedIn,
  noIdToken: EXIT.notSignedIn,
  noSuchProvider: EXIT.noSuchProvider,
  notConfigured: EXIT.noSuchProvider,
  unreachable: EXIT.unreachable,
  consentDenied: EXIT.consentDenied,
  unauthorized: EXIT.noChannel,
  badRequest: EXIT.usage,
  failed: EXIT.failed,
};

export function exitCodeFor(code: FailureCode): number {
  return EXIT_FOR_FAILURE[code];
}

export const HELP = `Usage: oidc-token [options]

Prints a fresh token of this VS Code window's OpenID Connect session, for command-line tools in
its integrated terminals. The first use asks in the window whether to allow it.

Options:
  --provider ID        the authentication provider: oidc (default) or oidc.<id> of oidcAuth.providers
  --scopes "A B"       scopes the session must cover (space- or comma-separated; repeatable)
  --id-token           print the ID token instead of the access token
  --format FORMAT      token (default), json, or exec-credential (a Kubernetes ExecCredential with
                       the ID token, for a kubeconfig exec entry)
  --api-version V      the ExecCredential apiVersion: ${EXEC_CREDENTIAL_VERSIONS.join(' or ')}
                       (default: what kubectl asks for, else v1)
  --sign-in            sign in in the window when no session covers the scopes
  -h, --help           show this help

Exit codes: 0 token printed; 1 other failure; 2 bad arguments; 3 not signed in (or no ID token);
4 no such provider (or not configured); 5 identity provider unreachable; 6 use not allowed in the
window; 7 no channel to a VS Code window (not its terminal, window closed, or secret refused).
`;

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const options: CliOptions = { provider: 'oidc', scopes: [], idToken: false, format: 'token', signIn: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const value = (): string | undefined => {
      if (eq !== -1) return arg.slice(eq + 1);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) return undefined;
      i++;
      return next;
    };
    const needs = (v: string | undefined): v is string => v !== undefined && v !== '';
    switch (name) {
      case '-h':
      case '--help':
        return { kind: 'help' };
      case '--provider': {
        const v = value();
        if (!needs(v)) return { kind: 'error', message: '--provider needs a provider id (oidc or oidc.<id>).' };
        // Accept the bare id of an oidcAuth.providers entry too.
        options.provider = v === 'oidc' || v.startsWith('oidc.') ? v : `oidc.${v}`;
        if (!PROVIDER_ID_PATTERN.test(options.provider)) return { kind: 'error', message: `"${v}" is not a provider id.` };
        break;
      }
      case '--scopes':
      case '--scope': {
        const v = value();
        if (!needs(v)) return { kind: 'error', message: '--scopes needs a list of scopes.' };
        const scopes = v.split(/[\s,]+/).filter(Boolean);
        if (!scopes.every((s) => SCOPE_PATTERN.test(s))) return { kind: 'error', message: `"${v}" contains a character scopes may not have.` };
        options.scopes.push(...scopes.filter((s) => !options.scopes.includes(s)));
        break;
      }
      case '--id-token':
        options.idToken = true;
        break;
      case '--sign-in':
        options.signIn = true;
        break;
      case '--format': {
        const v = value();
        if (v !== 'token' && v !== 'json' && v !== 'exec-credential') return { kind: 'error', message: '--format is token, json or exec-credential.' };
        options.format = v;
        break;
      }
      case '--api-version': {
        const v = value();
        const full = v && !v.includes('/') ? `client.authentication.k8s.io/${v}` : v;
        if (!full || !isExecCredentialVersion(full)) return { kind: 'error', message: `--api-version is ${EXEC_CREDENTIAL_VERSIONS.join(' or ')}.` };
        options.execVersion = full;
        break;
      }
      default:
        return { kind: 'error', message: `Unknown argument "${arg}". See oidc-token --help.` };
    }
  }
  if (options.execVersion && options.format !== 'exec-credential') return { kind: 'error', message: '--api-version goes with --format exec-credential.' };
  // Kubernetes authenticates with the ID token (its OIDC authenticator reads ID tokens).
  if (options.format === 'exec-credential') options.idToken = true;
  return { kind: 'run', options };
}
