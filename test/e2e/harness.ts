/**
 * Sets up the end-to-end world: the packaged extension and the consumer test extension, the
 * test IdP, code-server's entry.js with both installed, a Chromium profile, and the HTTP driver
 * the consumer extension talks to. The shape of a suite around it (hooks, failure records, logs)
 * is suite.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { ensureCodeServerInstall, repoRoot } from '../support/vscode/install';
import { freePort } from '../support/ports';
import { launchBrowser, startCodeServer, type RunningCodeServer } from '../support/vscode/launcher';
import { startLoopbackForwarder, type LoopbackForwarder } from '../support/loopbackForwarder';
import { startTestIdp, type TestIdp, type TestIdpOptions } from '../support/idp';
import { ConsumerDriver } from './driver';
import { waitForWorkbench } from './workbench';

export const E2E_DIR = path.join(repoRoot, '.vscode-test', 'e2e');
export const LOG_DIR = path.join(repoRoot, '.test-logs', 'e2e');
export const CONSUMER_DIR = path.join(repoRoot, 'test', 'fixtures', 'consumer-extension');
export const CONSUMER_ID = 'oidc-auth-tests.oidc-e2e-consumer';
export const CONSUMER_NAME = 'OIDC e2e consumer (test fixture)';

function newestMtime(target: string): number {
  if (!fs.existsSync(target)) return 0;
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of fs.readdirSync(target)) newest = Math.max(newest, newestMtime(path.join(target, entry)));
  return newest;
}

/**
 * The extension under test as a .vsix: $OIDC_E2E_VSIX, else the repository's oidc-auth.vsix
 * (made by `npm run package`), repackaged first when missing or older than its sources.
 */
export function extensionVsix(): string {
  const fromEnv = process.env.OIDC_E2E_VSIX;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`OIDC_E2E_VSIX=${fromEnv} does not exist`);
    return path.resolve(fromEnv);
  }
  const vsix = path.join(repoRoot, 'oidc-auth.vsix');
  const sources = Math.max(...['src', 'package.json', 'esbuild.js', 'media'].map((p) => newestMtime(path.join(repoRoot, p))));
  if (!fs.existsSync(vsix) || fs.statSync(vsix).mtimeMs < sources) {
    const result = spawnSync('npm', ['run', 'package'], { cwd: repoRoot, encoding: 'utf8', timeout: 240_000 });
    if (result.status !== 0 || !fs.existsSync(vsix)) {
      throw new Error(`npm run package failed (exit ${result.status ?? result.signal}):\n${(result.stdout ?? '') + (result.stderr ?? '')}`);
    }
  }
  return vsix;
}

