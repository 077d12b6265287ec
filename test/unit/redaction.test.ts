/**
 * An IdP that echoes what it was sent in its error answer: boundedFetch takes the request's own
 * credentials out of the answer (credentialEchoes.ts) before oauth4webapi or a message reads it.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedFetch } from '../../src/core/transport/http';

/** A server that answers every request with `answer(body of the request, its headers)`. */
async function echoServer(answer: (body: string, headers: http.IncomingHttpHeaders) => { status: number; type: string; body: string; challenge?: string }) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const a = answer(body, req.headers);
      res.writeHead(a.status, { 'content-type': a.type, ...(a.challenge ? { 'www-authenticate': a.challenge } : {}) });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('credentials an IdP echoes in an error answer', () => {
  const suffix = Math.random().toString(36).slice(2);
  const code = `code-${suffix}`;
  const verifier = `verifier-${suffix}`;
  const secret = `secret+${suffix}/x`;
  const basic = Buffer.from(`client:${encodeURIComponent(secret)}`).toString('base64');
  const request = () => ({
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier }),
    headers: { authorization: `Basic ${basic}` },
  });

  it('are taken out of a JSON answer (escaped spellings too) and its WWW-Authenticate challenge', async () => {
    const server = await echoServer(() => ({
      status: 401,
      type: 'application/json',
      // `\u0063` is "c": JSON may spell a value in escapes, which a text search would miss.
      body: `{"error":"invalid_client","error_description":"you sent \\u0063ode-${suffix}, ${verifier} and ${secret} (${encodeURIComponent(secret)}) as ${basic}"}`,
      challenge: `Basic error="invalid_client", error_description="secret ${secret} refused"`,
    }));
    try {
      const response = await boundedFetch(server.url, request());
      assert.equal(response.status, 401);
      const challenge = response.headers.get('www-authenticate')!;
      const json = (await response.json()) as { error: string; error_description: string };
      assert.equal(json.error, 'invalid_client');
      assert.equal(json.error_description, 'you sent [redacted], [redacted] and [redacted] ([redacted]) as [redacted]');
      assert.equal(challenge, 'Basic error="invalid_client", error_description="secret [redacted] refused"');
    } finally {
      await server.close();
    }
  });

  it('are taken out of an answer that is not JSON (an HTML error page)', async () => {
    const token = `bearer-token-${suffix}`;
    const server = await echoServer(() => ({ status: 400, type: 'text/html', body: `<p>Token ${token} is not revocable; code ${code}.</p>` }));
    try {
      const body = new URLSearchParams({ token, token_type_hint: 'refresh_token', code });
      const text = await (await boundedFetch(server.url, { method: 'POST', body })).text();
      assert.equal(text, '<p>Token [redacted] is not revocable; code [redacted].</p>');
    } finally {
      await server.close();
    }
  });

  it('a bearer token sent in the Authorization header is taken out too', async () => {
    const token = `opaque-access-${suffix}`;
    const server = await echoServer(() => ({ status: 403, type: 'application/json', body: JSON.stringify({ error: 'insufficient_scope', error_description: `${token} lacks a scope` }) }));
    try {
      const json = (await (await boundedFetch(server.url, { headers: { authorization: `DPoP ${token}` } })).json()) as { error_description: string };
      assert.equal(json.error_description, '[redacted] lacks a scope');
    } finally {
      await server.close();
    }
  });

  it('a hostile, deeply nested JSON answer is cleaned without running out of stack', async () => {
    const depth = 200_000;
    const server = await echoServer(() => ({
      status: 400,
      type: 'application/json',
      body: `{"error":"invalid_grant","error_description":"\\u0063ode-${suffix} is spent","deep":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    }));
    try {
      const json = (await (await boundedFetch(server.url, request())).json()) as { error_description: string };
      assert.equal(json.error_description, '[redacted] is spent');
    } finally {
      await server.close();
    }
  });

  it('a successful answer is left as it is (a refresh answer may repeat the refresh token)', async () => {
    const refreshToken = `rt-${suffix}-0000`;
    const answer = JSON.stringify({ access_token: `at-${suffix}-0000`, refresh_token: refreshToken, token_type: 'Bearer' });
    const server = await echoServer(() => ({ status: 200, type: 'application/json', body: answer }));
    try {
      const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
      assert.equal(await (await boundedFetch(server.url, { method: 'POST', body })).text(), answer);
    } finally {
      await server.close();
    }
  });

  it('values shorter than 8 characters are not replaced, which would mangle ordinary words', async () => {
    const server = await echoServer(() => ({ status: 400, type: 'application/json', body: JSON.stringify({ error: 'invalid_grant', error_description: 'the grant is invalid' }) }));
    try {
      const body = new URLSearchParams({ grant_type: 'authorization_code', code: 'invalid', code_verifier: 'the' });
      const json = (await (await boundedFetch(server.url, { method: 'POST', body })).json()) as { error_description: string };
      assert.equal(json.error_description, 'the grant is invalid');
    } finally {
      await server.close();
    }
  });
});
