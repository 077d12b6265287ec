/** Which authorization server a provider answers for when VS Code asks on behalf of an MCP server. */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  authorizationServerMismatch,
  authorizationServerSpellings,
  normaliseAuthorizationServer,
  sameAuthorizationServer,
} from '../../src/core/protocol/authorizationServerMatch';
import { withOpen } from '../support/coreHarness';
import { startTestIdp } from '../support/idp';

describe('MCP authorization: matching an authorization server to an issuer', () => {
  const issuer = 'https://login.example.com/realms/team';
  for (const { name, same, pairs } of [
    {
      name: 'treats scheme and host case, a default port and a trailing slash as the same server',
      same: true,
      pairs: [
        ...[
          'https://login.example.com/realms/team/',
          'HTTPS://LOGIN.Example.COM/realms/team',
          'https://login.example.com:443/realms/team',
          'https://login.example.com/realms/team//',
        ].map((spelling) => [issuer, spelling]),
        ['http://127.0.0.1:4000', 'http://127.0.0.1:4000/'],
      ],
    },
    {
      name: 'tells different servers apart: path (case-sensitive), port, scheme, host',
      same: false,
      pairs: [
        'https://login.example.com/realms/Team',
        'https://login.example.com/realms/team2',
        'https://login.example.com/realms',
        'https://login.example.com:8443/realms/team',
        'http://login.example.com/realms/team',
        'https://login.example.org/realms/team',
        'https://evil.example/https://login.example.com/realms/team',
      ].map((other) => [issuer, other]),
    },
  ]) {
    it(name, () => {
      for (const [a, b] of pairs) assert.equal(sameAuthorizationServer(a!, b!), same, `${a} ~ ${b}`);
    });
  }

  it('never matches what is not a URL', () => {
    assert.equal(normaliseAuthorizationServer('not a url'), undefined);
    assert.ok(!sameAuthorizationServer('not a url', 'not a url'));
    assert.ok(!sameAuthorizationServer('', ''));
  });

  it('announces both spellings VS Code may compare against, normalised', () => {
    assert.deepEqual(authorizationServerSpellings('https://Login.Example.com/realms/team/'), [
      'https://login.example.com/realms/team',
      'https://login.example.com/realms/team/',
    ]);
    assert.deepEqual(authorizationServerSpellings('http://127.0.0.1:4000'), ['http://127.0.0.1:4000', 'http://127.0.0.1:4000/']);
    assert.deepEqual(authorizationServerSpellings('nonsense'), []);
  });

  it('names the provider, its issuer and the server asked for when declining', () => {
    const message = authorizationServerMismatch('oidc.team', 'https://a.example/', 'https://b.example/');
    for (const part of ['oidc.team', 'https://a.example/', 'https://b.example/']) assert.ok(message.includes(part), part);
    assert.match(authorizationServerMismatch('oidc', undefined, 'https://b.example/'), /no issuer configured.*https:\/\/b\.example\//);
  });

  it("matches the issuer a real IdP advertises, as an MCP server's metadata would name it", () =>
    withOpen(startTestIdp, async (idp) => {
      const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
      const { issuer } = (await response.json()) as { issuer: string };
      assert.ok(sameAuthorizationServer(idp.issuer, issuer));
      assert.ok(sameAuthorizationServer(`${idp.issuer}/`, issuer));
      assert.ok(authorizationServerSpellings(idp.issuer).includes(issuer.replace(/\/$/, '')));
    }));

  it('the manifest enables the authIssuers proposal and declares no static authorizationServerGlobs', () => {
    const manifest = require(path.resolve(__dirname, '../../../package.json')) as {
      enabledApiProposals?: string[];
      contributes: { authentication: Array<{ id: string; authorizationServerGlobs?: string[] }> };
    };
    assert.ok(manifest.enabledApiProposals?.includes('authIssuers'));
    // The issuers come from settings; a static glob could only be "*", which would make VS Code
    // wait on this extension for every MCP server (see README, "MCP servers").
    assert.ok(manifest.contributes.authentication.every((a) => a.authorizationServerGlobs === undefined));
  });
});
