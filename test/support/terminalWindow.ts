/**
 * A window's terminal access for the core tests: the real channel (src/core/terminal/server.ts)
 * over the real session manager signed in at a test IdP, and the real `oidc-token` tool run as a
 * separate process (out/src/cli/main.js, what esbuild bundles into dist/oidc-token.js). Consent
 * and sign-in are the window's; here they are callbacks that count.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProviderConfig } from '../../src/core/config';
import type { SessionManager } from '../../src/core/sessions/sessionManager';
import type { StoredSession } from '../../src/core/sessions/sessions';
import { ENV_CLI, ENV_NODE, ENV_SECRET, ENV_SOCKET } from '../../src/core/terminal/protocol';
import { TerminalChannel } from '../../src/core/terminal/server';
import { serveTokenRequest, type TerminalProvider, type TerminalTokenDeps } from '../../src/core/terminal/tokenService';
import { writeWrapper } from '../../src/core/terminal/wrapper';
import { robotSignIn, testManager } from './coreHarness';
import type { TestIdp } from './idp';
import { recordingLogger, trackSecrets } from './tokenLedger';

export const CLI = path.resolve(__dirname, '../../src/cli/main.js');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function oidcToken(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Window {
  channel: TerminalChannel;
  manager: SessionManager;
  env: Record<string, string>;
  logs: string[];
  consents: StoredSession[];
  requests: number;
  /** What consent answers. */
  allow: boolean;
  close(): Promise<void>;
}

const secrets = new Set<string>();
trackSecrets(() => secrets);
const windows: Window[] = [];

/** Closes every window opened since the last call (each suite's afterEach). */
export async function closeWindows(): Promise<void> {
  for (const w of windows.splice(0)) await w.close();
}

export async function openWindow(idp: TestIdp, options: { scopes?: string[]; deps?: Partial<TerminalTokenDeps>; folder?: string } = {}): Promise<Window> {
  const logs: string[] = [];
  const log = recordingLogger(logs);
  const config: ProviderConfig = {
    issuer: new URL(idp.issuer),
    clientId: idp.clientId,
    scopes: options.scopes ?? ['openid', 'email', 'offline_access'],
    flow: 'loopback',
    loopbackPort: 0,
  };
  const manager = testManager(config, {
    log,
    // Keeps every token and the window secret on the run's list of values no log may contain.
    onDidChange: (c) => [...c.added, ...c.changed].forEach((s) => [s.accessToken, s.refreshToken, s.idToken].forEach((t) => t && secrets.add(t))),
  });
  const provider: TerminalProvider = { id: 'oidc', label: 'OpenID Connect', sessions: manager };
  const folder = options.folder ?? fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-term-'));
  const w: Window = {
    manager,
    logs,
    consents: [],
    requests: 0,
    allow: true,
    env: {},
    channel: undefined as unknown as TerminalChannel,
    close: async () => {
      await w.channel.close();
      manager.dispose();
    },
  };
  w.channel = await TerminalChannel.open(
    folder,
    (request) => {
      w.requests++;
      return serveTokenRequest(request, {
        provider: (id) => (id === 'oidc' ? provider : undefined),
        consent: async (_p, session) => {
          w.consents.push(session);
          return w.allow;
        },
        signIn: (_p, scopes) => manager.createSession(scopes, robotSignIn()),
        log,
        ...options.deps,
      });
    },
    log,
  );
  secrets.add(w.channel.secret);
  w.env = { [ENV_SOCKET]: w.channel.address, [ENV_SECRET]: w.channel.secret, [ENV_NODE]: process.execPath, [ENV_CLI]: CLI };
  windows.push(w);
  return w;
}

export function refreshes(idp: TestIdp): number {
  return idp.tokenCalls.filter((c) => c.grantType === 'refresh_token').length;
}

export function noTokenIn(w: Window, ...outputs: string[]): void {
  for (const secret of secrets) {
    for (const line of [...w.logs, ...outputs]) assert.ok(!line.includes(secret), `a token or the secret reached a log line or stderr: ${line.split(secret).join('<SECRET>').slice(0, 200)}`);
  }
}

export function decodeJwt(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The extension's `oidc-token` wrapper in a folder of its own, for tools (kubectl) that find it on the PATH. */
export function wrapperFolder(): string {
  return writeWrapper(fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-term-bin-')));
}
