/**
 * The extension's real OidcAuthenticationProvider (src/vscode/provider.ts) on the `vscode` shim,
 * configured for a test IdP with the loopback flow, its browser played by the login robot.
 */
import * as fs from 'node:fs';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import type { OidcAuthenticationProvider } from '../../src/vscode/provider';
import type { OidcAuthApi } from '../../src/vscode/api';
import { completeLogin } from '../../test/support/loginRobot';
import { DEFAULT_SCOPES, pageTemplates, tempDir } from './harness';
import { installVscodeShim, MapSecretStorage, stage, Uri } from './vscodeShim';

export interface StagedProvider {
  provider: OidcAuthenticationProvider;
  api: OidcAuthApi;
  secrets: MapSecretStorage;
  dispose(): void;
}

/**
 * `openExternal` plays the browser (default: the login robot in this process, not awaited, as a
 * real browser runs beside VS Code).
 */
export async function startProvider(
  issuer: string,
  clientId: string,
  openExternal: (url: string) => void = (url) => void completeLogin(url, { login: 'alice' }).catch(() => undefined),
): Promise<StagedProvider> {
  installVscodeShim();
  // Loaded only now: these modules require `vscode`.
  const { OidcAuthenticationProvider, PROVIDER_ID, PROVIDER_LABEL } = await import('../../src/vscode/provider.js');
  const { readProviderConfig } = await import('../../src/vscode/settings.js');
  const { createApi } = await import('../../src/vscode/api.js');
  stage.settings.set('oidcAuth.issuer', issuer);
  stage.settings.set('oidcAuth.clientId', clientId);
  stage.settings.set('oidcAuth.scopes', DEFAULT_SCOPES);
  stage.settings.set('oidcAuth.flow', 'loopback');
  stage.settings.set('oidcAuth.loopbackPort', 0);
  stage.openExternal = async (url: string) => {
    openExternal(url);
    return true;
  };
  const globalStorage = tempDir('global-storage');
  const secrets = new MapSecretStorage();
  // As src/extension.ts makes the top-level provider.
  const provider = new OidcAuthenticationProvider(
    {
      secrets: secrets as never,
      globalStorage: Uri.file(globalStorage) as never,
      issuers: new IssuerCache(silentLogger),
      log: silentLogger,
      templates: pageTemplates(),
      uriCallbacks: {} as never,
      showLog: () => undefined,
    },
    { id: PROVIDER_ID, label: PROVIDER_LABEL, readConfig: readProviderConfig, primary: true },
  );
  const api = createApi(() => [provider]);
  return {
    provider,
    api,
    secrets,
    dispose: () => {
      provider.dispose();
      fs.rmSync(globalStorage, { recursive: true, force: true });
    },
  };
}
