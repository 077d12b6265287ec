/** One interface for every way of signing in; each flow is a file of its own. */
import type * as oauth from 'oauth4webapi';
import type { CodeExchangeResult } from '../authorizationCode';
import type { Logger } from '../logger';
import type { PageTemplates } from '../pages';

export type FlowId = 'loopback' | 'uriHandler' | 'deviceCode';

/** Words the browser pages show; the VS Code layer passes localized ones. */
export interface PageStrings {
  signedInTitle: string;
  signedInMessage: string;
  failedTitle: string;
  failedMessage: string;
  invalidRequestMessage: string;
  notFoundMessage: string;
}

export const ENGLISH_PAGE_STRINGS: PageStrings = {
  signedInTitle: 'Signed in',
  signedInMessage: 'You are signed in to VS Code. You can close this tab and return to VS Code.',
  failedTitle: 'Sign-in failed',
  failedMessage: 'VS Code could not complete the sign-in. Return to VS Code for details.',
  invalidRequestMessage: 'This sign-in link is not valid or has already been used. Start the sign-in again from VS Code.',
  notFoundMessage: 'Nothing to see here.',
};

export interface FlowContext {
  issuer: URL;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  /** Every scope sent to the IdP. */
  scopes: string[];
  /** Aborts the sign-in (the user pressed Cancel). */
  signal: AbortSignal;
  /** How long to wait for the person in the browser. */
  timeoutMs: number;
  log: Logger;
  /** Opens a URL in the user's browser; rejects when it cannot. */
  openBrowser(url: URL): Promise<void>;
  templates: PageTemplates;
  strings: PageStrings;
}

export interface SignInFlow {
  readonly id: FlowId;
  signIn(ctx: FlowContext): Promise<CodeExchangeResult>;
}
