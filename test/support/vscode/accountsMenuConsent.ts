/**
 * Gets a session for the test host the way a person grants one to an extension: VS Code refuses
 * its consent dialog in mocha suites, so the suite takes the other road VS Code offers. A
 * `getSession` that is neither silent nor `createIfNone` puts "Grant access to …" in the Accounts
 * menu; running that entry opens VS Code's account quick pick, and accepting the account allows
 * the host, after which a silent `getSession` returns the session. Nothing in the extension is
 * bypassed: the consent is VS Code's own, given through its own UI.
 */
import * as vscode from 'vscode';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The Accounts-menu command VS Code registered for this host's request to use `providerId`. */
async function accessRequestCommand(providerId: string, deadline: number): Promise<string> {
  for (;;) {
    const found = (await vscode.commands.getCommands(true)).filter(
      (c) => c.startsWith(providerId) && c.endsWith('Access') && !c.startsWith(`${providerId}Auth.`),
    );
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw new Error(`several access requests for ${providerId}: ${found.join(', ')}`);
    if (Date.now() > deadline) throw new Error(`VS Code registered no "Grant access" entry for ${providerId}`);
    await sleep(100);
  }
}

/**
 * The session of `providerId` for `scopes`, allowed to the test host through the Accounts menu's
 * quick pick (the first account in it is accepted). Fails when there is no such session.
 */
export async function sessionThroughAccountsMenu(providerId: string, scopes: readonly string[], timeoutMs = 20_000): Promise<vscode.AuthenticationSession> {
  const allowed = await vscode.authentication.getSession(providerId, scopes, { silent: true });
  if (allowed) return allowed;
  const deadline = Date.now() + timeoutMs;
  // Neither silent nor createIfNone: VS Code answers undefined and adds the access request.
  const none = await vscode.authentication.getSession(providerId, scopes, {});
  if (none) return none;
  const command = await accessRequestCommand(providerId, deadline);
  const picked = vscode.commands.executeCommand(command);
  for (;;) {
    await sleep(300);
    // Accepts the quick pick's active item: the session's account, listed first.
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
    const session = await vscode.authentication.getSession(providerId, scopes, { silent: true });
    if (session) {
      await picked;
      return session;
    }
    if (Date.now() > deadline) throw new Error(`VS Code did not allow the session of ${providerId} for ${scopes.join(' ')} through the Accounts menu`);
  }
}
