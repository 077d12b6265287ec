/** The core's user-facing messages go through a translator the VS Code layer sets; the core never imports vscode. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { OidcError } from '../../src/core/errors';
import { ENGLISH_PAGE_STRINGS, pageStrings } from '../../src/core/flows/flow';
import { LoopbackServer } from '../../src/core/flows/loopbackServer';
import { checkIssuer } from '../../src/core/issuerCheck';
import { english, format, l10n, setTranslator } from '../../src/core/l10n';
import { renderPage } from '../../src/core/pages';
import { sleep } from '../../src/core/timers';
import { startTestIdp } from '../support/idp';

const repoRoot = path.resolve(__dirname, '../../..');

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
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.name.endsWith('.ts')) {
          const text = fs.readFileSync(full, 'utf8');
          if (/(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]vscode['"]/.test(text)) offenders.push(path.relative(repoRoot, full));
        }
      }
    };
    const core = path.join(repoRoot, 'src', 'core');
    assert.ok(fs.existsSync(path.join(core, 'l10n.ts')), `src/core/l10n.ts under ${repoRoot}`);
    walk(core);
    assert.deepEqual(offenders, []);
  });
});
