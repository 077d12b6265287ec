/**
 * Bundle size: the production `main` bundle and the .vsix, against the authentication
 * extensions built into the VS Code the tests use.
 *
 * The bundle is built with the project's own esbuild.js (`--production`), run with bench/tmp/build
 * as its working directory (a symlink there points `src` at the real sources), so the benchmark
 * never rewrites the dist/ that other work in the repository uses. The files the .vsix would hold
 * (the `!` lines of .vscodeignore) are copied into bench/tmp/ext beside that bundle, and
 * `vsce package --no-dependencies` packs them: the same .vsix `npm run package` makes, from a
 * bundle built now. The activation measurement loads bench/tmp/ext as the extension.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchTmp, fmt, fmtBytes, repoRoot, type MeasurementResult } from './lib/common';

/** Where the VS Code of the real-VS Code tests lives (code-server's copy). */
export function builtinExtensionsDir(): string {
  const cache = process.env.OIDC_AUTH_VSCODE_CACHE || path.join(process.env.HOME ?? '/root', '.cache', 'oidc-auth-vscode');
  return path.join(cache, 'cs', 'node_modules', 'code-server', 'lib', 'vscode', 'extensions');
}

function dirBytes(dir: string): { total: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) {
        const size = fs.statSync(full).size;
        files[path.relative(dir, full)] = size;
        total += size;
      }
    }
  };
  walk(dir);
  return { total, files };
}

/** `!pattern` lines of .vscodeignore as regular expressions over repository-relative paths. */
function includedPatterns(root: string): RegExp[] {
  const lines = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').split(/\r?\n/);
  return lines
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => {
      const glob = l.slice(1).replace(/^\//, '');
      const re = glob
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) =>
          part === '**/' || part === '**' ? '(?:.*/)?' + (part === '**' ? '.*' : '') : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return new RegExp(`^${re}$`);
    });
}

const SKIP_DIRS = new Set(['node_modules', '.git', 'out', 'bench', 'dist', '.test-logs', '.vscode-test', 'src', 'test']);

/**
 * Builds the production bundle into bench/tmp/build/dist and stages the packaged files in
 * bench/tmp/ext. Returns the staged extension folder and the bundle path.
 */
export function buildAndStage(): { extDir: string; bundle: string } {
  const root = repoRoot;
  const build = benchTmp('build');
  const srcLink = path.join(build, 'src');
  fs.rmSync(srcLink, { recursive: true, force: true });
  fs.symlinkSync(path.join(root, 'src'), srcLink, 'dir');
  fs.rmSync(path.join(build, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [path.join(root, 'esbuild.js'), '--production', `--metafile=${path.join(build, 'meta.json')}`], {
    cwd: build,
    stdio: 'inherit',
  });
  const bundle = path.join(build, 'dist', 'extension.js');
  if (!fs.existsSync(bundle)) throw new Error(`esbuild.js --production did not write ${bundle}`);

  const extDir = path.join(root, 'bench', 'tmp', 'ext');
  fs.rmSync(extDir, { recursive: true, force: true });
  fs.mkdirSync(extDir, { recursive: true });
  const patterns = includedPatterns(root);
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(r)) walk(r);
      } else if (e.isFile() && patterns.some((p) => p.test(r))) {
        fs.mkdirSync(path.dirname(path.join(extDir, r)), { recursive: true });
        fs.copyFileSync(path.join(root, r), path.join(extDir, r));
      }
    }
  };
  walk('');
  fs.mkdirSync(path.join(extDir, 'dist'), { recursive: true });
  fs.copyFileSync(bundle, path.join(extDir, 'dist', 'extension.js'));
  fs.copyFileSync(path.join(root, '.vscodeignore'), path.join(extDir, '.vscodeignore'));
  return { extDir, bundle };
}

/** What the bundle is made of: bytes per part (esbuild's metafile) and the bytes of string literals. */
export interface BundleComposition {
  oauth4webapi: number;
  core: number;
  adapter: number;
  /** esbuild's module glue and whatever no input claims. */
  other: number;
  /** Bytes inside string and template literals of the minified bundle (messages, mostly); rough. */
  stringLiterals: number;
  /** The largest inputs, by bytes in the bundle. */
  top: { input: string; bytes: number }[];
}

