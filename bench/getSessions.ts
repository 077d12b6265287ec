/**
 * getSessions, warm: the latency of `getSessions(['openid'])` on the extension's real provider
 * class (on the `vscode` shim, see lib/vscodeShim.ts) holding one valid session, one awaited
 * call after another, each timed with process.hrtime.bigint(). The floor runs the same loop over
 * an async function that returns an in-memory array. Calls run in blocks that alternate between
 * the arms, so a shared machine's drifts hit both alike.
 */
import { startTestIdp } from '../test/support/idp';
import { fmt, log, summarize, type MeasurementResult } from './lib/common';
import { coreManager, signIn } from './lib/harness';
import { startProvider } from './lib/provider';

export interface GetSessionsOptions {
  calls: number;
}

const BLOCKS = 10;

async function timeLoop(n: number, fn: () => Promise<unknown>, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    into.push(Number(process.hrtime.bigint() - t) / 1000);
  }
}

export async function measureGetSessions(opts: GetSessionsOptions): Promise<MeasurementResult> {
  const idp = await startTestIdp();
  const staged = await startProvider(idp.issuer, idp.clientId);
  const core = coreManager({ issuer: idp.issuer, clientId: idp.clientId });
  try {
    const session = await staged.provider.createSession(['openid']);
    await signIn(core, ['openid']);
    const scopes = ['openid'];
    const check = await staged.provider.getSessions(scopes);
    if (check.length !== 1 || check[0]!.id !== session.id) throw new Error('the provider did not return the signed-in session');
    const array = [session];
    const floor = async (_scopes: readonly string[]) => array;
    const ours: number[] = [];
    const base: number[] = [];
    const coreUs: number[] = [];
    const refreshesBefore = idp.tokenCalls.length;
    // Warm-up: let the JIT settle on both paths.
    await timeLoop(Math.min(10_000, opts.calls / 10), () => staged.provider.getSessions(scopes), []);
    await timeLoop(Math.min(10_000, opts.calls / 10), () => floor(scopes), []);
    const per = Math.ceil(opts.calls / BLOCKS);
    for (let b = 0; b < BLOCKS; b++) {
      if (b % 2 === 0) {
        await timeLoop(per, () => staged.provider.getSessions(scopes), ours);
        await timeLoop(per, () => floor(scopes), base);
      } else {
        await timeLoop(per, () => floor(scopes), base);
        await timeLoop(per, () => staged.provider.getSessions(scopes), ours);
      }
      await timeLoop(Math.ceil(per / 10), () => core.manager.getSessions(scopes), coreUs);
    }
    log(`getSessions: ${ours.length} provider calls, ${base.length} floor calls`);
    if (idp.tokenCalls.length !== refreshesBefore) throw new Error('a warm getSessions reached the IdP');
    const o = summarize(ours);
    const f = summarize(base);
    const c = summarize(coreUs);
    return {
      name: 'getSessions, warm',
      method: `${ours.length.toLocaleString('en-US')} awaited calls of getSessions(['openid']) on the real OidcAuthenticationProvider (on a vscode shim) holding one valid session, each timed with process.hrtime.bigint(), in ${BLOCKS} blocks alternating with the same loop over an async function returning an in-memory array.`,
      rows: [
        {
          measurement: `getSessions warm: median (${ours.length.toLocaleString('en-US')} calls)`,
          figure: `${fmt(o.median)} µs`,
          comparison: `in-memory array: ${fmt(f.median)} µs`,
          ratio: o.median / f.median,
        },
        {
          measurement: 'getSessions warm: p99',
          figure: `${fmt(o.p99)} µs`,
          comparison: `in-memory array: ${fmt(f.p99)} µs`,
          ratio: o.p99 / f.p99,
          note: `core SessionManager.getSessions alone (${c.n.toLocaleString('en-US')} calls): median ${fmt(c.median)} µs, p99 ${fmt(c.p99)} µs; the timer read is inside every figure`,
        },
      ],
      data: { provider: o, floor: f, core: c },
    };
  } finally {
    staged.dispose();
    core.dispose();
    await idp.close();
  }
}
