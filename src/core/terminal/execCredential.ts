/**
 * Kubernetes client-go credential plugin output (`client.authentication.k8s.io`): the
 * ExecCredential a kubeconfig `exec` entry reads from the plugin's standard output.
 */

export const EXEC_CREDENTIAL_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type ExecCredentialVersion = (typeof EXEC_CREDENTIAL_VERSIONS)[number];

export interface ExecCredential {
  apiVersion: ExecCredentialVersion;
  kind: 'ExecCredential';
  spec: Record<string, never>;
  status: { token: string; expirationTimestamp: string };
}

export function isExecCredentialVersion(value: string): value is ExecCredentialVersion {
  return (EXEC_CREDENTIAL_VERSIONS as readonly string[]).includes(value);
}

/**
 * The apiVersion kubectl asks for in `KUBERNETES_EXEC_INFO` (set when the kubeconfig entry says
 * `provideClusterInfo` or always, by client-go ≥ 1.22), when it is one this tool writes.
 */
export function requestedExecVersion(execInfo: string | undefined): ExecCredentialVersion | undefined {
  if (!execInfo) return undefined;
  try {
    const apiVersion = (JSON.parse(execInfo) as { apiVersion?: unknown } | null)?.apiVersion;
    return typeof apiVersion === 'string' && isExecCredentialVersion(apiVersion) ? apiVersion : undefined;
  } catch {
    return undefined;
  }
}

/** `expirationTimestamp` is RFC 3339 in UTC, to the second (client-go parses it with time.RFC3339). */
export function execCredential(version: ExecCredentialVersion, token: string, expiresAtMs: number): ExecCredential {
  const expirationTimestamp = new Date(Math.floor(expiresAtMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return { apiVersion: version, kind: 'ExecCredential', spec: {}, status: { token, expirationTimestamp } };
}
