/**
 * Whether command-line tools in this window's terminals may use a provider's session: asked once
 * per provider and account (a modal dialog), the Allow remembered in the extension's global state
 * (no token, only who allowed what), listed by Show Status and taken back from there.
 */
import * as vscode from 'vscode';
import type { Logger } from '../core/logger';
import type { StoredSession } from '../core/sessions/sessions';
import type { TerminalProvider } from '../core/terminal/tokenService';
import { TERMINAL_ACCESS_MEMENTO } from '../core/storage/keys';
import { errorMessage } from '../core/errors';

const MEMENTO_KEY = TERMINAL_ACCESS_MEMENTO;
/** A refusal is remembered this long, so a tool in a loop does not ask again and again. */
const DENIAL_MEMORY_MS = 60_000;

export interface TerminalGrant {
  /** `oidc` or `oidc.<id>`. */
  provider: string;
  providerLabel: string;
  /** The (issuer, client ID) pair's storage key: the same `sub` at another issuer is another account. */
  client: string;
  accountId: string;
  accountLabel: string;
  /** Epoch ms. */
  at: number;
}

export class TerminalConsent {
  readonly #pending = new Map<string, Promise<boolean>>();
  readonly #denied = new Map<string, number>();

  readonly #memento: vscode.Memento;
  readonly #log: Logger;

  constructor(memento: vscode.Memento, log: Logger) {
    this.#memento = memento;
    this.#log = log;
  }

  grants(): TerminalGrant[] {
    const value = this.#memento.get<unknown>(MEMENTO_KEY);
    return Array.isArray(value) ? value.filter(isGrant) : [];
  }

  /** Allowed already, or asks (one dialog at a time per account, however many tools wait). */
  allowed(provider: TerminalProvider, session: StoredSession): Promise<boolean> {
    const client = provider.sessions?.key ?? '';
    const key = grantKey(provider.id, client, session.accountId);
    if (this.grants().some((g) => grantKey(g.provider, g.client, g.accountId) === key)) return Promise.resolve(true);
    const deniedAt = this.#denied.get(key);
    if (deniedAt !== undefined && Date.now() - deniedAt < DENIAL_MEMORY_MS) return Promise.resolve(false);
    let asking = this.#pending.get(key);
    if (!asking) {
      asking = this.#ask(provider, client, session).finally(() => this.#pending.delete(key));
      this.#pending.set(key, asking);
    }
    return asking;
  }

  async #ask(provider: TerminalProvider, client: string, session: StoredSession): Promise<boolean> {
    const allow = vscode.l10n.t('Allow');
    let choice: string | undefined;
    try {
      choice = await vscode.window.showWarningMessage(
        vscode.l10n.t("Allow command-line tools in this window's terminals to use your {0} session?", provider.label),
        {
          modal: true,
          detail: vscode.l10n.t(
            'A program in an integrated terminal ran oidc-token and asks for a token of {0}. Programs you run in these terminals will get tokens of this account without asking again; OpenID Connect: Show Status can take it back.',
            session.accountLabel,
          ),
        },
        allow,
      );
    } catch (err) {
      this.#log.warn(`Terminal: could not ask whether command-line tools may use the session: ${errorMessage(err)}`);
    }
    const key = grantKey(provider.id, client, session.accountId);
    if (choice !== allow) {
      this.#denied.set(key, Date.now());
      this.#log.info(`Terminal: command-line tools were not allowed to use the ${provider.id} session of ${session.accountLabel}.`);
      return false;
    }
    this.#denied.delete(key);
    const grant: TerminalGrant = { provider: provider.id, providerLabel: provider.label, client, accountId: session.accountId, accountLabel: session.accountLabel, at: Date.now() };
    await this.#memento.update(MEMENTO_KEY, [...this.grants().filter((g) => grantKey(g.provider, g.client, g.accountId) !== key), grant]);
    this.#log.info(`Terminal: command-line tools may use the ${provider.id} session of ${session.accountLabel}.`);
    return true;
  }

  async revoke(grants: readonly TerminalGrant[]): Promise<void> {
    const gone = new Set(grants.map((g) => grantKey(g.provider, g.client, g.accountId)));
    await this.#memento.update(MEMENTO_KEY, this.grants().filter((g) => !gone.has(grantKey(g.provider, g.client, g.accountId))));
    for (const g of grants) this.#log.info(`Terminal: command-line tools may no longer use the ${g.provider} session of ${g.accountLabel}.`);
  }

  /** Show Status's lines about it. */
  statusLines(): string[] {
    const grants = this.grants();
    const lines = [`## ${vscode.l10n.t('Command-line tools in the terminal (oidc-token)')}`, ''];
    if (!grants.length) {
      lines.push(`- ${vscode.l10n.t('No session is allowed yet: the first oidc-token run asks.')}`);
    } else {
      for (const g of grants) {
        lines.push(`- ${vscode.l10n.t('{0} (`{1}`): **{2}**, allowed {3}', g.providerLabel, g.provider, g.accountLabel, new Date(g.at).toLocaleString())}`);
      }
    }
    return [...lines, ''];
  }

  /** Lets the user pick grants to take back (after Show Status). */
  async manage(): Promise<void> {
    const picks = await vscode.window.showQuickPick(
      this.grants().map((g) => ({ label: g.accountLabel, description: `${g.providerLabel} (${g.provider})`, grant: g })),
      { canPickMany: true, placeHolder: vscode.l10n.t('Take back the terminal access of which sessions?') },
    );
    if (picks?.length) await this.revoke(picks.map((p) => p.grant));
  }
}

function grantKey(provider: string, client: string, accountId: string): string {
  return JSON.stringify([provider, client, accountId]);
}

function isGrant(value: unknown): value is TerminalGrant {
  const g = value as Partial<TerminalGrant> | null;
  return (
    typeof g === 'object' && g !== null &&
    typeof g.provider === 'string' && typeof g.providerLabel === 'string' && typeof g.client === 'string' &&
    typeof g.accountId === 'string' && typeof g.accountLabel === 'string' && typeof g.at === 'number'
  );
}
