/**
 * What went wrong on the way to the IdP when fetch() itself failed, for a message that sends
 * people to the right fix: the server's certificate (not trusted, expired, for another host
 * name) or the HTTP proxy (wants a login, is down) rather than "could not reach".
 *
 * fetch() (Node's undici, or VS Code's patched fetch that adds `http.proxy` and the system
 * certificates) reports these as TypeError("fetch failed") whose `cause` carries OpenSSL's code or
 * the proxy's answer.
 */
import { OidcError } from '../errors';
import { l10n } from '../l10n';

export type CertificateProblem = 'untrusted' | 'expired' | 'hostname';

/** The IdP's TLS certificate was refused; `code` is Node's (OpenSSL's) name for why. */
export class CertificateError extends OidcError {
  constructor(
    readonly problem: CertificateProblem,
    readonly code: string,
    readonly host: string,
    message: string,
    options: { cause: unknown },
  ) {
    super('network', message, undefined, undefined, 'certificate');
    this.cause = options.cause;
  }
}

export type ProxyProblem = 'authentication' | 'unreachable' | 'refused';

/** The HTTP proxy between VS Code and the IdP failed the request. */
export class ProxyError extends OidcError {
  constructor(
    readonly problem: ProxyProblem,
    /** The proxy's `host:port` where known. */
    readonly proxy: string | undefined,
    readonly host: string,
    message: string,
    options: { cause: unknown },
  ) {
    super('network', message, undefined, undefined, 'proxy');
    this.cause = options.cause;
  }
}

/** OpenSSL's names for a refused certificate, by what they mean. */
const CERTIFICATE_PROBLEMS: Record<string, CertificateProblem> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  CERT_CHAIN_TOO_LONG: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'untrusted',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname',
  HOSTNAME_MISMATCH: 'hostname',
};

/** What to tell people for each problem: `{0}` the IdP's host, `{1}` the code. */
const CERTIFICATE_MESSAGES: Record<CertificateProblem, (host: string, code: string) => string> = {
  untrusted: (host, code) =>
    l10n.t(
      "The identity provider at {0} was reached, but its certificate is not trusted ({1}). If your organisation uses its own certificate authority, add it to the operating system's certificate store (VS Code trusts that store; NODE_EXTRA_CA_CERTS alone is not enough).",
      host,
      code,
    ),
  expired: (host, code) =>
    l10n.t("The identity provider at {0} was reached, but its certificate has expired or is not valid yet ({1}). Check this computer's clock; otherwise the identity provider's administrator must renew the certificate.", host, code),
  hostname: (host, code) =>
    l10n.t("The identity provider at {0} was reached, but its certificate is for another host name ({1}). Check the issuer URL's host name in the settings: it must be a name the certificate lists.", host, code),
};

type Cause = { code?: unknown; message?: unknown; address?: unknown; port?: unknown; cause?: unknown };

/** The chain of causes under what fetch threw, outermost first (bounded). */
function causes(err: unknown): Cause[] {
  const chain: Cause[] = [];
  let current: unknown = err;
  while (current && typeof current === 'object' && chain.length < 5) {
    chain.push(current as Cause);
    current = (current as Cause).cause;
  }
  return chain;
}

/**
 * The certificate or proxy failure behind what fetch threw for a request to `url`, if it was
 * one; otherwise undefined (the caller's own wording applies).
 */
export function describeTransportFailure(err: unknown, url: URL): OidcError | undefined {
  const host = url.host;
  const chain = causes(err);
  for (const cause of chain) {
    const code = typeof cause.code === 'string' ? cause.code : undefined;
    const problem = code !== undefined && Object.hasOwn(CERTIFICATE_PROBLEMS, code) ? CERTIFICATE_PROBLEMS[code] : undefined;
    if (code && problem) return new CertificateError(problem, code, host, CERTIFICATE_MESSAGES[problem](host, code), { cause: err });
  }
  const proxyStatus = chain
    .map((c) => (typeof c.message === 'string' ? /Proxy response \((\d{3})\)/.exec(c.message)?.[1] : undefined))
    .find((s) => s !== undefined);
  if (proxyStatus === '407') {
    return new ProxyError(
      'authentication',
      undefined,
      host,
      l10n.t('The proxy between VS Code and the identity provider at {0} asks for a login (HTTP 407). Put the proxy credentials in the http.proxy setting (http://user:password@proxy:port) or in http.proxyAuthorization.', host),
      { cause: err },
    );
  }
  if (proxyStatus !== undefined) {
    return new ProxyError(
      'refused',
      undefined,
      host,
      l10n.t('The proxy between VS Code and the identity provider at {0} refused the connection (HTTP {1}). Check the http.proxy setting, or ask who runs the proxy to allow {0}.', host, proxyStatus),
      { cause: err },
    );
  }
  // A connection error names the address it tried: when that is not the IdP's, it was the proxy's.
  for (const cause of chain) {
    const code = typeof cause.code === 'string' ? cause.code : undefined;
    if (!code || !/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) continue;
    const port = typeof cause.port === 'number' ? cause.port : undefined;
    const address = typeof cause.address === 'string' ? cause.address : undefined;
    const idpPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (port !== undefined && address !== undefined && port !== idpPort) {
      const proxy = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
      return new ProxyError(
        'unreachable',
        proxy,
        host,
        l10n.t('Could not connect to the proxy at {0} ({1}) on the way to the identity provider at {2}. Check that the proxy is running and the http.proxy setting.', proxy, code, host),
        { cause: err },
      );
    }
  }
  return undefined;
}
