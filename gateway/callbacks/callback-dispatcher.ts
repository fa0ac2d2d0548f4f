/**
 * Sends callbacks: HTTPS POST of a CallbackEvent to the URL a system registered in the directory,
 * signed with its secret (signature.ts), with the gateway's client certificate (mTLS like push).
 *
 * Never in the way of delivery: `notify` returns at once; the request and its retries run on their
 * own. A failed attempt (network error, timeout, non-2xx) is retried with exponential backoff and
 * jitter (half the step fixed, half random) up to `maxAttempts`, each attempt signed afresh; then the event is given up, logged
 * with its message id and counted (`gateway_callbacks_total{outcome}`). Callbacks are at least
 * once and kept in memory: a process that stops drops its pending retries (the status API and the
 * audit log remain the record; the event id lets receivers drop duplicates).
 */
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import type { Directory } from '../directory/directory.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import { backoffMs } from '../pipeline/retry-policy.ts';
import type { CallbackEvent } from './callback-event.ts';
import { CallbackSecretError, readCallbackSecret } from './callback-secret.ts';
import { signCallback } from './signature.ts';

export interface CallbackRetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_CALLBACK_RETRY: CallbackRetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 1000,
  maxDelayMs: 300_000,
};

export type CallbackOutcome = 'delivered' | 'retried' | 'gave-up' | 'misconfigured';

export interface CallbackDispatcherDeps {
  directory: () => Directory;
  /** Relative secret files are resolved against it. */
  contractsDir: string;
  tls: { certPem: string; keyPem: string; caPems: string[] };
  timeoutMs: number;
  retry?: CallbackRetryPolicy;
  logger: Logger;
  /** Counts every attempt's outcome. */
  count?: (outcome: CallbackOutcome) => void;
  env?: NodeJS.ProcessEnv;
}

export class CallbackDispatcher {
  /**
   * Made at the first callback: its TLS context holds all public roots, a cost at every start of
   * a gateway whose systems registered no callbacks.
   */
  private agent: Agent | undefined;
  private readonly retry: CallbackRetryPolicy;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly deps: CallbackDispatcherDeps) {
    this.retry = deps.retry ?? DEFAULT_CALLBACK_RETRY;
  }

  private dispatcher(): Agent {
    this.agent ??= new Agent({
      // Registered receivers may hold public certificates or ones from the gateway CA. One TLS
      // context for every connection: given PEMs instead, each would parse them all again.
      connect: {
        secureContext: createSecureContext({
          cert: this.deps.tls.certPem,
          key: this.deps.tls.keyPem,
          ca: [...rootCertificates, ...this.deps.tls.caPems],
        }),
        rejectUnauthorized: true,
      },
      headersTimeout: this.deps.timeoutMs,
      bodyTimeout: this.deps.timeoutMs,
      connectTimeout: Math.min(this.deps.timeoutMs, 10_000),
    });
    return this.agent;
  }

  /** True if `systemId` registered a callback (most systems did not: their events need not be built). */
  wants(systemId: string): boolean {
    return !this.stopped && Boolean(this.deps.directory().system(systemId)?.callback);
  }

  /** Sends `event` to `systemId`'s callback, if it registered one. Returns at once. */
  notify(systemId: string, event: CallbackEvent): void {
    if (!this.wants(systemId)) return;
    this.attempt(systemId, event, 1);
  }

  /** Resolves when no attempt is in flight (tests; stop()). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.idle();
    await this.agent?.close();
  }

  private attempt(systemId: string, event: CallbackEvent, attempt: number): void {
    const run = this.send(systemId, event, attempt).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async send(systemId: string, event: CallbackEvent, attempt: number): Promise<void> {
    const { deps } = this;
    const log = forMessage(deps.logger, event.messageId, {
      callbackTo: systemId,
      event: event.type,
      attempt,
    });
    const callback = deps.directory().system(systemId)?.callback;
    if (!callback) return;
    let secret: Buffer;
    try {
      secret = readCallbackSecret(callback, { contractsDir: deps.contractsDir, env: deps.env });
    } catch (error) {
      if (!(error instanceof CallbackSecretError)) throw error;
      deps.count?.('misconfigured');
      log.error({ reason: error.message }, 'callback not sent: no usable secret');
      return;
    }
    const body = JSON.stringify(event);
    const headers = signCallback(secret, body, Math.floor(Date.now() / 1000));
    let failure: string;
    try {
      const response = await request(callback.url, {
        method: 'POST',
        dispatcher: this.dispatcher(),
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
      await response.body.dump({ limit: 64 * 1024 });
      if (response.statusCode >= 200 && response.statusCode < 300) {
        deps.count?.('delivered');
        log.debug('callback delivered');
        return;
      }
      failure = `receiver answered ${response.statusCode}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    if (attempt >= this.retry.maxAttempts || this.stopped) {
      deps.count?.('gave-up');
      log.error({ reason: failure }, 'callback given up');
      return;
    }
    deps.count?.('retried');
    // The delivery stage's backoff; at least a second: the next attempt carries a new timestamp, hence
    // a new signature, so a receiver whose replay guard saw the failed attempt's signature accepts it.
    const delay = Math.max(1000, backoffMs(this.retry, attempt));
    log.warn({ reason: failure, retryInMs: delay }, 'callback failed; retrying');
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) this.attempt(systemId, event, attempt + 1);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }
}
