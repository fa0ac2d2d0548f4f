/**
 * Sends callbacks: HTTPS POST of a CallbackEvent to the URL a system registered in the directory,
 * signed with its secret (signature.ts), with the gateway's client certificate (mTLS like push).
 *
 * Durable, through the Bus like deliveries: `notify` publishes the event as a record to
 * `<prefix>.callback.<system>` (keyed by message id: a message's events are first tried in the
 * order they happened; a retried one may arrive after a later one, which its `time` tells) and
 * returns at once — never in the way of delivery: a publish that fails is logged with the message
 * id and counted (`not-queued`), nothing is thrown. Each system that registered a callback has two
 * consumer groups here, one on its callback topic and one on its callback retry topic
 * (topics.ts), and only its own: a receiver that is down or slow holds up its own partitions, never
 * another system's callbacks. The groups follow the directory (`sync()` after a reload); a
 * system that drops its callback has what is still on its topics committed unsent (logged) once its
 * consumers reach it, until it registers one again.
 *
 * A failed attempt (network error, timeout, non-2xx) parks the event in the retry topic with its
 * attempt count and a not-before time (HEADER.attempts, HEADER.notBefore; exponential backoff with
 * jitter, retry-policy.ts), then the original is committed; the retry consumer defers a record
 * until it is due (RedeliverLater). A record behind a deferred one in its retry partition waits
 * for it, at most `maxDelayMs` after its parking. Every attempt is signed afresh. After
 * `maxAttempts` the event is given up, logged with its message id and counted
 * (`gateway_callbacks_total{outcome}`). Pending retries survive a stop or a crash: the next process
 * on the same bus (or another member of the group) takes them over with their attempt counts.
 *
 * At least once: an attempt whose 2xx was not committed before a crash is sent again; the event id
 * (callback-event.ts) lets receivers drop duplicates. Besides a give-up, an event is lost
 * only if its system's secret is unusable (counted `misconfigured`), or if its record on the bus is
 * not one the gateway could have built (counted `invalid`). An event of an audit
 * entry whose publish fails (counted `not-queued`), or that a crash between the audit append and
 * the publish left unpublished, is handed over again at the next start: the callback watermarks
 * (callback-watermarks.ts) stay below it and catch-up.ts replays what lies after them. Overdue
 * reminders are not audit entries: they get theirs from the reminder lease
 * (deadlines/overdue-watcher.ts), which `queue()` settles once the event is on the bus.
 */
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, request } from 'undici';
import { RedeliverLater } from '../bus/redeliver-later.ts';
import {
  callbackGroup,
  callbackRetryGroup,
  callbackRetryTopic,
  callbackTopic,
  failedAttemptsOf,
  HEADER,
} from '../bus/topics.ts';
import type { Directory } from '../directory/directory.ts';
import { forMessage, type Logger } from '../log/logger.ts';
import { backoffMs } from '../pipeline/retry-policy.ts';
import { SystemSubscriptions } from '../pipeline/system-subscriptions.ts';
import type { Bus, ConsumedRecord, Subscription } from '../ports/bus.ts';
import { type CallbackEvent, parseCallbackEvent } from './callback-event.ts';
import { CallbackSecretError, CallbackSecrets } from './callback-secret.ts';
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

export type CallbackOutcome =
  | 'delivered'
  | 'retried'
  | 'gave-up'
  | 'misconfigured'
  | 'not-queued'
  | 'invalid';

export interface CallbackDispatcherDeps {
  bus: Bus;
  topicPrefix: string;
  directory: () => Directory;
  /** Relative secret files are resolved against it. */
  contractsDir: string;
  tls: { certPem: string; keyPem: string; caPems: string[] };
  timeoutMs: number;
  retry?: CallbackRetryPolicy;
  logger: Logger;
  /** Counts every attempt's outcome, and every event that could not be published. */
  count?: (outcome: CallbackOutcome) => void;
  env?: NodeJS.ProcessEnv;
}

const REASON_LIMIT = 300;

export class CallbackDispatcher {
  /**
   * Made at the first callback: its TLS context holds all public roots, a cost at every start of
   * a gateway whose systems registered no callbacks.
   */
  private agent: Agent | undefined;
  private readonly retry: CallbackRetryPolicy;
  /** The callback and callback-retry subscriptions of each system with a registered callback. */
  private readonly subscriptions: SystemSubscriptions;
  private readonly publishing = new Set<Promise<unknown>>();
  /** The secret files, read again when they change (callback-secret.ts). */
  private readonly secrets: CallbackSecrets;
  private stopped = false;

  constructor(private readonly deps: CallbackDispatcherDeps) {
    this.retry = deps.retry ?? DEFAULT_CALLBACK_RETRY;
    this.secrets = new CallbackSecrets({
      contractsDir: deps.contractsDir,
      ...(deps.env ? { env: deps.env } : {}),
    });
    this.subscriptions = new SystemSubscriptions({
      stage: 'callback',
      logger: deps.logger,
      wanted: () =>
        deps
          .directory()
          .systems.filter((s) => s.callback)
          .map((s) => s.id),
      subscribe: (id) => this.subscribeSystem(id),
    });
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

  /** Queues `event` on the bus for `systemId`'s callback, if it registered one. Returns at once, never throws. */
  notify(systemId: string, event: CallbackEvent): void {
    void this.queue(systemId, event);
  }

  /**
   * As notify(); resolves true once the event is on the bus or nothing is owed (the system has no
   * callback), false if it could not be put there (the callback watermarks hold back for it).
   */
  queue(systemId: string, event: CallbackEvent): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (!this.wants(systemId)) return Promise.resolve(true);
    const run = this.publish(systemId, event);
    const tracked = run.finally(() => this.publishing.delete(tracked));
    this.publishing.add(tracked);
    return run;
  }

