/**
 * What a person does in the VS Code web workbench and at the IdP, as Playwright steps. Every
 * wait is bounded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { sleep } from '../support/codeServerEntry';

export async function waitForWorkbench(page: Page, timeoutMs = 60_000): Promise<void> {
  await page.locator('.monaco-workbench .part.activitybar').waitFor({ state: 'visible', timeout: timeoutMs });
}

/** The Accounts entry of the activity bar. */
export function accountsButton(page: Page): Locator {
  return page.locator('.activitybar li.action-item[aria-label^="Accounts"]').first();
}

function openMenu(page: Page): Locator {
  return page.locator('.context-view .monaco-menu').first();
}

/** Opens the Accounts menu and returns the labels of its items (submenus included by title). */
export async function openAccountsMenu(page: Page, timeoutMs = 10_000): Promise<string[]> {
  await closeMenus(page);
  await accountsButton(page).click({ timeout: timeoutMs });
  const menu = openMenu(page);
  await menu.waitFor({ state: 'visible', timeout: timeoutMs });
  const labels = await menu.locator('.action-item .action-label').allInnerTexts();
  return labels.map((l) => l.trim()).filter((l) => l.length > 0);
}

/**
 * Reads the Accounts menu until `predicate` holds over its labels (the menu is rebuilt when
 * sessions change, which can lag an event by a moment); leaves the menu open and returns them.
 */
export async function accountsMenuUntil(page: Page, predicate: (labels: string[]) => boolean, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let labels: string[] = [];
  for (;;) {
    labels = await openAccountsMenu(page, Math.max(1000, Math.min(10_000, deadline - Date.now())));
    if (predicate(labels) || Date.now() > deadline) return labels;
    await closeMenus(page);
    await sleep(500);
  }
}

/** Clicks the Accounts menu item whose label matches `label`. */
export async function clickMenuItem(page: Page, label: RegExp, timeoutMs = 10_000): Promise<void> {
  const item = openMenu(page).locator('.action-item .action-label').filter({ hasText: label }).first();
  await item.click({ timeout: timeoutMs });
}

export async function closeMenus(page: Page): Promise<void> {
  for (let i = 0; i < 3 && (await openMenu(page).isVisible().catch(() => false)); i++) {
    await page.keyboard.press('Escape');
    await sleep(150);
  }
}

/** The visible modal dialog, if any. */
export function dialog(page: Page): Locator {
  return page.locator('.monaco-dialog-box').first();
}

/** Waits for a modal dialog and clicks its button named `name`; returns the dialog's text. */
export async function clickDialogButton(page: Page, name: string | RegExp, timeoutMs: number): Promise<string> {
  const box = dialog(page);
  await box.waitFor({ state: 'visible', timeout: timeoutMs });
  const text = (await box.innerText()).trim();
  await box.getByRole('button', { name }).first().click({ timeout: 5000 });
  await box.waitFor({ state: 'hidden', timeout: 10_000 });
  return text;
}

