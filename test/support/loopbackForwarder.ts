/**
 * A `[::1]` forwarder in front of a 127.0.0.1-only server, for the real VS Code web workbench
 * (code-server) that the e2e suites and the demo start through test/support/vscode/launcher.ts.
 *
 * Loopback URLs and this workbench: `vscode.env.openExternal(http://127.0.0.1:P/...)` is
 * rewritten by the web workbench to code-server's port proxy, `http://<server>/proxy/P/...`,
 * because it assumes the browser runs on another machine. It rewrites only authorities matching
 * `/^(localhost|127\.0\.0\.1|0\.0\.0\.0):(\d+)$/` (VS Code's
 * `extractLocalHostUriMetaDataForPortMapping`); `[::1]:P` is opened unchanged, and VS Code's link
 * protection trusts `[::1]` like `localhost`. Two ways around the rewrite, both here:
 *  - `startLoopbackForwarder`: serve a 127.0.0.1-only server on `[::1]` too and name it by
 *    `http://[::1]:P` (the demo's IdP), so a person's browser reaches it directly;
 *  - `launchBrowser({ undoProxyRewrite })`: Playwright answers `/proxy/P/...` with a 302 to
 *    `http://127.0.0.1:P/...` (tests only).
 * Setting code-server's `VSCODE_PROXY_URI=http://127.0.0.1:{{port}}/` does NOT work: the
 * workbench parses that template with `new URL()` while resolving the remote authority, fails on
 * `{{port}}` in the port position, and never starts the extension host.
 */
import * as net from 'node:net';

export interface LoopbackForwarder {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on `[listenHost]:port` and pipes every connection to `127.0.0.1:targetPort` (same
 * port by default, so URLs differ only in the host). Used to name a 127.0.0.1-only server by
 * `http://[::1]:port`, which the web workbench opens without rewriting.
 */
export async function startLoopbackForwarder(port: number, options: { listenHost?: string; targetPort?: number } = {}): Promise<LoopbackForwarder> {
  const host = options.listenHost ?? '::1';
  const targetPort = options.targetPort ?? port;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    host,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
