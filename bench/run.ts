/**
 * The benchmark: `node out/bench/run.js [--quick] [--only=NAME,…] [--activation-samples=N]
 * [--memory-cycles=N] [--memory-warmup=N] [--out=DIR]` (compile first with `npx tsc -p .`). Runs the measurements one after
 * another and writes bench/results.json and bench/results.md after each, so an interrupted run
 * still leaves what it measured. Names for --only: bundle, signin, getsessions, fanin, windows,
 * refreshrate, memory, activation. Not part of `npm test`; nothing here asserts a time. See bench/README.md.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { measureActivation } from './activation';
import { measureBundle } from './bundle';
import { measureFanIn } from './fanIn';
import { measureGetSessions } from './getSessions';
import { log, repoRoot, type MeasurementResult } from './lib/common';
import { keptResults, machineFacts, writeResults, type RunInfo } from './lib/report';
import { measureMemory } from './memory';
import { measureRefreshRate } from './refreshRate';
import { measureSignIn } from './signIn';
import { measureWindows } from './windows';

interface Args {
  quick: boolean;
  only?: Set<string>;
  activationSamples?: number;
  memoryCycles?: number;
  memoryWarmup?: number;
  /** Folder for results.json/results.md instead of bench/ (exploratory runs). */
  out?: string;
}

const NAMES = ['bundle', 'signin', 'getsessions', 'fanin', 'windows', 'refreshrate', 'memory', 'activation'] as const;
type Name = (typeof NAMES)[number];
/** The name each measurement reports its results under. */
const TITLES: Record<Name, string> = {
  bundle: 'bundle size',
  signin: 'sign-in overhead',
  getsessions: 'getSessions, warm',
  fanin: 'refresh fan-in',
  windows: 'windows fan-in',
  refreshrate: 'refresh rate',
  memory: 'memory',
  activation: 'activation cost',
};

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false };
  for (const arg of argv) {
    const [k, v] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, ''];
    const num = () => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${k} needs a positive whole number`);
      return n;
    };
    switch (k) {
      case '--quick':
        args.quick = true;
        break;
      case '--only':
        args.only = new Set(v.split(',').map((x) => x.trim().toLowerCase()));
        for (const n of args.only) if (!NAMES.includes(n as Name)) throw new Error(`--only: unknown measurement ${n} (${NAMES.join(', ')})`);
        break;
      case '--activation-samples':
        args.activationSamples = num();
        break;
      case '--memory-cycles':
        args.memoryCycles = num();
        break;
      case '--memory-warmup':
        args.memoryWarmup = num();
        break;
      case '--out':
        if (!v) throw new Error('--out needs a folder');
        args.out = v;
        break;
      case '--help':
      case '-h':
        console.log(`usage: node out/bench/run.js [--quick] [--only=${NAMES.join(',')}] [--activation-samples=N] [--memory-cycles=N] [--memory-warmup=N] [--out=DIR]`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${arg} (try --help)`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const q = args.quick;
  const settings = {
    activation: { samples: args.activationSamples ?? (q ? 3 : 20) },
    signin: { iterations: q ? 10 : 100, warmup: q ? 3 : 10 },
    getsessions: { calls: q ? 20_000 : 100_000 },
    fanin: { ns: [1, 10, 100, 1_000, 10_000], rounds: q ? 2 : 5 },
    windows: { windows: [2, 4, 8], cycles: q ? 4 : 20 },
    refreshrate: { windows: [1, 4, 8], quick: q },
    memory: { cycles: args.memoryCycles ?? (q ? 300 : 10_000), warmup: args.memoryWarmup ?? (q ? 30 : 1_000), samples: q ? 10 : 20 },
  };
  const plan: [Name, () => Promise<MeasurementResult>][] = [
    ['bundle', () => measureBundle()],
    ['signin', () => measureSignIn(settings.signin)],
    ['getsessions', () => measureGetSessions(settings.getsessions)],
    ['fanin', () => measureFanIn(settings.fanin)],
    ['windows', () => measureWindows(settings.windows)],
    ['refreshrate', () => measureRefreshRate(settings.refreshrate)],
    ['memory', () => measureMemory(settings.memory)],
    ['activation', () => measureActivation(settings.activation)],
  ];
  const started = Date.now();
  const info: RunInfo = {
    mode: q ? 'quick' : 'full',
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    settings,
    machine: machineFacts(),
    results: [],
    complete: false,
  };
  // An --only run replaces what it measures and keeps the rest of the results it writes over.
  if (args.only) {
    const kept = keptResults(args.out ? path.resolve(args.out) : path.join(repoRoot, 'bench'), [...args.only].map((n) => TITLES[n as Name]));
    if (kept.length) info.kept = kept;
  }
  const save = () => {
    info.durationMs = Date.now() - started;
    info.machine.loadAverageEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
    return writeResults(info, args.out ? path.resolve(args.out) : undefined);
  };
  log(`${info.mode} run on ${info.machine.cpus} CPUs, Node ${info.machine.node}, VS Code ${info.machine.vscode}; load ${info.machine.loadAverageStart.join(' ')}`);
  for (const [name, measure] of plan) {
    if (args.only && !args.only.has(name)) continue;
    log(`— ${name}`);
    const t = Date.now();
    let result: MeasurementResult;
    try {
      result = await measure();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`${name} failed: ${message}`);
      result = { name: TITLES[name], method: '', rows: [], data: null, error: message };
    }
    result.durationMs = Date.now() - t;
    if (name === 'activation' && !result.error) {
      const vs = (result.data as { vscode?: { version: string; node: string } }).vscode;
      if (vs) {
        info.machine.vscode = vs.version;
        info.machine.extensionHostNode = vs.node;
      }
    }
    info.results.push(result);
    for (const row of result.rows) log(`  ${row.measurement}: ${row.figure} | ${row.comparison}${row.met === undefined ? '' : row.met ? ' | met' : ' | NOT met'}`);
    save();
  }
  info.complete = true;
  const { md } = save();
  log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min; ${md}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
