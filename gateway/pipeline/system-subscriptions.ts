/**
 * The bus subscriptions a stage keeps per connected system — delivery: deliver and retry topic;
 * callbacks: callback and callback-retry topic — in step with the directory. `sync()` (at start and
 * after each configuration reload) subscribes the systems that are new and closes those that are
 * gone (their records stay on the bus for when they come back); syncs run one after the other; a
 * system's subscriptions are joined all or none, side by side with the other systems' (on Kafka each
 * group join takes a round of the group protocol).
 */
import type { Logger } from '../log/logger.ts';
import type { Subscription } from '../ports/bus.ts';

export interface SystemSubscriptionsOptions {
  /** Names the stage in log lines ("delivery", "callback"). */
  stage: string;
  logger: Logger;
  /** The systems that should be subscribed now. */
  wanted(): string[];
  /** Runs before the new systems are joined (e.g. to create their topics). */
  prepare?(systemIds: string[]): Promise<void>;
  /** Starts the subscriptions of one system. */
  subscribe(systemId: string): Promise<Subscription>[];
}

export class SystemSubscriptions {
  private readonly subscribed = new Map<string, Subscription[]>();
  private syncing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: SystemSubscriptionsOptions) {}

  /** Subscribes the wanted systems; rejects (subscribing nothing) if any subscription fails. */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.sync();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Brings the subscriptions in step with `wanted()`. Rejects if a new system could not be subscribed; the others stay. */
  sync(): Promise<void> {
    const next = this.syncing.then(() => this.syncNow());
    this.syncing = next.catch(() => {});
    return next;
  }

  /** Ids of the systems with live subscriptions. */
  get systems(): string[] {
    return [...this.subscribed.keys()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.syncing;
    const subs = [...this.subscribed.values()].flat();
    this.subscribed.clear();
    await Promise.all(subs.map((s) => s.close()));
  }

  private async syncNow(): Promise<void> {
    if (this.stopped) return;
    const { options } = this;
    const wanted = new Set(options.wanted());
    for (const id of [...this.subscribed.keys()].filter((id) => !wanted.has(id))) {
      const subs = this.subscribed.get(id)!;
      this.subscribed.delete(id);
      await Promise.all(subs.map((s) => s.close()));
      options.logger.info(
        { system: id },
        `${options.stage} subscriptions closed: the system is no longer served`,
      );
    }
    const fresh = [...wanted].filter((id) => !this.subscribed.has(id));
    if (fresh.length === 0) return;
    await options.prepare?.(fresh);
    const joined = await Promise.all(fresh.map((id) => this.subscribeSystem(id)));
    const failed: unknown[] = [];
    for (const [i, outcome] of joined.entries()) {
      if ('error' in outcome) failed.push(outcome.error);
      else if (this.stopped) await Promise.all(outcome.subs.map((s) => s.close()));
      else this.subscribed.set(fresh[i]!, outcome.subs);
    }
    if (failed.length > 0) throw failed[0];
  }

  /** All subscriptions of one system, or none. */
  private async subscribeSystem(systemId: string): Promise<{ subs: Subscription[] } | { error: unknown }> {
    const joined = await Promise.allSettled(this.options.subscribe(systemId));
    const subs = joined.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = joined.find((r) => r.status === 'rejected');
    if (!failed) return { subs };
    await Promise.all(subs.map((s) => s.close()));
    return { error: failed.reason };
  }
}
