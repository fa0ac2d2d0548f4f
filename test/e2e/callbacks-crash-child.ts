/**
 * A gateway process for the crash in callbacks-replay-scenario.ts: configured from its environment
 * like `gw start`, on a bus that takes every callback's publish and never completes it, so that the
 * test kills it (SIGKILL) after the audit append and before the publish.
 */
import { startGateway } from '../../gateway/app.ts';
import { loadConfig } from '../../gateway/config/load.ts';

const gateway = await startGateway(loadConfig(process.env));
const { bus } = gateway;
const publish = bus.publish.bind(bus);
bus.publish = (records) =>
  records.some((r) => r.topic.includes('.callback.')) ? new Promise<void>(() => {}) : publish(records);
process.stdout.write(`ready at ${gateway.url}\n`);