/** Runs a command from the palette (F1, type the title, Enter), as a person would. */
export async function runCommandFromPalette(page: Page, title: string, timeoutMs = 15_000): Promise<void> {
  await closeMenus(page);
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 }, timeout: 5000 }).catch(() => undefined);
  await page.keyboard.press('F1');
  const widget = page.locator('.quick-input-widget');
  await widget.waitFor({ state: 'visible', timeout: timeoutMs });
  await page.keyboard.type(title, { delay: 10 });
  const row = widget.locator('.monaco-list-row').filter({ hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  // The first row must be the command (the palette highlights it); Enter runs it.
  const first = (await widget.locator('.monaco-list-row').first().innerText()).trim();
  if (!first.includes(title)) throw new Error(`palette's first entry for "${title}" is "${first}"`);
  await page.keyboard.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
}

/** The quick pick, when one is open (and not the command palette we just closed). */
export async function openQuickPickItems(page: Page): Promise<string[] | undefined> {
  const widget = page.locator('.quick-input-widget');
  if (!(await widget.isVisible().catch(() => false))) return undefined;
  return (await widget.locator('.monaco-list-row').allInnerTexts()).map((t) => t.trim());
}

/** Text of the visible notification toasts. */
export async function notifications(page: Page): Promise<string[]> {
  return (await page.locator('.notification-toast').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

// ---------------------------------------------------------------------------------------------
// The IdP's pages (oidc-provider's development interactions)
// ---------------------------------------------------------------------------------------------

export interface IdpLoginResult {
  /** The page's final URL (the extension's loopback callback). */
  finalUrl: string;
  title: string;
  bodyText: string;
  /** Which IdP screens were seen ('login', 'consent'). */
  screens: string[];
}

/**
 * Completes oidc-provider's login and consent screens in `tab` until the browser lands on a
 * loopback `/callback` page (the extension's), whose title and text are returned.
 */
export async function completeIdpLogin(tab: Page, login: string, isCallback: (url: URL) => boolean, timeoutMs: number): Promise<IdpLoginResult> {
  const deadline = Date.now() + timeoutMs;
  const screens: string[] = [];
  for (;;) {
    if (Date.now() > deadline) throw new Error(`the IdP sign-in did not reach the callback; last URL ${tab.url()} after screens ${screens.join(', ')}`);
    await tab.waitForLoadState('domcontentloaded', { timeout: Math.max(1000, deadline - Date.now()) });
    let url: URL;
    try {
      url = new URL(tab.url());
    } catch {
      await sleep(200);
      continue;
    }
    if (isCallback(url)) {
      // Wait for the page itself (not just the URL) before reading it.
      await tab.waitForLoadState('load', { timeout: Math.max(1000, deadline - Date.now()) }).catch(() => undefined);
      return {
        finalUrl: tab.url(),
        title: await tab.title(),
        bodyText: (await tab.locator('body').innerText({ timeout: 5000 })).trim(),
        screens,
      };
    }
    if (url.pathname.startsWith('/interaction/')) {
      const loginField = tab.locator('input[name="login"]');
      const submit = tab.locator('button[type="submit"]').first();
      try {
        await submit.waitFor({ state: 'visible', timeout: 5000 });
      } catch {
        continue; // navigating
      }
      const before = tab.url();
      if (await loginField.isVisible()) {
        screens.push('login');
        await loginField.fill(login);
        await tab.locator('input[name="password"]').fill('any password');
      } else {
        screens.push('consent');
      }
      await submit.click({ timeout: 5000 });
      await tab.waitForURL((u) => u.toString() !== before, { timeout: Math.max(1000, deadline - Date.now()), waitUntil: 'commit' });
      continue;
    }
    // Anywhere else (the authorization endpoint, the proxy URL) the browser is normally just
    // passing through; a page that stays is the IdP's error page. Fail with its text at once.
    const here = tab.url();
    await sleep(1500);
    if (tab.url() === here && !isCallback(url)) {
      const text = (await tab.locator('body').innerText({ timeout: 5000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
      if (/error|not found/i.test(text)) throw new Error(`the sign-in tab stopped at ${here.replace(/\?.*/, '?…')}: ${text.slice(0, 500)}`);
    }
  }
}

/** Waits for a new tab whose URL satisfies `predicate` (it may still be redirecting). */
export async function waitForTab(context: BrowserContext, predicate: (url: string) => boolean, timeoutMs: number): Promise<Page> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of context.pages()) {
      if (predicate(p.url())) return p;
    }
    if (Date.now() > deadline) {
      throw new Error(`no browser tab opened the sign-in page within ${Math.round(timeoutMs / 1000)} s; tabs: ${context.pages().map((p) => p.url()).join(', ')}`);
    }
    await sleep(200);
  }
}

/** Screenshots of every tab into `dir` (failure diagnostics). */
export async function screenshotAll(context: BrowserContext | undefined, dir: string, name: string): Promise<string[]> {
  if (!context) return [];
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const safe = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 80);
  for (const [i, p] of context.pages().entries()) {
    const file = path.join(dir, `${safe}-tab${i}.png`);
    try {
      await p.screenshot({ path: file, timeout: 10_000 });
      files.push(file);
    } catch {
      // a closed or crashed tab
    }
  }
  return files;
}
