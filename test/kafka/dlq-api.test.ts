/** The operators' dead-letter API and `gw dlq show` on Kafka (test/e2e/dlq-api-scenario.ts). */
import { deadLetterApiScenario } from '../e2e/dlq-api-scenario.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';

const prefix = uniquePrefix('dlq-api');

deadLetterApiScenario(
  'kafka',
  () => ({ GATEWAY_BUS: 'kafka', KAFKA_BROKERS: brokers(), KAFKA_TOPIC_PREFIX: prefix }),
  () => deleteByPrefix(prefix),
);
