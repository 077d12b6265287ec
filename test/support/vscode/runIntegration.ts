/**
 * Runs the mocha suites compiled to out/test/integration/**\/*.test.js inside a real VS Code, with
 * this repository loaded as the extension under development, and exits with the suites' code.
 *
 *   node out/test/support/vscode/runIntegration.js [--target=code-server|electron] [--grep PATTERN]
 *
 * --target=code-server (default; what CI uses): VS Code 1.139 from the npm package code-server,
 *   its web workbench in Chromium, with the browser robot for sign-in tests (codeServer.ts).
 * --target=electron: desktop VS Code through @vscode/test-electron (needs Microsoft's download
 *   service or VSCODE_EXECUTABLE_PATH).
 * Env: OIDC_TEST_TIMEOUT_MS (default 20 min), OIDC_AUTH_VSCODE_CACHE (test VS Code cache),
 *   OIDC_TEST_GREP (same as --grep), OIDC_TEST_VERBOSE=1 (also print workbench chatter and robot
 *   actions), OIDC_TEST_CHROMIUM (browser, default /usr/bin/chromium).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runInCodeServer } from './codeServer';
import { runInElectron } from './electron';
import { GREP_ENV } from './environment';
import { repoRoot } from './install';

interface Args {
  target: 'code-server' | 'electron';
  grep?: string;
  workspace?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { target: 'code-server' };
  const grepFromEnv = process.env[GREP_ENV];
  if (grepFromEnv) args.grep = grepFromEnv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`runIntegration: ${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--target': {
        const t = value();
        if (t !== 'code-server' && t !== 'electron') throw new Error(`runIntegration: unknown target ${t} (code-server or electron)`);
        args.target = t;
        break;
      }
      case '--grep':
      case '-g':
        args.grep = value();
        break;
      case '--workspace':
        args.workspace = path.resolve(value());
        break;
      case '--help':
      case '-h':
        console.log('usage: node out/test/support/vscode/runIntegration.js [--target=code-server|electron] [--grep PATTERN] [--workspace DIR]');
        process.exit(0);
        break;
      default:
        throw new Error(`runIntegration: unknown argument ${arg}`);
    }
  }
  return args;
}

/** `.test-logs/integration/code-server-<UTC stamp>-<pid>`; only the newest 10 runs are kept. */
function runLogDir(root: string): string {
  const parent = path.join(root, '.test-logs', 'integration');
  fs.mkdirSync(parent, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const runs = fs.readdirSync(parent).filter((n) => n.startsWith('code-server-')).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - 9))) {
    fs.rmSync(path.join(parent, old), { recursive: true, force: true });
  }
  return path.join(parent, `code-server-${stamp}-${process.pid}`);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const root = repoRoot;
  const timeoutMs = Number(process.env.OIDC_TEST_TIMEOUT_MS) || 20 * 60_000;
  const started = Date.now();
  console.log(`runIntegration: target ${args.target}${args.grep ? `, grep ${JSON.stringify(args.grep)}` : ''}, timeout ${timeoutMs} ms`);
  const common = { root, timeoutMs, ...(args.grep ? { grep: args.grep } : {}), ...(args.workspace ? { workspace: args.workspace } : {}) };
  const code =
    args.target === 'electron'
      ? await runInElectron(common)
      : await runInCodeServer({ ...common, logDir: runLogDir(root) });
  console.log(`runIntegration: exit code ${code}, total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
