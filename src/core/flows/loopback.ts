/** Authorization Code + PKCE with a loopback redirect (RFC 8252 §7.3). */
import { exchangeCallback, prepareCheckedAuthorization, type CodeExchangeResult } from '../authorizationCode';
import { OidcError } from '../errors';
import { renderPage } from '../pages';
import type { FlowContext, SignInFlow } from './flow';
import { LoopbackServer } from './loopbackServer';

export class LoopbackFlow implements SignInFlow {
  readonly id = 'loopback' as const;

  constructor(private readonly port: number) {}

  async signIn(ctx: FlowContext): Promise<CodeExchangeResult> {
    const { strings, templates } = ctx;
    const server = await LoopbackServer.start(this.port, {
      invalidState: () =>
        renderPage(templates.failure, 400, { title: strings.failedTitle, message: strings.invalidRequestMessage }),
      notFound: () => renderPage(templates.failure, 404, { title: strings.failedTitle, message: strings.notFoundMessage }),
    });
    try {
      ctx.log.info(`Waiting for the sign-in redirect on ${server.redirectUri}.`);
      const pending = await prepareCheckedAuthorization(
        {
          as: ctx.as,
          client: ctx.client,
          redirectUri: server.redirectUri,
          scopes: ctx.scopes,
          ctx: { issuer: ctx.issuer, signal: ctx.signal },
          ...(ctx.parameters ? { extraParameters: ctx.parameters.authorization } : {}),
          ...(ctx.clientAuth ? { clientAuth: ctx.clientAuth } : {}),
        },
        // A refused redirect URI is named now, whatever the flow setting, not after the sign-in timeout.
        { issuer: ctx.issuer, signal: ctx.signal, ...(ctx.rediscover ? { rediscover: ctx.rediscover } : {}) },
      );
      await ctx.openBrowser(pending.url, ctx.hasFallback === true);
      const callback = await server.waitForCallback(pending.state, ctx.signal, ctx.timeoutMs);
      try {
        const result = await exchangeCallback(ctx.as, ctx.client, pending, callback.params, {
          issuer: ctx.issuer,
          signal: ctx.signal,
          ...(ctx.rediscover ? { rediscover: ctx.rediscover } : {}),
        }, ctx.parameters?.token, ctx.clientAuth);
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
