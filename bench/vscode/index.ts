/**
 * The benchmark's `extensionTestsPath`: runs inside the extension host of a freshly started
 * VS Code window (bench/activation.ts starts one per sample) and reports how long VS Code itself
 * took to activate oidc-auth and the built-in github-authentication in this host.
 *
 * The figures are VS Code's own activation times, the ones "Developer: Show Running Extensions"
 * and "Developer: Startup Performance" show: for each extension the extension host measures the
 * time to load its main module (`Load Code`), the synchronous `activate()` call (`Call
 * Activate`) and the wait for the promise `activate()` returns (`Finish Activate`), with
 * Date.now(), i.e. in whole milliseconds. Both extensions register their authentication provider
 * synchronously inside `activate()`, so the sum of the three is the time from VS Code starting
 * the activation (bundle load included) to the provider being registered.
 *
 * Neither activation is triggered here: VS Code activates github-authentication when the
 * workbench first asks for a GitHub session (`onAuthenticationRequest:github`) and oidc-auth at
 * `onStartupFinished`. This waits until both are active (activating github-authentication itself,
 * event `api`, when nothing asked for it in time), then reads the workbench's table through the
 * `perf:` document the "Startup Performance" view is made of, and prints one line
 * `OIDC_BENCH_ACTIVATION {json}` that the driver picks up from the console.
 */
import * as vscode from 'vscode';

import { GITHUB, OURS, REPORT_PREFIX, type ActivationMarks, type ActivationReport, type ActivationRow } from './protocol';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The "Extension Activation Stats" table of the Startup Performance document. */
function parseStats(text: string): ActivationRow[] {
  const at = text.indexOf('Extension Activation Stats');
  if (at < 0) return [];
  const rows: ActivationRow[] = [];
  for (const line of text.slice(at).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length < 7 || cells[0] === 'Extension' || /^-+$/.test(cells[0]!)) continue;
    const [extension, eager, load, call, finish, event, by] = cells as [string, string, string, string, string, string, string];
    if (!Number.isFinite(Number(load))) continue;
    rows.push({
      extension,
      eager: eager === 'true',
      loadCodeMs: Number(load),
      callActivateMs: Number(call),
      finishActivateMs: Number(finish),
      event,
      by,
    });
  }
  return rows;
}

async function readStats(): Promise<ActivationRow[]> {
  // The view's content provider is a lazy workbench contribution: its command creates it.
  await vscode.commands.executeCommand('perfview.show');
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: 'perf', path: 'Startup Performance' }));
  return parseStats(doc.getText());
}

/** The extension host's performance marks (vs/base/common/performance keeps them on globalThis). */
function readMarks(ids: string[]): Record<string, ActivationMarks> {
  const perf = (globalThis as { MonacoPerformanceMarks?: { getMarks(): { name: string; startTime: number }[] } }).MonacoPerformanceMarks;
  const out: Record<string, ActivationMarks> = {};
  for (const id of ids) out[id] = {};
  for (const { name, startTime } of perf?.getMarks() ?? []) {
    const m = /^code\/extHost\/(willLoadExtensionCode|didLoadExtensionCode|willActivateExtension|didActivateExtension)\/(.+)$/.exec(name);
    if (!m || !out[m[2]!]) continue;
    const key = ({ willLoadExtensionCode: 'willLoad', didLoadExtensionCode: 'didLoad', willActivateExtension: 'willActivate', didActivateExtension: 'didActivate' } as const)[
      m[1] as 'willLoadExtensionCode'
    ];
    out[m[2]!]![key] = startTime;
  }
  return out;
}

export async function run(): Promise<void> {
  const started = Date.now();
  const waitMs = Number(process.env.OIDC_BENCH_ACTIVATION_WAIT_MS) || 30_000;
  const report: ActivationReport = {
    vscodeVersion: vscode.version,
    node: process.versions.node,
    rows: [],
    marks: {},
    activatedByBench: [],
    waitedMs: 0,
  };
  try {
    const ours = vscode.extensions.getExtension(OURS);
    const github = vscode.extensions.getExtension(GITHUB);
    if (!ours) throw new Error(`${OURS} is not loaded`);
    if (!github) throw new Error(`${GITHUB} is not loaded`);
    while (!(ours.isActive && github.isActive)) {
      if (Date.now() - started > waitMs) {
        // Nothing activated it on its own: activate it through the API, which VS Code measures
        // the same way (event "api").
        for (const ext of [github, ours]) {
          if (!ext.isActive) {
            report.activatedByBench.push(ext.id);
            await ext.activate();
          }
        }
        break;
      }
      await sleep(50);
    }
    report.waitedMs = Date.now() - started;
    report.marks = readMarks([OURS, GITHUB]);
    // The times reach the workbench in a message after the activation; the Startup Performance
    // view waits for the workbench to be fully restored before it renders.
    for (let attempt = 0; attempt < 40; attempt++) {
      await sleep(250);
      const rows = await readStats();
      if (rows.some((r) => r.extension === OURS) && rows.some((r) => r.extension === GITHUB)) {
        report.rows = rows.filter((r) => r.extension === OURS || r.extension === GITHUB);
        break;
      }
    }
    if (report.rows.length < 2) report.error = 'the Startup Performance view never listed both extensions';
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
  }
  console.log(REPORT_PREFIX + JSON.stringify(report));
}
