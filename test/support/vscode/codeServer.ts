/**
 * The `code-server` target: runs the integration suites inside the VS Code that ships in the npm
 * package code-server, started by the launcher (launcher.ts) as its `server-main` entry (VS Code's
 * server-main.js under Node 24, with the smoke-test driver) and its web workbench in Debian's
 * Chromium. The workbench runs the mocha bootstrap in the (Node) remote extension host and hands
 * that host's console output and the run's exit code back (`openTestWorkbench`). This file is the
 * run around it: the overall timeout and signals, the log files, the browser robot
 * (browserRobot.ts, the person in the browser for sign-in tests) and the cleanup. A little over
 * 300 lines: that lifecycle is one class, whose steps share its state (what started, what ended).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { BrowserRobot } from './browserRobot';
import { makeTestCa, testCaEnvironment } from '../testCa';
import { withTimeout } from './async';
import { BROWSER_CONTROL_ENV, GREP_ENV, integrationTestsEntry } from './environment';
import { describeInstall, ensureCodeServerInstall } from './install';
import { launchChromium, openTestWorkbench, profileLayout, startCodeServer, type RunningCodeServer } from './launcher';

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

/** What the extension host finds in OIDC_AUTH_CI_ACCESS_TOKEN: a stand-in for a CI secret. */
export const INJECTED_TEST_TOKEN = 'injected-ci-token-for-oidc-auth-tests';

/** The extension whose log level the run raises to trace. */
const EXTENSION_UNDER_TEST = 'oidc-auth.oidc-auth';

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
  private readonly logs: Record<'console' | 'exthost' | 'robot', fs.WriteStream>;
  private server: RunningCodeServer | undefined;
  /** The server's start while it is under way (cleanup waits for it: an aborted start stops it). */
  private serverStart: Promise<unknown> = Promise.resolve();
  private serverStopping = false;
  private browser: Browser | undefined;
  private workbench: Page | undefined;
  private finishing = false;
  /** Aborted when the run ends, so that a server still starting is stopped too. */
  private readonly ending = new AbortController();
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
    this.logs = { console: open('browser-console.log'), exthost: open('extension-host-console.log'), robot: open('robot.log') };
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
    this.ending.abort();
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
    const install = ensureCodeServerInstall({ onlyIfMissing: true });
    // The control server comes first: the extension host inherits the server's environment.
    const controlUrl = await this.robot.listen();
    if (this.finishing) return;
    this.say(`starting the VS Code server (${describeInstall(install)})`);
    const start = startCodeServer({
      entry: 'server-main',
      dir: this.tmp,
      install,
      ...(this.opts.workspace ? { folder: this.opts.workspace } : {}),
      logFile: path.join(this.opts.logDir, 'server.log'),
      startTimeoutMs: 60_000,
      env: {
        // A test CA the extension host trusts through the system store (test/integration/tls.test.ts).
        ...testCaEnvironment(makeTestCa(path.join(this.tmp, 'ca'))),
        [BROWSER_CONTROL_ENV]: controlUrl,
        [GREP_ENV]: this.opts.grep,
        // Where the server writes its logs (output channels included), for suites that search them.
        OIDC_TEST_VSCODE_LOGS: path.join(profileLayout(this.tmp).userDataDir, 'logs'),
        // Token injection for a named provider `ci` (test/integration/namedProviders.test.ts).
        OIDC_AUTH_CI_ACCESS_TOKEN: INJECTED_TEST_TOKEN,
      },
      // The extension logs at its most verbose, so the secret-hygiene suite searches everything.
      extraArgs: ['--log', `${EXTENSION_UNDER_TEST}:trace`],
      log: (line) => this.say(line),
      signal: this.ending.signal,
    });
    this.serverStart = start.catch(() => undefined);
    const server = await start;
    this.server = server;
    void server.exited.then((how) => {
      if (!this.serverStopping) this.fail(`the VS Code server exited (${how}) during the run; see server.log`);
    });
    if (this.finishing) {
      // The run ended (timeout, signal) while the server started: cleanup has passed already.
      await this.stopServer();
      return;
    }
    this.say(`VS Code server listening on http://127.0.0.1:${server.port}; starting Chromium`);

    // Requests for hosts that are not loopback go to the robot's proxy hop (the corporate-network
    // suite points it at a proxy; otherwise it refuses them, as this machine's network would).
    const hop = await this.robot.listenProxyHop();
    const browser = await launchChromium({
      install,
      proxyServer: `http://127.0.0.1:${hop}`,
      // Our own signal handlers stop the browser *and* the VS Code server; Playwright's would
      // kill the browser and exit at once, leaving the server running.
      launch: { handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false },
    });
    if (this.finishing) {
      // The run ended (timeout, signal) while Chromium started: cleanup has passed already.
      await withTimeout(browser.close(), 15_000, 'closing Chromium').catch(() => undefined);
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
    await this.robot.attach(context, page, `http://127.0.0.1:${server.port}`);
    this.say('opening the workbench; the extension host runs the suites');
    await openTestWorkbench(page, server, {
      extensionDevelopmentPath: root,
      extensionTestsPath: testsEntry,
      onLog: (type, text) => this.extensionHostLog(type, text),
      onExit: (code, logs) => this.onTestsExit(code, logs),
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
  private extensionHostLog(type: string, text: string): void {
    this.write(this.logs.exthost, `[${this.elapsed()}] ${type}: ${text}\n`);
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
        withTimeout(workbench.screenshot({ path: path.join(this.opts.logDir, 'workbench.png') }), 10_000, 'the screenshot'),
      );
    }
    if (browser) {
      // Only our listener: Playwright's own 'disconnected' listener resolves browser.close().
      browser.off('disconnected', this.onBrowserGone);
      await step('closing Chromium', () => withTimeout(browser.close(), 15_000, 'closing Chromium'));
    }
    await step('closing the control server', () => this.robot.close());
    await step('stopping the VS Code server', () => this.stopServer());
    // The server's own logs (extension host, output channels such as the extension's log).
    const serverLogs = path.join(profileLayout(this.tmp).userDataDir, 'logs');
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
    this.serverStopping = true;
    await this.serverStart;
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }
}
