/**
 * `npm run screenshots`: remakes the README's pictures from the real thing, through the e2e
 * harness (test/e2e/harness.ts): the packaged extension in code-server's VS Code web workbench,
 * a test IdP (oidc-provider), Chromium driven by Playwright. Writes to docs/screenshots/:
 *
 *   accounts-menu.png    the Accounts menu with a signed-in account
 *   device-code.png      the device-code dialog
 *   signed-in-page.png   the page the browser shows after the redirect
 *
 * Run it after a UI change and look at the pictures before committing them. It starts a real
 * VS Code and Chromium: on a shared machine wrap it as the tests are
 * (`flock /tmp/oidc-vscode.lock npm run screenshots`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { repoRoot } from '../test/support/vscode/install';
import { sleep } from '../test/support/vscode/async';
import { startWorld, type World } from '../test/e2e/harness';
import { prefixedLog } from '../test/e2e/log';
import {
  accountsMenuUntil,
  clickButtonIn,
  clickMenuItem,
  closeMenus,
  completeIdpLogin,
  escapeRegExp,
  settle,
  waitForDialog,
  waitForTab,
} from '../test/e2e/workbench';

const OUT = path.join(repoRoot, 'docs', 'screenshots');
const LOGIN = 'alice';
const EMAIL = `${LOGIN}@example.test`;

const say = prefixedLog('screenshots: ');

async function save(page: Page, name: string, clip?: { x: number; y: number; width: number; height: number }): Promise<void> {
  const file = path.join(OUT, name);
  await page.screenshot({ path: file, timeout: 15_000, ...(clip ? { clip } : {}) });
  say(`wrote ${path.relative(repoRoot, file)}`);
}

/** Signs in from the Accounts menu, as a newcomer does; shoots the page the browser lands on. */
async function signIn(world: World): Promise<void> {
  const { page, context, idp } = world;
  const labels = await accountsMenuUntil(page, (l) => l.some((x) => /^Sign in with OpenID Connect/.test(x)), 20_000);
  const item = labels.find((l) => /^Sign in with OpenID Connect/.test(l))!;
  await clickMenuItem(page, new RegExp(`^${escapeRegExp(item)}$`));
  const isIdp = (url: string) => {
    try {
      const u = new URL(url);
      return Number(u.port) === idp.port || u.pathname.startsWith(`/proxy/${idp.port}/`);
    } catch {
      return false;
    }
  };
  const tab = await waitForTab(context, isIdp, 30_000);
  const isCallback = (u: URL) => u.hostname === '127.0.0.1' && u.pathname === '/callback' && Number(u.port) !== idp.port;
  const result = await completeIdpLogin(tab, LOGIN, isCallback, 60_000);
  if (!/Signed in/.test(result.title)) throw new Error(`the browser shows "${result.title}", not the signed-in page`);
  await tab.setViewportSize({ width: 720, height: 420 });
  await save(tab, 'signed-in-page.png');
  await tab.close();
  await page.bringToFront();
}

async function accountsMenu(world: World): Promise<void> {
  const { page } = world;
  const labels = await accountsMenuUntil(page, (l) => l.some((x) => x.includes(EMAIL)) && !l.some((x) => /^Sign in with OpenID Connect/.test(x)), 20_000);
  if (!labels.some((l) => l.includes(EMAIL))) throw new Error(`no ${EMAIL} in the Accounts menu: ${JSON.stringify(labels)}`);
  // The account's submenu (Sign Out) open too; wait out the menus' fade-in before shooting.
  await page.locator('.context-view .monaco-menu .action-item').filter({ hasText: EMAIL }).first().hover({ timeout: 5000 });
  await page.locator('.context-view .monaco-menu').nth(1).waitFor({ state: 'visible', timeout: 5000 }).catch(() => undefined);
  await sleep(800);
  // The lower left of the window: the activity bar's Accounts button and its menus.
  const viewport = page.viewportSize() ?? { width: 1400, height: 900 };
  await save(page, 'accounts-menu.png', { x: 0, y: viewport.height - 320, width: 820, height: 320 });
  await closeMenus(page);
}

async function deviceCodeDialog(world: World): Promise<void> {
  const { page, driver } = world;
  await driver.updateSetting('flow', 'deviceCode');
  // The command waits for the sign-in; it ends when the dialog is cancelled below.
  const pending = settle(driver.call('executeCommand', { id: 'oidcAuth.signIn' }, 60_000));
  const modal = await waitForDialog(page, /Sign in at/, 30_000);
  await sleep(800); // the dialog's fade-in
  await save(page, 'device-code.png');
  await clickButtonIn(modal.box, 'Cancel');
  await pending;
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  const world = await startWorld(say, { name: 'screenshots', idp: { deviceFlow: true } });
  try {
    await world.driver.call('executeCommand', { id: 'notifications.clearAll' }, 10_000);
    await signIn(world);
    await world.driver.call('executeCommand', { id: 'notifications.clearAll' }, 10_000);
    await accountsMenu(world);
    await deviceCodeDialog(world);
  } finally {
    await world.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`screenshots: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
