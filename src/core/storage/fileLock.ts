/**
 * A lock file every window (process) of one machine can take, with one holder at a time.
 *
 * - Take: our token goes into a file of our own first, which is then hard-linked to the lock
 *   path. `link` fails when the path exists, so it is an exclusive create whose content (the
 *   token) is there from the first instant: nobody ever reads an empty lock.
 * - Hold: the holder touches its own inode (through its open handle, never through the path, so it
 *   can never freshen a lock that is not its own) while its task runs, for at most `maxHoldMs`: a
 *   live holder never looks stale, and a holder whose task hangs (a SecretStorage write to a
 *   browser window that is gone) lets go of the lock anyway.
 * - Stale: the holder is a process of this host that no longer exists (seen at once), or the lock
 *   has not been touched for `staleMs` (a holder that hung, froze or lives on another host).
 * - Take over: only one window may remove a given stale lock. It first creates
 *   `<lock>.<token>.takeover` exclusively (tokens are random, so a claim is won once), checks the
 *   lock still holds that token, moves it aside and checks what it moved; a lock moved by mistake
 *   (released and taken anew in between) is linked back. Then it competes for the lock like
 *   everyone else. Check-then-rename of the lock itself (the earlier design) let a window remove
 *   the new lock another window had just made, so two windows held it.
 * - Still held: a task may ask, before an act that must happen once (spending a rotating
 *   refresh token), whether the lock still holds its token; after a takeover it does not.
 * - Release: the holder removes the lock path only while it holds the holder's token.
 */
