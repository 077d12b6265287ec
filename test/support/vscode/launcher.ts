/**
 * The one launcher of the real VS Code for tests, benchmark, screenshots and the demo: starts the
 * VS Code server from the npm package code-server with its own profile (user data, extensions,
 * settings) on 127.0.0.1, opens Debian's Chromium through playwright-core, and stops both with
 * everything they forked. Two server entries, one option:
 *  - `code-server` (default): code-server's `out/node/entry.js --auth none`, the only entry that
 *    serves `/mint-key` (SecretStorage survives a page reload) and installs `.vsix` files: the
 *    e2e suites, the demo and the screenshots (test/support/loopbackForwarder.ts has its loopback facts);
 *  - `server-main`: VS Code's own `server-main.js --enable-smoke-test-driver`, where the workbench
 *    loads an extension under development and a tests entry from its `payload` query parameter
 *    and reports through `window.codeAutomationLog`/`codeAutomationExit` (`openTestWorkbench`):
 *    the integration suites (codeServer.ts) and the activation benchmark (bench/activation.ts).
 * A little over 300 lines on purpose: the two entries and the browser are one launcher, so that
 * a change to how VS Code is started is made once, here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, LaunchOptions, Page } from 'playwright-core';
import { format } from 'node:util';
import { freePort } from '../ports';
import { sleep } from './async';
import { ensureCodeServerInstall, type CodeServerInstall } from './install';
import { cleanEnv, spawnGroup, stopGroup, tail } from './processGroup';

/** User settings that keep the window quiet and predictable (no welcome page, chat, updates, git). */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'github.gitAuthentication': false,
};

export interface CodeServerOptions {
  /** State directory: user data, extensions, config, workspace and log live under it. */
  dir: string;
  /** Which server to run (see the top of this file). Default `code-server`. */
  entry?: 'code-server' | 'server-main';
  /** Delete `dir` first (a fresh profile). Default false. */
  fresh?: boolean;
  /** Port to bind on 127.0.0.1; default a free one (`code-server`) or 0, the server's pick (`server-main`). */
  port?: number;
  /** `.vsix` files to install with code-server's `--install-extension` before the server starts. */
  vsix?: string[];
  /** User settings, merged over QUIET_SETTINGS into `<user-data-dir>/User/settings.json`. */
  settings?: Record<string, unknown>;
  /** Extra environment for the server (the extension host inherits it; `undefined` removes a variable). */
  env?: NodeJS.ProcessEnv;
  /** Folder to open; default `<dir>/workspace` (created). */
  folder?: string;
  /** Extra server arguments. */
  extraArgs?: string[];
  /** Keep workspace trust on (set `security.workspace.trust.*` in `settings`). Default false. */
  workspaceTrust?: boolean;
  /** Written to the folder's `.vscode/settings.json` (workspace settings). */
  folderSettings?: Record<string, unknown>;
  /** Server log (stdout and stderr); default `<dir>/code-server.log`. */
  logFile?: string;
  /** Bound on the server start (ms). Default 90 s. */
  startTimeoutMs?: number;
  install?: CodeServerInstall;
  /** Where the launcher says what it had to force (SIGKILL). */
  log?: (line: string) => void;
  /** Aborting it while the server starts stops the server and rejects. */
  signal?: AbortSignal;
}

export interface RunningCodeServer {
  /** Workbench URL (opens the folder). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly folder: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) when the server process exits. */
  readonly exited: Promise<string>;
  /** Stops the server and every process it started (its process group). Idempotent. */
  stop(): Promise<void>;
}

/** Where a state directory keeps the profile. */
export function profileLayout(dir: string): { userDataDir: string; extensionsDir: string; config: string } {
  return { userDataDir: path.join(dir, 'user-data'), extensionsDir: path.join(dir, 'extensions'), config: path.join(dir, 'config.yaml') };
}

/** code-server's own files (default config, data, heartbeat) inside the state directory. */
function xdgEnv(dir: string): NodeJS.ProcessEnv {
  return { XDG_CONFIG_HOME: path.join(dir, 'xdg', 'config'), XDG_DATA_HOME: path.join(dir, 'xdg', 'data'), XDG_CACHE_HOME: path.join(dir, 'xdg', 'cache') };
}

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** Runs `child` to its end (bounded), stopping its group when the bound is reached. */
async function runToEnd(child: ReturnType<typeof spawnGroup>, timeoutMs: number, what: string): Promise<number | null> {
  const ended = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  const timeout = sleep(timeoutMs).then(() => 'timeout' as const);
  const result = await Promise.race([ended, timeout]);
  if (result !== 'timeout') return result;
  await stopGroup(child, { graceMs: 1000 });
  throw new Error(`${what} (timed out after ${Math.round(timeoutMs / 1000)} s)`);
}

