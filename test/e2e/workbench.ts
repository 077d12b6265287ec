/**
 * What a person does in the VS Code web workbench and at the IdP, as Playwright steps. Every
 * wait is bounded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { sleep } from '../support/vscode/async';
import { escapeRegExp } from '../support/regExp';

/** Polls `probe` (every `everyMs`, bounded) until it returns something other than undefined. */
export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Waits for `pending` (a getSession another extension made), picking `accountLabel` when VS Code
 * asks which account to use in a quick pick (it does when the provider has accounts to choose from).
 */
export async function settleChoosingAccount<T>(page: Page, pending: Promise<T>, accountLabel: string, timeoutMs: number): Promise<T> {
  const settled = await until(`the session for ${accountLabel}`, timeoutMs, async () => {
    const done = await Promise.race([pending.then((value) => ({ value })), sleep(250).then(() => undefined)]);
    if (done) return done;
    const row = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: accountLabel }).first();
    if (await row.isVisible().catch(() => false)) await row.click({ timeout: 5000 }).catch(() => undefined);
    return undefined;
  });
  return settled.value;
}

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
export async function runCommandFromPalette(page: Page, title: string, timeoutMs = 15_000, options: { focusClick?: boolean } = {}): Promise<void> {
  await closeMenus(page);
  // The click focuses the workbench; skip it where the middle of the window holds something
  // a click would change (a walkthrough's step check marks).
  if (options.focusClick !== false) await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 }, timeout: 5000 }).catch(() => undefined);
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
/** On an oidc-provider interaction page: fills the login form (any password), or notes the consent screen. */
async function fillIdpScreen(tab: Page, login: string, screens: string[]): Promise<void> {
  const loginField = tab.locator('input[name="login"]');
  if (await loginField.isVisible()) {
    screens.push('login');
    await loginField.fill(login);
    await tab.locator('input[name="password"]').fill('any password');
  } else {
    screens.push('consent');
  }
}

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
      const submit = tab.locator('button[type="submit"]').first();
      try {
        await submit.waitFor({ state: 'visible', timeout: 5000 });
      } catch {
        continue; // navigating
      }
      const before = tab.url();
      await fillIdpScreen(tab, login, screens);
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

// ---------------------------------------------------------------------------------------------
// Dialogs and notifications read as a person reads them (flows.test.ts)
// ---------------------------------------------------------------------------------------------

export interface DialogContent {
  box: Locator;
  /** The first line (`.dialog-message-text`). */
  message: string;
  /** The detail under it (`.dialog-message-detail`), '' when none. */
  detail: string;
  buttons: string[];
}

