/**
 * The mocha bootstrap VS Code loads as `extensionTestsPath` (both targets of
 * test/support/vscode/runIntegration.ts). It runs every *.test.js beside it (recursively) in the
 * extension host, with `vscode` available, and prints a final `N passed, N failed, N skipped` line
 * for CI; any skipped test fails the run. The env var OIDC_TEST_GREP, set by the launcher from
 * --grep, filters tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type MochaType from 'mocha';

/**
 * mocha 12's package entry is an ES module re-exporting its CommonJS build; load that build
 * directly so the bootstrap also works in extension hosts whose Node lacks require(esm).
 */
function loadMocha(): typeof MochaType {
  try {
    return require('mocha/lib/mocha.cjs') as typeof MochaType;
  } catch {
    return require('mocha') as typeof MochaType;
  }
}

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(full));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) found.push(full);
  }
  return found.sort();
}

export function run(): Promise<void> {
  const grep = process.env.OIDC_TEST_GREP;
  const Mocha = loadMocha();
  const mocha = new Mocha({
    ui: 'bdd',
    timeout: 60_000,
    slow: 5_000,
    color: false,
    reporter: 'spec',
    ...(grep ? { grep } : {}),
  });
  for (const file of findTests(__dirname)) mocha.addFile(file);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const summary = () => `${passed} passed, ${failed} failed, ${skipped} skipped`;
  return new Promise<void>((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        console.log(summary());
        if (failures > 0) reject(new Error(`${failures} test(s) failed`));
        // A test that did not run proved nothing: a skip fails the run, as a failure does.
        else if (skipped > 0) reject(new Error(`${skipped} test(s) skipped: a real-VS-Code test must run or fail, never skip`));
        else resolve();
      });
      runner.on('pass', () => passed++);
      runner.on('fail', () => failed++);
      runner.on('pending', () => skipped++);
    } catch (err) {
      // A suite that fails to load (syntax error, missing module) ends up here.
      console.error(err);
      failed++;
      console.log(summary());
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
