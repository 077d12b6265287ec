/**
 * `npm start`: a local VS Code (the web workbench from the npm package code-server) with this
 * extension installed and pointed at a local OpenID Connect provider, so anyone can try the
 * sign-in in a browser on this machine. Stops everything it started on Ctrl-C.
 *
 *   node out/scripts/demo.js [--skip-package]
 *
 * Environment: OIDC_DEMO_PORT (VS Code, default 8080), OIDC_DEMO_IDP_PORT (default 9400); both
 * fall back to a free port when taken. OIDC_DEMO_FLOW sets `oidcAuth.flow` (default `loopback`;
 * `auto` is what a web window does unconfigured: VS Code's URI-handler redirect).
 * OIDC_DEMO_VSIX uses a prebuilt package instead of `npm run package`. OIDC_AUTH_VSCODE_CACHE as
 * for scripts/ensure-test-vscode.sh.
 *
 * Why the IdP is `http://[::1]:PORT`: the web workbench rewrites `openExternal` of
 * `http://127.0.0.1:PORT/...` and `http://localhost:PORT/...` to its own port proxy
 * (`http://127.0.0.1:8080/proxy/PORT/...`), where oidc-provider's absolute redirects and
 * path-scoped cookies break. It does not rewrite `[::1]`, which the extension accepts over http
 * like the other loopback hosts. The IdP listens on 127.0.0.1 and a small forwarder serves it on
 * [::1] as well. The extension itself is unchanged; real users configure their real IdP.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCodeServerInstall, repoRoot } from '../test/support/vscode/install';
import { freePort, isPortFree } from '../test/support/ports';
import { startCodeServer, type RunningCodeServer } from '../test/support/vscode/launcher';
import { startLoopbackForwarder, type LoopbackForwarder } from '../test/support/loopbackForwarder';
import type { TestIdp } from '../test/support/idp';

const DEMO_DIR = path.join(repoRoot, '.vscode-test', 'demo');

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function step(line: string): void {
  say(`demo: ${line}`);
}

async function idpPort(preferred: number): Promise<number> {
  // The IdP listens on 127.0.0.1 and is forwarded from [::1]: the port must be free on both.
  const free = async (p: number) => (await isPortFree(p, '127.0.0.1')) && (await isPortFree(p, '::1'));
  if (await free(preferred)) return preferred;
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (await free(p)) return p;
  }
  throw new Error('no port free on both 127.0.0.1 and [::1]');
}

function packageExtension(skip: boolean): string {
  const prebuilt = process.env.OIDC_DEMO_VSIX;
  if (prebuilt) {
    if (!fs.existsSync(prebuilt)) throw new Error(`OIDC_DEMO_VSIX=${prebuilt} does not exist`);
    return path.resolve(prebuilt);
  }
  const vsix = path.join(repoRoot, 'oidc-auth.vsix');
  if (skip && fs.existsSync(vsix)) return vsix;
  step('building and packaging the extension (npm run package)');
  const result = spawnSync('npm', ['run', '--silent', 'package'], { cwd: repoRoot, stdio: 'inherit', timeout: 300_000 });
  if (result.status !== 0 || !fs.existsSync(vsix)) throw new Error(`npm run package failed (exit ${result.status ?? result.signal})`);
  return vsix;
}

/** Hides oidc-provider's development-only warnings: expected for the demo IdP, noise for a newcomer. */
function hideIdpDevWarnings(): void {
  for (const level of ['warn', 'info', 'log'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && /^(\x1b\[[\d;]*m)?oidc-provider (WARNING|NOTICE)/.test(args[0])) return;
      original(...args);
    };
  }
}

function writeWorkspace(folder: string, urls: { vscode: string; issuer: string; flow: string }): void {
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(
    path.join(folder, 'README.md'),
    `# OpenID Connect Authentication — demo

This VS Code runs the **OpenID Connect Authentication** extension, already configured
for a local demo identity provider: \`oidcAuth.issuer\` = \`${urls.issuer}\`,
\`oidcAuth.clientId\` = \`oidc-auth-test\`, \`oidcAuth.flow\` = \`${urls.flow}\` (see *File > Preferences >
Settings*, or \`.vscode-test/demo/code-server/user-data/User/settings.json\` in the repository).

## Try it

1. Click the **Accounts** icon at the bottom of the activity bar (left) and choose
   **Sign in with OpenID Connect to use OpenID Connect Authentication (1)**
   — or run **OpenID Connect: Sign In** from the Command Palette (F1).
2. A new browser tab opens the identity provider's page. Sign in with **any username and any
   password** (\`alice\` becomes *alice@example.test*), then click **Continue**.
3. The tab says you are signed in; close it. The Accounts menu now shows your account.
4. Sign out with **OpenID Connect: Sign Out** from the Command Palette.

Reload the page: you stay signed in (the session is kept in VS Code's secret storage).
If no tab opens at step 2, allow pop-ups for ${new URL(urls.vscode).host} in your browser.
`,
  );
}

