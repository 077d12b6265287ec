/**
 * The pages the browser shows after a redirect to the extension. Templates live in `media/`
 * (no script, inline styles allowed by hash); every interpolated value is HTML-escaped.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { english, l10n, type Translate } from '../l10n';

/** Words the browser pages show; the VS Code layer passes localized ones. */
export interface PageStrings {
  signedInTitle: string;
  signedInMessage: string;
  failedTitle: string;
  failedMessage: string;
  invalidRequestMessage: string;
  notFoundMessage: string;
}

/**
 * The page strings through `t`, by default `l10n.t`: translated once the VS Code layer has set
 * the translator.
 */
export function pageStrings(t: Translate = l10n.t): PageStrings {
  return {
    signedInTitle: t('Signed in'),
    signedInMessage: t('You are signed in to VS Code. You can close this tab and return to VS Code.'),
    failedTitle: t('Sign-in failed'),
    failedMessage: t('VS Code could not complete the sign-in. Return to VS Code for details.'),
    invalidRequestMessage: t('This sign-in link is not valid or has already been used. Start the sign-in again from VS Code.'),
    notFoundMessage: t('Nothing to see here.'),
  };
}

/** English, whatever the translator (tests and tools). */
export const ENGLISH_PAGE_STRINGS: PageStrings = pageStrings(english);

export interface Page {
  status: number;
  html: string;
  headers: Record<string, string>;
}

export interface PageTemplates {
  success: string;
  failure: string;
}

export interface PageTexts {
  /** Page title and heading. */
  title: string;
  /** One paragraph under the heading. */
  message: string;
  /** Optional details (the IdP's error and its description). */
  detail?: string;
}

const FALLBACK_TEMPLATE =
  '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{{title}}</title></head>' +
  '<body><h1>{{title}}</h1><p>{{message}}</p><p>{{detail}}</p></body></html>';

/** One page in `media/page.html`; `{{kind}}` (success or failure) picks its look. */
export function loadPageTemplates(mediaDir: string | undefined): PageTemplates {
  let template = FALLBACK_TEMPLATE;
  if (mediaDir) {
    try {
      template = readFileSync(path.join(mediaDir, 'page.html'), 'utf8');
    } catch {
      /* the fallback still says what happened */
    }
  }
  return { success: template.split('{{kind}}').join('success'), failure: template.split('{{kind}}').join('failure') };
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Fills `{{name}}` placeholders with escaped values; unknown placeholders become empty. */
export function renderTemplate(template: string, values: Record<string, string | undefined>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => escapeHtml(values[name] ?? ''));
}

/** A Content-Security-Policy allowing no script and only the page's own inline styles, by hash. */
export function contentSecurityPolicy(html: string): string {
  const hashes = [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/gi)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
  const style = hashes.length ? hashes.join(' ') : "'none'";
  return `default-src 'none'; style-src ${style}; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

export function renderPage(template: string, status: number, texts: PageTexts): Page {
  const html = renderTemplate(template, { title: texts.title, message: texts.message, detail: texts.detail });
  return {
    status,
    html,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': contentSecurityPolicy(html),
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
    },
  };
}
