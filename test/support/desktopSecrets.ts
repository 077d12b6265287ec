/**
 * The desktop's SecretStorage for tests that run several "windows" in one process: one store for
 * all of them, and every change announced to every window a moment later (desktop VS Code fires
 * `secrets.onDidChange` in each window, over IPC). Each window gets its own view, as each window's
 * extension host has its own `context.secrets`.
 */
import type { SecretStore } from '../../src/core/storage/secretStore';

export class DesktopSecretStorage {
  readonly data = new Map<string, string>();
  private readonly listeners = new Set<(key: string) => void>();

  /** A window's `context.secrets`. */
  window(): WindowSecrets {
    return new WindowSecrets(this);
  }

  /** @internal */
  changed(key: string): void {
    for (const listener of [...this.listeners]) setImmediate(() => listener(key));
  }

  /** @internal */
  listen(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export class WindowSecrets implements SecretStore {
  private readonly unsubscribe: Array<() => void> = [];
  /** How long this window's writes take to land (a slow keychain). */
  storeDelayMs = 0;
  constructor(private readonly shared: DesktopSecretStorage) {}

  async get(key: string): Promise<string | undefined> {
    return this.shared.data.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    if (this.storeDelayMs) await new Promise((r) => setTimeout(r, this.storeDelayMs));
    this.shared.data.set(key, value);
    this.shared.changed(key);
  }
  async delete(key: string): Promise<void> {
    this.shared.data.delete(key);
    this.shared.changed(key);
  }
  /** Calls `listener` when any window changes `key` (as VscodeSecretStore.onDidChange does). */
  onDidChange(key: string, listener: () => void): void {
    this.unsubscribe.push(this.shared.listen((changed) => changed === key && listener()));
  }
  /** The window closed. */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }
}
