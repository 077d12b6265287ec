/** Ports on this machine for the test servers: free ones, and ones where nothing listens. */
import * as net from 'node:net';
import * as http from 'node:http';

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The first free port of `preferred` (in order), else one the OS picks. */
export async function freePort(preferred: number[] = [], host = '127.0.0.1'): Promise<number> {
  for (const port of preferred) {
    if (port > 0 && (await isPortFree(port, host))) return port;
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A port an HTTP server listens on until `close()`: for the tests of a port that is taken. */
export async function takenPort(host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const blocker = http.createServer();
  await new Promise<void>((r) => blocker.listen(0, host, () => r()));
  return {
    port: (blocker.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => blocker.close(() => r())),
  };
}