/** Installs `.vsix` files with code-server's `--install-extension` (bounded). */
async function installExtensions(install: CodeServerInstall, dir: string, vsix: string[], logFile: string): Promise<void> {
  for (const file of vsix) if (!fs.existsSync(file)) throw new Error(`extension package not found: ${file}`);
  const { userDataDir, extensionsDir, config } = profileLayout(dir);
  const args = [install.entry, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--config', config, '--force'];
  for (const file of vsix) args.push('--install-extension', path.resolve(file));
  const before = fs.statSync(logFile).size;
  const child = spawnGroup(install.node, args, { env: cleanEnv(xdgEnv(dir)), cwd: dir, logFile });
  const code = await runToEnd(child, 120_000, 'installing extensions with code-server --install-extension');
  const output = fs.readFileSync(logFile, 'utf8').slice(before);
  if (code !== 0 || (output.match(/successfully installed/gi) ?? []).length < vsix.length) {
    throw new Error(`--install-extension failed (exit ${code}); output:\n${output.slice(-3000)}`);
  }
}

/**
 * Writes the profile, installs the extensions and starts the server on 127.0.0.1; resolves once
 * it serves (code-server: `/healthz` answers; server-main: it reports its port). Stop it with `stop()`.
 */
export async function startCodeServer(options: CodeServerOptions): Promise<RunningCodeServer> {
  if (options.signal?.aborted) throw new Error('the start of the server was aborted before it began');
  const install = options.install ?? ensureCodeServerInstall({ onlyIfMissing: true });
  const mainEntry = (options.entry ?? 'code-server') === 'server-main';
  const dir = path.resolve(options.dir);
  if (options.fresh) fs.rmSync(dir, { recursive: true, force: true });
  const { userDataDir, extensionsDir, config } = profileLayout(dir);
  const folder = path.resolve(options.folder ?? path.join(dir, 'workspace'));
  const logFile = path.resolve(options.logFile ?? path.join(dir, 'code-server.log'));
  for (const d of [userDataDir, extensionsDir, folder, path.dirname(logFile)]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(logFile, '');
  if (options.folderSettings) writeJson(path.join(folder, '.vscode', 'settings.json'), options.folderSettings);
  if (options.vsix?.length) await installExtensions(install, dir, options.vsix, logFile);
  writeJson(path.join(userDataDir, 'User', 'settings.json'), { ...QUIET_SETTINGS, ...options.settings });
  const trust = options.workspaceTrust ? [] : ['--disable-workspace-trust'];
  const profile = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

  let args: string[];
  let env: NodeJS.ProcessEnv;
  let port = options.port ?? (mainEntry ? 0 : await freePort());
  if (mainEntry) {
    // The remote (machine) settings too, quiet only: they would override what tests set as user settings.
    writeJson(path.join(userDataDir, 'Machine', 'settings.json'), QUIET_SETTINGS);
    env = cleanEnv(options.env);
    args = [install.serverMain, '--enable-smoke-test-driver', ...trust, '--host', '127.0.0.1', '--port', String(port),
      '--without-connection-token', '--accept-server-license-terms', '--disable-telemetry', ...profile, ...(options.extraArgs ?? [])];
  } else {
    // Our own config file, so code-server neither reads nor creates ~/.config/code-server/config.yaml.
    fs.writeFileSync(config, 'auth: none\ndisable-telemetry: true\ndisable-update-check: true\n');
    env = cleanEnv({ ...xdgEnv(dir), ...options.env });
    args = [install.entry, ...profile, '--config', config, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...trust,
      '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override', '--ignore-last-opened', ...(options.extraArgs ?? []), folder];
  }
  const child = spawnGroup(install.node, args, { env, cwd: mainEntry ? dir : folder, logFile });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${install.node}`);
  let exitedWith: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve((exitedWith = `error ${err.message}`)));
    child.once('exit', (code, signal) => resolve((exitedWith = String(code ?? signal))));
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopGroup(child, { ...(options.log ? { log: options.log } : {}) }));

  const what = mainEntry ? 'the VS Code server' : 'code-server';
  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  for (;;) {
    if (exitedWith !== undefined) throw new Error(`${what} exited (${exitedWith}) before it was ready; log ${logFile}:\n${tail(logFile)}`);
    if (options.signal?.aborted) {
      await stop();
      throw new Error(`the start of ${what} was aborted`);
    }
    if (mainEntry) {
      const m = /Extension host agent listening on (\d+)/.exec(fs.readFileSync(logFile, 'utf8'));
      if (m) {
        port = Number(m[1]);
        break;
      }
    } else if (await answers(`http://127.0.0.1:${port}/healthz`)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${what} was not ready within ${options.startTimeoutMs ?? 90_000} ms; log ${logFile}:\n${tail(logFile)}`);
    }
    await sleep(mainEntry ? 100 : 250);
  }
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`;
  return { url, port, pid, folder, userDataDir, extensionsDir, logFile, exited, stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false; // not listening yet
  }
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check', '--password-store=basic'];

export interface ChromiumOptions {
  headless?: boolean;
  /** `--proxy-server` for every host that is not loopback (Chromium never proxies loopback). */
  proxyServer?: string;
  /** Keep Chromium's popup blocker on, as in a person's browser (Playwright turns it off). Default false. */
  popupBlocking?: boolean;
  /** Extra launch options (e.g. `handleSIGINT: false` where the caller stops the browser itself). */
  launch?: Partial<LaunchOptions>;
  install?: CodeServerInstall;
}

function launchOptions(options: ChromiumOptions): LaunchOptions {
  const install = options.install ?? ensureCodeServerInstall({ onlyIfMissing: true });
  return {
    executablePath: install.chromium,
    headless: options.headless ?? true,
    args: [...CHROMIUM_ARGS, ...(options.proxyServer ? [`--proxy-server=${options.proxyServer}`] : [])],
    ...(options.popupBlocking ? { ignoreDefaultArgs: ['--disable-popup-blocking'] } : {}),
    timeout: 60_000,
    ...options.launch,
  };
}

/** Chromium without a profile on disk; every `browser.newContext()` is a fresh window's state. */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch(launchOptions(options));
}

export interface BrowserOptions extends ChromiumOptions {
  /** Persistent profile directory (reuse it across reloads/restarts to keep localStorage). */
  profileDir: string;
  viewport?: { width: number; height: number } | null;
  /**
   * Answer the workbench's `http://127.0.0.1:<codeServerPort>/proxy/P/...` URLs with a 302 to
   * `http://127.0.0.1:P/...`, undoing the workbench's rewrite of loopback URLs. Blocks service
   * workers (code-server registers one for its PWA), since Playwright's routes do not see
   * requests a service worker handles.
   */
  undoProxyRewrite?: { codeServerPort: number };
}

