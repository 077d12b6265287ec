/**
 * The browser robot: plays the person in the browser for sign-in tests. It watches every page the
 * workbench opens in the Chromium context (what `vscode.env.openExternal` becomes in the web
 * workbench), undoes the workbench's loopback port-forwarding rewrite, and, following the current
 * plan, signs in to / consents at / cancels on oidc-provider's devInteractions pages, then records
 * where the page finally lands and closes it. An HTTP control server on 127.0.0.1 lets the suites
 * in the extension host set the plan and read what happened (client: browserControl.ts).
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page, Request, Response, Route } from 'playwright-core';
import { joinSockets } from '../joinSockets';
import type { BrowserPlan, Landing } from './browserControl';

interface TrackedPage {
  page: Page;
  /** The URL the page was opened with (after undoing the proxy rewrite). */
  openedUrl?: string;
  /** First main-frame navigation Playwright reported (a fallback for `openedUrl`). */
  firstSeenUrl?: string;
  /** Origin of `openedUrl`: the identity provider's pages; anything else is a landing. */
  idpOrigin?: string;
  /** URL and HTTP status of the latest main-frame navigation (request, response). */
  lastNavUrl?: string;
  lastStatus?: number;
  busy: boolean;
  again: boolean;
  finished: boolean;
  /** Robot actions taken on this page (a runaway guard). */
  steps: number;
  /** Opened before the last reset. */
  stale?: boolean;
}

const WINDOW_OPEN_BINDING = '__oidcTestWindowOpen';

/** Most actions the robot takes on one page before it gives up on it. */
const MAX_STEPS = 20;

export class BrowserRobot {
  private plan: BrowserPlan = { action: 'ignore' };
  private openedUrls: string[] = [];
  /** window.open calls not yet tied to a page; `stale` ones happened before the last reset. */
  private unclaimed: { url: string; stale: boolean }[] = [];
  private landings: Landing[] = [];
  private readonly pages = new Map<Page, TrackedPage>();
  private proxyPrefix: RegExp = /^$/;
  private server: http.Server | undefined;
  private context: BrowserContext | undefined;
  /**
   * The browser's proxy: Chromium sends every request for a host that is not loopback here
   * (it never proxies loopback), and this forwards it to the proxy a suite names (POST
   * /browser-proxy) or refuses it. Loopback pages (the workbench, the test IdPs, the redirect to
   * the extension) stay direct.
   */
  private proxyHop: net.Server | undefined;
  private proxyHopTarget: number | undefined;
  private readonly hopSockets = new Set<net.Socket>();

  constructor(private readonly log: (line: string) => void) {}

