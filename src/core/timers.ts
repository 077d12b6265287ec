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
