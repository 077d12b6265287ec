/**
 * The providers of `oidcAuth.providers`, one `oidc.<id>` authentication provider per entry,
 * kept in step with the setting without a reload: new entries are registered, removed ones
 * unregistered, changed ones reconfigured (a new issuer or client id keeps the old pair's sessions stored;
 * an unchanged entry keeps its sessions, and a new issuer is announced to VS Code for MCP servers).
 * Bad entries are reported and skipped.
 */
import * as vscode from 'vscode';
import { parseNamedProviders, type NamedProvider } from '../core/namedProviders';
import { ProviderRegistration } from './mcpAuthorization';
import { OidcAuthenticationProvider, PROVIDER_ID, type ProviderDeps } from './provider';
import { DEFAULT_SCOPES, SETTINGS_SECTION } from './settings';

interface Entry {
  current: NamedProvider;
  provider: OidcAuthenticationProvider;
  registration: ProviderRegistration;
}

export class ProviderRegistry implements vscode.Disposable {
  readonly #entries = new Map<string, Entry>();
  #lastProblems = '';

  readonly #deps: ProviderDeps;

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
  }

  /** Every named provider currently registered. */
  get providers(): OidcAuthenticationProvider[] {
    return [...this.#entries.values()].map((e) => e.provider);
  }

  /** Reads `oidcAuth.providers` and brings the registered providers in line with it. */
  sync(): void {
    const raw = vscode.workspace.getConfiguration(SETTINGS_SECTION).get<unknown>('providers');
    const { providers, problems } = parseNamedProviders(raw, DEFAULT_SCOPES);
    this.#report(problems);
    const wanted = new Map(providers.map((p) => [p.id, p]));
    for (const [id, entry] of this.#entries) {
      const next = wanted.get(id);
      if (!next || next.label !== entry.current.label) {
        // Gone, or renamed in the Accounts menu (a label is fixed at registration).
        entry.registration.dispose();
        entry.provider.dispose();
        this.#entries.delete(id);
      }
    }
    for (const named of providers) {
      const entry = this.#entries.get(named.id);
      if (entry) {
        entry.current = named;
        entry.provider.applyConfig();
        // The authorization server VS Code routes MCP servers by is fixed at registration.
        entry.registration.update(named.config.issuer.href);
        continue;
      }
      const holder: { current: NamedProvider } = { current: named };
      const provider = new OidcAuthenticationProvider(this.#deps, {
        id: `${PROVIDER_ID}.${named.id}`,
        label: named.label,
        readConfig: () => (this.#entries.get(named.id)?.current ?? holder.current).config,
        primary: false,
      });
      const registration = new ProviderRegistration(`${PROVIDER_ID}.${named.id}`, named.label, provider, this.#deps.log, named.config.issuer.href);
      this.#entries.set(named.id, { current: named, provider, registration });
    }
  }

  dispose(): void {
    for (const entry of this.#entries.values()) {
      entry.registration.dispose();
      entry.provider.dispose();
    }
    this.#entries.clear();
  }

  #report(problems: string[]): void {
    const key = problems.join('\n');
    if (key === this.#lastProblems) return;
    this.#lastProblems = key;
    if (!problems.length) return;
    for (const p of problems) this.#deps.log.warn(`Ignoring a provider entry: ${p}`);
    const open = vscode.l10n.t('Open Settings');
    void vscode.window
      .showWarningMessage(
        vscode.l10n.t('Some entries of oidcAuth.providers are ignored: {0}', problems.join(' ')),
        open,
      )
      .then((choice) => {
        if (choice === open) void vscode.commands.executeCommand('workbench.action.openSettingsJson');
      });
  }
}
