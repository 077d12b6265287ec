/**
 * A session source: where one provider's sessions come from in one mode. The settings choose the
 * mode once, when they apply (sources/factory.ts): interactive sign-in (interactive.ts), a service
 * account (serviceAccount.ts), a client still to be registered (registration.ts), or none usable
 * (factory.ts). A token injected by the environment (injected.ts) is a source too, served in front
 * of whichever mode the settings choose. provider.ts adapts the chosen source to VS Code.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../../core/config';
import type { SignInFlow } from '../../core/flows/flow';
import type { PageTemplates } from '../../core/flows/pages';
import type { UriCallbackChannel } from '../../core/flows/uriHandler';
import type { Logger } from '../../core/logger';
import type { IssuerCache } from '../../core/protocol/discovery';
import type { EndedSession, SessionManager } from '../../core/sessions/sessionManager';
import type { StoredSession } from '../../core/sessions/sessions';

export interface ProviderIdentity {
  /** `oidc` or `oidc.<id>`. */
  id: string;
  label: string;
  /** The provider's settings; throws an OidcError of kind `config` when they are not usable. */
  readConfig: () => ProviderConfig;
  /** The top-level provider drives the walkthrough's context keys. */
  primary: boolean;
}

export interface ProviderDeps {
  secrets: vscode.SecretStorage;
  /** The extension's global storage folder, shared by every window of this machine. */
  globalStorage: vscode.Uri;
  issuers: IssuerCache;
  log: Logger;
  templates: PageTemplates;
  uriCallbacks: UriCallbackChannel;
  showLog: () => void;
}

/** What changed, in VS Code's form; `ended` are sessions that ended by themselves (told once). */
export interface SourceChange {
  added: readonly vscode.AuthenticationSession[];
  removed: readonly vscode.AuthenticationSession[];
  changed: readonly vscode.AuthenticationSession[];
  ended?: EndedSession[];
}

/** One sign-in: VS Code names the account when it asks again for a known one. */
export interface SignInRequest {
  account?: vscode.AuthenticationSessionAccountInformation | undefined;
  /** Replaces the configured flow for this one attempt. */
  flow?: SignInFlow | undefined;
}

export interface SessionSource extends vscode.Disposable {
  getSessions(scopes: readonly string[] | undefined, options?: vscode.AuthenticationProviderSessionOptions): Promise<vscode.AuthenticationSession[]>;
  /** Signs in; failures are reported to the user before they are thrown. */
  createSession(scopes: readonly string[], request: SignInRequest): Promise<vscode.AuthenticationSession>;
  /** Signs out of one session (an id not this source's is ignored). */
  removeSession(sessionId: string): Promise<void>;
  /** Sessions as stored, without refreshing anything (for sign-out and status). */
  listSessions(): Promise<StoredSession[]>;
  readonly onDidChange: vscode.Event<SourceChange>;
  /**
   * Takes new settings in place when they keep its sessions (scopes, flow or port changed);
   * false when the settings need another source.
   */
  reconfigure(config: ProviderConfig): boolean;
  /** The core's manager of this source's sessions (the API and the terminal use it), if any. */
  readonly manager: SessionManager | undefined;
  /** For Show Status: a service account's state; undefined for every other source. */
  serviceAccountStatus?(): Promise<{ secretStored: boolean }>;
}

/** How a source reaches its provider and the flows it signs in with. */
export interface SourceContext {
  identity: ProviderIdentity;
  deps: ProviderDeps;
  /** The provider's own sign-in (for "Retry" and "Use Device Code" after a failure). */
  signInAgain: (scopes: readonly string[], flow?: SignInFlow) => Promise<unknown>;
  /** An extension asked for scopes other than the configured ones and got a session. */
  sessionShared: () => void;
  /** The sessions a source holds may have changed without an event (a client was adopted). */
  sessionsMayHaveChanged: () => void;
}

/** The sign-in flows of one provider (sources/factory.ts builds them). */
export interface Flows {
  forConfig(config: ProviderConfig): SignInFlow;
  deviceCode(): SignInFlow;
}

export function toVscodeSession(s: StoredSession): vscode.AuthenticationSession {
  return { id: s.id, accessToken: s.accessToken, account: { id: s.accountId, label: s.accountLabel }, scopes: s.scopes };
}

/** What sources share: their change event, and no stored sessions unless they say otherwise. */
export abstract class BaseSource {
  protected readonly emitter = new vscode.EventEmitter<SourceChange>();
  readonly onDidChange = this.emitter.event;

  listSessions(): Promise<StoredSession[]> {
    return Promise.resolve([]);
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
