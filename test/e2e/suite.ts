/**
 * The shape of an e2e suite, written once: its world started in `before` (into a fresh artifacts
 * folder), a failed step recorded (screenshots, notifications), VS Code's logs copied and the
 * world stopped at the end; for a suite whose steps build on each other (`stepwise`), a failed
 * step fails every later one as "not run". Plus the small checks several suites make the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCodeServer } from '../support/vscode/launcher';
import { LOG_DIR, type World } from './harness';
import type { Log } from './log';
import { notifications, runCommandFromPalette, screenshotAll, until } from './workbench';

/** The person the test IdPs sign in (any password), and the address their ID tokens give. */
export const LOGIN = 'alice';
export const EMAIL = 'alice@example.test';

export interface WorldSuiteOptions {
  /** More to record after a failed step, after the screenshots and the notifications. */
  onFailure?: (world: World, title: string) => Promise<void>;
  /**
   * Run last, after the logs were copied into the artifacts folder and the world stopped (it gets
   * the world when one started): other servers and temporary folders, a scan of the copied logs.
   * What it throws fails the suite's "after all" hook.
   */
  cleanup?: (world: World | undefined) => unknown;
}

/** After a failed test: screenshots of every page into `dir`, and the visible notifications, to the log. */
export async function recordFailure(world: World, dir: string, title: string, log: Log): Promise<void> {
  const shots = await screenshotAll(world.context, dir, title);
  log(`screenshots: ${shots.map((s) => path.relative(process.cwd(), s)).join(', ')}`);
  log(`notifications: ${JSON.stringify(await notifications(world.page).catch(() => []))}`);
}

/**
 * A suite's world, for steps that do not depend on each other: `before` empties `dir` and runs
 * `start`; a failed step is recorded into `dir`; at the end VS Code's logs are copied there, the
 * world stopped and `cleanup` run. Call it inside `describe`; it returns the world's accessor,
 * which fails a step with "setup failed" when there is none.
 */
export function withWorld(dir: string, log: Log, start: () => Promise<World>, options: WorldSuiteOptions = {}): () => World {
  let world: World | undefined;
  before(async function () {
    this.timeout(300_000);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    world = await start();
  });
  afterEach(async function () {
    const test = this.currentTest as StepTest | undefined;
    if (!world || !test || test.state !== 'failed' || test.notRun) return;
    await recordFailure(world, dir, test.title, log);
    await options.onFailure?.(world, test.title);
  });
  after(async function () {
    this.timeout(60_000);
    const logs = collectLogs(world?.server, dir);
    if (logs.length) log(`logs in ${path.relative(process.cwd(), dir)}: ${logs.join(', ')}`);
    await world?.stop();
    await options.cleanup?.(world);
  });
  return () => {
    if (!world) throw new Error('setup failed');
    return world;
  };
}

/** A mocha test as `stepwise` marks it. */
type StepTest = Mocha.Test & {
  /** Made with `check()`: the later steps do not depend on it. */
  critical?: boolean;
  /** Failed as "not run" (an earlier step failed): nothing of it ran, so nothing to record. */
  notRun?: boolean;
};

/**
 * `withWorld` for a suite whose steps build on each other: after a failed step every later one
 * fails as "not run" (never a skip, never a pass), except a step made with `check()`. Each later
 * step is reported failed on its own, its body not run: a throwing `beforeEach` would instead
 * fail once, as a hook, and make mocha drop the remaining steps from the report.
 */
export function stepwise(dir: string, log: Log, start: () => Promise<World>, options: WorldSuiteOptions = {}): () => World {
  const w = withWorld(dir, log, start, options);
  let broken: string | undefined;
  beforeEach(function () {
    const test = this.currentTest as StepTest | undefined;
    if (!broken || !test) return;
    const reason = new Error(`not run: ${broken}, and the later steps build on it`);
    test.notRun = true;
    // Mocha reads `fn` when the test runs, after its beforeEach hooks (and `async` for `done`).
    test.fn = () => Promise.reject(reason);
    test.async = false;
    test.sync = true;
  });
  afterEach(function () {
    const test = this.currentTest as StepTest | undefined;
    if (test?.state === 'failed' && test.critical !== false) broken ??= `"${test.title}" failed`;
  });
  return w;
}

/** A step of a `stepwise` suite that the later ones do not depend on: its failure does not stop them. */
export function check(title: string, fn: (this: Mocha.Context) => Promise<void>): void {
  const t: StepTest = it(title, fn);
  t.critical = false;
}

/** Copies the server log and VS Code's logs (extension hosts, output channels) into `dir` (default LOG_DIR). */
export function collectLogs(server: RunningCodeServer | undefined, dir: string = LOG_DIR): string[] {
  if (!server) return [];
  fs.mkdirSync(dir, { recursive: true });
  const copied: string[] = [];
  try {
    fs.copyFileSync(server.logFile, path.join(dir, 'code-server.log'));
    copied.push('code-server.log');
  } catch {
    // no server log
  }
  const logsRoot = path.join(server.userDataDir, 'logs');
  if (fs.existsSync(logsRoot)) {
    fs.cpSync(logsRoot, path.join(dir, 'vscode-logs'), { recursive: true });
    copied.push('vscode-logs/');
  }
  return copied;
}

/** Every file under `dir` (bounded depth and size) whose bytes contain one of `needles`. */
export function filesContaining(dir: string, ...needles: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 12 || !fs.existsSync(d)) return;
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full, depth + 1);
      else if (entry.isFile() && fs.statSync(full).size < 32 * 1024 * 1024) {
        const bytes = fs.readFileSync(full);
        if (needles.some((n) => bytes.includes(n))) found.push(full);
      }
    }
  };
  walk(dir, 0);
  return found;
}

/** Whether `url` is a page of the IdP on `port`: directly, or through the workbench's `/proxy/<port>/` rewrite. */
export function isIdpPage(url: string, port: number): boolean {
  try {
    const u = new URL(url);
    return Number(u.port) === port || u.pathname.startsWith(`/proxy/${port}/`);
  } catch {
    return false;
  }
}

/**
 * Runs "OpenID Connect: Show Status" from the palette and returns the status document's text once
 * it names `expected`; the document stays the active editor.
 */
export async function openStatusDocument(world: World, expected: string): Promise<string> {
  const { page, driver } = world;
  await runCommandFromPalette(page, 'OpenID Connect: Show Status');
  return until(`the status document naming ${expected}`, 15_000, async () => {
    const t = await driver.call<string | null>('activeEditorText', {}, 10_000);
    return t && t.startsWith('# OpenID Connect status') && t.includes(expected) ? t : undefined;
  });
}

/** `openStatusDocument`, then a screenshot of it into `screenshot` (when given), then it is closed unsaved. */
export async function showStatusDocument(world: World, expected: string, screenshot?: string): Promise<string> {
  const text = await openStatusDocument(world, expected);
  if (screenshot) await world.page.screenshot({ path: screenshot });
  await world.driver.call('executeCommand', { id: 'workbench.action.revertAndCloseActiveEditor' }, 10_000);
  return text;
}
