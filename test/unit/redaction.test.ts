/** redact() with the credential values seen on the wire (rememberSecrets, fed by boundedFetch). */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedFetch } from '../../src/core/transport/http';
import { redact, rememberSecrets } from '../../src/core/logger';

describe('redaction of credentials seen on the wire', () => {
  it('removes a remembered value wherever it appears, even with nothing marking it as a credential', () => {
    const token = `opaque-${Math.random().toString(36).slice(2)}-refresh`;
    assert.equal(redact(`token ${token} is not revocable`), `token ${token} is not revocable`, 'unknown before');
    rememberSecrets([token]);
    assert.equal(redact(`token ${token} is not revocable`), 'token [redacted] is not revocable');
  });

  it('ignores values shorter than 8 characters, which would mangle ordinary words', () => {
    rememberSecrets(['the', 'invalid']);
    assert.equal(redact('the grant is invalid'), 'the grant is invalid');
  });

  it('forgets the oldest values beyond its bound', () => {
    const first = `first-${Math.random().toString(36).slice(2)}`;
    rememberSecrets([first]);
    rememberSecrets(Array.from({ length: 600 }, (_, i) => `filler-value-${i}-${Math.random().toString(36).slice(2)}`));
    assert.equal(redact(`x ${first} y`), `x ${first} y`);
  });

  it('boundedFetch remembers the credentials of a token request and of its JSON answer', async () => {
    const suffix = Math.random().toString(36).slice(2);
    const answer = { access_token: `at-${suffix}-0000`, refresh_token: `rt-${suffix}-0000`, token_type: 'Bearer' };
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
      const body = new URLSearchParams({ grant_type: 'authorization_code', code: `code-${suffix}`, code_verifier: `verifier-${suffix}` });
      const basic = Buffer.from(`client:secret-${suffix}`).toString('base64');
      await (await boundedFetch(url, { method: 'POST', body, headers: { authorization: `Basic ${basic}` } })).json();
      for (const value of [`code-${suffix}`, `verifier-${suffix}`, `secret-${suffix}`, answer.access_token, answer.refresh_token]) {
        assert.equal(redact(`echo: ${value}.`), 'echo: [redacted].', value);
      }
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
