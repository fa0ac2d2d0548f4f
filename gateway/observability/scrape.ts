/**
 * The metrics computed when Prometheus scrapes rather than on the hot path: bus lag per destination,
 * dead-letter queue sizes, certificate expiry times, and whatever scrape hooks others registered
 * (metrics.onScrape, e.g. overdue answers).
 *
 * Dead-letter queue sizes without consuming and without reading every topic on every scrape: the
 * number of records a dead-letter topic holds (the lag of a group that never consumes) changes only
 * when something is dead-lettered or replayed, so the queue is read (browse, dead-letters.ts) only
 * when that number moved since the last scrape.
 *
 * The systems' certificate expiry comes from the pins the replica holds (SystemPins), not from the
 * PKI directory: with PostgreSQL a replica's `systems/` is the copy of the PKI Secret it started
 * from, and a system re-issued beside another replica would keep showing the replaced certificate's
 * expiry here. SystemPins polls the store anyway, so the scrape costs no statement of its own.
 */
import type { Logger } from 'pino';
import { deadLetterBrowseGroup, deadLetterTopic, deliverTopic, deliveryGroup } from '../bus/topics.ts';
import type { DeadLetterQueue } from '../pipeline/dead-letters.ts';
import { listCertificates, NO_SYSTEMS } from '../pki/inventory.ts';
import type { SystemPins } from '../pki/system-pins.ts';
import type { Bus } from '../ports/bus.ts';
import type { Metrics } from './metrics.ts';

export interface ScrapeDeps {
  metrics: Metrics;
  bus: Bus;
  topicPrefix: string;
  systems: () => readonly string[];
  /** Reads (never consumes) a system's dead-letter queue. */
  deadLetters: Pick<DeadLetterQueue, 'list'>;
  pkiDir: string;
  isRevoked: (serial: string) => boolean;
  /** The systems' current certificates, as the sender-signature check uses them. */
  systemPins: Pick<SystemPins, 'pinnedCertificates'>;
  logger: Logger;
  now?: () => Date;
}

/** The gateway's own certificates whose expiry is exported (the systems' come from their pins). */
const GATEWAY_KINDS = new Set(['ca', 'server', 'signing', 'gateway-client']);

/** A consumer group that never subscribes: its lag is the number of records a topic holds. */
const SIZE_PROBE = 'size-probe';

export function metricsRefresher(deps: ScrapeDeps): () => Promise<void> {
  const dlqSeen = new Map<string, { records: number; open: number }>();

  async function deadLetterSize(system: string): Promise<number> {
    const topic = deadLetterTopic(deps.topicPrefix, system);
    const records = (
      await deps.bus.lag(deadLetterBrowseGroup(deps.topicPrefix, system, SIZE_PROBE), topic)
    ).reduce((sum, p) => sum + p.lag, 0);
    const seen = dlqSeen.get(system);
    if (seen && seen.records === records) return seen.open;
    const open = records === 0 ? 0 : (await deps.deadLetters.list(system)).length;
    dlqSeen.set(system, { records, open });
    return open;
  }

  return async () => {
    const { metrics } = deps;
    for (const system of deps.systems()) {
      try {
        const lag = await deps.bus.lag(
          deliveryGroup(deps.topicPrefix, system),
          deliverTopic(deps.topicPrefix, system),
        );
        metrics.busLag.set(
          { system },
          lag.reduce((sum, p) => sum + p.lag, 0),
        );
        metrics.deadLetters.set({ system }, await deadLetterSize(system));
      } catch (error) {
        // The last values stay; the scrape still answers with everything else.
        deps.logger.warn({ err: error, system }, 'metrics: cannot read the bus for this system');
      }
    }
    const now = (deps.now ?? (() => new Date()))();
    const secondsLeft = (notAfter: string) => Math.round((Date.parse(notAfter) - now.getTime()) / 1000);
    metrics.certificateExpiry.reset();
    for (const c of listCertificates(deps.pkiDir, deps.isRevoked, now, NO_SYSTEMS)) {
      if (!GATEWAY_KINDS.has(c.kind)) continue;
      metrics.certificateExpiry.set({ kind: c.kind, system: '' }, secondsLeft(c.notAfter));
    }
    try {
      for (const [system, certificate] of await deps.systemPins.pinnedCertificates()) {
        metrics.certificateExpiry.set({ kind: 'system', system }, secondsLeft(certificate.validTo));
      }
    } catch (error) {
      // A pin file that cannot be read (file store) must not take the gateway's own expiries along.
      deps.logger.warn({ err: error }, "metrics: cannot read the systems' pinned certificates");
    }
    for (const error of await metrics.runScrapeHooks()) {
      deps.logger.warn({ err: error }, 'metrics: a scrape hook failed');
    }
  };
}
