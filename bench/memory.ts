/**
 * Memory: heap growth of an "extension host" (bench/memoryChild.ts, a Node process with
 * --expose-gc running the real provider on the `vscode` shim) over sign-in / refresh / sign-out
 * cycles against oidc-provider. Each cycle: provider.createSession(['openid']) through the
 * loopback flow (this process plays the browser with the login robot), a forced refresh through
 * the extension's API (getAccessToken with forceRefresh, the path a 401 takes), a warm
 * getSessions, and provider.removeSession (which revokes at the IdP). After warm-up cycles the
 * child samples heapUsed after forced collections (with ticks between them, so finalization
 * callbacks run), at regular intervals, and at a baseline and at the end after an idle time
 * longer than the extension's request timers; heap snapshots at those two points say what grew. Growth is the last
 * sample minus the first; the noise is the scatter of the samples around their least-squares line.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { startTestIdp } from '../test/support/idp';
import { completeLogin } from '../test/support/loginRobot';
import { fmt, log, median, repoRoot, slope, stddev, type MeasurementResult } from './lib/common';
import type { HeapGrowth, HeapSample, MemoryChildReport, MemoryTask } from './memoryChild';

/** "code: +1.1 MiB, TimersList: +160 KiB (2,300)" */
function describeGrowth(growth: HeapGrowth[] | undefined, top = 4): string {
  if (!growth?.length) return '';
  return growth
    .slice(0, top)
    .map((g) => `${g.kind.replace(/:$/, '')} +${fmt(g.bytes / 1024)} KiB (${g.count >= 0 ? '+' : ''}${g.count.toLocaleString('en-US')})`)
    .join(', ');
}

export interface MemoryOptions {
  cycles: number;
  warmup: number;
  samples: number;
  /** Idle before the baseline and before the final sample (default 35 s: past every 30 s request timer). */
  settleMs?: number;
}

type ChildMessage =
  | { type: 'open'; url: string }
  | { type: 'progress'; cycle: number }
  | ({ type: 'done' } & MemoryChildReport)
  | { type: 'failed'; error: string };

const MiB = 1024 * 1024;

export async function measureMemory(opts: MemoryOptions): Promise<MeasurementResult> {
  const idp = await startTestIdp({ rotateRefreshToken: true });
  const browserErrors: string[] = [];
  try {
    const script = path.join(repoRoot, 'out', 'bench', 'memoryChild.js');
    const settleMs = opts.settleMs ?? 35_000;
    const report = await new Promise<MemoryChildReport>((resolve, reject) => {
      const child = fork(script, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let settled = false;
      const progressEvery = Math.max(1, Math.floor(opts.cycles / 10));
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'open') {
          void completeLogin(m.url, { login: 'alice' }).catch((err: unknown) => {
            if (browserErrors.length < 20) browserErrors.push(err instanceof Error ? err.message : String(err));
          });
        } else if (m.type === 'progress') {
          if (m.cycle % progressEvery === 0) log(`memory: ${m.cycle}/${opts.cycles} cycles`);
        } else if (m.type === 'done') {
          settled = true;
          resolve(m);
        } else if (m.type === 'failed') {
          settled = true;
          reject(new Error(`the extension host process failed: ${m.error}`));
        }
      });
      child.on('exit', (code) => {
        if (!settled) reject(new Error(`the extension host process exited (${code}) without a report`));
      });
      const task: MemoryTask = { issuer: idp.issuer, clientId: idp.clientId, cycles: opts.cycles, warmup: opts.warmup, samples: opts.samples, settleMs, snapshots: true };
      child.send(task);
    });
    const s: HeapSample[] = report.samples;
    const { baseline, final } = report;
    // The trend and the scatter come from the second half of the run, when the heap carries its
    // steady load of in-flight timers; the first half still ramps up to it.
    const late = s.filter((x) => x.cycle >= opts.cycles / 2);
    const xs = late.map((x) => x.cycle);
    const ys = late.map((x) => x.heapUsed);
    const k = slope(xs, ys);
    const intercept = ys.reduce((a, b) => a + b, 0) / ys.length - (k * xs.reduce((a, b) => a + b, 0)) / xs.length;
    const noise = stddev(ys.map((y, i) => y - (intercept + k * xs[i]!)));
    const band = Math.max(3 * noise, 64 * 1024);
    const growth = final.heapUsed - baseline.heapUsed;
    const peak = Math.max(...s.map((x) => x.heapUsed)) - baseline.heapUsed;
    const cyclesDone = report.cycleMs.length - opts.warmup;
    const mib = (b: number) => `${b >= 0 ? '+' : ''}${fmt(b / MiB)} MiB`;
    return {
      name: 'memory',
      method: `${cyclesDone.toLocaleString('en-US')} sign-in / forced refresh / getSessions / sign-out (with revocation) cycles, after ${opts.warmup} warm-up cycles, of the real provider on a vscode shim in its own Node ${report.node} process ("extension host", --expose-gc) against oidc-provider in the parent, which also plays the browser; heapUsed after forced collections (with ticks between, so finalizers run), at a baseline and at the end each after ${settleMs / 1000} s idle (past the extension's 30 s request timers), and ${s.length} times during the run.`,
      rows: [
        {
          measurement: `memory: heap growth over ${cyclesDone.toLocaleString('en-US')} cycles (settled)`,
          figure: `${mib(growth)} (${fmt(baseline.heapUsed / MiB)} → ${fmt(final.heapUsed / MiB)} MiB); late trend ${fmt(k)} B/cycle`,
          comparison: `zero beyond noise (±${fmt(band / MiB)} MiB: 3 × scatter of the late samples, at least 64 KiB)`,
          ratio: undefined,
          target: 'no growth beyond noise',
          met: Math.abs(growth) <= band,
          note: `${report.split ? `between the heap snapshots: V8 compiled code ${mib(report.split.codeBytes)}, everything else (objects) ${mib(report.split.otherBytes)}; ` : ''}${report.growth ? `grew most (heap snapshots, self size): ${describeGrowth(report.growth)}; ` : ''}during the run the heap stood up to ${mib(peak)} above the baseline (request timers still pending); rss ${fmt(baseline.rss / MiB)} → ${fmt(final.rss / MiB)} MiB; median cycle ${fmt(median(report.cycleMs))} ms${report.errors.length ? `; ${report.errors.length} failed cycle(s): ${report.errors[0]}` : ''}${browserErrors.length ? `; browser errors: ${browserErrors[0]}` : ''}`,
        },
      ],
      data: { baseline, final, samples: s, growthByKind: report.growth, snapshotSplit: report.split, lateSlopeBytesPerCycle: k, noiseBytes: noise, growthBytes: growth, peakBytes: peak, errors: report.errors, browserErrors, medianCycleMs: median(report.cycleMs), settleMs },
    };
  } finally {
    await idp.close();
  }
}
