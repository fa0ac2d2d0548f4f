/**
 * A test gateway whose every log line is captured (pino JSON at trace level), with st-melde
 * switched to push delivery to a real mTLS receiver — for the tracing, logging and metrics suites.
 */
import { Writable } from 'node:stream';
import { startGateway } from '../../gateway/app.ts';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { loadConfig } from '../../gateway/config/load.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { pushContracts, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

export interface LogLine {
  level: number;
  msg?: string;
  messageId?: string;
  traceId?: string;
  [key: string]: unknown;
}

export interface ObservedGateway {
  gateway: Awaited<ReturnType<typeof startGateway>>;
  dataDir: string;
  receiver: PushReceiver;
  pushed: PushedRequest[];
  /** Every line the gateway logged, raw. */
  rawLog: string[];
  lines(): LogLine[];
  client(systemId: string | null): SystemClient;
  stop(): Promise<void>;
}

export async function startObservedGateway(env: Record<string, string> = {}): Promise<ObservedGateway> {
  const dataDir = tempDir('obs');
  const pushed: PushedRequest[] = [];
  const receiver = await startPushReceiver(dataDir, (request) => {
    pushed.push(request);
    return 204;
  });
  const contractsDir = pushContracts({ 'st-melde': receiver.url });
  const rawLog: string[] = [];
  let pending = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      rawLog.push(...parts.filter((p) => p.length > 0));
      done();
    },
  });
  const config = loadConfig({
    GATEWAY_DATA_DIR: dataDir,
    GATEWAY_CONTRACTS_DIR: contractsDir,
    GATEWAY_PORT: '0',
    GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
    GATEWAY_REDELIVERY_DELAY_MS: '200',
    GATEWAY_SIGNER_THREADS: '1',
    ...env,
  });
  const gateway = await startGateway(config, {
    logger: createLogger({ level: 'trace', destination }),
  });
  const clients: SystemClient[] = [];
  return {
    gateway,
    dataDir,
    receiver,
    pushed,
    rawLog,
    lines: () => rawLog.map((l) => JSON.parse(l) as LogLine),
    client(systemId) {
      const client = SystemClient.forSystem(gateway.url, dataDir, systemId);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await gateway.stop();
      await receiver.close();
    },
  };
}
