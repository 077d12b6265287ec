/** Discovery documents that put endpoints on other hosts: allowed, as the specs allow, and logged. */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { discover } from '../../src/core/protocol/discovery';
import { silentLogger, type Logger } from '../../src/core/logger';

describe('discovery naming endpoints on other hosts', () => {
  let server: http.Server;
  let issuer: URL;
  let sameHostOnly = false;
  before(async () => {
    server = http.createServer((_req, res) => {
      const port = (server.address() as AddressInfo).port;
      const elsewhere = sameHostOnly ? `http://127.0.0.1:${port}` : `http://localhost:${port}`;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer: `http://127.0.0.1:${port}`,
          authorization_endpoint: `http://127.0.0.1:${port}/auth`,
          token_endpoint: `${elsewhere}/token`,
          jwks_uri: `${elsewhere}/jwks`,
          code_challenge_methods_supported: ['S256'],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function capture(lines: string[]): Logger {
    return { ...silentLogger, info: (m) => void lines.push(m) };
  }

  it('accepts the document and names every endpoint on another host in the log', async () => {
    sameHostOnly = false;
    const lines: string[] = [];
    const as = await discover(issuer, {}, capture(lines));
    assert.match(String(as.token_endpoint), /^http:\/\/localhost:/);
    const line = lines.find((l) => /other hosts/.test(l));
    assert.ok(line, lines.join('\n'));
    assert.match(line, /token endpoint \(localhost:\d+\)/);
    assert.match(line, /jwks uri \(localhost:\d+\)/);
    assert.doesNotMatch(line, /authorization endpoint/);
  });

  it('says nothing when every endpoint is on the issuer’s host', async () => {
    sameHostOnly = true;
    const lines: string[] = [];
    await discover(issuer, {}, capture(lines));
    assert.deepEqual(lines.filter((l) => /other hosts/.test(l)), []);
  });
});
