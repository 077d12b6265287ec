/**
 * The `electron` target: the same suites in desktop VS Code through @vscode/test-electron, as on
 * an extension author's laptop. It downloads VS Code from Microsoft's update service into
 * .vscode-test/ (or uses VSCODE_EXECUTABLE_PATH); CI machines that reach only the npm registry
 * cannot, and get a clear message. There is no browser robot here, so suites that need one skip.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadAndUnzipVSCode, runTests, TestRunFailedError } from '@vscode/test-electron';
import { withTimeout } from './async';
import { GREP_ENV, integrationTestsEntry } from './environment';

export interface ElectronRunOptions {
  root: string;
  grep?: string;
  timeoutMs: number;
  workspace?: string;
}

export async function runInElectron(opts: ElectronRunOptions): Promise<number> {
  const testsEntry = integrationTestsEntry(opts.root);
  let executable = process.env.VSCODE_EXECUTABLE_PATH;
  if (!executable) {
    const version = process.env.VSCODE_TEST_VERSION || 'stable';
    try {
      executable = await withTimeout(
        downloadAndUnzipVSCode({ version, cachePath: path.join(opts.root, '.vscode-test') }),
        5 * 60_000,
        'downloading VS Code',
      );
    } catch (err) {
      console.error(
        [
          `runIntegration --target=electron: could not download VS Code ${version} from Microsoft's update service:`,
          `  ${err instanceof Error ? err.message : String(err)}`,
          'This target needs internet access to update.code.visualstudio.com (or a local VS Code:',
          'set VSCODE_EXECUTABLE_PATH to its executable). Where only the npm registry is reachable, run the',
          'same suites with --target=code-server (the default).',
        ].join('\n'),
      );
      return 2;
    }
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-auth-electron-'));
  const workspace = opts.workspace ?? path.join(tmp, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  // A fresh profile per run (no sessions or secrets left from the last one), at a short path:
  // VS Code's IPC socket lives in it and macOS limits socket paths to 103 characters.
  const userData = path.join(opts.root, '.vscode-test', 'user-data-integration');
  fs.rmSync(userData, { recursive: true, force: true });
  const deadline = setTimeout(() => {
    console.error(`runIntegration --target=electron: no result within ${opts.timeoutMs} ms (OIDC_TEST_TIMEOUT_MS); stopping VS Code`);
    stopChildren();
  }, opts.timeoutMs);
  try {
    const code = await withTimeout(
      runTests({
        vscodeExecutablePath: executable,
        extensionDevelopmentPath: opts.root,
        extensionTestsPath: testsEntry,
        extensionTestsEnv: { [GREP_ENV]: opts.grep, OIDC_TEST_BROWSER_CONTROL: undefined },
        // runTests itself adds --no-sandbox, --disable-updates, --skip-welcome,
        // --skip-release-notes and --disable-workspace-trust.
        launchArgs: [
          workspace,
          '--disable-extensions',
          `--user-data-dir=${userData}`,
          `--extensions-dir=${path.join(opts.root, '.vscode-test', 'extensions')}`,
        ],
      }),
      opts.timeoutMs + 15_000,
      'the test run',
    );
    return code;
  } catch (err) {
    if (err instanceof TestRunFailedError) return err.code ?? 1;
    console.error(`runIntegration --target=electron: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    clearTimeout(deadline);
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

/**
 * runTests does not expose the VS Code process it spawned; it is a direct child of this process
 * (the only one), so stop our direct children by pid: SIGTERM, then SIGKILL after 10 s.
 */
function stopChildren(): void {
  if (process.platform === 'win32') return;
  const list = spawnSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' });
  const pids = (list.stdout ?? '').split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  setTimeout(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, 10_000).unref();
}
