/** Settings the real-VS Code suites change, from the extension host. */
import * as vscode from 'vscode';

/** Points the default provider at `issuer` with the test client and the loopback flow; undefined clears it. */
export async function configureLoopbackIssuer(issuer: string | undefined): Promise<void> {
  const config = vscode.workspace.getConfiguration('oidcAuth');
  await config.update('issuer', issuer, vscode.ConfigurationTarget.Global);
  await config.update('clientId', issuer ? 'oidc-auth-test' : undefined, vscode.ConfigurationTarget.Global);
  await config.update('flow', issuer ? 'loopback' : undefined, vscode.ConfigurationTarget.Global);
}
