/** Joins two sockets both ways (a TCP relay); when either ends or fails, both are destroyed. */
import type * as net from 'node:net';

export function joinSockets(a: net.Socket, b: net.Socket, live?: Set<net.Socket>): void {
  live?.add(a).add(b);
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
    live?.delete(a);
    live?.delete(b);
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}