/** Waits (bounded) for a modal dialog whose text matches `text`; returns what it says, without clicking. */
export async function waitForDialog(page: Page, text: RegExp, timeoutMs: number): Promise<DialogContent> {
  const box = page.locator('.monaco-dialog-box').filter({ hasText: text }).first();
  await box.waitFor({ state: 'visible', timeout: timeoutMs });
  const read = async (selector: string) =>
    (await box.locator(selector).first().innerText({ timeout: 2000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
  const buttons = (await box.locator('.dialog-buttons .monaco-button').allInnerTexts()).map((b) => b.trim()).filter(Boolean);
  return { box, message: await read('.dialog-message-text'), detail: await read('.dialog-message-detail'), buttons };
}

/** Clicks `name` in `dialog` and waits (bounded) for the dialog to close. */
export async function clickButtonIn(dialogBox: Locator, name: string, timeoutMs = 10_000): Promise<void> {
  await dialogBox.locator('.dialog-buttons .monaco-button').filter({ hasText: new RegExp(`^${escapeRegExp(name)}$`) }).first().click({ timeout: 5000 });
  await dialogBox.waitFor({ state: 'hidden', timeout: timeoutMs });
}

export { escapeRegExp };

export interface ToastContent {
  toast: Locator;
  /** The toast's message line (for progress: the title and the reported message), whitespace folded. */
  message: string;
  /** The whole toast's text (message, source, buttons). */
  text: string;
  buttons: string[];
  /** `.codicon-error` / `-warning` / `-info` of the toast's icon, when there is one. */
  severity: 'error' | 'warning' | 'info' | undefined;
}

/** The notification toast whose text matches `text` (a locator; may match nothing). */
export function toast(page: Page, text: RegExp): Locator {
  return page.locator('.notification-toast').filter({ hasText: text }).first();
}

async function readToast(t: Locator): Promise<ToastContent> {
  const fold = (s: string) => s.replace(/\s+/g, ' ').trim();
  const message = fold(await t.locator('.notification-list-item-message').first().innerText({ timeout: 2000 }).catch(() => ''));
  const text = fold(await t.innerText({ timeout: 2000 }).catch(() => ''));
  const buttons = (await t.locator('.notification-list-item-buttons-container .monaco-button').allInnerTexts()).map((b) => b.trim()).filter(Boolean);
  const icon = (await t.locator('.notification-list-item-icon').first().getAttribute('class', { timeout: 2000 }).catch(() => '')) ?? '';
  const severity = /codicon-error/.test(icon) ? 'error' : /codicon-warning/.test(icon) ? 'warning' : /codicon-info/.test(icon) ? 'info' : undefined;
  return { toast: t, message, text, buttons, severity };
}

/** Waits (bounded) for a visible notification toast whose text matches `text`. */
export async function waitForToast(page: Page, text: RegExp, timeoutMs: number): Promise<ToastContent> {
  const t = toast(page, text);
  await t.waitFor({ state: 'visible', timeout: timeoutMs });
  return readToast(t);
}

/**
 * A notification read from its toast or, when the workbench never drew it as one (a toast that
 * arrives while the workbench's tab is hidden can be skipped), from the notification center,
 * which `showCenter` opens (e.g. by running `notifications.showList`). The `toast` locator of the
 * result works with clickNotificationButton either way.
 */
export async function waitForNotification(page: Page, text: RegExp, timeoutMs: number, showCenter: () => Promise<unknown>): Promise<ToastContent> {
  const t = toast(page, text);
  const asToast = await t.waitFor({ state: 'visible', timeout: Math.min(timeoutMs, 10_000) }).then(
    () => true,
    () => false,
  );
  if (asToast) return readToast(t);
  await showCenter();
  const item = page.locator('.notifications-center .notification-list-item').filter({ hasText: text }).first();
  await item.waitFor({ state: 'visible', timeout: timeoutMs });
  return readToast(item);
}

/** Clicks the button `name` of a notification read by waitForNotification (toast or center). */
export async function clickNotificationButton(notification: ToastContent, name: string, timeoutMs = 5000): Promise<void> {
  await notification.toast.hover({ timeout: timeoutMs }).catch(() => undefined);
  await notification.toast
    .locator('.notification-list-item-buttons-container .monaco-button')
    .filter({ hasText: new RegExp(`^${escapeRegExp(name)}$`) })
    .first()
    .click({ timeout: timeoutMs });
}

/** Every visible toast, read. */
export async function allToasts(page: Page): Promise<ToastContent[]> {
  const all = page.locator('.notification-toast');
  const out: ToastContent[] = [];
  for (let i = 0; i < (await all.count()); i++) out.push(await readToast(all.nth(i)));
  return out;
}

/** Clicks the button `name` of the toast matching `text`. */
export async function clickToastButton(page: Page, text: RegExp, name: string, timeoutMs = 5000): Promise<void> {
  const t = toast(page, text);
  // Toasts show their buttons on hover in some layouts; hovering first is what a person does.
  await t.hover({ timeout: timeoutMs }).catch(() => undefined);
  await t
    .locator('.notification-list-item-buttons-container .monaco-button')
    .filter({ hasText: new RegExp(`^${escapeRegExp(name)}$`) })
    .first()
    .click({ timeout: timeoutMs });
}

// ---------------------------------------------------------------------------------------------
// oidc-provider's device pages (RFC 8628 verification), in a real tab
// ---------------------------------------------------------------------------------------------

export interface DevicePagesResult {
  /** Screens passed, in order: 'code' (user-code input), 'confirm', 'login', 'consent'. */
  screens: string[];
  /** The code the IdP's confirmation page displayed ("should be displayed on your device"). */
  confirmedCode: string | undefined;
  title: string;
  bodyText: string;
}

/** Clicks `target` and waits (bounded) until the tab shows a new document. */
async function clickForNewDocument(tab: Page, target: Locator, timeoutMs: number): Promise<void> {
  await tab.evaluate(() => ((window as unknown as { __e2eOld?: boolean }).__e2eOld = true));
  await target.click({ timeout: 5000 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const old = await tab.evaluate(() => (window as unknown as { __e2eOld?: boolean }).__e2eOld === true).catch(() => true);
    if (!old) return;
    if (Date.now() > deadline) throw new Error(`the page ${tab.url().replace(/\?.*/, '?…')} did not change after the click`);
    await sleep(100);
  }
}

/**
 * Completes oidc-provider's device verification in `tab`, as a person does: the user-code page
 * (typing `userCode` when it is not prefilled), "Confirm Device" → Continue, the login form,
 * the consent → until "Sign-in Success". Fails with the page's text on the IdP's error pages.
 */
export async function completeDevicePages(tab: Page, login: string, timeoutMs: number, userCode?: string): Promise<DevicePagesResult> {
  const deadline = Date.now() + timeoutMs;
  const screens: string[] = [];
  let confirmedCode: string | undefined;
  const left = () => Math.max(1000, deadline - Date.now());
  for (;;) {
    if (Date.now() > deadline) throw new Error(`the device sign-in did not finish; last page ${tab.url()} "${await tab.title().catch(() => '')}" after ${screens.join(', ')}`);
    await tab.waitForLoadState('domcontentloaded', { timeout: left() });
    const title = await tab.title().catch(() => '');
    const body = async () => (await tab.locator('body').innerText({ timeout: 5000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
    if (title === 'Sign-in Success') return { screens, confirmedCode, title, bodyText: await body() };
    if (title === 'Device Login Confirmation') {
      screens.push('confirm');
      confirmedCode = (await tab.locator('code').first().innerText({ timeout: 5000 })).trim();
      await clickForNewDocument(tab, tab.locator('button[autofocus][form="op.deviceConfirmForm"]'), left());
      continue;
    }
    const codeInput = tab.locator('form#op\\.deviceInputForm input[name="user_code"]');
    if (await codeInput.isVisible().catch(() => false)) {
      const text = await body();
      if (/incorrect|interrupted|error/i.test(text)) throw new Error(`the IdP's device page says: ${text.slice(0, 300)}`);
      screens.push('code');
      if (!(await codeInput.inputValue())) {
        if (!userCode) throw new Error('the device page asks for the code and none was given');
        await codeInput.fill(userCode);
      }
      await clickForNewDocument(tab, tab.locator('button[form="op.deviceInputForm"]'), left());
      continue;
    }
    let url: URL | undefined;
    try {
      url = new URL(tab.url());
    } catch {
      url = undefined;
    }
    if (url?.pathname.startsWith('/interaction/')) {
      const submit = tab.locator('button[type="submit"]').first();
      if (!(await submit.isVisible().catch(() => false))) {
        await sleep(200);
        continue;
      }
      await fillIdpScreen(tab, login, screens);
      await clickForNewDocument(tab, submit, left());
      continue;
    }
    // The auto-submitting form_post page, or a redirect in passing; an IdP error page stays.
    const here = tab.url();
    await sleep(500);
    if (tab.url() === here && (await tab.title().catch(() => '')) === title) {
      const text = await body();
      if (/error|not found|invalid/i.test(text) && !/Submitting/i.test(title)) throw new Error(`the device sign-in stopped at ${here}: ${text.slice(0, 400)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small waits shared by newcomer.test.ts and scripts/screenshots.ts (and `until` above)
// ---------------------------------------------------------------------------------------------

/** Resolves with how a promise settled and when, without ever rejecting. */
export function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T; at: number } | { ok: false; error: Error; at: number }> {
  return p.then(
    (value) => ({ ok: true as const, value, at: Date.now() }),
    (error: unknown) => ({ ok: false as const, error: error instanceof Error ? error : new Error(String(error)), at: Date.now() }),
  );
}

/** The open quick input (input box or quick pick): its title, value and validation message. */
export async function readQuickInput(page: Page, timeoutMs = 10_000): Promise<{ title: string; value: string; message: string }> {
  const widget = page.locator('.quick-input-widget');
  await widget.waitFor({ state: 'visible', timeout: timeoutMs });
  const fold = (s: string) => s.replace(/\s+/g, ' ').trim();
  return {
    title: fold(await widget.locator('.quick-input-title').innerText({ timeout: 2000 }).catch(() => '')),
    value: await widget.locator('.quick-input-box input').first().inputValue({ timeout: 2000 }),
    message: fold(await widget.locator('.quick-input-message').innerText({ timeout: 2000 }).catch(() => '')),
  };
}

/** Types `value` into the open input box (replacing what is there), as a person would. */
export async function typeIntoQuickInput(page: Page, value: string, timeoutMs = 10_000): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input').first();
  await input.waitFor({ state: 'visible', timeout: timeoutMs });
  await input.click({ timeout: 5000 });
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(value, { delay: 5 });
}
