/**
 * Runs inside the corporate network's namespace (`ip netns exec NAME node netnsRelay.js SPEC`):
 * joins that namespace's loopback to the outside through Unix sockets, which are files and so
 * cross network namespaces. SPEC is JSON, a list of `{ listen, connect }` where each end is
 * `{ port }` (TCP on 127.0.0.1 inside the namespace) or `{ path }` (a Unix socket). Prints
 * `ready` once every listener is up; ends when its standard input closes (the parent went away).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { joinSockets } from './joinSockets';

type End = { port: number } | { path: string };
interface Link {
  listen: End;
  connect: End;
}

function connect(end: End): net.Socket {
  return 'port' in end ? net.connect(end.port, '127.0.0.1') : net.connect(end.path);
}

async function main(): Promise<void> {
  const links = JSON.parse(process.argv[2] ?? '[]') as Link[];
  await Promise.all(
    links.map(
      (link) =>
        new Promise<void>((resolve, reject) => {
          const server = net.createServer((socket) => joinSockets(socket, connect(link.connect)));
          server.once('error', reject);
          if ('port' in link.listen) server.listen(link.listen.port, '127.0.0.1', resolve);
          else {
            fs.rmSync(link.listen.path, { force: true });
            server.listen(link.listen.path, resolve);
          }
        }),
    ),
  );
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`netnsRelay: ${String(err)}\n`);
  process.exit(1);
});
