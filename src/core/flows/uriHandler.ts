/**
 * Authorization Code + PKCE with the redirect coming back through VS Code's own URI handler
 * (`vscode://<publisher>.<name>/callback`, made reachable by `asExternalUri` in remote and web
 * windows). The same state, PKCE, nonce and iss checks as the loopback flow.
 */
import { exchangeCallback, type CodeExchangeResult } from '../protocol/authorizationCode';
import { prepareCheckedAuthorization } from '../protocol/authorizationPreflight';
import { waitForBrowser } from '../timers';
import type { ProviderProtocol } from '../protocol/providerProtocol';
import type { SignInAttempt, SignInFlow } from './flow';

export interface UriCallbackChannel {
  /** The redirect URI to send, as the user's browser will reach it. */
  redirectUri(): Promise<string>;
  /** The query of the first callback carrying `state`; others are ignored. */
  waitForCallback(state: string, signal: AbortSignal, timeoutMs: number): Promise<URLSearchParams>;
}

export class UriHandlerFlow implements SignInFlow {
  readonly id = 'uriHandler' as const;

  readonly #channel: UriCallbackChannel;

  constructor(channel: UriCallbackChannel) {
    this.#channel = channel;
  }

  async signIn(protocol: ProviderProtocol, ctx: SignInAttempt): Promise<CodeExchangeResult> {
    const redirectUri = await this.#channel.redirectUri();
    const shown = new URL(redirectUri);
    ctx.log.info(`Waiting for the sign-in redirect to ${shown.protocol}//${shown.host}${shown.pathname}.`);
    // A refused redirect URI is named now, whatever the flow setting, not after the sign-in timeout.
    const pending = await prepareCheckedAuthorization({
      protocol,
      redirectUri,
      scopes: ctx.scopes,
      signal: ctx.signal,
      ...(ctx.authorizationParameters ? { extraParameters: ctx.authorizationParameters } : {}),
    });
    // Listen before the browser opens (the redirect can be quick); stop listening however this ends.
    const listening = new AbortController();
    const stop = () => listening.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    try {
      const callback = this.#channel.waitForCallback(pending.state, listening.signal, ctx.timeoutMs);
      callback.catch(() => undefined);
      await ctx.openBrowser(pending.url, ctx.hasFallback === true);
      const params = await callback;
      return await exchangeCallback(protocol, pending, params, { signal: ctx.signal });
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      listening.abort();
    }
  }
}

/**
 * Routes URIs VS Code hands to the extension to the sign-in waiting for them, by `state`.
 * A URI with an unknown or missing state is ignored (and reported), never consumed.
 */
export class UriCallbackRegistry {
  readonly #waiting = new Map<string, (params: URLSearchParams) => void>();

  /** Delivers a callback; returns false when no sign-in waits for its state. */
  deliver(query: string): boolean {
    const params = new URLSearchParams(query);
    const state = params.get('state');
    const resolve = state ? this.#waiting.get(state) : undefined;
    if (!resolve) return false;
    resolve(params);
    return true;
  }

  waitForCallback(state: string, signal: AbortSignal, timeoutMs: number): Promise<URLSearchParams> {
    return waitForBrowser<URLSearchParams>(
      signal,
      timeoutMs,
      (waiter) => this.#waiting.set(state, waiter.resolve),
      () => this.#waiting.delete(state),
    );
  }

  get pendingCount(): number {
    return this.#waiting.size;
  }
}