  private async publish(systemId: string, event: CallbackEvent): Promise<boolean> {
    const { deps } = this;
    try {
      await deps.bus.publish([
        {
          topic: callbackTopic(deps.topicPrefix, systemId),
          key: event.messageId,
          value: Buffer.from(JSON.stringify(event), 'utf8'),
          headers: { [HEADER.messageId]: event.messageId },
        },
      ]);
    } catch (error) {
      deps.count?.('not-queued');
      forMessage(deps.logger, event.messageId, { callbackTo: systemId, event: event.type }).error(
        { reason: (error as Error).message },
        'callback lost: it could not be put on the bus',
      );
      return false;
    }
    return true;
  }

  /** Subscribes the systems that registered a callback; rejects (subscribing nothing) if any subscription fails. */
  start(): Promise<void> {
    return this.subscriptions.start();
  }

  /**
   * Brings the subscriptions in step with the directory (after a configuration reload): subscribes
   * the systems that registered a callback since, closes those of systems that no longer have one.
   * Rejects if a new system could not be subscribed; the others stay.
   */
  sync(): Promise<void> {
    // A reload may point a system at another file, or mean a rotated one: read them afresh.
    this.secrets.forget();
    return this.subscriptions.sync();
  }

  /** The callback and callback-retry subscriptions of one system. */
  private subscribeSystem(systemId: string): Promise<Subscription>[] {
    const { bus, topicPrefix } = this.deps;
    // The topics are created on first use with the bus's partition count (both buses do).
    return [
      bus.subscribe({
        group: callbackGroup(topicPrefix, systemId),
        topics: [callbackTopic(topicPrefix, systemId)],
        handler: (record) => this.handle(systemId, record),
      }),
      bus.subscribe({
        group: callbackRetryGroup(topicPrefix, systemId),
        topics: [callbackRetryTopic(topicPrefix, systemId)],
        handler: (record) => this.handleRetry(systemId, record),
      }),
    ];
  }

  /** Ids of the systems with live callback subscriptions. */
  get systems(): string[] {
    return this.subscriptions.systems;
  }

  /** Resolves when every notified event is on the bus (or counted as not queued). */
  async idle(): Promise<void> {
    while (this.publishing.size > 0) await Promise.allSettled([...this.publishing]);
  }

  /** Stops sending: an attempt in flight finishes (parked for retry if it fails), the rest waits on the bus. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
    await this.subscriptions.stop();
    await this.agent?.close();
  }

  private async handleRetry(systemId: string, record: ConsumedRecord): Promise<void> {
    const due = Date.parse(record.headers[HEADER.notBefore] ?? '');
    const wait = Number.isFinite(due) ? due - Date.now() : 0;
    // Capped: a clock set back after the parking must not hold the partition longer than any backoff.
    if (wait > 0)
      throw new RedeliverLater(Math.min(wait, this.retry.maxDelayMs), 'callback retry not due yet');
    return this.handle(systemId, record);
  }

  /** One attempt; a failure parks the record on the retry topic, or gives it up. */
  private async handle(systemId: string, record: ConsumedRecord): Promise<void> {
    const { deps } = this;
    const attempt = failedAttemptsOf(record.headers) + 1;
    const messageId = record.headers[HEADER.messageId] ?? record.key;
    const event = parseCallbackEvent(record.value);
    if (!event) {
      // Not signed and not sent: the gateway signs only events it could have built (parseCallbackEvent).
      deps.count?.('invalid');
      forMessage(deps.logger, messageId, { callbackTo: systemId }).error('not a callback event; dropped');
      return;
    }
    const log = forMessage(deps.logger, messageId, { callbackTo: systemId, event: event.type, attempt });
    const failure = await this.send(systemId, record.value, log);
    if (failure === undefined) return;
    if (attempt >= this.retry.maxAttempts) {
      deps.count?.('gave-up');
      log.error({ reason: failure }, 'callback given up');
      return;
    }
    // The delivery stage's backoff; at least a second: the next attempt carries a new timestamp, hence
    // a new signature, so a receiver whose replay guard saw the failed attempt's signature accepts it.
    const delay = Math.max(1000, backoffMs(this.retry, attempt));
    // If this publish fails the handler throws: the bus hands the record again and it is attempted anew.
    await deps.bus.publish([
      {
        topic: callbackRetryTopic(deps.topicPrefix, systemId),
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [HEADER.attempts]: String(attempt),
          [HEADER.notBefore]: new Date(Date.now() + delay).toISOString(),
          [HEADER.lastError]: failure.slice(0, REASON_LIMIT),
        },
      },
    ]);
    deps.count?.('retried');
    log.warn({ reason: failure, retryInMs: delay }, 'callback failed; retrying');
  }

  /** POSTs `body`, signed now; undefined when it is done with (sent, or cannot be sent), else why it failed. */
  private async send(systemId: string, body: Buffer, log: Logger): Promise<string | undefined> {
    const { deps } = this;
    const callback = deps.directory().system(systemId)?.callback;
    if (!callback) {
      log.info('callback not sent: the system has no callback any more');
      return undefined;
    }
    let secret: Buffer;
    try {
      secret = this.secrets.of(callback);
    } catch (error) {
      if (!(error instanceof CallbackSecretError)) throw error;
      deps.count?.('misconfigured');
      log.error({ reason: error.message }, 'callback not sent: no usable secret');
      return undefined;
    }
    const headers = signCallback(secret, body, Math.floor(Date.now() / 1000));
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
        return undefined;
      }
      return `receiver answered ${response.statusCode}`;
    } catch (error) {
      return (error as Error).message;
    }
  }
}
