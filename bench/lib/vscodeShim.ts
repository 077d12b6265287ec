/**
 * Just enough of the `vscode` module to run the extension's real OidcAuthenticationProvider
 * (src/vscode/provider.ts) in plain Node, where 10,000 sign-ins or 100,000 calls take seconds
 * instead of hours: events, settings, a SecretStorage over a Map, no-op file watchers, a
 * progress notification that just runs its task, and `env.openExternal` handed to a callback
 * (the benchmark's login robot). Nothing here is a measurement; it is the stage the provider
 * runs on. `installVscodeShim()` must run before anything requires `vscode`.
 */
import Module from 'node:module';
import * as path from 'node:path';

type Listener<T> = (e: T) => unknown;

export class Disposable {
  constructor(private readonly fn: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class RelativePattern {
  constructor(
    readonly base: unknown,
    readonly pattern: string,
  ) {}
}

export const UIKind = { Desktop: 1, Web: 2 } as const;
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 } as const;
export const ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 } as const;

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', p);
  }
  static parse(s: string): Uri {
    return new Uri(s.split(':')[0] ?? '', s);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, path.join(base.fsPath, ...parts));
  }
  toString(): string {
    return this.scheme === 'file' ? `file://${this.fsPath}` : this.fsPath;
  }
}

/** A SecretStorage over a Map, with the change event VS Code fires. */
export class MapSecretStorage {
  readonly data = new Map<string, string>();
  private readonly changes = new EventEmitter<{ key: string }>();
  readonly onDidChange = this.changes.event;
  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.data.set(key, value);
    this.changes.fire({ key });
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
    this.changes.fire({ key });
  }
}

/** What the stage lets the benchmark set. */
export const stage = {
  settings: new Map<string, unknown>(),
  /** Called for `env.openExternal`; resolves whether the browser opened. */
  openExternal: async (_url: string): Promise<boolean> => false,
  /** Messages the provider showed (kept short: the last few). */
  messages: [] as string[],
};

function note(kind: string, message: string): Thenable<undefined> {
  stage.messages.push(`${kind}: ${message}`);
  if (stage.messages.length > 20) stage.messages.shift();
  return Promise.resolve(undefined);
}

const noEvent = () => new Disposable();

export const vscodeShim = {
  version: 'bench-shim',
  Disposable,
  EventEmitter,
  RelativePattern,
  Uri,
  UIKind,
  ProgressLocation,
  ConfigurationTarget,
  l10n: {
    t: (message: string, ...args: unknown[]) => message.replace(/\{(\d+)\}/g, (_m, i: string) => String(args[Number(i)])),
  },
  env: {
    uiKind: UIKind.Desktop,
    remoteName: undefined,
    uriScheme: 'vscode',
    clipboard: { writeText: async () => undefined },
    openExternal: (uri: unknown) => stage.openExternal(String(uri)),
    asExternalUri: async (uri: unknown) => uri,
  },
  workspace: {
    getConfiguration: (section?: string) => ({
      get: <T>(key: string, fallback?: T): T | undefined => {
        const full = section ? `${section}.${key}` : key;
        return stage.settings.has(full) ? (stage.settings.get(full) as T) : fallback;
      },
      update: async () => undefined,
      has: (key: string) => stage.settings.has(section ? `${section}.${key}` : key),
    }),
    createFileSystemWatcher: () => ({ onDidChange: noEvent, onDidCreate: noEvent, onDidDelete: noEvent, dispose: () => undefined }),
    onDidChangeConfiguration: noEvent,
  },
  window: {
    showInformationMessage: (m: string) => note('info', m),
    showWarningMessage: (m: string) => note('warning', m),
    showErrorMessage: (m: string) => note('error', m),
    withProgress: async <R>(
      _options: unknown,
      task: (progress: { report(v: unknown): void }, token: { isCancellationRequested: boolean; onCancellationRequested: typeof noEvent }) => Promise<R>,
    ): Promise<R> => task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: noEvent }),
    createOutputChannel: () => ({
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      append: () => undefined,
      appendLine: () => undefined,
      show: () => undefined,
      dispose: () => undefined,
    }),
    registerUriHandler: () => new Disposable(),
  },
  commands: {
    registerCommand: () => new Disposable(),
    executeCommand: async () => undefined,
  },
  authentication: {
    registerAuthenticationProvider: () => new Disposable(),
    getSession: async () => undefined,
    onDidChangeSessions: noEvent,
  },
  extensions: { getExtension: () => undefined },
};

let installed = false;

/** Makes `require('vscode')` return the shim, in this process. */
export function installVscodeShim(): void {
  if (installed) return;
  installed = true;
  const M = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const load = M._load;
  M._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === 'vscode') return vscodeShim;
    return load.call(this, request, parent, isMain);
  };
}
