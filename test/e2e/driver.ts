/**
 * The HTTP side of test/fixtures/consumer-extension: the consumer extension long-polls this
 * server for commands (env OIDC_E2E_DRIVER) and reports results and onDidChangeSessions events.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReportedSession {
  id: string;
  account: { id: string; label: string };
  scopes: string[];
  accessToken: string;
}

export interface SessionEvent {
  instance: string;
  providerId: string;
  session: ReportedSession | null | { error: string };
  at: number;
  /** The event's `added`/`removed`/`changed`, when the consumer's VS Code passes them (proposed API). */
  added?: unknown;
  removed?: unknown;
  changed?: unknown;
}

interface Hello {
  instance: string;
  extensionId: string;
  at: number;
}

interface Command {
  seq: number;
  op: string;
  args: unknown;
  resolve(value: unknown): void;
  reject(err: Error): void;
  sent: boolean;
  /** The consumer instance this command is for; default the current one. */
  instance?: string;
}

type Waiter = () => boolean;

export class ConsumerDriver {
  readonly events: SessionEvent[] = [];
  readonly hellos: Hello[] = [];
  private server: http.Server | undefined;
  private seq = 0;
  private readonly queue: Command[] = [];
  private readonly inFlight = new Map<number, Command>();
  private readonly polls: { instance: string; res: http.ServerResponse; timer: NodeJS.Timeout }[] = [];
  private readonly waiters = new Set<Waiter>();
  private current: string | undefined;
  url = '';
  /**
   * Several consumer instances at once, one per VS Code window (windows.test.ts): a new hello no
   * longer retires the older instances, and commands may name their instance (`call`'s last
   * argument). Default false: the newest instance replaces the older ones (a reload).
   */
  multiInstance = false;

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const p of this.polls.splice(0)) {
      clearTimeout(p.timer);
      p.res.writeHead(410).end();
    }
    for (const cmd of [...this.queue.splice(0), ...this.inFlight.values()]) cmd.reject(new Error('driver stopped'));
    this.inFlight.clear();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The consumer instance (extension host) commands go to: the most recent hello. */
  get instance(): string | undefined {
    return this.current;
  }

  /** Waits for a consumer activation (a hello) after `afterCount` hellos; returns its instance. */
  async waitForHello(afterCount: number, timeoutMs: number): Promise<string> {
    await this.waitFor(() => this.hellos.length > afterCount, timeoutMs, 'the consumer extension to activate');
    return this.hellos[this.hellos.length - 1]!.instance;
  }

  /** Waits until `predicate` holds over the reported events. */
  async waitForEvent(predicate: (e: SessionEvent) => boolean, fromIndex: number, timeoutMs: number, what: string): Promise<SessionEvent> {
    let found: SessionEvent | undefined;
    await this.waitFor(
      () => {
        found = this.events.slice(fromIndex).find(predicate);
        return found !== undefined;
      },
      timeoutMs,
      what,
    );
    return found!;
  }

  /** Sends a command to the current consumer instance (or to `instance`); resolves with its result. */
  call<T = unknown>(op: string, args: unknown, timeoutMs: number, instance?: string): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.queue.findIndex((c) => c.seq === seq);
        if (i >= 0) this.queue.splice(i, 1);
        this.inFlight.delete(seq);
        reject(new Error(`consumer ${op} ${JSON.stringify(args)} did not answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const cmd: Command = {
        seq,
        op,
        args,
        sent: false,
        ...(instance !== undefined ? { instance } : {}),
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.queue.push(cmd);
      this.flush();
    });
  }

  getSession(scopes: string[], options: Record<string, unknown>, timeoutMs: number): Promise<ReportedSession | null> {
    return this.call<ReportedSession | null>('getSession', { scopes, options }, timeoutMs);
  }

  /**
   * Changes a user setting through the consumer extension (ConfigurationTarget.Global); resolves
   * once that extension host sees the new value. `null` removes the setting.
   */
  updateSetting(key: string, value: unknown, timeoutMs = 15_000, section = 'oidcAuth'): Promise<unknown> {
    return this.call('updateSetting', { section, key, value }, timeoutMs);
  }

  private waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = () => {
        if (!cond()) return false;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private flush(): void {
    for (let k = 0; k < this.queue.length; ) {
      const target = this.queue[k]!.instance ?? this.current;
      const i = this.polls.findIndex((p) => p.instance === target);
      if (i < 0) {
        k++; // no poll from that instance yet: keep it queued, in order
        continue;
      }
      const poll = this.polls.splice(i, 1)[0]!;
      clearTimeout(poll.timer);
      const cmd = this.queue.splice(k, 1)[0]!;
      cmd.sent = true;
      this.inFlight.set(cmd.seq, cmd);
      poll.res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ seq: cmd.seq, op: cmd.op, args: cmd.args }));
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://driver');
    if (req.method === 'GET' && url.pathname === '/poll') {
      const instance = url.searchParams.get('instance') ?? '';
      if (this.current !== undefined && instance !== this.current && !this.multiInstance) {
        res.writeHead(410).end(); // an older extension host: stop polling
        return;
      }
      const timer = setTimeout(() => {
        const i = this.polls.findIndex((p) => p.res === res);
        if (i >= 0) this.polls.splice(i, 1);
        res.writeHead(204).end();
      }, 20_000);
      this.polls.push({ instance, res, timer });
      res.on('close', () => {
        clearTimeout(timer);
        const i = this.polls.findIndex((p) => p.res === res);
        if (i >= 0) this.polls.splice(i, 1);
      });
      this.flush();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/report') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(204).end();
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return;
        }
        this.onReport(msg);
      });
      return;
    }
    res.writeHead(404).end();
  }

  private onReport(msg: Record<string, unknown>): void {
    const instance = String(msg.instance ?? '');
    switch (msg.kind) {
      case 'hello':
        this.hellos.push({ instance, extensionId: String(msg.extensionId), at: Date.now() });
        if (instance !== this.current && this.multiInstance) {
          this.current = instance; // the older instances (other windows) keep running
        } else if (instance !== this.current) {
          // A new extension host (first start or after a reload): commands not yet answered by
          // the old one will never be; fail them, and send new ones to the new instance.
          for (const cmd of this.inFlight.values()) cmd.reject(new Error('the extension host restarted'));
          this.inFlight.clear();
          for (const p of this.polls.splice(0)) {
            clearTimeout(p.timer);
            p.res.writeHead(410).end();
          }
          this.current = instance;
        }
        this.flush();
        break;
      case 'result': {
        const cmd = this.inFlight.get(Number(msg.seq));
        if (!cmd) break;
        this.inFlight.delete(cmd.seq);
        if (msg.ok) cmd.resolve(msg.value);
        else cmd.reject(new Error(`consumer ${cmd.op} failed: ${String(msg.error)}`));
        break;
      }
      case 'event':
        this.events.push({
          instance,
          providerId: String(msg.providerId),
          session: (msg.session ?? null) as SessionEvent['session'],
          at: Date.now(),
          ...(msg.added !== undefined ? { added: msg.added } : {}),
          ...(msg.removed !== undefined ? { removed: msg.removed } : {}),
          ...(msg.changed !== undefined ? { changed: msg.changed } : {}),
        });
        break;
    }
    this.notify();
  }
}
