/** The core's user-facing messages go through a translator the VS Code layer sets; the core never imports vscode. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { OidcError } from '../../src/core/errors';
import { ENGLISH_PAGE_STRINGS, pageStrings, renderPage } from '../../src/core/flows/pages';
import { LoopbackServer } from '../../src/core/flows/loopbackServer';
import { makeClient } from '../../src/core/protocol/authorizationCode';
import { endpointLabel, ENDPOINTS, IssuerCache } from '../../src/core/protocol/discovery';
import { checkIssuer } from '../../src/core/protocol/issuerReport';
import { english, format, l10n, setTranslator } from '../../src/core/l10n';
import { silentLogger } from '../../src/core/logger';
import { parseNamedProviders } from '../../src/core/namedProviders';
import { refreshSession } from '../../src/core/protocol/refresh';
import type { StoredSession } from '../../src/core/sessions/sessions';
import { sleep } from '../../src/core/timers';
import { startTestIdp } from '../support/idp';
import { ProviderProtocol } from '../../src/core/protocol/providerProtocol';

const repoRoot = path.resolve(__dirname, '../../..');

/** Every .ts file under src/core, with its path relative to the repository. */
function coreSources(): { file: string; text: string }[] {
  const core = path.join(repoRoot, 'src', 'core');
  assert.ok(fs.existsSync(path.join(core, 'l10n.ts')), `src/core/l10n.ts under ${repoRoot}`);
  const found: { file: string; text: string }[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) found.push({ file: path.relative(repoRoot, full), text: fs.readFileSync(full, 'utf8') });
    }
  };
  walk(core);
  assert.ok(found.length > 10, 'the scan found the core sources');
  return found;
}

/** A translator that marks what it translated and records every call. */
function fakeTranslator(calls: { message: string; args: unknown[] }[]) {
  return (message: string, ...args: unknown[]): string => {
    calls.push({ message, args });
    return `«${format(message, args.length === 1 && typeof args[0] === 'object' ? (args[0] as Record<string, unknown>) : args)}»`;
  };
}

