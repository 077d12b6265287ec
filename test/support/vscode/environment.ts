/**
 * What the integration driver tells the extension host, and the compiled mocha bootstrap it
 * loads. Where the test VS Code itself lives is install.ts's. Runs in the driver process (plain
 * Node), never in VS Code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Env var the driver sets for the extension host: base URL of the browser robot's control server. */
export const BROWSER_CONTROL_ENV = 'OIDC_TEST_BROWSER_CONTROL';
/** Env var the driver sets for the extension host: mocha `--grep` pattern. */
export const GREP_ENV = 'OIDC_TEST_GREP';

/** The compiled mocha bootstrap VS Code loads as extensionTestsPath. */
export function integrationTestsEntry(root: string): string {
  const entry = path.join(root, 'out', 'test', 'integration', 'index.js');
  if (!fs.existsSync(entry)) {
    throw new Error(`runIntegration: ${path.relative(root, entry)} is missing; compile first with \`npx tsc -p .\``);
  }
  return entry;
}
