/**
 * The "extension host" of the memory measurement: a Node process (started with --expose-gc)
 * running the extension's real provider on the `vscode` shim, doing sign-in / refresh / sign-out
 * cycles and sampling its own heap after forced garbage collections. The IdP and the browser
 * (the login robot) live in the parent process, so only the extension's memory is here.
 *
 * Protocol (IPC): parent → child `MemoryTask`; child → parent `{type:'open', url}` (play the
 * browser), `{type:'progress', cycle}`, and finally `{type:'done', ...MemoryChildReport}`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { startProvider } from './lib/provider';

export interface MemoryTask {
  issuer: string;
  clientId: string;
  cycles: number;
  warmup: number;
  samples: number;
  /**
   * Idle time before the baseline and the final sample: longer than the longest timer the
   * extension arms per request (30 s request timeouts), so what only waits for a timer is gone.
   */
  settleMs: number;
  /** Take heap snapshots at the baseline and at the end and report what grew, by kind of object. */
  snapshots: boolean;
}

/** One kind of heap object (V8 node type and constructor/name) that grew between the snapshots. */
export interface HeapGrowth {
  kind: string;
  count: number;
  bytes: number;
}

export interface HeapSample {
  cycle: number;
  heapUsed: number;
  rss: number;
  external: number;
}

export interface MemoryChildReport {
  /** In-run samples, taken right after a cycle. */
  samples: HeapSample[];
  /** After warm-up and `settleMs` idle. */
  baseline: HeapSample;
  /** After the last cycle and `settleMs` idle. */
  final: HeapSample;
  cycleMs: number[];
  errors: string[];
  node: string;
  /** Largest growths between the baseline and the final snapshot (self sizes). */
  growth?: HeapGrowth[];
  /**
   * Net change between the snapshots, all kinds summed: V8's compiled code (snapshot node type
   * `code`: machine code, deopt data, relocation info, feedback; it grows while the JIT keeps
   * optimizing) and everything else (the objects the extension and Node hold).
   */
  split?: { codeBytes: number; otherBytes: number };
}

const gc = (globalThis as { gc?: () => void }).gc;

const tick = (ms = 0) => new Promise<void>((r) => (ms ? setTimeout(r, ms) : setImmediate(r)));

/**
 * heapUsed after collections with ticks in between: FinalizationRegistry callbacks (Node's
 * AbortSignal.timeout bookkeeping among them) run only in a later task, and free more.
 */
async function sample(cycle: number): Promise<HeapSample> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await tick(5);
  }
  gc!();
  const m = process.memoryUsage();
  return { cycle, heapUsed: m.heapUsed, rss: m.rss, external: m.external };
}

/** Self size and count per kind of object in a heap snapshot written now. */
function heapKinds(): Map<string, [number, number]> {
  const file = path.join(os.tmpdir(), `oidc-auth-bench-${process.pid}-${Date.now()}.heapsnapshot`);
  v8.writeHeapSnapshot(file);
  try {
    const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    const fields = snap.snapshot.meta.node_fields;
    const types = snap.snapshot.meta.node_types[0];
    const [nf, iType, iName, iSize] = [fields.length, fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
    const kinds = new Map<string, [number, number]>();
    for (let i = 0; i < snap.nodes.length; i += nf) {
      const type = types[snap.nodes[i + iType]!]!;
      // Strings and numbers are named by their value: group them by type only.
      const name = ['string', 'concatenated string', 'sliced string', 'number', 'heap number'].includes(type) ? '' : snap.strings[snap.nodes[i + iName]!]!.slice(0, 60);
      const key = `${type}:${name}`;
      const e = kinds.get(key) ?? [0, 0];
      e[0]++;
      e[1] += snap.nodes[i + iSize]!;
      kinds.set(key, e);
    }
    return kinds;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function splitKinds(before: Map<string, [number, number]>, after: Map<string, [number, number]>): { codeBytes: number; otherBytes: number } {
  const split = { codeBytes: 0, otherBytes: 0 };
  for (const kind of new Set([...before.keys(), ...after.keys()])) {
    const d = (after.get(kind)?.[1] ?? 0) - (before.get(kind)?.[1] ?? 0);
    if (kind.startsWith('code:')) split.codeBytes += d;
    else split.otherBytes += d;
  }
  return split;
}

function diffKinds(before: Map<string, [number, number]>, after: Map<string, [number, number]>): HeapGrowth[] {
  const out: HeapGrowth[] = [];
  for (const [kind, [n, b]] of after) {
    const [n0, b0] = before.get(kind) ?? [0, 0];
    if (b - b0 > 0) out.push({ kind, count: n - n0, bytes: b - b0 });
  }
  return out.sort((x, y) => y.bytes - x.bytes).slice(0, 12);
}

async function run(task: MemoryTask): Promise<MemoryChildReport> {
  if (!gc) throw new Error('memoryChild needs --expose-gc');
  const staged = await startProvider(task.issuer, task.clientId, (url) => process.send!({ type: 'open', url }));
  const { provider, api } = staged;
  const errors: string[] = [];
  const cycleMs: number[] = [];
  const samples: HeapSample[] = [];
  const every = Math.max(1, Math.floor(task.cycles / task.samples));
  const total = task.warmup + task.cycles;
  let baseline: HeapSample | undefined;
  // The baseline's kinds wait in a file: kept in this heap they would be part of the diff.
  let kindsBefore: string | undefined;
  for (let i = 0; i < total; i++) {
    if (i === task.warmup) {
      await tick(task.settleMs);
      baseline = await sample(0);
      samples.push(baseline);
      if (task.snapshots) {
        kindsBefore = path.join(os.tmpdir(), `oidc-auth-bench-${process.pid}-kinds.json`);
        fs.writeFileSync(kindsBefore, JSON.stringify([...heapKinds()]));
        baseline = await sample(0);
        samples[samples.length - 1] = baseline;
      }
    }
    const t = performance.now();
    try {
      const session = await provider.createSession(['openid']);
      await api.getAccessToken(session, { forceRefresh: true });
      const [current] = await provider.getSessions(['openid']);
      if (!current) throw new Error('no session after the refresh');
      await provider.removeSession(current.id);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      if (errors.length > 20) throw new Error(`too many failed cycles: ${errors.slice(0, 3).join('; ')}`);
    }
    cycleMs.push(performance.now() - t);
    const done = i + 1 - task.warmup;
    if (done > 0 && done % every === 0) {
      samples.push(await sample(done));
      process.send!({ type: 'progress', cycle: done });
    }
  }
  await tick(task.settleMs);
  const final = await sample(task.cycles);
  let growth: HeapGrowth[] | undefined;
  let split: MemoryChildReport['split'];
  if (kindsBefore) {
    const after = heapKinds();
    const before = new Map(JSON.parse(fs.readFileSync(kindsBefore, 'utf8')) as [string, [number, number]][]);
    growth = diffKinds(before, after);
    split = splitKinds(before, after);
    fs.rmSync(kindsBefore, { force: true });
  }
  staged.dispose();
  return { samples, baseline: baseline!, final, cycleMs, errors, node: process.versions.node, ...(growth ? { growth } : {}), ...(split ? { split } : {}) };
}

process.on('message', (task: MemoryTask) => {
  run(task).then(
    (report) => process.send!({ type: 'done', ...report }, () => process.exit(0)),
    (err: unknown) => process.send!({ type: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) }, () => process.exit(1)),
  );
});
