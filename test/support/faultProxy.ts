/**
 * A fault-injecting HTTP proxy on 127.0.0.1, put between the core and the real oidc-provider of
 * test/support/idp.ts. It forwards every request unchanged (Host header included, so the IdP
 * builds its endpoint URLs on the proxy's origin) unless a rule matches, and then it:
 *  - `reset`: destroys the connection before answering;
 *  - `reset-mid-response`: forwards, sends the IdP's status and headers and half its body
 *    (chunked, so the answer is unfinished even when the body is empty), then resets the
 *    connection (TCP RST);
 *  - `stall`: never answers (the connection is destroyed after `ms`, default 10 s, or at close);
 *  - `answer`: answers with the given status, headers and body (a 503 page, HTML for JSON…).
 * `down()` closes the listening socket (connections are refused) until `up()`.
 *
 * The issuer of the IdP must be on the proxy's origin for discovery to match. startTestIdp()
 * builds its issuer as `http://${issuerHost}:${its own port}`, so with
 * `issuerHost: proxy.issuerHostFor()` the issuer becomes `http://127.0.0.1:<proxy port>/idp:<idp port>`:
 * a path issuer on the proxy. The proxy strips that path prefix before forwarding, and
 * oidc-provider, which builds its endpoint URLs from the request's Host and path, then
 * advertises every endpoint on the proxy's origin too. (An explicit `issuer` option in
 * startTestIdp would make this trick unnecessary.)
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultAction =
  | { kind: 'reset' }
  | { kind: 'reset-mid-response' }
  | { kind: 'stall'; ms?: number }
  | { kind: 'answer'; status: number; body: string; contentType?: string; headers?: Record<string, string> };

export interface FaultRule {
  /** Matched against the path the IdP sees (prefix stripped, no query). */
  path: string | RegExp;
  method?: string;
  action: FaultAction;
  /** How many matching requests the rule applies to (default 1). */
  times?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The fault applied, or `forwarded`. */
  outcome: string;
}

export interface FaultProxy {
  readonly port: number;
  readonly origin: string;
  /** Every request that reached the proxy, in order. */
  readonly requests: ProxiedRequest[];
  /** The value for startTestIdp's `issuerHost` that puts the issuer on this proxy. */
  issuerHostFor(): string;
  /** Where to forward, once the IdP runs. */
  setTarget(idpPort: number): void;
  inject(rule: FaultRule): void;
  /** Removes every rule not yet used up. */
  clear(): void;
  /** Matching requests so far for `path` (any outcome). */
  count(path: string | RegExp): number;
  /** Stops listening: new connections are refused. Open connections are cut. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

interface ActiveRule extends FaultRule {
  left: number;
}

const matches = (pattern: string | RegExp, path: string) => (typeof pattern === 'string' ? pattern === path : pattern.test(path));

export async function startFaultProxy(): Promise<FaultProxy> {
  const server = http.createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let target = 0;
  let prefix = '';
  const rules: ActiveRule[] = [];
  const requests: ProxiedRequest[] = [];
  const stallTimers = new Set<ReturnType<typeof setTimeout>>();

  const cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    let rawPath = req.url ?? '/';
    if (prefix && (rawPath === prefix || rawPath.startsWith(`${prefix}/`) || rawPath.startsWith(`${prefix}?`))) {
      rawPath = rawPath.slice(prefix.length) || '/';
    }
    const path = new URL(rawPath, 'http://x').pathname;
    const method = req.method ?? 'GET';
    const rule = rules.find((r) => r.left > 0 && (!r.method || r.method === method) && matches(r.path, path));
    if (rule) rule.left--;
    const action = rule?.action;
    requests.push({ method, path, outcome: action?.kind ?? 'forwarded' });
    // Errors on a connection we cut on purpose are expected.
    req.on('error', () => undefined);
    res.on('error', () => undefined);

    if (action?.kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (action?.kind === 'stall') {
      req.resume();
      const timer = setTimeout(() => {
        stallTimers.delete(timer);
        req.socket.destroy();
      }, action.ms ?? 10_000);
      stallTimers.add(timer);
      req.socket.once('close', () => {
        clearTimeout(timer);
        stallTimers.delete(timer);
      });
      return;
    }
    if (action?.kind === 'answer') {
      req.resume();
      const body = Buffer.from(action.body);
      res.writeHead(action.status, {
        'content-type': action.contentType ?? 'text/html; charset=utf-8',
        'content-length': String(body.length),
        ...action.headers,
      });
      res.end(body);
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: target, method, path: rawPath, headers: req.headers, agent: false },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          const headers = { ...up.headers };
          delete headers['transfer-encoding'];
          delete headers['content-length'];
          if (action?.kind === 'reset-mid-response') {
            // Chunked, so that even an empty body is left unfinished: the status and headers
            // arrive, then half the body (maybe nothing), then a TCP reset.
            res.writeHead(up.statusCode ?? 502, headers);
            res.flushHeaders();
            res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
              setTimeout(() => req.socket.resetAndDestroy(), 20);
            });
            return;
          }
          headers['content-length'] = String(body.length);
          res.writeHead(up.statusCode ?? 502, headers);
          res.end(body);
        });
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  });

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      if (server.listening) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stop = async () => {
    if (!server.listening) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      cutAll();
    });
    // Let clients see their pooled keep-alive connections close, so that the next request opens
    // a new connection and is refused, instead of failing on a dead pooled socket.
    await new Promise((r) => setTimeout(r, 50));
  };

  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    issuerHostFor: () => `127.0.0.1:${port}/idp`,
    setTarget(idpPort: number) {
      target = idpPort;
      prefix = `/idp:${idpPort}`;
    },
    inject(rule: FaultRule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    clear() {
      rules.length = 0;
    },
    count: (pattern) => requests.filter((r) => matches(pattern, r.path)).length,
    down: stop,
    up: listen,
    async close() {
      for (const t of stallTimers) clearTimeout(t);
      stallTimers.clear();
      await stop();
    },
  };
}
