/** Waiting that a cancel ends at once. */
import { OidcError } from './errors';
import { l10n } from './l10n';

/** What a sign-in the user cancelled (or whose caller aborted) rejects with. */
export function cancelledError(): OidcError {
  return new OidcError('cancelled', l10n.t('Sign-in was cancelled.'));
}

/** Resolves after `ms`, or rejects with a `cancelled` OidcError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(cancelledError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError());
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
      reject(cancelledError());
    };
    const timer = setTimeout(() => {
      finish();
      reject(
        new OidcError('timeout', l10n.t('Sign-in timed out: no answer came back from the browser within {0} seconds.', Math.round(timeoutMs / 1000))),
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
