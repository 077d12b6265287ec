/**
 * Stale locks as crashed or frozen windows leave them, injected into a running test: a lock of a
 * process of this host that no longer exists, and one from a holder elsewhere untouched for long.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';

/** A pid that belonged to a process of this host that has exited. */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid;
}

export type StaleKind = 'holderGone' | 'untouched';

/** Creates `lockPath` as a stale lock of `kind` unless a lock is there; true when it made one. */
export async function injectStaleLock(lockPath: string, kind: StaleKind, dead: number, untouchedForMs: number): Promise<boolean> {
  const id = randomBytes(12).toString('hex');
  const token = kind === 'holderGone' ? `${dead} ${id} ${(await import('node:os')).hostname()}` : `4242 ${id} another-host.invalid`;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lockPath, 'wx', 0o600);
  } catch {
    return false; // held: try later
  }
  await handle.write(token);
  await handle.close();
  if (kind === 'untouched') {
    const past = new Date(Date.now() - untouchedForMs);
    await fs.utimes(lockPath, past, past).catch(() => undefined);
  }
  return true;
}

/** Injects stale locks at random moments until stopped; resolves with how many it made. */
export function staleLockInjector(lockPath: string, untouchedForMs: number, everyMs: number): { stop(): Promise<number> } {
  const dead = deadPid();
  let made = 0;
  let running = true;
  const loop = (async () => {
    let n = 0;
    while (running) {
      await new Promise((r) => setTimeout(r, everyMs * (0.5 + Math.random())));
      if (!running) break;
      if (await injectStaleLock(lockPath, n++ % 2 === 0 ? 'holderGone' : 'untouched', dead, untouchedForMs)) made++;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return made;
    },
  };
}
