/**
 * The Device Authorization Grant (RFC 8628): for windows where no redirect can come back to VS
 * Code. The user reads a code in VS Code and enters it on the IdP's page on any device, while
 * the extension polls the token endpoint exactly as the RFC says (§3.4, §3.5).
 */
import * as oauth from 'oauth4webapi';
import type { CodeExchangeResult } from '../protocol/authorizationCode';
import { OidcError } from '../errors';
import { assertEndpointAllowed } from '../transport/loopback';
import { describeFailure, failedResponse, retryAfterSeconds, serverErrorStatus } from '../transport/requestErrors';
import { checkIdToken } from '../protocol/idToken';
import { l10n } from '../l10n';
import { cancelledError, sleep } from '../timers';
import type { ProviderProtocol } from '../protocol/providerProtocol';
import type { SignInAttempt, SignInFlow } from './flow';

/** RFC 8628 §3.2: the polling interval when the server names none. */
export const DEFAULT_INTERVAL_S = 5;
/** RFC 8628 §3.5: `slow_down` adds five seconds, for this and every later request. */
export const SLOW_DOWN_STEP_S = 5;
/** The longest wait between polls after network errors. */
export const MAX_BACKOFF_MS = 60_000;
/** Server errors that mean "not now" (a gateway or an overloaded IdP), worth polling again. */
const TRANSIENT_STATUSES = new Set([502, 503, 504]);

export interface DeviceCodeInfo {
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  /** Seconds the code stays valid. */
  expiresIn: number;
}

export interface DeviceCodePresenter {
  /**
   * Shows the code to the user. Resolves when they chose to go on (after the browser was opened
   * and the code copied); rejects with a `cancelled` OidcError when they cancel.
   */
  showDeviceCode(info: DeviceCodeInfo, signal: AbortSignal): Promise<void>;
  /** The progress message while polling ("Waiting for you to sign in…"). */
  waitingMessage(info: DeviceCodeInfo): string;
}

export interface DeviceCodeFlowOptions {
  presenter: DeviceCodePresenter;
  /** For tests: how to wait between polls. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
  /** For tests: how long one request may take (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/** `value` as a URL string when it is one the person may be sent to (https; http only on this computer). */
function allowedPage(value: string, issuer: URL, label: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OidcError('protocol', l10n.t("The identity provider's {0} is not a URL.", label));
  }
  assertEndpointAllowed(url, issuer, label);
  return url.href;
}

export class DeviceCodeFlow implements SignInFlow {
  readonly id = 'deviceCode' as const;

  readonly #options: DeviceCodeFlowOptions;

  constructor(options: DeviceCodeFlowOptions) {
    this.#options = options;
  }

