/** Paths, statistics and small helpers shared by the benchmark's measurements. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../test/support/vscode/install';

export { repoRoot } from '../../test/support/vscode/install';
export { sleep, withTimeout } from '../../test/support/vscode/async';

/** bench/tmp (git-ignored): builds, the .vsix, temp state of the measurements. */
export function benchTmp(...parts: string[]): string {
  const dir = path.join(repoRoot, 'bench', 'tmp', ...parts);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Sorted copy. */
function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

export function stddev(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(xs: readonly number[]): Summary {
  return {
    n: xs.length,
    min: xs.length ? Math.min(...xs) : NaN,
    median: median(xs),
    mean: mean(xs),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
    max: xs.length ? Math.max(...xs) : NaN,
  };
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** A number with about three significant digits, for tables. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 10 ** digits) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024) return `${fmt(n / (1024 * 1024))} MiB (${n.toLocaleString('en-US')} B)`;
  if (n >= 1024) return `${fmt(n / 1024)} KiB (${n.toLocaleString('en-US')} B)`;
  return `${n} B`;
}

export function log(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** One row of the results table. */
export interface Row {
  /** What is measured, e.g. "bundle size: dist/extension.js". */
  measurement: string;
  /** Our figure, as text with unit. */
  figure: string;
  /** The comparison's figure, as text with unit. */
  comparison: string;
  /** figure / comparison (or its own definition, said in `note`). */
  ratio: number | undefined;
  /** The target, if the issue sets one, e.g. "≤ 0.25". */
  target?: string;
  /** Whether the target is met; undefined when there is none. */
  met?: boolean;
  note?: string;
}

/** What a measurement hands back: table rows plus raw data for results.json. */
export interface MeasurementResult {
  name: string;
  /** One sentence: what was timed or counted, and how. */
  method: string;
  rows: Row[];
  data: unknown;
  durationMs?: number;
  error?: string;
}
