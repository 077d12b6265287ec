/**
 * The RFC 8252 loopback redirect receiver: an HTTP server on 127.0.0.1 that answers only
 * `GET /callback`, accepts exactly one callback carrying the expected `state`, and closes.
 * A callback with a missing or wrong `state` is answered with an error page and does not end
 * the pending sign-in, so nothing else on the machine can cancel or hijack it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { OidcError } from '../errors';
import { CALLBACK_PATH } from './flow';
import type { Page } from './pages';
import { l10n } from '../l10n';
import { cancelledError, waitForBrowser } from '../timers';

export interface ReceivedCallback {
  params: URLSearchParams;
  /** Answers the browser; only the first call counts. */
  respond(page: Page): void;
}

export interface LoopbackPages {
  /** Shown for a callback whose `state` does not match the pending sign-in. */
  invalidState(): Page;
  notFound(): Page;
}

export class LoopbackServer {
  #pending:
    | { state: string; resolve: (cb: ReceivedCallback) => void; reject: (err: unknown) => void }
    | undefined;
  #closed = false;

  readonly #server: http.Server;
  readonly #pages: LoopbackPages;
  private constructor(
    server: http.Server,
    readonly port: number,
    pages: LoopbackPages,
  ) {
    this.#server = server;
    this.#pages = pages;
    server.on('request', (req, res) => this.#handle(req, res));
  }

  /** Binds 127.0.0.1 (never a wildcard address). `port` 0 picks a free port. */
  static async start(port: number, pages: LoopbackPages): Promise<LoopbackServer> {
    const server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 15_000, headersTimeout: 10_000 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
          reject(new OidcError('port', l10n.t('The loopback port {0} is already in use or not allowed ({1}).', port, String(err.code))));
        } else {
          reject(new OidcError('port', l10n.t('Could not open a loopback port for the sign-in redirect ({0}).', err.code ?? err.message)));
        }
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return new LoopbackServer(server, (server.address() as AddressInfo).port, pages);
  }

  get redirectUri(): string {
    return `http://127.0.0.1:${this.port}${CALLBACK_PATH}`;
  }

  /**
   * Resolves with the first callback carrying `expectedState`. Rejects on abort or timeout. The
   * caller must `respond()` to it and then `close()` the server.
   */
  waitForCallback(expectedState: string, signal: AbortSignal, timeoutMs: number): Promise<ReceivedCallback> {
    if (this.#pending) throw new Error('LoopbackServer: already waiting for a callback');
    return waitForBrowser<ReceivedCallback>(
      signal,
      timeoutMs,
      (waiter) => (this.#pending = { state: expectedState, ...waiter }),
      () => (this.#pending = undefined),
    );
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#pending?.reject(cancelledError());
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      // Browsers keep connections alive; do not let them hold the port open.
      this.#server.closeAllConnections();
    });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== CALLBACK_PATH) return send(res, this.#pages.notFound());
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('Method Not Allowed');
      return;
    }
    const pending = this.#pending;
    const state = url.searchParams.get('state');
    if (!pending || state === null || !sameString(state, pending.state)) {
      return send(res, this.#pages.invalidState());
    }
    let answered = false;
    pending.resolve({
      params: url.searchParams,
      respond: (page) => {
        if (answered) return;
        answered = true;
        send(res, page);
      },
    });
  }
}

function send(res: http.ServerResponse, page: Page): void {
  res.writeHead(page.status, { ...page.headers, Connection: 'close' });
  res.end(page.html);
}

function sameString(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
