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
});
