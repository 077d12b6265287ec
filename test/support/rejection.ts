/** The one way the tests wait for a promise to fail with the core's typed error. */
import * as assert from 'node:assert/strict';
import { OidcError } from '../../src/core/errors';

/**
 * Awaits `p` and returns the OidcError it rejects with. It fails the test when `p` resolves,
 * rejects with anything else, or (when given) the error's kind is not `kind` (or one of them)
 * or its message does not match `message`.
 */
export async function rejection(p: Promise<unknown>, kind?: OidcError['kind'] | OidcError['kind'][], message?: RegExp): Promise<OidcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OidcError, `expected an OidcError, got ${err instanceof Error ? err.stack : String(err)}`);
    if (kind !== undefined) assert.ok(([] as string[]).concat(kind).includes(err.kind), `kind ${err.kind}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail('expected a rejection (the promise resolved)');
}
