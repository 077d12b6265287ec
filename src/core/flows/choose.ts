/**
 * Which sign-in flows can work where VS Code runs, in the order to try them, and the fallback
 * from one to the next when a flow cannot start. Pure logic: the VS Code layer describes the
 * environment, this decides.
 */
import type { FlowSetting } from '../config';
import { OidcError } from '../errors';
import type { CodeExchangeResult } from '../protocol/authorizationCode';
import type { ProviderProtocol } from '../protocol/providerProtocol';
import type { FlowId, SignInAttempt, SignInFlow } from './flow';

export interface FlowEnvironment {
  /** VS Code runs in a browser (vscode.dev, code-server, Codespaces in the browser). */
  isWeb: boolean;
  /** The extension host runs on another machine or container than the UI (Remote-SSH, WSL, dev containers, web). */
  isRemote: boolean;
  /** The IdP advertises a device authorization endpoint. */
  hasDeviceEndpoint: boolean;
}

/**
 * The flows to try, in order. A 127.0.0.1 redirect reaches the extension only when the browser
 * and the extension host share a machine, so remote and web windows skip the loopback.
 */
export function chooseFlows(setting: FlowSetting, env: FlowEnvironment): FlowId[] {
  if (setting !== 'auto') return [setting];
  const order: FlowId[] = [];
  if (!env.isWeb && !env.isRemote) order.push('loopback');
  order.push('uriHandler');
  if (env.hasDeviceEndpoint) order.push('deviceCode');
  return order;
}

/** Failures that mean "this flow cannot start here", after which `auto` tries the next one. */
export function canFallBack(err: unknown): boolean {
  return err instanceof OidcError && (err.kind === 'port' || err.fallback === true);
}

export interface FallbackNotice {
  from: FlowId;
  to: FlowId;
  /** The error's message, for the log. */
  reason: string;
  /** Why the flow could not start; its typed fields (a RedirectRefusedError's URI) are for the UI. */
  error: OidcError;
}

/** Builds one flow; each is made only when it is tried. */
export type FlowFactory = (id: FlowId) => SignInFlow;

/**
 * The flow the settings name, or for `auto` the ones that fit the environment, tried in order:
 * a flow that cannot start (port taken, browser not opened, redirect refused) hands over to the
 * next, and the user is told why in one line.
 */
export class ChosenFlow implements SignInFlow {
  readonly #env: Omit<FlowEnvironment, 'hasDeviceEndpoint'>;
  readonly #make: FlowFactory;
  readonly #onFallback: (notice: FallbackNotice) => void;

  constructor(
    readonly id: FlowSetting,
    env: Omit<FlowEnvironment, 'hasDeviceEndpoint'>,
    make: FlowFactory,
    onFallback: (notice: FallbackNotice) => void,
  ) {
    this.#env = env;
    this.#make = make;
    this.#onFallback = onFallback;
  }

  async signIn(protocol: ProviderProtocol, ctx: SignInAttempt): Promise<CodeExchangeResult> {
    const order = chooseFlows(this.id, { ...this.#env, hasDeviceEndpoint: !!protocol.as.device_authorization_endpoint });
    ctx.log.info(`Sign-in flow${order.length > 1 ? 's' : ''} for this window: ${order.join(', ')}.`);
    for (let i = 0; ; i++) {
      const id = order[i]!;
      const next = order[i + 1];
      try {
        return await this.#make(id).signIn(protocol, { ...ctx, hasFallback: next !== undefined });
      } catch (err) {
        if (!next || !canFallBack(err) || ctx.signal.aborted) throw err;
        const error = err as OidcError;
        ctx.log.warn(`The ${id} flow cannot be used (${error.message}); falling back to the ${next} flow.`);
        this.#onFallback({ from: id, to: next, reason: error.message, error });
      }
    }
  }
}
