/** What bench/vscode/index.ts (in the extension host) reports to bench/activation.ts (the driver). */
export const OURS = 'oidc-auth.oidc-auth';
export const GITHUB = 'vscode.github-authentication';
export const REPORT_PREFIX = 'OIDC_BENCH_ACTIVATION ';

export interface ActivationRow {
  extension: string;
  eager: boolean;
  loadCodeMs: number;
  callActivateMs: number;
  finishActivateMs: number;
  event: string;
  by: string;
}

/**
 * The extension host's own performance marks (Date.now(), whole ms) for one extension:
 * `code/extHost/{will,did}LoadExtensionCode/<id>` bracket the bare require() of its main module,
 * `code/extHost/{will,did}ActivateExtension/<id>` the activate() call until its promise settles.
 */
export interface ActivationMarks {
  willLoad?: number;
  didLoad?: number;
  willActivate?: number;
  didActivate?: number;
}

export interface ActivationReport {
  vscodeVersion: string;
  marks: Record<string, ActivationMarks>;
  node: string;
  rows: ActivationRow[];
  /** Extensions the entry had to activate itself because nothing else did in time. */
  activatedByBench: string[];
  /** Milliseconds the entry waited for both activations. */
  waitedMs: number;
  error?: string;
}
