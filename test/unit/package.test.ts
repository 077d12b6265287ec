/** What ships in the .vsix: the bundle, media/ and the manifest files, nothing else. */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
    const allowed = /^(dist\/extension\.js|media\/[\w./-]+\.(html|md|png)|package\.json|package\.nls\.json|README\.md|CHANGELOG\.md|LICENSE)$/;
    assert.deepEqual(files.filter((f) => !allowed.test(f)), [], 'unexpected files in the package');
    for (const required of ['dist/extension.js', 'package.json', 'media/page.html', 'media/icon.png', 'CHANGELOG.md', 'LICENSE']) {
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
