/** Authorization Code + PKCE with a loopback redirect (RFC 8252 §7.3). */
import { exchangeCallback, type CodeExchangeResult } from '../protocol/authorizationCode';
import { prepareCheckedAuthorization } from '../protocol/authorizationPreflight';
import { OidcError } from '../errors';
import { renderPage } from './pages';
import type { ProviderProtocol } from '../protocol/providerProtocol';
import type { SignInAttempt, SignInFlow } from './flow';
import { LoopbackServer } from './loopbackServer';

export class LoopbackFlow implements SignInFlow {
  readonly id = 'loopback' as const;

  readonly #port: number;

  constructor(port: number) {
    this.#port = port;
  }

  async signIn(protocol: ProviderProtocol, ctx: SignInAttempt): Promise<CodeExchangeResult> {
    const { strings, templates } = ctx;
    const server = await LoopbackServer.start(this.#port, {
      invalidState: () =>
        renderPage(templates.failure, 400, { title: strings.failedTitle, message: strings.invalidRequestMessage }),
      notFound: () => renderPage(templates.failure, 404, { title: strings.failedTitle, message: strings.notFoundMessage }),
    });
    try {
      ctx.log.info(`Waiting for the sign-in redirect on ${server.redirectUri}.`);
      // A refused redirect URI is named now, whatever the flow setting, not after the sign-in timeout.
      const pending = await prepareCheckedAuthorization({
        protocol,
        redirectUri: server.redirectUri,
        scopes: ctx.scopes,
        signal: ctx.signal,
        ...(ctx.authorizationParameters ? { extraParameters: ctx.authorizationParameters } : {}),
      });
      await ctx.openBrowser(pending.url, ctx.hasFallback === true);
      const callback = await server.waitForCallback(pending.state, ctx.signal, ctx.timeoutMs);
      try {
        const result = await exchangeCallback(protocol, pending, callback.params, { signal: ctx.signal });
        callback.respond(renderPage(templates.success, 200, { title: strings.signedInTitle, message: strings.signedInMessage }));
        return result;
      } catch (err) {
        const detail = err instanceof OidcError ? err.message : undefined;
        callback.respond(
          renderPage(templates.failure, 400, { title: strings.failedTitle, message: strings.failedMessage, detail }),
        );
        throw err;
      }
    } finally {
      await server.close();
    }
  }
}