  /** `${workbenchOrigin}/proxy/PORT/rest` → `http(s)://127.0.0.1:PORT/rest`; other URLs unchanged. */
  unproxy(url: string): string {
    const m = this.proxyPrefix.exec(url);
    if (!m) return url;
    const rest = m[2] ?? '';
    // The rewrite drops the scheme: the plan names the ports that serve https.
    const scheme = this.plan.httpsPorts?.includes(Number(m[1])) ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${m[1]}${rest.startsWith('/') ? rest : `/${rest}`}`;
  }

  /**
   * Starts watching pages opened in `context` (other than `workbench`) and undoing proxy URLs.
   * @param workbenchOrigin e.g. `http://127.0.0.1:PORT`: the workbench rewrites loopback URLs to
   *   `${workbenchOrigin}/proxy/<port>/...`.
   */
  async attach(context: BrowserContext, workbench: Page, workbenchOrigin: string): Promise<void> {
    this.context = context;
    this.proxyPrefix = new RegExp(`^${workbenchOrigin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/proxy/(\\d+)(.*)$`);
    await context.route(
      (url) => this.proxyPrefix.test(url.href),
      async (route: Route) => {
        const direct = this.unproxy(route.request().url());
        this.log(`proxy rewrite undone: ${route.request().url()} -> ${direct}`);
        await route.fulfill({ status: 302, headers: { location: direct, 'cache-control': 'no-store' } });
      },
    );
    // What the workbench opens: it calls window.open(url, '_blank', 'noopener') for
    // openExternal of http(s) URLs. Popups announce themselves to Playwright only after their
    // first redirects, so the URL is taken here, at the source.
    await workbench.exposeFunction(WINDOW_OPEN_BINDING, (url: unknown) => this.onWindowOpen(workbenchOrigin, url));
    await workbench.addInitScript((binding: string) => {
      const original = window.open;
      window.open = function (this: Window, ...args: Parameters<typeof window.open>) {
        try {
          const report = (window as unknown as Record<string, ((url: string) => unknown) | undefined>)[binding];
          if (args[0] !== undefined && report) void report(String(args[0]));
        } catch {
          // never break the workbench
        }
        return original.apply(this, args);
      };
    }, WINDOW_OPEN_BINDING);
    context.on('request', (req: Request) => {
      const page = mainFramePage(req);
      if (!page || page === workbench) return;
      const t = this.tracked(page);
      if (req.url() === 'about:blank') return;
      if (t.firstSeenUrl === undefined) t.firstSeenUrl = this.unproxy(req.url());
      t.lastNavUrl = req.url();
      t.lastStatus = undefined;
    });
    context.on('response', (res: Response) => {
      const page = mainFramePage(res.request());
      if (page && page !== workbench) this.tracked(page).lastStatus = res.status();
    });
    context.on('page', (page) => {
      if (page !== workbench) this.tracked(page);
    });
  }

  private onWindowOpen(workbenchOrigin: string, raw: unknown): void {
    if (typeof raw !== 'string' || raw === '' || raw === 'about:blank') return;
    let url: string;
    try {
      url = this.unproxy(new URL(raw, workbenchOrigin).toString());
    } catch {
      return;
    }
    this.openedUrls.push(url);
    this.unclaimed.push({ url, stale: false });
    this.log(`window.open: ${url}`);
  }

  /**
   * Ties a page to the URL it was opened with (pages appear in window.open order) and so to
   * the identity provider's origin; a page opened some other way counts its first URL.
   */
  private claim(t: TrackedPage): void {
    if (t.idpOrigin !== undefined) return;
    const entry = this.unclaimed.shift();
    let url: string;
    if (entry) {
      url = entry.url;
      t.stale = entry.stale;
    } else {
      const first = t.firstSeenUrl ?? t.page.url();
      if (first === 'about:blank' || first === '') return;
      url = first;
      this.openedUrls.push(url);
      this.log(`page opened without window.open: ${url}`);
    }
    t.openedUrl = url;
    try {
      t.idpOrigin = new URL(url).origin;
    } catch {
      t.idpOrigin = 'null';
    }
  }

  /** The robot's record of `page`, created (and wired) on first sight. */
  private tracked(page: Page): TrackedPage {
    const known = this.pages.get(page);
    if (known) return known;
    const t: TrackedPage = { page, busy: false, again: false, finished: false, steps: 0 };
    this.pages.set(page, t);
    page.on('load', () => this.kick(t));
    page.on('dialog', (d) => void d.dismiss().catch(() => undefined));
    page.on('close', () => this.pages.delete(page));
    // The page may have loaded before it was announced.
    queueMicrotask(() => {
      if (!page.isClosed() && page.url() !== 'about:blank') this.kick(t);
    });
    return t;
  }

  /** Runs `step` for the page, serialised; a kick while busy runs it once more afterwards. */
  private kick(t: TrackedPage): void {
    if (t.busy) {
      t.again = true;
      return;
    }
    t.busy = true;
    void (async () => {
      try {
        do {
          t.again = false;
          try {
            await this.step(t);
          } catch (err) {
            // Typically "execution context was destroyed": the page navigated meanwhile; the
            // next load kicks again.
            if (!t.page.isClosed()) this.log(`step on ${safeUrl(t.page)} failed: ${String(err)}`);
          }
        } while (t.again && !t.finished && !t.page.isClosed());
      } finally {
        t.busy = false;
      }
    })();
  }

  private async step(t: TrackedPage): Promise<void> {
    const { page } = t;
    if (t.finished || page.isClosed()) return;
    const url = page.url();
    if (url === 'about:blank') return;
    this.claim(t);
    if (t.stale) {
      // Opened before the last reset: not part of the current test.
      t.finished = true;
      this.log(`closing page opened before the last reset: ${url}`);
      await page.close().catch(() => undefined);
      return;
    }
    const plan = this.plan;
    if (plan.action === 'ignore' || !t.idpOrigin) return;
    const here = new URL(url);
    if (here.origin !== t.idpOrigin) {
      t.finished = true;
      // A navigation that failed (e.g. nothing listens on the redirect URI's port any more)
      // shows Chromium's error page: record the URL it tried, with status 0.
      const failed = url.startsWith('chrome-error:');
      const title = await page.title().catch(() => '');
      const text = await page.evaluate(() => (document.body ? document.body.innerText : '')).catch(() => '');
      const landing: Landing = failed
        ? { url: t.lastNavUrl ?? url, status: 0, title, text }
        : { url, status: t.lastStatus ?? 0, title, text };
      this.landings.push(landing);
      this.log(`landed (${landing.status}): ${landing.url}`);
      await page.close().catch(() => undefined);
      return;
    }
    if (!here.pathname.includes('/interaction/')) return;
    if (t.steps >= MAX_STEPS) return;
    // Each evaluate acts at most once per document (a flag on its window), so a second kick on
    // the same page cannot submit a form twice.
    if (plan.action === 'deny') {
      const href = await page.evaluate(() => {
        const w = window as unknown as { __oidcTestRobot?: boolean };
        if (w.__oidcTestRobot) return null;
        const a = Array.from(document.querySelectorAll('a')).find((el) => /\/abort\/?$/.test(el.getAttribute('href') ?? ''));
        if (!a) return null;
        w.__oidcTestRobot = true;
        window.location.href = a.href;
        return a.href;
      });
      if (href) {
        t.steps++;
        this.log(`deny: following ${href}`);
      }
      return;
    }
    const login = plan.login ?? 'alice';
    const did = await page.evaluate((name) => {
      const w = window as unknown as { __oidcTestRobot?: boolean };
      if (w.__oidcTestRobot) return 'already';
      const user = document.querySelector<HTMLInputElement>('form input[name="login"]');
      const pass = document.querySelector<HTMLInputElement>('form input[name="password"]');
      if (user && pass && user.form) {
        w.__oidcTestRobot = true;
        user.value = name;
        pass.value = 'any-password';
        user.form.submit();
        return 'login';
      }
      const consent = document.querySelector<HTMLInputElement>('form input[type="hidden"][name="prompt"][value="consent"]');
      if (consent && consent.form) {
        w.__oidcTestRobot = true;
        consent.form.submit();
        return 'consent';
      }
      return 'nothing';
    }, login);
    if (did === 'already') return;
    if (did !== 'nothing') t.steps++;
    this.log(did === 'login' ? `login: signed in as ${login} at ${url}` : `login: ${did} at ${url}`);
  }

  setPlan(plan: BrowserPlan): void {
    this.plan = { ...plan };
    this.log(`plan: ${JSON.stringify(this.plan)}`);
    for (const t of this.pages.values()) this.kick(t);
  }

  async reset(): Promise<void> {
    this.plan = { action: 'ignore' };
    const stale = [...this.pages.values()];
    this.pages.clear();
    // Pages appear in window.open order: let the open ones take their entries first, so that
    // entries left over belong to pages not announced yet, which are closed when they appear.
    for (const t of stale) this.claim(t);
    for (const entry of this.unclaimed) entry.stale = true;
    this.openedUrls = [];
    this.landings = [];
    await Promise.all(stale.map((t) => t.page.close().catch(() => undefined)));
    this.log(`reset (closed ${stale.length} page(s), ${this.unclaimed.length} still to appear)`);
  }

  /** Starts the control server on 127.0.0.1 (random port); resolves with its base URL. */
  async listen(): Promise<string> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Starts the browser's proxy hop on 127.0.0.1; resolves with its port (for --proxy-server). */
  async listenProxyHop(): Promise<number> {
    const hop = net.createServer((client) => {
      const target = this.proxyHopTarget;
      if (target === undefined) return void client.destroy();
      joinSockets(client, net.connect(target, '127.0.0.1'), this.hopSockets);
    });
    this.proxyHop = hop;
    await new Promise<void>((resolve, reject) => {
      hop.once('error', reject);
      hop.listen(0, '127.0.0.1', () => resolve());
    });
    return (hop.address() as AddressInfo).port;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const route = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    switch (route) {
      case 'POST /plan': {
        let plan: BrowserPlan;
        try {
          plan = JSON.parse(raw) as BrowserPlan;
        } catch {
          return json(400, { error: 'body must be JSON' });
        }
        if (!plan || !['login', 'deny', 'ignore'].includes(plan.action)) {
          return json(400, { error: 'action must be login, deny or ignore' });
        }
        if (plan.login !== undefined && typeof plan.login !== 'string') return json(400, { error: 'login must be a string' });
        const httpsPorts = Array.isArray(plan.httpsPorts) ? plan.httpsPorts.filter((p) => Number.isInteger(p)) : undefined;
        this.setPlan({ action: plan.action, ...(plan.login === undefined ? {} : { login: plan.login }), ...(httpsPorts ? { httpsPorts } : {}) });
        return json(200, { ok: true });
      }
      case 'POST /browser-proxy': {
        let body: { port?: unknown };
        try {
          body = JSON.parse(raw) as { port?: unknown };
        } catch {
          return json(400, { error: 'body must be JSON' });
        }
        this.proxyHopTarget = Number.isInteger(body.port) ? (body.port as number) : undefined;
        for (const s of this.hopSockets) s.destroy();
        this.log(`browser proxy: ${this.proxyHopTarget ?? 'none'}`);
        return json(200, { ok: true });
      }
      case 'GET /opened':
        return json(200, this.openedUrls);
      case 'GET /landed':
        return json(200, this.landings);
      case 'POST /reset':
        await this.reset();
        return json(200, { ok: true });
      case 'POST /clear-cookies':
        await this.context?.clearCookies();
        this.log('cookies cleared');
        return json(200, { ok: true });
      default:
        return json(404, { error: `no route ${route}` });
    }
  }

  async close(): Promise<void> {
    for (const s of this.hopSockets) s.destroy();
    this.proxyHop?.close();
    this.proxyHop = undefined;
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The page whose main frame `req` navigates, if it does. */
function mainFramePage(req: Request): Page | undefined {
  try {
    if (!req.isNavigationRequest()) return undefined;
    const frame = req.frame();
    return frame.parentFrame() ? undefined : frame.page();
  } catch {
    // Service-worker requests have no frame.
    return undefined;
  }
}

function safeUrl(page: Page): string {
  try {
    return page.url();
  } catch {
    return '?';
  }
}
