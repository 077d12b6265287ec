/**
 * VS Code's MCP authorization: when an MCP server answers 401 and names an authorization server,
 * VS Code looks for an authentication provider registered with that server in
 * `supportedAuthorizationServers` and asks it for sessions with `{ authorizationServer }`.
 *
 * Those fields belong to VS Code's `authIssuers` API proposal (still a proposal in VS Code 1.139),
 * so the pinned @types/vscode 1.100 does not have them; they are typed here. VS Code refuses the
 * registration option (it throws) unless the proposal is enabled for this extension, so the
 * registration falls back to a plain one and says so in the log.
 */
import * as vscode from 'vscode';
import { authorizationServerSpellings } from '../core/protocol/authorizationServerMatch';
import type { Logger } from '../core/logger';
import { errorMessage } from '../core/errors';

/** `vscode.AuthenticationProviderOptions` plus the `authIssuers` proposal's field. */
export interface McpAuthenticationProviderOptions extends vscode.AuthenticationProviderOptions {
  readonly supportedAuthorizationServers?: readonly vscode.Uri[];
}

/** `vscode.AuthenticationProviderSessionOptions` plus the server VS Code wants a token for. */
export interface McpSessionOptions extends vscode.AuthenticationProviderSessionOptions {
  readonly authorizationServer?: vscode.Uri;
}

/** `vscode.AuthenticationGetSessionOptions` plus the proposal's field (for callers and tests). */
export interface McpGetSessionOptions extends vscode.AuthenticationGetSessionOptions {
  readonly authorizationServer?: vscode.Uri;
}

/** The authorization server a request is for, as a string, or undefined for ordinary requests. */
export function requestedAuthorizationServer(options: vscode.AuthenticationProviderSessionOptions | undefined): string | undefined {
  return (options as McpSessionOptions | undefined)?.authorizationServer?.toString(true);
}

/** Whether VS Code accepted `supportedAuthorizationServers`; learnt at the first registration. */
let proposalRefused = false;

/**
 * One provider's registration with VS Code, announcing its issuer as the authorization server
 * it answers for. The announced servers are fixed at registration, so a changed issuer means
 * registering again.
 */
export class ProviderRegistration implements vscode.Disposable {
  #registration: vscode.Disposable | undefined;
  #announced: string | undefined;

  readonly #id: string;
  readonly #label: string;
  readonly #provider: vscode.AuthenticationProvider;
  readonly #log: Logger;

  constructor(id: string, label: string, provider: vscode.AuthenticationProvider, log: Logger, issuer: string | undefined) {
    this.#id = id;
    this.#label = label;
    this.#provider = provider;
    this.#log = log;
    this.#register(issuer);
  }

  /** Registers again when the issuer to announce has changed. */
  update(issuer: string | undefined): void {
    if (proposalRefused || key(issuer) === this.#announced) return;
    this.#registration?.dispose();
    this.#register(issuer);
  }

  dispose(): void {
    this.#registration?.dispose();
    this.#registration = undefined;
  }

  #register(issuer: string | undefined): void {
    const servers = proposalRefused || !issuer ? [] : authorizationServerSpellings(issuer);
    const base: vscode.AuthenticationProviderOptions = { supportsMultipleAccounts: true };
    this.#announced = key(issuer);
    if (servers.length) {
      const options: McpAuthenticationProviderOptions = { ...base, supportedAuthorizationServers: servers.map((s) => vscode.Uri.parse(s)) };
      try {
        this.#registration = vscode.authentication.registerAuthenticationProvider(this.#id, this.#label, this.#provider, options);
        this.#log.info(`${this.#id}: answers MCP servers whose authorization server is ${servers[0]}.`);
        return;
      } catch (err) {
        // VS Code throws before registering anything when the `authIssuers` proposal is not
        // enabled for this extension (stable VS Code without --enable-proposed-api).
        proposalRefused = true;
        this.#log.info(
          `MCP servers cannot use these providers: VS Code did not allow supportedAuthorizationServers (${errorMessage(err)}).`,
        );
      }
    }
    this.#registration = vscode.authentication.registerAuthenticationProvider(this.#id, this.#label, this.#provider, base);
  }
}

function key(issuer: string | undefined): string {
  return issuer ? authorizationServerSpellings(issuer).join(' ') : '';
}