/** Packages test/fixtures/consumer-extension with vsce (about a second). */
export function consumerVsix(outDir: string): string {
  const out = path.join(outDir, 'oidc-e2e-consumer.vsix');
  fs.mkdirSync(outDir, { recursive: true });
  const vsce = require.resolve('@vscode/vsce/vsce');
  const result = spawnSync(
    process.execPath,
    [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--out', out],
    { cwd: CONSUMER_DIR, encoding: 'utf8', timeout: 60_000 },
  );
  if (result.status !== 0 || !fs.existsSync(out)) {
    throw new Error(`packaging the consumer extension failed:\n${(result.stdout ?? '') + (result.stderr ?? '')}`);
  }
  return out;
}

export interface AuthorizationRequest {
  /** The URL the workbench opened (before any proxy rewrite was undone). */
  opened: string;
  /** The authorization request as it reached the IdP in the browser (with PAR: only `request_uri`). */
  url: URL;
}

/** Parameters of an authorization the IdP completed (a code issued), PAR or not. */
export type CompletedAuthorization = Record<string, string>;

/** A Pushed Authorization Request as the IdP answered it (RFC 9126): its parameters, and the error when refused. */
export interface PushedAuthorization {
  params: Record<string, string>;
  ok: boolean;
  error?: string;
  at: number;
}

/** What a test file may change about the world (all optional; the defaults are signIn.test.ts's). */
export interface WorldOptions {
  /** Subdirectory name under .vscode-test/e2e/ for this world's code-server and Chromium profile. Default: the shared ones. */
  name?: string;
  /**
   * Let the IdP accept the web window's URI-handler redirect (`http://127.0.0.1:<code-server>/…/callback`).
   * Default true; false makes the IdP refuse it, as an IdP that never registered it does.
   */
  acceptWebRedirect?: boolean;
  /** More test IdP options (deviceFlow, par, …). */
  idp?: Partial<TestIdpOptions>;
  /** More user settings (over the issuer, client id and flow). */
  settings?: Record<string, unknown>;
  /** More environment for the server and so its extension hosts (e.g. OIDC_AUTH_<ID>_ACCESS_TOKEN). */
  env?: NodeJS.ProcessEnv;
  /** Workspace trust on, and the folder opened without being trusted (Restricted Mode). Default false. */
  untrustedFolder?: boolean;
  /** The opened folder's `.vscode/settings.json`. */
  folderSettings?: Record<string, unknown>;
}

export interface World {
  idp: TestIdp;
  /** The issuer configured in the extension's settings. */
  issuer: string;
  /** How the sign-in page gets past the workbench's rewrite of loopback URLs. */
  mode: 'proxy-route' | 'ipv6-loopback';
  forwarder: LoopbackForwarder | undefined;
  server: RunningCodeServer;
  context: BrowserContext;
  page: Page;
  driver: ConsumerDriver;
  /** Authorization requests seen by the browser, in order. */
  authorizationRequests: AuthorizationRequest[];
  /** Authorizations completed at the IdP (`authorization.success`), with their parameters. */
  completedAuthorizations: CompletedAuthorization[];
  /** Pushed Authorization Requests the IdP accepted or refused, in order (the redirect_uri as the IdP saw it). */
  pushedAuthorizations: PushedAuthorization[];
  stop(): Promise<void>;
}

/**
 * Starts everything. `OIDC_E2E_ISSUER_HOST=[::1]` runs in the demo's configuration (issuer on
 * `http://[::1]:PORT`, which the workbench does not rewrite); the default is an issuer on
 * 127.0.0.1 with the workbench's `/proxy/PORT/` URLs answered by a Playwright route.
 */
export async function startWorld(log: (line: string) => void, options: WorldOptions = {}): Promise<World> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const install = ensureCodeServerInstall({ onlyIfMissing: true });
    let t = Date.now();
    const vsix = extensionVsix();
    // Per world, so suites running at the same time never install each other's half-written package.
    const consumer = consumerVsix(options.name ? path.join(E2E_DIR, options.name) : E2E_DIR);
    log(`packages ready in ${Date.now() - t} ms: ${path.relative(repoRoot, vsix)}, ${path.relative(repoRoot, consumer)}`);

    const ipv6 = process.env.OIDC_E2E_ISSUER_HOST === '[::1]';
    // The port is chosen first so the IdP can also accept the redirect a web window makes of
    // `vscode://…/callback` (code-server's `/stable-<commit>/callback?vscode-reqid=…`), for runs
    // with OIDC_E2E_FLOW=auto or uriHandler. Not an object literal: older idp.ts lack the option.
    const codeServerPort = await freePort();
    const idpOptions = {
      ...(ipv6 ? { issuerHost: '[::1]' } : {}),
      ...(options.acceptWebRedirect === false ? {} : { redirectUriPrefixes: [`http://127.0.0.1:${codeServerPort}/`] }),
      ...options.idp,
    };
    const idp = await startTestIdp(idpOptions);
    cleanups.push(() => idp.close());
    let forwarder: LoopbackForwarder | undefined;
    if (ipv6) {
      forwarder = await startLoopbackForwarder(idp.port);
      cleanups.push(() => forwarder!.close());
    }

    const completedAuthorizations: CompletedAuthorization[] = [];
    idp.provider.on('authorization.success', (ctx) => {
      const params: CompletedAuthorization = {};
      for (const [k, v] of Object.entries(ctx.oidc.params ?? {})) if (typeof v === 'string') params[k] = v;
      completedAuthorizations.push(params);
    });
    const pushedAuthorizations: PushedAuthorization[] = [];
    const paramsOf = (ctx: { oidc?: { params?: Record<string, unknown> } }) => {
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(ctx.oidc?.params ?? {})) if (typeof v === 'string') params[k] = v;
      return params;
    };
    idp.provider.on('pushed_authorization_request.success', (ctx) => {
      pushedAuthorizations.push({ params: paramsOf(ctx), ok: true, at: Date.now() });
    });
    idp.provider.on('pushed_authorization_request.error', (ctx, err: Error & { error?: string; error_description?: string }) => {
      pushedAuthorizations.push({
        params: paramsOf(ctx),
        ok: false,
        error: [err.error ?? err.name, err.error_description].filter(Boolean).join(': '),
        at: Date.now(),
      });
    });

    const driver = new ConsumerDriver();
    await driver.start();
    cleanups.push(() => driver.stop());

    t = Date.now();
    const server = await startCodeServer({
      dir: path.join(E2E_DIR, options.name ? `code-server-${options.name}` : 'code-server'),
      fresh: true,
      port: codeServerPort,
      install,
      vsix: [vsix, consumer],
      env: { ...options.env, OIDC_E2E_DRIVER: driver.url },
      settings: {
        'oidcAuth.issuer': idp.issuer,
        'oidcAuth.clientId': idp.clientId,
        // `auto` skips the loopback in web windows (the browser may be on another machine) and
        // would use the URI-handler redirect, which the test client does not register. Here the
        // browser runs on this machine, so the loopback is right; OIDC_E2E_FLOW overrides.
        'oidcAuth.flow': process.env.OIDC_E2E_FLOW ?? 'loopback',
        // Trust on, and no start-up prompt: the folder stays untrusted (Restricted Mode).
        ...(options.untrustedFolder ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' } : {}),
        ...options.settings,
      },
      ...(options.untrustedFolder ? { workspaceTrust: true } : {}),
      ...(options.folderSettings ? { folderSettings: options.folderSettings } : {}),
    });
    cleanups.push(() => server.stop());
    log(`code-server ${install.version} on ${server.url} (pid ${server.pid}) in ${Date.now() - t} ms`);

    const profileDir = path.join(E2E_DIR, options.name ? `chromium-profile-${options.name}` : 'chromium-profile');
    fs.rmSync(profileDir, { recursive: true, force: true });
    const context = await launchBrowser({
      profileDir,
      headless: process.env.OIDC_E2E_HEADED !== '1',
      ...(ipv6 ? {} : { undoProxyRewrite: { codeServerPort: server.port } }),
    });
    cleanups.push(() => context.close());

    const authorizationRequests: AuthorizationRequest[] = [];
    const idpHosts = new Set([`127.0.0.1:${idp.port}`, `[::1]:${idp.port}`, `localhost:${idp.port}`]);
    let lastProxyUrl: string | undefined;
    context.on('request', (req: Request) => {
      let url: URL;
      try {
        url = new URL(req.url());
      } catch {
        return;
      }
      if (url.host === `127.0.0.1:${server.port}` && url.pathname.startsWith(`/proxy/${idp.port}/`)) lastProxyUrl = req.url();
      if (idpHosts.has(url.host) && url.pathname === '/auth' && url.searchParams.has('client_id')) {
        authorizationRequests.push({ opened: lastProxyUrl ?? req.url(), url });
        lastProxyUrl = undefined;
      }
    });

    const page = context.pages()[0] ?? (await context.newPage());
    t = Date.now();
    await page.goto(server.url, { timeout: 60_000 });
    await waitForWorkbench(page, 60_000);
    await driver.waitForHello(0, 60_000);
    log(`workbench and consumer extension up in ${Date.now() - t} ms`);

    return {
      idp,
      issuer: idp.issuer,
      mode: ipv6 ? 'ipv6-loopback' : 'proxy-route',
      forwarder,
      server,
      context,
      page,
      driver,
      authorizationRequests,
      completedAuthorizations,
      pushedAuthorizations,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
