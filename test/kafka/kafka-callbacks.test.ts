/** The durable-callback scenario on the Kafka bus: parked retries wait in Kafka across a restart. */
import { describeDurableCallbacks } from '../e2e/callbacks-durable-scenario.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';

const prefix = uniquePrefix('callbacks');

describeDurableCallbacks(
  'Kafka',
  () => ({ GATEWAY_BUS: 'kafka', KAFKA_BROKERS: brokers(), KAFKA_TOPIC_PREFIX: prefix }),
  () => deleteByPrefix(prefix),
);
