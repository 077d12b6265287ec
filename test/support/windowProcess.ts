/**
 * One "VS Code window" for the multi-window tests: its own process with its own SessionManager
 * (its own refresher and timer), over either the desktop's shared SecretStorage (the store
 * server) or a private snapshot (as each browser-hosted window has), and the shared folder.
 * Callers in the window ask for the session every few milliseconds; at the end it reports what
 * it saw to the parent over IPC.
 */
import type { ProviderConfig } from '../../src/core/config';
import type { SignInFlow } from '../../src/core/flows/flow';
import { IssuerCache } from '../../src/core/protocol/discovery';
import { silentLogger } from '../../src/core/logger';
import { MemorySecretStore, type SecretStore } from '../../src/core/storage/secretStore';
import { SessionManager } from '../../src/core/sessions/sessionManager';
import { storageKey } from '../../src/core/storage/keys';
import { openSessionStorage } from '../../src/core/storage/sessionStorage';
import { HttpSecretStore } from './storeServer';

export interface WindowTask {
  issuer: string;
  clientId: string;
  sharedDir: string;
  mode: 'desktop' | 'web';
  storeUrl?: string;
  snapshot?: [string, string][];
  /** A fixed refresh lead and jitter instead of the extension's lifetime rule (leave out for the product's timing). */
  skewMs?: number;
  jitterMs?: number;
  durationMs: number;
  callEveryMs: number;
  /** The lock's stale time (the product's default when unset). */
  staleLockMs?: number;
  /**
   * Runs the window's clock this many times faster than real time (default 1), so hour-long
   * tokens can be watched for several lifetimes: the manager's `now` and its refresh timers are
   * scaled; the IdP, the lock and request timeouts keep real time. `clockStart` is the moment
   * (epoch ms) every window's clock starts from, so all windows agree.
   */
  timeScale?: number;
  clockStart?: number;
}

export interface WindowReport {
  calls: number;
  /** Calls that found no session. */
  missing: number;
  errors: string[];
  distinctTokens: number;
  /** When its callers started and stopped asking (epoch ms, real time). */
  startedAt: number;
  endedAt: number;
}

const noFlow: SignInFlow = {
  id: 'loopback',
  signIn: () => Promise.reject(new Error('windows in this test never sign in')),
};

async function run(task: WindowTask): Promise<WindowReport> {
  const http = task.mode === 'desktop' ? new HttpSecretStore(task.storeUrl!) : undefined;
  const memory = new MemorySecretStore();
  for (const [k, v] of task.snapshot ?? []) memory.data.set(k, v);
  const store: SecretStore = http ?? memory;
  const config: ProviderConfig = {
    issuer: new URL(task.issuer),
    clientId: task.clientId,
    scopes: ['openid'],
    flow: 'loopback',
    loopbackPort: 0,
  };
  let manager: SessionManager | undefined;
  const scale = task.timeScale ?? 1;
  const start = task.clockStart ?? Date.now();
  const key = storageKey(config.issuer.href, config.clientId);
  manager = new SessionManager({
    config,
    store,
    // As in the product: browser-hosted windows keep the sessions in the shared folder.
    storage: openSessionStorage(store, key, {
      folder: task.sharedDir,
      browserHosted: task.mode !== 'desktop',
      ...(task.staleLockMs !== undefined ? { staleLockMs: task.staleLockMs } : {}),
    }),
    issuers: new IssuerCache(silentLogger),
    flow: noFlow,
    log: silentLogger,
    onDidChange: () => undefined,
    ...(task.skewMs !== undefined ? { refreshSkewMs: task.skewMs, refreshJitterMs: task.jitterMs ?? 0 } : {}),
    ...(scale !== 1
      ? {
          now: () => start + (Date.now() - start) * scale,
          timers: { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms / scale), clearTimeout: (t: ReturnType<typeof setTimeout>) => clearTimeout(t) },
        }
      : {}),
  });
  const report: WindowReport = { calls: 0, missing: 0, errors: [], distinctTokens: 0, startedAt: Date.now(), endedAt: 0 };
  const tokens = new Set<string>();
  const end = Date.now() + task.durationMs;
  // The desktop tells every window of every write (secrets.onDidChange).
  const watch = http
    ? setInterval(() => {
        void http.changes().then((keys) => (keys.includes(key) ? manager?.reload() : undefined));
      }, 50)
    : undefined;
  while (Date.now() < end) {
    try {
      const sessions = await manager.getSessions(['openid']);
      report.calls++;
      if (sessions.length === 0) report.missing++;
      else tokens.add(sessions[0]!.accessToken);
    } catch (err) {
      report.errors.push(err instanceof Error ? err.message : String(err));
    }
    await new Promise((r) => setTimeout(r, task.callEveryMs * (0.5 + Math.random())));
  }
  report.endedAt = Date.now();
  if (watch) clearInterval(watch);
  manager.dispose();
  manager = undefined;
  report.distinctTokens = tokens.size;
  return report;
}

process.on('message', (task: WindowTask) => {
  run(task).then(
    (report) => process.send!(report, () => process.exit(0)),
    (err: unknown) => process.send!({ calls: 0, missing: 0, errors: [String(err)], distinctTokens: 0, startedAt: 0, endedAt: 0 }, () => process.exit(1)),
  );
});
