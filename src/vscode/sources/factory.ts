/**
 * Wiring: the one place that builds session sources, their SessionManagers with storage, and
 * sign-in flows. The settings choose the mode here, once each time they apply:
 * `grant: "clientCredentials"` → a service account, no client ID → dynamic registration, a client
 * ID → interactive sign-in, unusable settings → no source.
 */
import * as vscode from 'vscode';
import type { ProviderConfig } from '../../core/config';
import { OidcError } from '../../core/errors';
import { ChosenFlow } from '../../core/flows/choose';
import { DeviceCodeFlow } from '../../core/flows/deviceCode';
import type { SignInFlow } from '../../core/flows/flow';
import { LoopbackFlow } from '../../core/flows/loopback';
import { UriHandlerFlow } from '../../core/flows/uriHandler';
import { SessionManager, type SessionsChange } from '../../core/sessions/sessionManager';
import { clientSecretKey, storageKeyOf } from '../../core/storage/keys';
import { vscodeDeviceCodePresenter } from '../deviceCodePresenter';
import { describeEnvironment } from '../environment';
import { VscodeSecretStore } from '../secretStore';
import { sessionStorage, watchStoredSessions } from '../sessionStorage';
import { fallbackMessage, reportError } from '../ui';
import { InteractiveSource, type ManagedSessions } from './interactive';
import { RegistrationSource } from './registration';
import { ServiceAccountSource } from './serviceAccount';
import { BaseSource, type Flows, type ProviderDeps, type SessionSource, type SourceContext } from './source';

/** The source the settings call for; `config` undefined when they are not usable. */
export function createSource(config: ProviderConfig | undefined, ctx: SourceContext): SessionSource {
  if (!config) return new Unconfigured(ctx);
  if (config.grant === 'clientCredentials') return new ServiceAccountSource(config, ctx);
  if (config.clientId === '') return new RegistrationSource(config, ctx, (registered) => interactiveSource(registered, ctx));
  return interactiveSource(config, ctx);
}

function interactiveSource(config: ProviderConfig, ctx: SourceContext): InteractiveSource {
  const flows = signInFlows(ctx.deps);
  return new InteractiveSource(ctx, flows, (onDidChange) =>
    createSessionManager({ config, deps: ctx.deps, flow: flows.forConfig(config), onDidChange, provider: ctx.identity.id }),
  );
}

export interface SessionManagerInputs {
  config: ProviderConfig;
  deps: Pick<ProviderDeps, 'secrets' | 'globalStorage' | 'issuers' | 'log'>;
  flow: SignInFlow;
  onDidChange: (change: SessionsChange) => void;
  /**
   * The provider (`oidc`, `oidc.<id>`) whose sessions these are. Its manager follows other
   * windows' changes, refreshes ahead of expiry and sends a stored client secret; without one it
   * is detached: it only lists and signs out (sessions of a pair no provider uses now).
   */
  provider?: string;
}

/** A SessionManager with its storage and, for a provider, the watch on other windows' changes. */
export function createSessionManager({ config, deps, flow, onDidChange, provider }: SessionManagerInputs): ManagedSessions {
  const key = storageKeyOf(config);
  const store = new VscodeSecretStore(deps.secrets);
  const manager = new SessionManager({
    config,
    store,
    storage: sessionStorage(deps, key, store, provider),
    issuers: deps.issuers,
    flow,
    log: deps.log,
    onDidChange,
    ...(provider ? { clientSecret: () => Promise.resolve(deps.secrets.get(clientSecretKey(config))) } : { proactiveRefresh: false }),
  });
  if (!provider) return { manager, dispose: () => manager.dispose() };
  const reload = () => void manager.reload().catch((err: unknown) => deps.log.warn(`Could not reload sessions: ${String(err)}`));
  // Other windows' sign-ins, sign-outs and refreshes.
  const watch = watchStoredSessions(deps, key, store, reload);
  return {
    manager,
    dispose: () => {
      watch.dispose();
      manager.dispose();
    },
  };
}

/** The flows of a provider's settings (`auto` picks and falls back), and the device code flow. */
export function signInFlows(deps: Pick<ProviderDeps, 'uriCallbacks'>): Flows {
  const deviceCode = (): SignInFlow => new DeviceCodeFlow({ presenter: vscodeDeviceCodePresenter });
  return {
    deviceCode,
    forConfig: (config) =>
      new ChosenFlow(
        config.flow,
        describeEnvironment(),
        (id) => {
          switch (id) {
            case 'loopback':
              return new LoopbackFlow(config.loopbackPort);
            case 'uriHandler':
              return new UriHandlerFlow(deps.uriCallbacks);
            case 'deviceCode':
              return deviceCode();
          }
        },
        (notice) => {
          void vscode.window.showInformationMessage(fallbackMessage(notice));
        },
      ),
  };
}

/** Settings not usable and no earlier source to keep: no sessions, and sign-in says why. */
class Unconfigured extends BaseSource implements SessionSource {
  readonly manager = undefined;

  readonly #ctx: SourceContext;

  constructor(ctx: SourceContext) {
    super();
    this.#ctx = ctx;
  }

  getSessions(): Promise<vscode.AuthenticationSession[]> {
    return Promise.resolve([]);
  }

  createSession(): Promise<vscode.AuthenticationSession> {
    const err = new OidcError('config', 'OpenID Connect is not configured.');
    reportError(err, { showLog: this.#ctx.deps.showLog });
    return Promise.reject(err);
  }

  removeSession(): Promise<void> {
    return Promise.resolve();
  }

  reconfigure(): boolean {
    return false;
  }
}
