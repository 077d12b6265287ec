/**
 * The terminal channel of one window: a Unix socket (a named pipe on Windows) in a folder only
 * this user may enter, socket mode 0600, and a random per-window secret every request must carry.
 * Nothing listens on TCP. One request and one answer per connection (protocol.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { encodeLine, FramingError, LineReader, parseRequest, type TokenRequest, type TokenResponse } from './protocol';
import { errorMessage } from '../errors';

/** How long a connection may take to send its request line. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Longest Unix socket path that fits `sockaddr_un` on every platform (104 on macOS). */
const MAX_SOCKET_PATH = 100;
/** At most this many connections at once; more are refused by the OS backlog meanwhile. */
const MAX_CONNECTIONS = 256;

export type TerminalRequestHandler = (request: TokenRequest) => Promise<TokenResponse>;

export class TerminalChannel {
  readonly #sockets = new Set<net.Socket>();

  readonly #server: net.Server;
  readonly #folder: string | undefined;
  private constructor(
    server: net.Server,
    /** Where command-line tools connect: the socket's path, or the pipe's name. */
    readonly address: string,
    /** The per-window secret; lives only in this process and in the terminals' environment. */
    readonly secret: string,
    folder: string | undefined,
  ) {
    this.#server = server;
    this.#folder = folder;
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Listens in `folder` (created 0700), or in a private folder under the temp dir when its path is too long. */
  static async open(folder: string, handler: TerminalRequestHandler, log: Logger): Promise<TerminalChannel> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const secretDigest = digest(secret);
    let address: string;
    let own: string | undefined;
    if (process.platform === 'win32') {
      address = `\\\\.\\pipe\\oidc-auth-${id}`;
    } else {
      let dir = folder;
      if (path.join(dir, `${id}.sock`).length > MAX_SOCKET_PATH) {
        dir = path.join(os.tmpdir(), `oidc-auth-${id}`);
        own = dir;
      }
      privateFolder(dir);
      address = path.join(dir, `${id}.sock`);
      // Windows that crashed left their sockets behind; nobody answers on them.
      if (!own) void removeStaleSockets(dir, log);
    }
    const server = net.createServer((socket) => serve(socket, secretDigest, handler, log));
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (process.platform !== 'win32') chmodSync(address, 0o600);
    server.on('error', (err) => log.warn(`Terminal channel: ${err.message}`));
    return new TerminalChannel(server, address, secret, own);
  }

  /** Stops listening, ends open connections and removes the socket: the window's tools get "window closed". */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (process.platform !== 'win32') rmSync(this.address, { force: true });
    if (this.#folder) rmSync(this.#folder, { recursive: true, force: true });
  }
}

/** Creates `dir` if needed and makes it 0700, refusing one owned by someone else. */
function privateFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = statSync(dir);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) throw new Error(`The folder ${dir} belongs to another user.`);
  chmodSync(dir, 0o700);
}

/** Removes the sockets in `dir` that refuse connections (their window is gone); live ones are left alone. */
export async function removeStaleSockets(dir: string, log: Logger): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.sock'));
  } catch {
    return 0;
  }
  const stale = await Promise.all(
    names.map(
      (name) =>
        new Promise<boolean>((resolve) => {
          const file = path.join(dir, name);
          const socket = net.createConnection(file);
          socket.setTimeout(2_000, () => {
            socket.destroy();
            resolve(false);
          });
          socket.on('connect', () => {
            socket.destroy();
            resolve(false);
          });
          socket.on('error', (err: NodeJS.ErrnoException) => {
            if (err.code !== 'ECONNREFUSED') return resolve(false);
            rmSync(file, { force: true });
            resolve(true);
          });
        }),
    ),
  );
  const removed = stale.filter(Boolean).length;
  if (removed) log.info(`Terminal channel: removed ${removed} socket(s) of windows that are gone.`);
  return removed;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function serve(socket: net.Socket, secretDigest: Buffer, handler: TerminalRequestHandler, log: Logger): void {
  const reader = new LineReader();
  let answered = false;
  const answer = (response: TokenResponse) => {
    if (answered) return;
    answered = true;
    socket.end(encodeLine(response));
  };
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
    if (!answered) socket.destroy();
  });
  socket.on('error', () => undefined);
  const onData = (chunk: Buffer) => {
    let line: string | undefined;
    try {
      line = reader.push(chunk);
    } catch (err) {
      socket.off('data', onData);
      return answer({ ok: false, code: 'badRequest', message: errorMessage(err) });
    }
    if (line === undefined) return;
    socket.off('data', onData);
    socket.setTimeout(0);
    let request: TokenRequest;
    try {
      request = parseRequest(line);
    } catch (err) {
      // A request without the secret learns nothing else, not even whether its form was right.
      if (!hasSecret(line, secretDigest)) return refuse();
      return answer({ ok: false, code: 'badRequest', message: err instanceof FramingError ? err.message : 'The request is not valid.' });
    }
    if (!timingSafeEqual(digest(request.secret), secretDigest)) return refuse();
    handler(request).then(answer, (err: unknown) => {
      log.warn(`Terminal channel: the request failed: ${errorMessage(err)}`);
      answer({ ok: false, code: 'failed', message: 'The request failed in the VS Code window; see the OpenID Connect log.' });
    });
  };
  const refuse = () => {
    log.warn('Terminal channel: refused a request without this window\'s secret.');
    answer({ ok: false, code: 'unauthorized', message: "The request does not carry this window's secret." });
  };
  socket.on('data', onData);
}

/** Whether a request that did not parse still carried the right secret (to say what was wrong only then). */
function hasSecret(line: string, secretDigest: Buffer): boolean {
  try {
    const secret = (JSON.parse(line) as { secret?: unknown } | null)?.secret;
    return typeof secret === 'string' && timingSafeEqual(digest(secret), secretDigest);
  } catch {
    return false;
  }
}
