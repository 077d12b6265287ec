/** Waiting that a cancel ends at once. */
import { OidcError } from './errors';

/** Resolves after `ms`, or rejects with a `cancelled` OidcError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new OidcError('cancelled', 'Sign-in was cancelled.'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new OidcError('cancelled', 'Sign-in was cancelled.'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Waits for the browser to come back: resolves through the Waiter handed to `register`,
 * rejects on abort (cancelled) or after `timeoutMs` (timeout). `unregister` runs however it
 * ends, so nothing is left waiting.
 */
export function waitForBrowser<T>(
  signal: AbortSignal,
  timeoutMs: number,
  register: (waiter: Waiter<T>) => void,
  unregister: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      unregister();
    };
    const onAbort = () => {
      finish();
      reject(new OidcError('cancelled', 'Sign-in was cancelled.'));
    };
    const timer = setTimeout(() => {
      finish();
      reject(
        new OidcError('timeout', `Sign-in timed out: no answer came back from the browser within ${Math.round(timeoutMs / 1000)} seconds.`),
      );
    }, timeoutMs);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    register({
      resolve: (value) => {
        finish();
        resolve(value);
      },
      reject: (err) => {
        finish();
        reject(err);
      },
    });
  });
}
