/**
 * Whether a system's delivery has handled every record on its deliver and retry topics to the end
 * (committed: pushed, put into the inbox, dropped as a repeat or dead-lettered). A record the
 * delivery stage parks is on the retry topic before its deliver record is committed, and one that
 * waits there for its time is not committed yet: no moment in between reads as drained. For tests
 * that check nothing more arrives of what was published (a second copy, a second version).
 */
import type { Gateway } from '../../gateway/app.ts';
import { deliverTopic, deliveryGroup, retryGroup, retryTopic } from '../../gateway/bus/topics.ts';
import { eventually } from './gateway.ts';

export async function deliveryDrained(gateway: Gateway, systemId: string): Promise<void> {
  const { bus, config } = gateway;
  const prefix = config.kafka.topicPrefix;
  await eventually(
    async () => {
      const lags = await Promise.all([
        bus.lag(deliveryGroup(prefix, systemId), deliverTopic(prefix, systemId)),
        bus.lag(retryGroup(prefix, systemId), retryTopic(prefix, systemId)),
      ]);
      return lags.flat().every((p) => p.lag === 0) ? true : undefined;
    },
    15_000,
    `every record to ${systemId} handled`,
  );
}