function composition(build: string, bundle: string): BundleComposition | undefined {
  const metaFile = path.join(build, 'meta.json');
  if (!fs.existsSync(metaFile)) return undefined;
  const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as {
    outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const out = Object.entries(meta.outputs).find(([f]) => f.endsWith('extension.js'))?.[1];
  if (!out) return undefined;
  const c: BundleComposition = { oauth4webapi: 0, core: 0, adapter: 0, other: 0, stringLiterals: 0, top: [] };
  for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
    if (input.includes('node_modules/oauth4webapi/')) c.oauth4webapi += bytesInOutput;
    else if (input.includes('src/core/')) c.core += bytesInOutput;
    else c.adapter += bytesInOutput;
    c.top.push({ input: input.replace(/^.*node_modules\//, '').replace(/^(\.\.\/)+/, ''), bytes: bytesInOutput });
  }
  c.other = out.bytes - c.oauth4webapi - c.core - c.adapter;
  c.top = c.top.sort((a, b) => b.bytes - a.bytes).slice(0, 8);
  const code = fs.readFileSync(bundle, 'utf8');
  for (const m of code.matchAll(/`(?:[^`\\]|\\.)*`|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g)) c.stringLiterals += m[0].length;
  return c;
}

export async function measureBundle(): Promise<MeasurementResult> {
  const root = repoRoot;
  const { extDir, bundle } = buildAndStage();
  const vsix = path.join(benchTmp(), 'oidc-auth.vsix');
  fs.rmSync(vsix, { force: true });
  // The same packaging script as `npm run package` (README links made absolute, as vsce needs).
  execFileSync(process.execPath, [path.join(root, 'scripts', 'package.js'), '--cwd', extDir, '--build', 'proposed', '--out', vsix], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ours = fs.statSync(bundle).size;
  const vsixBytes = fs.statSync(vsix).size;

  const builtins = builtinExtensionsDir();
  const gh = dirBytes(path.join(builtins, 'github-authentication', 'dist'));
  const ms = dirBytes(path.join(builtins, 'microsoft-authentication', 'dist'));
  const msJs = Object.entries(ms.files)
    .filter(([f]) => f.endsWith('.js'))
    .reduce((a, [, n]) => a + n, 0);
  const vscodeVersion = (() => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(builtins, '..', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  })();
  const ghRatio = ours / gh.total;
  const parts = composition(benchTmp('build'), bundle);
  const partsRow = parts && {
    measurement: 'bundle: what it is made of (esbuild metafile)',
    figure: `oauth4webapi ${fmtBytes(parts.oauth4webapi)}, src/core ${fmtBytes(parts.core)}, src/vscode + extension.ts ${fmtBytes(parts.adapter)}, glue ${fmtBytes(parts.other)}`,
    comparison: `github-authentication/dist: ${fmtBytes(gh.total)}`,
    ratio: parts.oauth4webapi / gh.total,
    note: `the ratio is oauth4webapi's part alone (the protocol library every path needs); string literals (messages, mostly) are about ${fmtBytes(parts.stringLiterals)} of the bundle; largest inputs: ${parts.top
      .slice(0, 4)
      .map((t) => `${t.input} ${fmtBytes(t.bytes)}`)
      .join(', ')}`,
  };
  return {
    name: 'bundle size',
    method:
      'Bytes of dist/extension.js built by the project\'s esbuild.js --production (into bench/tmp/build) and of the .vsix vsce packs from the .vscodeignore file set, against the bytes of the dist/ folders of github-authentication and microsoft-authentication in code-server\'s VS Code ' +
      vscodeVersion +
      '.',
    rows: [
      {
        measurement: 'bundle: dist/extension.js (production)',
        figure: fmtBytes(ours),
        comparison: `github-authentication/dist: ${fmtBytes(gh.total)}`,
        ratio: ghRatio,
        target: '≤ 0.25',
        met: ghRatio <= 0.25,
        note: ghRatio <= 0.25 ? undefined : `${fmtBytes(Math.ceil(ours - gh.total / 4))} over the target of ${fmtBytes(Math.floor(gh.total / 4))}`,
      },
      {
        measurement: 'bundle: dist/extension.js (production)',
        figure: fmtBytes(ours),
        comparison: `microsoft-authentication/dist: ${fmtBytes(ms.total)} (its .js alone: ${fmtBytes(msJs)})`,
        ratio: ours / ms.total,
        note: `vs its .js alone: ${fmt(ours / msJs)}`,
      },
      ...(partsRow ? [partsRow] : []),
      {
        measurement: 'package: oidc-auth.vsix',
        figure: fmtBytes(vsixBytes),
        comparison: `github-authentication/dist: ${fmtBytes(gh.total)}`,
        ratio: vsixBytes / gh.total,
        note: 'a compressed package against an uncompressed folder; for scale only',
      },
    ],
    data: {
      bundleBytes: ours,
      vsixBytes,
      vsixFiles: listVsix(vsix),
      githubAuthentication: gh,
      microsoftAuthentication: { ...ms, jsBytes: msJs },
      vscodeVersion,
      ...(parts ? { composition: parts } : {}),
    },
  };
}

/** Entries of the .vsix (a zip), read from its central directory, so the report can list them. */
function listVsix(file: string): { name: string; bytes: number }[] {
  const buf = fs.readFileSync(file);
  const out: { name: string; bytes: number }[] = [];
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) return out;
  let off = buf.readUInt32LE(eocd + 16);
  const count = buf.readUInt16LE(eocd + 10);
  for (let i = 0; i < count && buf.readUInt32LE(off) === 0x02014b50; i++) {
    const size = buf.readUInt32LE(off + 24);
    const nameLen = buf.readUInt16LE(off + 28);
    const extra = buf.readUInt16LE(off + 30);
    const comment = buf.readUInt16LE(off + 32);
    out.push({ name: buf.toString('utf8', off + 46, off + 46 + nameLen), bytes: size });
    off += 46 + nameLen + extra + comment;
  }
  return out;
}
