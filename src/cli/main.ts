/**
 * `oidc-token`: a command-line tool for VS Code's integrated terminal that asks the window's
 * OpenID Connect session for a token over the window's terminal channel (see
 * src/core/terminal/server.ts) and prints it. Bundled by esbuild.js into dist/oidc-token.js and
 * run by the `oidc-token` wrapper the extension puts on the terminals' PATH.
 */
import * as net from 'node:net';
import { execCredential, requestedExecVersion } from '../core/terminal/execCredential';
import { encodeLine, ENV_SECRET, ENV_SOCKET, FramingError, LineReader, parseResponse, PROTOCOL_VERSION, type TokenResponse } from '../core/terminal/protocol';
import { EXIT, exitCodeFor, HELP, parseArgs, type CliOptions } from './args';

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (parsed.kind === 'error') return fail(EXIT.usage, parsed.message);
  const { options } = parsed;
  const address = env[ENV_SOCKET];
  const secret = env[ENV_SECRET];
  if (!address || !secret) {
    return fail(EXIT.noChannel, 'not in a VS Code integrated terminal with the OpenID Connect extension (no terminal channel in the environment). Open a new terminal in the window, or relaunch this one.');
  }
  let response: TokenResponse;
  try {
    response = await ask(address, secret, options);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      return fail(EXIT.noChannel, 'the VS Code window that opened this terminal is closed or was reloaded; open a new terminal in a window.');
    }
    return fail(EXIT.noChannel, `could not talk to the VS Code window: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!response.ok) return fail(exitCodeFor(response.code), response.message);
  process.stdout.write(render(options, response, env));
  return EXIT.ok;
}

function render(options: CliOptions, token: TokenResponse & { ok: true }, env: NodeJS.ProcessEnv): string {
  switch (options.format) {
    case 'token':
      return `${token.token}\n`;
    case 'json':
      return `${JSON.stringify({ token: token.token, tokenType: token.tokenType, expiresAt: new Date(token.expiresAt).toISOString(), account: token.account })}\n`;
    case 'exec-credential': {
      const version = options.execVersion ?? requestedExecVersion(env.KUBERNETES_EXEC_INFO) ?? 'client.authentication.k8s.io/v1';
      return `${JSON.stringify(execCredential(version, token.token, token.expiresAt))}\n`;
    }
  }
}

/** One request, one answer. No timeout here: consent or `--sign-in` wait for the person in the window. */
function ask(address: string, secret: string, options: CliOptions): Promise<TokenResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(address);
    const reader = new LineReader();
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      fn();
    };
    socket.on('connect', () => {
      socket.write(encodeLine({ v: PROTOCOL_VERSION, secret, provider: options.provider, scopes: options.scopes, kind: options.idToken ? 'id' : 'access', signIn: options.signIn }));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        const line = reader.push(chunk);
        if (line !== undefined) settle(() => resolve(parseResponse(line)));
      } catch (err) {
        settle(() => reject(err instanceof Error ? err : new FramingError(String(err))));
      }
    });
    socket.on('error', (err) => settle(() => reject(err)));
    socket.on('close', () => settle(() => reject(new FramingError('the window closed the connection without an answer'))));
  });
}

function fail(code: number, message: string): number {
  process.stderr.write(`oidc-token: ${message}\n`);
  return code;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = fail(EXIT.failed, err instanceof Error ? err.message : String(err));
  },
);
