/** bench/results.json and bench/results.md from the measurements of one run. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtinExtensionsDir } from '../bundle';
import { fmt, repoRoot, type MeasurementResult } from './common';

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  platform: string;
  node: string;
  vscode: string;
  /** Node of VS Code's extension host in the activation runs, when they ran. */
  extensionHostNode?: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  commit: string;
  /** The working tree had changes not committed when the run started. */
  dirty: boolean;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineFacts(): MachineFacts {
  let vscode = '?';
  try {
    vscode = (JSON.parse(fs.readFileSync(path.join(builtinExtensionsDir(), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* not installed yet */
  }
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    vscode,
    loadAverageStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    commit: git(['rev-parse', '--short', 'HEAD']) || '?',
    dirty: git(['status', '--porcelain', '--untracked-files=no']).length > 0,
  };
}

export interface RunInfo {
  mode: 'quick' | 'full';
  startedAt: string;
  durationMs: number;
  settings: Record<string, unknown>;
  machine: MachineFacts;
  results: MeasurementResult[];
  complete: boolean;
  /**
   * Measurements an `--only` run did not repeat, carried over from the results.json it replaced,
   * each with the run it comes from (shown apart, never mixed into this run's table).
   */
  kept?: KeptResult[];
}

export interface KeptResult {
  startedAt: string;
  commit: string;
  mode: 'quick' | 'full';
  result: MeasurementResult;
}

/** The measurements of the results.json in `dir` that are not named in `measured`, with their origin. */
export function keptResults(dir: string, measured: readonly string[]): KeptResult[] {
  let previous: RunInfo;
  try {
    previous = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunInfo;
  } catch {
    return [];
  }
  const own = previous.results.map((result) => ({ startedAt: previous.startedAt, commit: previous.machine.commit, mode: previous.mode, result }));
  return [...own, ...(previous.kept ?? [])].filter((k) => !measured.includes(k.result.name));
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Writes results.json and results.md into `dir` (bench/ unless --out names another folder). */
export function writeResults(info: RunInfo, dir = path.join(repoRoot, 'bench')): { json: string; md: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'results.json');
  const md = path.join(dir, 'results.md');
  fs.writeFileSync(json, JSON.stringify(info, null, 2) + '\n');
  fs.writeFileSync(md, renderMarkdown(info));
  return { json, md };
}

function table(out: string[], results: MeasurementResult[]): void {
  out.push('| measurement | our figure | comparison | ratio | target | met | note |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    if (r.error) {
      out.push(`| ${cell(r.name)} | **failed** | | | | | ${cell(r.error)} |`);
      continue;
    }
    for (const row of r.rows) {
      const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
      out.push(
        `| ${cell(row.measurement)} | ${cell(row.figure)} | ${cell(row.comparison)} | ${row.ratio === undefined ? '' : fmt(row.ratio)} | ${cell(row.target ?? '')} | ${met} | ${cell(row.note ?? '')} |`,
      );
    }
  }
  out.push('');
}

function renderMarkdown(info: RunInfo): string {
  const m = info.machine;
  const out: string[] = [];
  out.push('# oidc-auth benchmark results', '');
  out.push(
    `${info.mode === 'quick' ? '**Quick run** (`--quick`: small counts, for checking the benchmark; the figures are indicative only). ' : ''}` +
      `Started ${info.startedAt}, took ${fmt(info.durationMs / 60_000)} min${info.complete ? '' : ' (**incomplete**: the run was interrupted)'}. ` +
      `Commit ${m.commit}${m.dirty ? ' with uncommitted changes' : ''}. Written by \`node out/bench/run.js\`; see bench/README.md for what each figure means.`,
    '',
  );
  out.push('## Machine', '');
  out.push(`| fact | value |`, `| --- | --- |`);
  out.push(`| CPUs | ${m.cpus} × ${cell(m.cpuModel)} |`);
  out.push(`| memory | ${m.memoryGiB} GiB |`);
  out.push(`| OS | ${cell(m.platform)} |`);
  out.push(`| Node (benchmark, plain-Node measurements) | ${m.node} |`);
  out.push(`| VS Code (code-server's, for activation and the built-in extensions) | ${m.vscode}${m.extensionHostNode ? `, extension host on Node ${m.extensionHostNode}` : ''} |`);
  out.push(`| load average (1, 5, 15 min) at start → end | ${m.loadAverageStart.join(', ')} → ${m.loadAverageEnd?.join(', ') ?? '?'} |`);
  out.push('');
  out.push('## Results', '');
  out.push('Ratios compare figures measured in the same run. "target" is the issue\'s target where it sets one, otherwise the ideal.', '');
  table(out, info.results);
  const origins = [...new Set((info.kept ?? []).map((k) => `${k.startedAt} ${k.commit} ${k.mode}`))];
  for (const origin of origins) {
    const from = (info.kept ?? []).filter((k) => `${k.startedAt} ${k.commit} ${k.mode}` === origin);
    const first = from[0]!;
    out.push(
      `### Not measured again in this run: kept from the ${first.mode === 'quick' ? 'quick ' : ''}run started ${first.startedAt} (commit ${first.commit})`,
      '',
    );
    table(
      out,
      from.map((k) => k.result),
    );
  }
  out.push('## Against the targets', '');
  const targets: [string, string, string][] = [
    ['bundle size', 'bundle at most a quarter of github-authentication\'s', 'bundle: dist/extension.js'],
    ['activation cost', 'activation at most half of github-authentication\'s in the same run', 'activation to provider registered'],
    ['sign-in overhead', 'sign-in overhead within 1.2× of bare oauth4webapi', 'sign-in:'],
  ];
  const all = [...info.results, ...(info.kept ?? []).map((k) => k.result)];
  for (const [name, words, prefix] of targets) {
    const r = all.find((x) => x.name === name);
    const row = r?.rows.find((x) => x.measurement.startsWith(prefix));
    if (!r) out.push(`- ${words}: not measured in this run.`);
    else if (r.error || !row) out.push(`- ${words}: not measured (${r.error ?? 'no figure'}).`);
    else out.push(`- ${words}: **${row.met ? 'met' : 'missed'}** — ratio ${fmt(row.ratio ?? NaN)} (${row.figure} against ${row.comparison})${row.note ? `; ${row.note}` : ''}.`);
  }
  const ideals = all
    .filter((r) => ['refresh fan-in', 'windows fan-in', 'refresh rate', 'memory'].includes(r.name))
    .flatMap((r) => (r.error ? [`${r.name}: failed (${r.error})`] : r.rows.filter((x) => x.met === false).map((x) => `${x.measurement}: ${x.figure} (${x.note ?? ''})`)));
  out.push(`- ideals (fan-in, windows, refresh rate, memory): ${ideals.length ? `missed by ${ideals.map(cell).join('; ')}` : 'all met in this run'}.`);
  out.push('');
  out.push('## How each figure was measured', '');
  for (const r of all) out.push(`- **${r.name}**${r.durationMs !== undefined ? ` (${fmt(r.durationMs / 1000)} s)` : ''}: ${r.method}`);
  out.push('');
  return out.join('\n');
}