/** Chromium with a persistent profile: the browser context the e2e suites drive. */
export async function launchBrowser(options: BrowserOptions): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  fs.mkdirSync(options.profileDir, { recursive: true });
  const context = await chromium.launchPersistentContext(options.profileDir, {
    ...launchOptions(options),
    viewport: options.viewport === undefined ? { width: 1400, height: 900 } : options.viewport,
    ...(options.undoProxyRewrite ? { serviceWorkers: 'block' as const } : {}),
  });
  if (options.undoProxyRewrite) {
    const pattern = new RegExp(`^http://(?:127\\.0\\.0\\.1|localhost):${options.undoProxyRewrite.codeServerPort}/proxy/(\\d+)(/[^]*)?$`);
    await context.route(pattern, async (route) => {
      const m = pattern.exec(route.request().url());
      if (!m) return route.continue();
      await route.fulfill({ status: 302, headers: { location: `http://127.0.0.1:${m[1]}${m[2] ?? '/'}` } });
    });
  }
  return context;
}

export interface TestWorkbenchOptions {
  /** The extension under development (a folder on the server's machine). */
  extensionDevelopmentPath: string;
  /** The compiled tests entry the extension host runs (a file on the server's machine). */
  extensionTestsPath: string;
  /** Every line the workbench logs (the extension host's console output among them), formatted. */
  onLog: (type: string, text: string) => void;
  /** The tests entry finished: its exit code, and the workbench's own logs (`{relativePath, contents}[]`). */
  onExit: (code: unknown, logs: unknown) => void;
  /** Bound on loading the page. Default 120 s. */
  timeoutMs?: number;
}

/**
 * Opens a `server-main` workbench in `page` that runs `extensionTestsPath` in a new extension
 * host with `extensionDevelopmentPath` loaded; resolves once the page has loaded (the entry then
 * runs, and reports through `onLog`/`onExit`). Dialogs are dismissed.
 */
export async function openTestWorkbench(page: Page, server: RunningCodeServer, options: TestWorkbenchOptions): Promise<void> {
  await page.exposeFunction('codeAutomationLog', (type: unknown, args: unknown) => {
    options.onLog(String(type), Array.isArray(args) ? format(...(args as unknown[])) : String(args));
  });
  await page.exposeFunction('codeAutomationExit', (code: unknown, logs: unknown) => options.onExit(code, logs));
  page.on('dialog', (d) => void d.dismiss().catch(() => undefined));
  const remote = (p: string) => `vscode-remote://127.0.0.1:${server.port}${p.split(path.sep).join('/')}`;
  const payload: [string, string][] = [
    ['extensionDevelopmentPath', remote(options.extensionDevelopmentPath)],
    ['extensionTestsPath', remote(options.extensionTestsPath)],
    ['skipWelcome', 'true'],
    ['skipReleaseNotes', 'true'],
  ];
  const url = `${server.url}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: options.timeoutMs ?? 120_000 });
}
