/**
 * A corporate network for one suite: the identity provider lives in a network namespace of its
 * own (loopback only, made with `ip netns`, so root is needed), under a host name that resolves
 * only there, and the one way in is an HTTP proxy (Debian's tinyproxy) running in that
 * namespace. A request that skips the proxy fails: the IdP's name does not resolve outside, and
 * nothing outside listens for it (the IdP itself listens on a Unix socket, which the namespace
 * reaches as a file).
 *
 *   VS Code ──► 127.0.0.1:P (this process) ─unix─► netns 127.0.0.1:3128 tinyproxy
 *                                                  └─► idp.corp.test:8443 = netns 127.0.0.1:8443 ─unix─► IdP
 *
 * Four proxies: `proxy` (open, for VS Code; its log is what the suite checks), `authProxy`
 * (asks for a login: HTTP 407), `strictProxy` (tunnels to port 443 only: HTTP 403 for the IdP) and
 * `browserProxy` (for the test browser, so the first proxy's log shows only VS Code's requests).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { joinSockets } from './joinSockets';

export interface NetworkProxy {
  /** `http://127.0.0.1:PORT`, as in VS Code's `http.proxy`. */
  readonly url: string;
  readonly port: number;
  /** The proxy's log so far (tinyproxy logs every request line, CONNECT host:port for https). */
  log(): string;
}

export interface CorporateNetwork {
  readonly namespace: string;
  /** The IdP's host name: resolves to the namespace's loopback, and nowhere else. */
  readonly idpHost: string;
  readonly idpPort: number;
  /** The Unix socket the IdP must listen on. */
  readonly idpSocket: string;
  readonly proxy: NetworkProxy;
  readonly authProxy: NetworkProxy & { readonly user: string; readonly password: string };
  readonly browserProxy: NetworkProxy;
  /** Tunnels only to port 443, so it refuses the IdP's port (HTTP 403). */
  readonly strictProxy: NetworkProxy;
  close(): Promise<void>;
}

const IDP_PORT = 8443;
const PROXY_PORTS = { proxy: 3128, authProxy: 3129, browserProxy: 3130, strictProxy: 3131 } as const;
const PROXY_USER = 'corp-user';
const PROXY_PASSWORD = 'corp-proxy-password';

function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim()}`);
  }
}

function which(command: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin', ...(process.env.PATH ?? '').split(':')]) {
    const file = path.join(dir, command);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`corporate network: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Namespaces an earlier run left behind (its process was killed before close()). */
function removeStaleNamespaces(ip: string): void {
  const list = spawnSync(ip, ['netns', 'list'], { encoding: 'utf8', timeout: 15_000 }).stdout ?? '';
  for (const [, name, pid] of list.matchAll(/^(oidc-auth-(\d+)-\w+)/gm)) {
    if (!name || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
      continue; // still running: another run's
    } catch {
      // gone
    }
    spawnSync(ip, ['netns', 'del', name], { timeout: 15_000 });
    fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
  }
}

/** Makes the namespace, its proxies and the relays; the IdP then listens on `idpSocket`. */
export async function startCorporateNetwork(idpHost = 'idp.corp.test'): Promise<CorporateNetwork> {
  if (process.getuid?.() !== 0) throw new Error('the corporate-network suite makes a network namespace (ip netns) and needs root');
  const ip = which('ip');
  const tinyproxy = which('tinyproxy');
  if (!ip || !tinyproxy) throw new Error('ip (iproute2) and tinyproxy are needed: run scripts/ensure-proxy.sh');
  removeStaleNamespaces(ip);
  const namespace = `oidc-auth-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-corpnet-'));
  const etc = path.join('/etc/netns', namespace);
  const children: ChildProcess[] = [];
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    spawnSync(ip, ['netns', 'del', namespace], { timeout: 15_000 });
    fs.rmSync(etc, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    run(ip, ['netns', 'add', namespace]);
    run(ip, ['-n', namespace, 'link', 'set', 'lo', 'up']);
    // `ip netns exec` mounts /etc/netns/NAME/hosts over /etc/hosts: the IdP's name exists only here.
    fs.mkdirSync(etc, { recursive: true });
    fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost\n127.0.0.1 ${idpHost}\n`);

    const inNamespace = (command: string, args: string[], name: string) => {
      const child = spawn(ip, ['netns', 'exec', namespace, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out = fs.createWriteStream(path.join(dir, `${name}.out`));
      child.stdout?.pipe(out);
      child.stderr?.pipe(out);
      children.push(child);
      return child;
    };

    const logs: Record<keyof typeof PROXY_PORTS, string> = { proxy: '', authProxy: '', browserProxy: '', strictProxy: '' };
    for (const [name, port] of Object.entries(PROXY_PORTS) as [keyof typeof PROXY_PORTS, number][]) {
      const log = path.join(dir, `${name}.log`);
      logs[name] = log;
      const conf = path.join(dir, `${name}.conf`);
      fs.writeFileSync(
        conf,
        [
          `Port ${port}`,
          'Listen 127.0.0.1',
          'Timeout 60',
          `LogFile "${log}"`,
          'LogLevel Info',
          'MaxClients 50',
          'Allow 127.0.0.1',
          'DisableViaHeader Yes',
          ...(name === 'authProxy' ? [`BasicAuth ${PROXY_USER} ${PROXY_PASSWORD}`] : []),
          ...(name === 'strictProxy' ? ['ConnectPort 443'] : []),
          '',
        ].join('\n'),
      );
      inNamespace(tinyproxy, ['-d', '-c', conf], name);
    }
    const socket = (name: string) => path.join(dir, `${name}.sock`);
    const idpSocket = socket('idp');
    const relay = inNamespace(
      process.execPath,
      [
        path.join(__dirname, 'netnsRelay.js'),
        JSON.stringify([
          { listen: { port: IDP_PORT }, connect: { path: idpSocket } },
          ...Object.entries(PROXY_PORTS).map(([name, port]) => ({ listen: { path: socket(name) }, connect: { port } })),
        ]),
      ],
      'relay',
    );
    let relayOut = '';
    relay.stdout?.on('data', (chunk: Buffer) => (relayOut += chunk.toString()));
    const readable = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
    await waitFor('the relay started', () => {
      if (relay.exitCode !== null) throw new Error(`the relay ended: ${readable(path.join(dir, 'relay.out'))}`);
      return relayOut.includes('ready');
    });
    for (const log of Object.values(logs)) await waitFor(`tinyproxy started (${log})`, () => readable(log).includes('Accepting connections'));

    // This side: a TCP port on 127.0.0.1 for each proxy, joined to its Unix socket.
    const hostSide = async (name: keyof typeof PROXY_PORTS): Promise<NetworkProxy> => {
      const server = net.createServer((client) => joinSockets(client, net.connect(socket(name)), sockets));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const port = (server.address() as net.AddressInfo).port;
      return { url: `http://127.0.0.1:${port}`, port, log: () => readable(logs[name]) };
    };
    return {
      namespace,
      idpHost,
      idpPort: IDP_PORT,
      idpSocket,
      proxy: await hostSide('proxy'),
      authProxy: { ...(await hostSide('authProxy')), user: PROXY_USER, password: PROXY_PASSWORD },
      browserProxy: await hostSide('browserProxy'),
      strictProxy: await hostSide('strictProxy'),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
