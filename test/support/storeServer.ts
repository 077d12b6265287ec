/**
 * A SecretStorage with the desktop's semantics for tests that run "windows" as separate
 * processes: one store for all of them, and every write announced to every window (as desktop
 * VS Code fires `secrets.onDidChange` in each window).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretStore } from '../../src/core/storage/secretStore';

export interface StoreServer {
  url: string;
  data: Map<string, string>;
  close(): Promise<void>;
}

export async function startStoreServer(initial: Map<string, string> = new Map()): Promise<StoreServer> {
  const data = new Map(initial);
  const changes: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const key = url.searchParams.get('key') ?? '';
      const json = (value: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (url.pathname === '/get') return json({ value: data.get(key) ?? null });
      if (url.pathname === '/store') {
        data.set(key, body);
        changes.push(key);
        return json({});
      }
      if (url.pathname === '/delete') {
        data.delete(key);
        changes.push(key);
        return json({});
      }
      if (url.pathname === '/changes') {
        const since = Number(url.searchParams.get('since') ?? 0);
        return json({ next: changes.length, keys: [...new Set(changes.slice(since))] });
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    data,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A window's view of the store server, with change notifications by polling. */
export class HttpSecretStore implements SecretStore {
  private seen = 0;
  constructor(private readonly url: string) {}

  async get(key: string): Promise<string | undefined> {
    const res = await fetch(`${this.url}/get?key=${encodeURIComponent(key)}`);
    const { value } = (await res.json()) as { value: string | null };
    return value ?? undefined;
  }
  async store(key: string, value: string): Promise<void> {
    await (await fetch(`${this.url}/store?key=${encodeURIComponent(key)}`, { method: 'POST', body: value })).arrayBuffer();
  }
  async delete(key: string): Promise<void> {
    await (await fetch(`${this.url}/delete?key=${encodeURIComponent(key)}`, { method: 'POST' })).arrayBuffer();
  }
  /** Keys changed since the last call. */
  async changes(): Promise<string[]> {
    const res = await fetch(`${this.url}/changes?since=${this.seen}`);
    const { next, keys } = (await res.json()) as { next: number; keys: string[] };
    this.seen = next;
    return keys;
  }
}
