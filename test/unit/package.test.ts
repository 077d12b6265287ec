/** What ships in the .vsix: the bundle, media/ and the manifest files, nothing else. */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../../..');

describe('the packaged extension', function () {
  this.timeout(60_000);
  it('contains only the bundle, media/ and the manifest files', () => {
    const vsce = path.join(root, 'node_modules', '.bin', 'vsce');
    const files = execFileSync(vsce, ['ls', '--no-dependencies'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
    const allowed = /^(dist\/extension\.js|dist\/oidc-token\.js|media\/[\w./-]+\.(html|md|png)|package\.json|package\.nls\.json|README\.md|CHANGELOG\.md|LICENSE)$/;
    assert.deepEqual(files.filter((f) => !allowed.test(f)), [], 'unexpected files in the package');
    for (const required of ['dist/extension.js', 'dist/oidc-token.js', 'package.json', 'media/page.html', 'media/icon.png', 'CHANGELOG.md', 'LICENSE']) {
      assert.ok(files.includes(required), `${required} is packaged`);
    }
    assert.ok(!files.some((f) => f.endsWith('.map') || f.startsWith('node_modules/') || f.startsWith('src/') || f.startsWith('test/')));
  });

  it('has the manifest fields the Marketplace needs', () => {
    const manifest = require(path.join(root, 'package.json')) as Record<string, unknown>;
    for (const field of ['icon', 'repository', 'license', 'categories', 'keywords', 'publisher', 'engines']) {
      assert.ok(manifest[field], `package.json has ${field}`);
    }
  });

  it('runs in Restricted Mode with every setting that decides where sign-in goes, or what is sent there, restricted', () => {
    const manifest = require(path.join(root, 'package.json')) as {
      capabilities?: { untrustedWorkspaces?: { supported?: unknown; description?: string; restrictedConfigurations?: string[] } };
      contributes: { configuration: { properties: Record<string, unknown> } };
    };
    const untrusted = manifest.capabilities?.untrustedWorkspaces;
    assert.equal(untrusted?.supported, 'limited', 'active in untrusted folders, with limits');
    assert.ok(untrusted?.description, 'says what is limited');
    // Settings an untrusted folder may still set: they change neither the IdP nor what goes to it.
    const harmless = new Set(['oidcAuth.signInTimeout']);
    const settings = Object.keys(manifest.contributes.configuration.properties);
    const restricted = new Set(untrusted?.restrictedConfigurations ?? []);
    assert.deepEqual(settings.filter((k) => !harmless.has(k) && !restricted.has(k)), [], 'every other setting is restricted (a new one must be classified here)');
    assert.deepEqual([...restricted].filter((k) => !settings.includes(k)), [], 'no restricted name that is not a setting');
  });
});

/** One file of a .vsix (a zip), read with yauzl (vsce's own zip reader; it has no bundled types). */
function readFromZip(zipFile: string, entryName: string): Promise<string> {
  type Entry = { fileName: string };
  type Zip = {
    on(event: 'entry', cb: (e: Entry) => void): void;
    on(event: 'end' | 'error', cb: (err?: Error) => void): void;
    readEntry(): void;
    openReadStream(e: Entry, cb: (err: Error | null, stream: NodeJS.ReadableStream) => void): void;
    close(): void;
  };
  const yauzl = require('yauzl') as { open(file: string, opts: { lazyEntries: boolean }, cb: (err: Error | null, zip: Zip) => void): void };
  return new Promise((resolve, reject) => {
    yauzl.open(zipFile, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      zip.on('error', reject);
      zip.on('end', () => reject(new Error(`${entryName} is not in ${zipFile}`)));
      zip.on('entry', (entry) => {
        if (entry.fileName !== entryName) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            zip.close();
            resolve(Buffer.concat(chunks).toString('utf8'));
          });
        });
      });
      zip.readEntry();
    });
  });
}

describe('npm run package: the Marketplace build and the proposal build', function () {
  this.timeout(120_000);
  let dir: string;
  let output: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-package-'));
    // Both builds from the current bundle (pretest builds it), as `npm run package` packs them;
    // vsce writes its warnings ("WARNING …") to stdout and stderr.
    output = execFileSync(process.execPath, [path.join(root, 'scripts', 'package.js'), '--out-dir', dir], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('packs both without a warning from vsce', () => {
    assert.ok(output.includes('oidc-auth-marketplace.vsix') && output.includes('oidc-auth.vsix'), output);
    assert.doesNotMatch(output, /WARNING|warn/i);
  });

  it('oidc-auth-marketplace.vsix declares no API proposal, so the Marketplace takes it', async () => {
    const manifest = JSON.parse(await readFromZip(path.join(dir, 'oidc-auth-marketplace.vsix'), 'extension/package.json')) as Record<string, unknown>;
    assert.equal(manifest.enabledApiProposals, undefined);
    assert.equal(manifest.name, 'oidc-auth');
    assert.equal(manifest.main, './dist/extension.js');
    const vsixManifest = await readFromZip(path.join(dir, 'oidc-auth-marketplace.vsix'), 'extension.vsixmanifest');
    assert.match(vsixManifest, /Id="Microsoft.VisualStudio.Code.EnabledApiProposals" Value=""/);
  });

  it('oidc-auth.vsix (code-server, Insiders, the tests) declares the authIssuers proposal', async () => {
    const manifest = JSON.parse(await readFromZip(path.join(dir, 'oidc-auth.vsix'), 'extension/package.json')) as Record<string, unknown>;
    assert.deepEqual(manifest.enabledApiProposals, ['authIssuers']);
    const vsixManifest = await readFromZip(path.join(dir, 'oidc-auth.vsix'), 'extension.vsixmanifest');
    assert.match(vsixManifest, /Id="Microsoft.VisualStudio.Code.EnabledApiProposals" Value="authIssuers"/);
  });

  it('the two builds differ only in the manifest', async () => {
    const a = await readFromZip(path.join(dir, 'oidc-auth.vsix'), 'extension/dist/extension.js');
    const b = await readFromZip(path.join(dir, 'oidc-auth-marketplace.vsix'), 'extension/dist/extension.js');
    assert.equal(a, b);
    const pa = JSON.parse(await readFromZip(path.join(dir, 'oidc-auth.vsix'), 'extension/package.json')) as Record<string, unknown>;
    const pb = JSON.parse(await readFromZip(path.join(dir, 'oidc-auth-marketplace.vsix'), 'extension/package.json')) as Record<string, unknown>;
    delete pa.enabledApiProposals;
    assert.deepEqual(pa, pb);
  });
});
