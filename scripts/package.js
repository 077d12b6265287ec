// @ts-check
/**
 * `npm run package` after the bundle: `vsce package` with the README's relative links (the
 * screenshot in docs/screenshots/) made absolute from package.json's repository URL, since vsce
 * rewrites them only for GitHub and GitLab URLs it recognises and refuses them otherwise.
 * Plain JavaScript so packaging needs no compile step.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

// `--cwd DIR` packs another staged copy of the extension (the benchmark's), `--out FILE` names the .vsix.
const option = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : fallback;
};
const root = option('--cwd', path.join(__dirname, '..'));
const manifest = require(path.join(root, 'package.json'));
const url = typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
if (!url) throw new Error('package.json has no repository URL to make the README links absolute with');
const base = String(url).replace(/^git\+/, '').replace(/\.git$/, '').replace(/\/$/, '');
const args = [
  require.resolve('@vscode/vsce/vsce'),
  'package',
  '--no-dependencies',
  '--out',
  option('--out', 'oidc-auth.vsix'),
  '--baseContentUrl',
  `${base}/blob/HEAD`,
  '--baseImagesUrl',
  `${base}/raw/HEAD`,
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
