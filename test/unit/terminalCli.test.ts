/**
 * The protocol-free parts of terminal access (issue 17): oidc-token's arguments and exit codes,
 * the ExecCredential it writes for kubectl, and the channel's one-line JSON framing.
 */
import * as assert from 'node:assert/strict';
import { EXIT, exitCodeFor, parseArgs, type ParsedArgs } from '../../src/cli/args';
import { execCredential, requestedExecVersion } from '../../src/core/terminal/execCredential';
import { encodeLine, FramingError, LineReader, MAX_LINE_BYTES, parseRequest, parseResponse, PROTOCOL_VERSION, type TokenRequest } from '../../src/core/terminal/protocol';

function run(argv: string[]) {
  const parsed: ParsedArgs = parseArgs(argv);
  assert.equal(parsed.kind, 'run', JSON.stringify(parsed));
  return (parsed as Extract<ParsedArgs, { kind: 'run' }>).options;
}

function error(argv: string[]): string {
  const parsed = parseArgs(argv);
  assert.equal(parsed.kind, 'error', JSON.stringify(parsed));
  return (parsed as Extract<ParsedArgs, { kind: 'error' }>).message;
}

describe('oidc-token arguments', () => {
  it('defaults to the access token of the oidc provider, any scopes, printed bare', () => {
    assert.deepEqual(run([]), { provider: 'oidc', scopes: [], idToken: false, format: 'token', signIn: false });
  });

  it('reads --provider (with or without the oidc. prefix), --scopes in every spelling, --id-token, --sign-in', () => {
    const o = run(['--provider', 'work', '--scopes', 'openid api.read', '--scopes=api.read,api.write', '--id-token', '--sign-in']);
    assert.deepEqual(o, { provider: 'oidc.work', scopes: ['openid', 'api.read', 'api.write'], idToken: true, format: 'token', signIn: true });
    assert.equal(run(['--provider=oidc.work']).provider, 'oidc.work');
    assert.equal(run(['--provider', 'oidc']).provider, 'oidc');
  });

  it('exec-credential means the ID token; --api-version takes the short and the full form', () => {
    const o = run(['--format', 'exec-credential', '--api-version', 'v1beta1']);
    assert.equal(o.idToken, true);
    assert.equal(o.execVersion, 'client.authentication.k8s.io/v1beta1');
    assert.equal(run(['--format=exec-credential', '--api-version=client.authentication.k8s.io/v1']).execVersion, 'client.authentication.k8s.io/v1');
    assert.equal(run(['--format', 'exec-credential']).execVersion, undefined);
  });

  it('refuses what it does not know, with a message naming it', () => {
    assert.match(error(['--bogus']), /Unknown argument "--bogus"/);
    assert.match(error(['--provider']), /--provider needs/);
    assert.match(error(['--provider', 'bad id!']), /not a provider id/);
    assert.match(error(['--scopes', 'a"b']), /character scopes may not have/);
    assert.match(error(['--scopes', '--id-token']), /--scopes needs/);
    assert.match(error(['--format', 'yaml']), /--format is/);
    assert.match(error(['--format', 'exec-credential', '--api-version', 'v2']), /--api-version is/);
    assert.match(error(['--api-version', 'v1']), /goes with --format exec-credential/);
    assert.equal(parseArgs(['--id-token', '-h']).kind, 'help');
  });

  it('gives each failure its own exit code', () => {
    assert.equal(exitCodeFor('notSignedIn'), EXIT.notSignedIn);
    assert.equal(exitCodeFor('noSuchProvider'), EXIT.noSuchProvider);
    assert.equal(exitCodeFor('unreachable'), EXIT.unreachable);
    assert.equal(exitCodeFor('consentDenied'), EXIT.consentDenied);
    assert.equal(exitCodeFor('unauthorized'), EXIT.noChannel);
    const codes = new Set(Object.values(EXIT));
    assert.equal(codes.size, Object.keys(EXIT).length, 'no two meanings share a code');
  });
});

describe('ExecCredential (client.authentication.k8s.io)', () => {
  it('is what client-go reads: the token and an RFC 3339 UTC expiry to the second', () => {
    const at = Date.UTC(2026, 11, 7, 12, 30, 15, 789);
    assert.deepEqual(execCredential('client.authentication.k8s.io/v1', 'eyJ.x.y', at), {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: {},
      status: { token: 'eyJ.x.y', expirationTimestamp: '2026-12-07T12:30:15Z' },
    });
    assert.equal(execCredential('client.authentication.k8s.io/v1beta1', 't', at).apiVersion, 'client.authentication.k8s.io/v1beta1');
  });

  it('answers in the version kubectl asks for in KUBERNETES_EXEC_INFO, and ignores anything else there', () => {
    const info = (apiVersion: string) => JSON.stringify({ kind: 'ExecCredential', apiVersion, spec: { interactive: false } });
    assert.equal(requestedExecVersion(info('client.authentication.k8s.io/v1beta1')), 'client.authentication.k8s.io/v1beta1');
    assert.equal(requestedExecVersion(info('client.authentication.k8s.io/v1')), 'client.authentication.k8s.io/v1');
    assert.equal(requestedExecVersion(info('client.authentication.k8s.io/v1alpha1')), undefined);
    assert.equal(requestedExecVersion('not json'), undefined);
    assert.equal(requestedExecVersion(undefined), undefined);
  });
});

describe('terminal channel framing', () => {
  const request: TokenRequest = { v: PROTOCOL_VERSION, secret: 's3cret', provider: 'oidc.work', scopes: ['openid'], kind: 'id', signIn: false };

  it('one request and one answer round-trip as single JSON lines', () => {
    const line = encodeLine(request);
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    assert.deepEqual(parseRequest(line.trim()), request);
    const ok = { ok: true, token: 't', expiresAt: 1, tokenType: 'Bearer', account: 'alice' } as const;
    assert.deepEqual(parseResponse(encodeLine(ok).trim()), ok);
    const failed = { ok: false, code: 'consentDenied', message: 'no' } as const;
    assert.deepEqual(parseResponse(encodeLine(failed).trim()), failed);
  });

  it('a line arrives in pieces; bytes after the newline are not part of it', () => {
    const reader = new LineReader();
    assert.equal(reader.push(Buffer.from('{"a":')), undefined);
    assert.equal(reader.push(Buffer.from('1}\n{"b":2}')), '{"a":1}');
  });

  it('refuses a line longer than the limit before buffering it all', () => {
    const reader = new LineReader();
    assert.throws(() => {
      for (let i = 0; i < 100; i++) reader.push(Buffer.alloc(MAX_LINE_BYTES / 50, 0x61));
    }, FramingError);
  });

  it('refuses malformed requests and answers with a FramingError, never another exception', () => {
    const bad = [
      'not json',
      '[]',
      JSON.stringify({ ...request, v: 2 }),
      JSON.stringify({ ...request, secret: 1 }),
      JSON.stringify({ ...request, provider: 'github' }),
      JSON.stringify({ ...request, scopes: 'openid' }),
      JSON.stringify({ ...request, scopes: ['a b'] }),
      JSON.stringify({ ...request, kind: 'refresh' }),
      JSON.stringify({ ...request, signIn: 'yes' }),
    ];
    for (const line of bad) assert.throws(() => parseRequest(line), FramingError, line);
    for (const line of ['{}', '{"ok":true,"token":""}', '{"ok":false,"code":"other","message":"x"}', 'null']) {
      assert.throws(() => parseResponse(line), FramingError, line);
    }
  });
});