  async signIn(protocol: ProviderProtocol, ctx: SignInAttempt): Promise<CodeExchangeResult> {
    const { as, client, issuer } = protocol;
    const { signal, log } = ctx;
    const wait = this.#options.sleep ?? sleep;
    const now = this.#options.now ?? Date.now;
    const op = { signal, ...(this.#options.requestTimeoutMs ? { timeoutMs: this.#options.requestTimeoutMs } : {}) };
    const rctx = protocol.context(op);
    if (!as.device_authorization_endpoint) {
      throw new OidcError('protocol', l10n.t('The identity provider does not support the device code flow (no device authorization endpoint).'));
    }
    let device: oauth.DeviceAuthorizationResponse;
    try {
      const response = await oauth.deviceAuthorizationRequest(
        as,
        client,
        protocol.clientAuth.auth,
        { ...ctx.authorizationParameters, scope: ctx.scopes.join(' ') },
        protocol.requestOptions(op),
      );
      device = await oauth.processDeviceAuthorizationResponse(as, client, response);
    } catch (err) {
      throw describeFailure(err, l10n.t('the device authorization request'), rctx);
    }
    // The person is sent to these pages (opened, or shown to be opened): the same https rule as
    // every endpoint of the IdP, checked before anything is shown.
    const label = l10n.t('device verification page');
    const verificationUri = allowedPage(device.verification_uri, issuer, label);
    const complete = device.verification_uri_complete !== undefined ? allowedPage(device.verification_uri_complete, issuer, label) : undefined;
    const info: DeviceCodeInfo = {
      userCode: device.user_code,
      verificationUri,
      expiresIn: device.expires_in,
      ...(complete ? { verificationUriComplete: complete } : {}),
    };
    const deadline = now() + Math.min(device.expires_in * 1000, ctx.timeoutMs);
    await this.#options.presenter.showDeviceCode(info, signal);
    ctx.report?.(this.#options.presenter.waitingMessage(info));
    log.info(`Device code issued; polling every ${device.interval ?? DEFAULT_INTERVAL_S} s.`);

    let intervalMs = (device.interval ?? DEFAULT_INTERVAL_S) * 1000;
    let failures = 0;
    // RFC 9449 §8: a poll refused for want of a DPoP nonce is sent again at once, once.
    let nonceRetry = false;
    // After a transient server error: the wait it asked for (Retry-After) and what it said.
    let retryAfterMs = 0;
    let serverError: OidcError | undefined;
    for (;;) {
      const backoff = failures === 0 ? intervalMs : Math.min(intervalMs * 2 ** failures, MAX_BACKOFF_MS);
      const delay = nonceRetry ? 0 : Math.max(backoff, retryAfterMs);
      const retryingNonce = nonceRetry;
      nonceRetry = false;
      // Out of time while the IdP kept failing: its error is the reason, not the code.
      if (now() + delay > deadline) throw serverError ?? expired();
      retryAfterMs = 0;
      await wait(delay, signal);
      let response: Response;
      try {
        response = await oauth.deviceCodeGrantRequest(as, client, protocol.clientAuth.auth, device.device_code, protocol.tokenRequestOptions(op));
      } catch (err) {
        if (signal.aborted) throw cancelledError();
        // RFC 8628 §3.5: a connection timeout must back off; keep the sign-in alive meanwhile.
        failures++;
        log.warn(`Polling the identity provider failed (${describeFailure(err, 'polling', rctx).message}); retrying.`);
        continue;
      }
      // A server error answer (below) continues the backoff; any other answer ends it.
      const failedBefore = failures;
      failures = 0;
      serverError = undefined;
      try {
        const result = await oauth.processDeviceCodeResponse(as, client, response, protocol.tokenTypes());
        const claims = await checkIdToken(as, client, response, result, protocol.idTokenContext(op));
        return { response: result, claims };
      } catch (err) {
        if (!retryingNonce && protocol.usesDPoP && oauth.isDPoPNonceError(err)) {
          nonceRetry = true;
          continue;
        }
        if (err instanceof oauth.ResponseBodyError) {
          switch (err.error) {
            case 'authorization_pending':
              continue;
            case 'slow_down':
              intervalMs += SLOW_DOWN_STEP_S * 1000;
              log.debug(`The identity provider asked to slow down; polling every ${intervalMs / 1000} s.`);
              continue;
            case 'expired_token':
              throw expired();
            case 'access_denied':
              throw new OidcError('idp', l10n.t('Sign-in was denied at the identity provider.'), 'access_denied');
          }
        }
        if (err instanceof Error && err.name === 'TimeoutError' && !signal.aborted) {
          failures++;
          continue;
        }
        // RFC 8628 §3.5 asks to back off on errors; a 502/503/504 says the IdP or its gateway is
        // busy, not that the sign-in failed: the person may have approved already.
        const status = serverErrorStatus(err);
        if (status !== undefined && TRANSIENT_STATUSES.has(status)) {
          failures = failedBefore + 1;
          serverError = describeFailure(err, l10n.t('the device code sign-in'), rctx);
          const retryAfter = retryAfterSeconds(failedResponse(err));
          retryAfterMs = (retryAfter ?? 0) * 1000;
          log.warn(`Polling the identity provider failed (${serverError.message}); retrying${retryAfter ? ` after ${retryAfter} s` : ''}.`);
          continue;
        }
        throw describeFailure(err, l10n.t('the device code sign-in'), rctx);
      }
    }
  }
}

function expired(): OidcError {
  return new OidcError('timeout', l10n.t('The sign-in code expired before it was used. Try again.'), 'expired_token');
}
