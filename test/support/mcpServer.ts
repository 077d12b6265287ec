/**
 * A tiny MCP server (Streamable HTTP, JSON responses only) protected by OAuth, for tests of VS
 * Code's MCP authorization: without a valid bearer token it answers 401 with
 * `WWW-Authenticate: Bearer resource_metadata=…` (RFC 9728), and its protected-resource metadata
 * names one authorization server. Which token reached it, and from which IdP, is recorded.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface McpTestServerOptions {
  /** The authorization server named in the protected-resource metadata (an issuer). */
  authorizationServer: string;
  /** Scopes advertised in the metadata and the 401 challenge. */
  scopes: string[];
  /** Whether the bearer token is good (e.g. introspection at the IdP). */
  accepts(token: string): Promise<boolean>;
}

export interface McpTestServer {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  readonly url: string;
  /** Every bearer token presented, accepted or not, in order. */
  readonly presented: string[];
  /** Bearer tokens accepted. */
  readonly accepted: string[];
  /** JSON-RPC methods served with an accepted token. */
  readonly methods: string[];
  /** Requests for the protected-resource metadata. */
  readonly metadataRequests: number;
  close(): Promise<void>;
}

export async function startMcpTestServer(options: McpTestServerOptions): Promise<McpTestServer> {
  const presented: string[] = [];
  const accepted: string[] = [];
  const methods: string[] = [];
  let base = '';
  const state = { metadataRequests: 0 };
  const metadataPath = '/.well-known/oauth-protected-resource/mcp';

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    if (req.method === 'GET' && (url.pathname === metadataPath || url.pathname === '/.well-known/oauth-protected-resource')) {
      state.metadataRequests++;
      json(res, 200, {
        resource: `${base}/mcp`,
        authorization_servers: [options.authorizationServer],
        scopes_supported: options.scopes,
        bearer_methods_supported: ['header'],
        resource_name: 'oidc-auth test MCP server',
      });
      return;
    }
    if (url.pathname !== '/mcp') {
      json(res, 404, { error: 'not_found' });
      return;
    }
    const body = await readBody(req);
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token) presented.push(token);
    if (!token || !(await options.accepts(token))) {
      res.writeHead(401, {
        'www-authenticate': `Bearer resource_metadata="${base}${metadataPath}", scope="${options.scopes.join(' ')}"${token ? ', error="invalid_token"' : ''}`,
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ error: token ? 'invalid_token' : 'unauthorized' }));
      return;
    }
    accepted.push(token);
    if (req.method === 'GET') {
      // No server-initiated stream (allowed by the Streamable HTTP transport).
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    if (req.method === 'DELETE') {
      res.writeHead(200).end();
      return;
    }
    const messages = ([] as unknown[]).concat(JSON.parse(body || 'null') as unknown) as Array<{ id?: unknown; method?: string; params?: Record<string, unknown> }>;
    const replies = messages.filter((m) => m && m.id !== undefined && m.method).map((m) => {
      methods.push(m.method!);
      return { jsonrpc: '2.0', id: m.id, ...answer(m.method!, m.params) };
    });
    for (const m of messages) if (m && m.id === undefined && m.method) methods.push(m.method);
    if (!replies.length) {
      res.writeHead(202).end();
      return;
    }
    json(res, 200, Array.isArray(JSON.parse(body)) ? replies : replies[0], { 'mcp-session-id': 'oidc-auth-test' });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/mcp`,
    presented,
    accepted,
    methods,
    get metadataRequests() {
      return state.metadataRequests;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(method: string, params: Record<string, unknown> | undefined): { result: unknown } | { error: { code: number; message: string } } {
  switch (method) {
    case 'initialize':
      return {
        result: {
          protocolVersion: typeof params?.protocolVersion === 'string' ? params.protocolVersion : '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: 'oidc-auth-test', version: '1.0.0' },
        },
      };
    case 'ping':
      return { result: {} };
    case 'tools/list':
      return { result: { tools: [{ name: 'whoami', description: 'Says who the token belongs to.', inputSchema: { type: 'object', properties: {} } }] } };
    default:
      return { error: { code: -32601, message: `Method not found: ${method}` } };
  }
}

function json(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