import { randomBytes } from 'node:crypto';
import { futimesSync, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { l10n } from '../l10n';
import { sleep } from '../timers';

/** A lock untouched this long is from a holder that hung or froze. */
export const STALE_LOCK_MS = 10_000;
/** A holder stops touching its lock after this long (longer than any refresh or write should take). */
export const MAX_HOLD_MS = 30_000;
/** How long a window waits for another to let go of the lock. */
export const LOCK_WAIT_MS = 50_000;
/** Takeover claims older than this are removed (nobody can still be deciding about them). */
const CLAIM_MAX_AGE_MS = 10 * 60_000;

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

export interface FileLockOptions {
  staleLockMs?: number;
  lockWaitMs?: number;
  maxHoldMs?: number;
  pollMs?: number;
  /** Told when a stale lock is taken over (for the log); never given a token. */
  onTakeover?: (reason: 'holderGone' | 'untouched', lockPath: string) => void;
}

/** What a task holding the lock can ask of it. */
export interface LockHold {
  /** Whether the lock is still ours (false once another window took it over as stale). */
  held(): Promise<boolean>;
}

/** For callers without a lock (one window, no shared folder): always held. */
export const NO_LOCK: LockHold = { held: async () => true };

interface Holder {
  pid: number;
  host: string;
}

const HOST = hostname();

/** `<pid> <random> <host>`: enough to tell a dead holder of this host, and unique per attempt. */
function newToken(): string {
  return `${process.pid} ${randomBytes(12).toString('hex')} ${HOST}`;
}

function parseToken(token: string): Holder | undefined {
  const [pid, , host] = token.split(' ');
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && host ? { pid: n, host } : undefined;
}

/** True when `holder` is a process of this host that does not exist any more. */
function holderGone(holder: Holder | undefined): boolean {
  if (!holder || holder.host !== HOST || holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Runs `task` holding the lock file `lockPath` (its folder is made when missing). */
export async function withFileLock<T>(lockPath: string, task: (hold: LockHold) => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const staleMs = options.staleLockMs ?? STALE_LOCK_MS;
  const maxHoldMs = options.maxHoldMs ?? MAX_HOLD_MS;
  const deadline = Date.now() + (options.lockWaitMs ?? LOCK_WAIT_MS);
  const token = newToken();
  const mine = `${lockPath}.${randomBytes(6).toString('hex')}.mine`;
  const handle = await openOwn(mine, token);
  let touched = Date.now();
  try {
    for (;;) {
      try {
        // The lock's age is our file's: it must not look stale the moment it becomes the lock.
        if (Date.now() - touched > staleMs / 4) {
          const now = new Date();
          await handle.utimes(now, now);
          touched = now.getTime();
        }
        await fs.link(mine, lockPath);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const reason = await staleReason(lockPath, staleMs);
      if (reason && (await takeOver(lockPath, reason))) {
        options.onTakeover?.(reason.why, lockPath);
        continue;
      }
      if (Date.now() > deadline) throw new LockTimeoutError(l10n.t('Another VS Code window holds the sign-in lock for too long.'));
      await sleep(options.pollMs ?? 20 + Math.random() * 30);
    }
  } catch (err) {
    await handle.close().catch(() => undefined);
    await removeIfThere(mine);
    throw err;
  }
  await removeIfThere(mine);
  const started = Date.now();
  // Synchronous: a touch queued behind busy libuv threads (file reads, crypto of other windows'
  // work in this process) would let a live holder look stale.
  const beat = setInterval(() => {
    if (Date.now() - started > maxHoldMs) return clearInterval(beat);
    const now = new Date();
    try {
      futimesSync(handle.fd, now, now);
    } catch {
      /* the next beat tries again */
    }
  }, Math.max(10, Math.min(staleMs / 8, 1_000)));
  beat.unref?.();
  try {
    return await task({ held: async () => (await readToken(lockPath)) === token });
  } finally {
    clearInterval(beat);
    await handle.close().catch(() => undefined);
    if ((await readToken(lockPath)) === token) await removeIfThere(lockPath);
  }
}

/** Our own file holding our token, made exclusively (and the folder with it when missing). */
async function openOwn(file: string, token: string): Promise<fs.FileHandle> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(path.dirname(file), { recursive: true });
    handle = await fs.open(file, 'wx', 0o600);
  }
  try {
    await handle.write(token);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await removeIfThere(file);
    throw err;
  }
  return handle;
}

interface Stale {
  why: 'holderGone' | 'untouched';
  /** What the lock holds ('' for an older version's empty lock). */
  token: string;
  /** Names the claim to take this lock over: unique per lock. */
  id: string;
}

/** The random part of a token (an older version's token or an empty lock: derived from what is there). */
function claimId(token: string, mtimeMs: number): string {
  const id = token.split(' ')[1];
  return id && /^[0-9a-f]+$/.test(id) ? id : `old${Buffer.from(`${token}|${mtimeMs}`).toString('hex').slice(-32)}`;
}

/** Why the lock at `lockPath` may be taken over, with the token it holds; undefined when it may not. */
async function staleReason(lockPath: string, staleMs: number): Promise<Stale | undefined> {
  let token: string | undefined;
  let mtimeMs: number;
  try {
    token = await readToken(lockPath);
    mtimeMs = (await fs.stat(lockPath)).mtimeMs;
  } catch {
    return undefined; // released meanwhile: try again
  }
  if (token === undefined) return undefined;
  // An empty lock was left by an older version (it wrote its token after creating the file).
  if (token && holderGone(parseToken(token))) return { why: 'holderGone', token, id: claimId(token, mtimeMs) };
  return Date.now() - mtimeMs > staleMs ? { why: 'untouched', token, id: claimId(token, mtimeMs) } : undefined;
}

/** Removes the stale lock (still holding `token`) if this window wins the one claim to it; true when it is gone. */
async function takeOver(lockPath: string, { token, id }: Stale): Promise<boolean> {
  const claim = `${lockPath}.${id}.takeover`;
  try {
    await (await fs.open(claim, 'wx', 0o600)).close();
  } catch {
    return false; // another window is taking this one over (or did)
  }
  void removeOldClaims(lockPath);
  if ((await readToken(lockPath)) !== token) return false;
  const aside = `${lockPath}.${id}.aside`;
  try {
    await fs.rename(lockPath, aside);
  } catch {
    return false;
  }
  if ((await readToken(aside)) !== token) {
    // Released and taken anew between the check and the move: give it back.
    await fs.link(aside, lockPath).catch(() => undefined);
    await removeIfThere(aside);
    return false;
  }
  await removeIfThere(aside);
  return true;
}

async function removeOldClaims(lockPath: string): Promise<void> {
  const dir = path.dirname(lockPath);
  const prefix = `${path.basename(lockPath)}.`;
  try {
    for (const name of await fs.readdir(dir)) {
      // Claims, and own files of windows that died while waiting for the lock.
      if (!name.startsWith(prefix) || !(name.endsWith('.takeover') || name.endsWith('.mine'))) continue;
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > CLAIM_MAX_AGE_MS) await removeIfThere(file);
    }
  } catch {
    /* best effort */
  }
}

/** The token in a lock file, in fewer operations than readFile; undefined when it is gone. */
async function readToken(file: string): Promise<string | undefined> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const buf = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** Deletes `file`; one already gone (or that cannot go) is no failure. */
function removeIfThere(file: string): Promise<void> {
  return fs.unlink(file).catch(() => undefined);
}
