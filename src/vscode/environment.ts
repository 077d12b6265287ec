/** What the flow chooser needs to know about where this window runs. */
import * as vscode from 'vscode';
import type { FlowEnvironment } from '../core/flows/choose';

export function describeEnvironment(): Omit<FlowEnvironment, 'hasDeviceEndpoint'> {
  const isWeb = vscode.env.uiKind === vscode.UIKind.Web;
  // In a remote window (SSH, WSL, containers, Codespaces) or a web window the extension host is
  // not on the machine whose browser the user signs in with.
  return { isWeb, isRemote: isWeb || vscode.env.remoteName !== undefined };
}