async function main(): Promise<void> {
  const skipPackage = process.argv.includes('--skip-package');
  const started: { server?: RunningCodeServer; forwarder?: LoopbackForwarder; idp?: TestIdp } = {};
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say();
    step('stopping…');
    await started.server?.stop().catch(() => undefined);
    await started.forwarder?.close().catch(() => undefined);
    await started.idp?.close().catch(() => undefined);
    step('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  process.on('SIGHUP', () => void stopAll(0));

  try {
    step('checking the local VS Code (code-server) and Chromium install');
    const install = ensureCodeServerInstall();
    const vsix = packageExtension(skipPackage);

    const port = await idpPort(Number(process.env.OIDC_DEMO_IDP_PORT ?? 9400));
    const vscodePort = await freePort([Number(process.env.OIDC_DEMO_PORT ?? 8080)]);
    hideIdpDevWarnings();
    // Loaded only now, so that the filter above also hides the warnings oidc-provider prints on load.
    const { startTestIdp } = await import('../test/support/idp.js');
    const idpOptions = {
      port,
      issuerHost: '[::1]',
      // With OIDC_DEMO_FLOW=auto or uriHandler the redirect is VS Code web's own
      // http://127.0.0.1:<vscodePort>/stable-<commit>/callback?vscode-reqid=…, which changes per request.
      redirectUriPrefixes: [`http://127.0.0.1:${vscodePort}/`],
    };
    const idp = await startTestIdp(idpOptions);
    started.idp = idp;
    try {
      started.forwarder = await startLoopbackForwarder(port, { listenHost: '::1' });
    } catch (err) {
      throw new Error(`cannot listen on [::1]:${port} (${String(err)}); the demo needs IPv6 loopback, see the comment at the top of scripts/demo.ts`);
    }
    idp.provider.on('grant.success', (ctx) => {
      step(`identity provider issued tokens (${String(ctx.oidc.params?.grant_type ?? 'unknown grant')})`);
    });
    idp.provider.on('grant.revoked', () => step('identity provider revoked a grant (sign-out)'));

    const folder = path.join(DEMO_DIR, 'workspace');
    const flow = process.env.OIDC_DEMO_FLOW ?? 'loopback';
    writeWorkspace(folder, { vscode: `http://127.0.0.1:${vscodePort}/`, issuer: idp.issuer, flow });
    step(`starting VS Code ${install.version} (code-server) with ${path.relative(repoRoot, vsix)} installed`);
    started.server = await startCodeServer({
      dir: path.join(DEMO_DIR, 'code-server'),
      fresh: true, // the demo IdP keeps no state between runs; neither does the demo VS Code
      install,
      port: vscodePort,
      folder,
      vsix: [vsix],
      settings: {
        'oidcAuth.issuer': idp.issuer,
        'oidcAuth.clientId': idp.clientId,
        // `auto` skips the loopback redirect in web windows, since there the browser is usually on
        // another machine and uses VS Code's URI handler instead. The demo's browser is on this
        // machine, and the loopback shows the extension's own "Signed in" page; OIDC_DEMO_FLOW=auto
        // shows what a web window does by default.
        'oidcAuth.flow': flow,
        'workbench.startupEditor': 'readme',
      },
    });
    const server = started.server;
    void server.exited.then((how) => {
      if (stopping) return;
      step(`VS Code stopped unexpectedly (${how}); see ${path.relative(process.cwd(), server.logFile)}`);
      void stopAll(1);
    });

    say();
    say('  OpenID Connect demo is running.');
    say();
    say(`  Open VS Code:         ${server.url}`);
    say(`  Identity provider:    ${idp.issuer}  (client id ${idp.clientId})`);
    say();
    say('  In VS Code, click the Accounts icon (bottom left) and choose');
    say('  "Sign in with OpenID Connect…", then sign in with any username and password.');
    say('  Use a browser on this machine. Every run starts signed out (fresh VS Code profile and IdP).');
    say('  Logs: ' + path.relative(process.cwd(), server.logFile));
    say();
    say('  Press Ctrl-C to stop.');
    say();
  } catch (err) {
    step(`failed: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll(1);
  }
}

void main();