describe('l10n of the core', () => {
  afterEach(() => setTranslator(undefined));

  it('formats like vscode.l10n.t: {0} placeholders, the object form, unknown placeholders kept', () => {
    assert.equal(l10n.t('Port {0} of {1}', 8080, 'host'), 'Port 8080 of host');
    assert.equal(l10n.t('{0}{0} and {1}', 'a', true), 'aa and true');
    assert.equal(l10n.t('Hello {name}, {missing}', { name: 'Ada' }), 'Hello Ada, {missing}');
    assert.equal(l10n.t('No args {0}'), 'No args {0}');
    assert.equal(english('{0}', 1), '1');
  });

  it('a translator set by the VS Code layer gets the message and its arguments, and its text is what the error says', async () => {
    const calls: { message: string; args: unknown[] }[] = [];
    setTranslator(fakeTranslator(calls));

    const controller = new AbortController();
    controller.abort();
    const cancelled = await sleep(10_000, controller.signal).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(cancelled instanceof OidcError);
    assert.equal(cancelled.kind, 'cancelled');
    assert.equal(cancelled.message, '«Sign-in was cancelled.»');

    // A real taken port: the translated message carries the port.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const page = () => renderPage('<p>{{message}}</p>', 404, { title: 't', message: 'm' });
      const err = await LoopbackServer.start(port, { invalidState: page, notFound: page }).then(
        (server) => server.close().then(() => undefined),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OidcError, 'a taken port is an error');
      assert.equal(err.kind, 'port');
      assert.equal(err.message, `«The loopback port ${port} is already in use or not allowed (EADDRINUSE).»`);
      const call = calls.find((c) => c.message.startsWith('The loopback port'));
      assert.deepEqual(call, { message: 'The loopback port {0} is already in use or not allowed ({1}).', args: [port, 'EADDRINUSE'] });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }

    // The wizard's findings about a real issuer without a device endpoint.
    const idp = await startTestIdp();
    try {
      const report = await checkIssuer(idp.issuer, 'deviceCode');
      assert.ok(
        report.problems.includes('«It has no device authorization endpoint, so the device code flow cannot work.»'),
        JSON.stringify(report.problems),
      );
    } finally {
      await idp.close();
    }

    assert.deepEqual(pageStrings().signedInTitle, '«Signed in»');
    assert.equal(ENGLISH_PAGE_STRINGS.signedInTitle, 'Signed in', 'the English constant ignores the translator');
  });

  it('setTranslator(undefined) goes back to English', () => {
    setTranslator((m: string, ...args: unknown[]) => `x${m}${args.length}`);
    assert.equal(l10n.t('a'), 'xa0');
    setTranslator(undefined);
    assert.equal(l10n.t('a {0}', 'b'), 'a b');
  });

  it('no file in src/core imports vscode', () => {
    const offenders = coreSources()
      .filter(({ text }) => /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]vscode['"]/.test(text))
      .map(({ file }) => file);
    assert.deepEqual(offenders, []);
  });

  it('a named provider with a bad field names that field whatever language its message is in', () => {
    const entries = [
      { id: 'plain', issuer: 'http://idp.example', clientId: 'c' },
      { id: 'noport', issuer: 'https://idp.example', clientId: 'c', loopbackPort: 70000 },
      { id: 'aud', issuer: 'https://idp.example', clientId: 'c', audience: 5 },
      { id: 'res', issuer: 'https://idp.example', clientId: 'c', resource: 'not a uri' },
      { id: 'grant', issuer: 'https://idp.example', clientId: 'c', grant: 'password' },
    ];
    const english = parseNamedProviders(entries, []).problems;
    setTranslator(() => 'Übersetzt.'); // says nothing about the field in any word fieldOf() once looked for
    const translated = parseNamedProviders(entries, []).problems;
    assert.deepEqual(translated, [
      'oidcAuth.providers[0] (plain): issuer: Übersetzt.',
      'oidcAuth.providers[1] (noport): loopbackPort: Übersetzt.',
      'oidcAuth.providers[2] (aud): audience: Übersetzt.',
      'oidcAuth.providers[3] (res): resource: Übersetzt.',
      'oidcAuth.providers[4] (grant): grant: Übersetzt.',
    ]);
    // English stays as it was: the field is left out where the message starts with it.
    assert.deepEqual(english, [
      'oidcAuth.providers[0] (plain): issuer: The issuer http://idp.example uses http. Only https is allowed, except for 127.0.0.1, localhost and [::1].',
      'oidcAuth.providers[1] (noport): loopbackPort: The loopback port 70000 is not a port number (0-65535).',
      'oidcAuth.providers[2] (aud): audience must be a string.',
      'oidcAuth.providers[3] (res): resource must be an absolute URI (RFC 8707), not "not a uri".',
      'oidcAuth.providers[4] (grant): grant must be "authorizationCode" or "clientCredentials", not "password".',
    ]);
  });

  it('a failure message is composed of translated parts: the step is translated where it is named', async () => {
    const calls: { message: string; args: unknown[] }[] = [];
    const idp = await startTestIdp();
    try {
      const issuer = new URL(idp.issuer);
      const as = await new IssuerCache(silentLogger).get(issuer);
      const session: StoredSession = {
        id: 's',
        accountId: 'a',
        accountLabel: 'a',
        scopes: [],
        requestedScopes: [],
        accessToken: 'at',
        refreshToken: 'not-a-refresh-token-the-idp-issued',
        expiresAt: 0,
        createdAt: 0,
        tokenType: 'Bearer',
      };
      setTranslator(fakeTranslator(calls));
      const err = await refreshSession(new ProviderProtocol({ issuer, as, client: makeClient(as, idp.clientId) }), session, {}, Date.now).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof OidcError, String(err));
      assert.equal(err.kind, 'idp');
      assert.match(err.message, /^«The identity provider refused «the token refresh» \(invalid_grant\b.*\)\.»$/);
      assert.ok(calls.some((c) => c.message === 'the token refresh' && c.args.length === 0));
      assert.ok(calls.some((c) => c.message === 'The identity provider refused {0} ({1}).' && c.args[0] === '«the token refresh»'));
    } finally {
      await idp.close();
    }
  });

  it('endpoint names in messages are translated, and in English are the metadata field with spaces', () => {
    for (const name of ENDPOINTS) assert.equal(endpointLabel(name), name.replace(/_/g, ' '));
    const calls: { message: string; args: unknown[] }[] = [];
    setTranslator(fakeTranslator(calls));
    assert.equal(endpointLabel('jwks_uri'), '«jwks uri»');
  });

  it('src/core builds no OidcError, ConfigError or LockTimeoutError message from a bare string literal', () => {
    // file -> reason: each exception must say why its message need not be translated.
    const allowed = new Map<string, string>([]);
    const literalMessage = [
      // new OidcError('kind', 'text' | "text" | `text`) and new ConfigError('field', ...)
      /new\s+(?:OidcError|ConfigError)\(\s*(?:'[^']*'|"[^"]*")\s*,\s*[`'"]/g,
      // new LockTimeoutError('text')
      /new\s+LockTimeoutError\(\s*[`'"]/g,
    ];
    const offenders = coreSources().flatMap(({ file, text }) =>
      literalMessage.flatMap((re) =>
        [...text.matchAll(re)].map((m) => `${file}:${text.slice(0, m.index).split('\n').length}`),
      ),
    );
    assert.deepEqual(
      offenders.filter((o) => !allowed.has(o.replace(/:\d+$/, ''))),
      [],
      'pass the message through l10n.t(...) with {0} placeholders',
    );
    // The scan sees what it looks for: a literal message in a sample is caught.
    const sample = "throw new OidcError('config', `bad ${x}`); new OidcError(\n 'idp',\n 'no'); new LockTimeoutError('slow')";
    assert.equal(literalMessage.reduce((n, re) => n + [...sample.matchAll(re)].length, 0), 3);
  });
});
