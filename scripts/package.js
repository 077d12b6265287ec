// @ts-check
/**
 * `npm run package` after the bundle: two .vsix files from one bundle, by `vsce package`.
 *
 * - `oidc-auth-marketplace.vsix`: the build for the Visual Studio Marketplace and stable desktop
 *   VS Code. Its manifest declares no API proposal (`vsce publish` refuses proposals, and stable
 *   VS Code would strip them anyway); MCP servers then fall back to VS Code's own providers.
 * - `oidc-auth.vsix`: the same bundle whose manifest declares `enabledApiProposals:
 *   ["authIssuers"]`, for code-server, VS Code Insiders and `--enable-proposed-api` users, where
 *   the providers also answer MCP servers. The tests and the demo install this one.
 *
 * package.json in the repository is the proposal build's manifest (the development host runs it);
 * the Marketplace build is packed from a staged copy without `enabledApiProposals`.
 * The README's relative links (the screenshot in docs/screenshots/) are made absolute from
 * package.json's repository URL, since vsce rewrites them only for GitHub and GitLab URLs it
 * recognises and refuses them otherwise. Plain JavaScript so packaging needs no compile step.
 *
 * Options: `--cwd DIR` packs another staged copy of the extension (the benchmark's), `--out FILE`
 * names the .vsix, `--build proposed|marketplace` packs only that build (default: both),
 * `--out-dir DIR` puts the .vsix files there instead of in the extension's folder.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const BUILDS = {
  proposed: { file: 'oidc-auth.vsix', proposals: true },
  marketplace: { file: 'oidc-auth-marketplace.vsix', proposals: false },
};

const option = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : undefined;
};
const root = path.resolve(option('--cwd') ?? path.join(__dirname, '..'));
const only = option('--build');
if (only !== undefined && !(only in BUILDS)) throw new Error(`--build must be one of ${Object.keys(BUILDS).join(', ')}`);
const out = option('--out');
const outDir = path.resolve(option('--out-dir') ?? root);
if (out && !only) throw new Error('--out names one .vsix: give --build too');

const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const url = typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
if (!url) throw new Error('package.json has no repository URL to make the README links absolute with');
const base = String(url).replace(/^git\+/, '').replace(/\.git$/, '').replace(/\/$/, '');

/** Runs `vsce package` in `cwd` into `file`; exits on failure. */
function vscePackage(cwd, file) {
  const args = [
    require.resolve('@vscode/vsce/vsce'),
    'package',
    '--no-dependencies',
    '--out',
    file,
    '--baseContentUrl',
    `${base}/blob/HEAD`,
    '--baseImagesUrl',
    `${base}/raw/HEAD`,
  ];
  const result = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/**
 * A copy of the extension's files (those .vscodeignore keeps, and .vscodeignore itself) whose
 * package.json has no `enabledApiProposals`.
 */
function stageWithoutProposals() {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-marketplace-'));
  for (const entry of ['dist', 'media', 'package.nls.json', 'README.md', 'CHANGELOG.md', 'LICENSE', '.vscodeignore']) {
    const from = path.join(root, entry);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(stage, entry), { recursive: true });
  }
  const stripped = { ...manifest };
  delete stripped.enabledApiProposals;
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(stripped, null, 2)}\n`);
  return stage;
}

for (const [name, build] of Object.entries(BUILDS)) {
  if (only && only !== name) continue;
  const file = path.resolve(out ?? path.join(outDir, build.file));
  if (build.proposals) {
    if (!manifest.enabledApiProposals?.length) throw new Error('package.json declares no enabledApiProposals for the proposal build');
    vscePackage(root, file);
    continue;
  }
  const stage = stageWithoutProposals();
  try {
    vscePackage(stage, file);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
