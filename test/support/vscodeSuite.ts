/**
 * The steps the real-VS Code (integration) suites share, run in the extension host: get the
 * browser and the extension ready, start a test IdP whose tokens the secret-hygiene suite looks
 * for, point the settings at it, sign in through the browser, and undo it all after.
 */
import * as vscode from 'vscode';
import { startTestIdp, type TestIdp, type TestIdpOptions } from './idp';
import { trackIssuedTokens } from './tokenLedger';
import * as browser from './vscode/browserControl';

/** The extension's settings (read afresh: a configuration object is a snapshot). */
export const oidcSettings = () => vscode.workspace.getConfiguration('oidcAuth');

/** The start of a suite's `before`: the tests control the browser, and the extension is active. */
export async function readyExtension(): Promise<void> {
  browser.requireBrowserControl();
  await vscode.extensions.getExtension('oidc-auth.oidc-auth')!.activate();
}

/** A test IdP whose issued tokens test/integration/zz-secretHygiene.test.ts looks for in every log. */
export async function trackedIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const idp = await startTestIdp(options);
  trackIssuedTokens(idp);
  return idp;
}

/** readyExtension(), then trackedIdp(options). */
export async function readySuite(options: TestIdpOptions = {}): Promise<TestIdp> {
  await readyExtension();
  return trackedIdp(options);
}

/** Writes each of `settings` to the user settings; `undefined` removes one. */
export async function updateSettings(settings: Record<string, unknown>): Promise<void> {
  for (const [key, value] of Object.entries(settings)) await oidcSettings().update(key, value, vscode.ConfigurationTarget.Global);
}

/** Runs oidcAuth.signIn (with `args`) from a fresh browser, no cookies, that logs in as `login`. */
export async function signInAs(login: string, ...args: unknown[]): Promise<void> {
  await browser.reset();
  await browser.clearCookies();
  await browser.setPlan({ action: 'login', login });
  await vscode.commands.executeCommand('oidcAuth.signIn', ...args);
}

/** The labels of the accounts VS Code lists for the default provider. */
export async function accountLabels(): Promise<string[]> {
  return (await vscode.authentication.getAccounts('oidc')).map((a) => a.label);
}

/**
 * The end of a suite's `after`: signs out of `idp` (unless `signOut` is false; sessions of other
 * suites' IdPs stay stored), removes the `settings` named and closes the IdP. Nothing when the
 * suite's `before` failed before the IdP started.
 */
export async function endSuite(idp: TestIdp | undefined, settings: string[], signOut = true): Promise<void> {
  if (!idp) return;
  if (signOut) await vscode.commands.executeCommand('oidcAuth.signOut', { issuer: idp.issuer });
  await updateSettings(Object.fromEntries(settings.map((key) => [key, undefined])));
  await idp.close();
}
