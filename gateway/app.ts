/**
 * The composition root: builds every port from the configuration, wires the pipeline stages and
 * the HTTP server, and owns the start/stop order. Nothing else constructs implementations.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AdapterContext } from '../adapters/sdk/adapter.ts';
import { type AdapterRegistry, discoverAdapters } from '../adapters/sdk/registry.ts';
import { catalogue } from '../standards/index.ts';
import { AuditLog } from './audit/audit-log.ts';
import { SqliteAuditStore } from './audit/sqlite-audit-store.ts';
import { KafkaBus } from './bus/kafka-bus.ts';
import { SqliteBus } from './bus/sqlite-bus.ts';
import { deliverTopic, deliveryGroup } from './bus/topics.ts';
import type { ResolvedConfig } from './config/load.ts';
import { PushClient } from './delivery/push-client.ts';
import { RoutingConfig } from './directory/routing-config.ts';
import { GatewayError } from './errors/catalogue.ts';
import { inboxRoutes } from './http/routes/inbox.ts';
import { messageStatusRoutes } from './http/routes/messages.ts';
import { operationsRoutes } from './http/routes/operations.ts';
import { standardsRoutes } from './http/routes/standards.ts';
import { systemMessagesRoutes } from './http/routes/system-messages.ts';
import { buildHttpServer } from './http/server.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { SqliteMailboxStore } from './mailbox/sqlite-mailbox-store.ts';
import { createMetrics } from './observability/metrics.ts';
import { DeliveryWorker } from './pipeline/delivery.ts';
import { Ingress } from './pipeline/ingress.ts';
import { ensurePki, type Pki } from './pki/bootstrap.ts';
import type { AuditStore } from './ports/audit-store.ts';
import type { Bus } from './ports/bus.ts';
import type { MailboxStore } from './ports/mailbox-store.ts';
import { DocumentSigner } from './signing/signer.ts';
import { verifyDocument } from './signing/verifier.ts';

export interface Gateway {
  config: ResolvedConfig;
  pki: Pki;
  bus: Bus;
  audit: AuditLog;
  auditStore: AuditStore;
  mailbox: MailboxStore;
  routing: RoutingConfig;
  http: FastifyInstance;
  logger: Logger;
  /** The URL the server listens on (port resolved when 0 was configured). */
  url: string;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /** Extra adapters registered beside the discovered ones (integrators' tests, plug-ins). */
  adapters?: AdapterRegistry;
}

function createBus(config: ResolvedConfig, logger: Logger): Bus {
  if (config.bus.kind === 'kafka') {
    const { kafka } = config;
    return new KafkaBus({
      brokers: kafka.brokers,
      clientId: kafka.clientId,
      ssl: kafka.ssl,
      sasl:
        kafka.saslMechanism && kafka.saslUsername && kafka.saslPassword
          ? { mechanism: kafka.saslMechanism, username: kafka.saslUsername, password: kafka.saslPassword }
          : undefined,
      replicationFactor: kafka.replicationFactor,
      defaultPartitions: config.bus.partitions,
      logger,
    });
  }
  return new SqliteBus({
    file: path.join(config.dataDir, 'bus.sqlite'),
    sync: config.bus.sqliteSync,
    defaultPartitions: config.bus.partitions,
    logger,
  });
}

export async function startGateway(config: ResolvedConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const adapters = await discoverAdapters(undefined, options.adapters);
  const routing = new RoutingConfig(config.contractsDir, (id) => adapters.get(id) !== undefined, logger);

  const pki = await ensurePki({
    dir: path.join(config.dataDir, 'pki'),
    systems: routing.directory.systems.map((s) => s.id),
    passphrase: config.pki.keyPassphrase,
    signingAlgorithm: config.pki.signingAlgorithm,
    rsaBits: config.pki.rsaBits as 2048 | 3072,
    serverNames: ['localhost', '127.0.0.1', '::1', ...(config.host !== '0.0.0.0' ? [config.host] : [])],
  });
  for (const warning of pki.warnings) logger.warn(warning);

  const bus = createBus(config, logger);
  const auditStore = new SqliteAuditStore({ file: path.join(config.dataDir, 'audit.sqlite') });
  const audit = new AuditLog(auditStore);
  routing.watch(audit);
  const mailbox = new SqliteMailboxStore({ file: path.join(config.dataDir, 'mailbox.sqlite') });
  const metrics = createMetrics();
  const pusher = new PushClient({
    certPem: pki.gatewayClient.certPem,
    keyPem: pki.gatewayClient.keyPem,
    caPems: [pki.caCertPem],
    timeoutMs: config.delivery.pushTimeoutMs,
  });
  const signer = new DocumentSigner({
    privateKey: pki.signing.privateKey,
    certPem: pki.signing.certPem,
    algorithm: pki.signing.algorithm,
  });
  const signingCert = new X509Certificate(pki.signing.certPem);

  const adapterContext: AdapterContext = {
    newUUID: randomUUID,
    now: () => new Date(),
    messageType(standard, version, name) {
      const spec = catalogue.messageType(standard, version, name);
      if (!spec)
        throw new GatewayError(
          'GW_ERR_UNKNOWN_STANDARD',
          `${standard} ${version} ${name} is not in the catalogue`,
        );
      return spec;
    },
  };
  const topicPrefix = config.kafka.topicPrefix;

  const ingress = new Ingress({
    adapters,
    directory: () => routing.directory,
    contracts: () => routing.contracts,
    sealer: { sign: async (xml) => signer.signCanonical(xml) },
    bus,
    audit,
    topicPrefix,
    adapterContext,
    logger,
    alreadyAccepted: async (messageId) =>
      (await auditStore.query({ messageId, kind: 'accepted', limit: 1 })).length > 0,
  });
  const worker = new DeliveryWorker({
    bus,
    directory: () => routing.directory,
    adapters,
    mailbox,
    audit,
    pusher,
    verify: (xml) => verifyDocument(xml, { trustAnchors: [pki.caX509], pinned: signingCert }),
    adapterContext,
    topicPrefix,
    partitions: config.bus.partitions,
    redeliveryDelayMs: config.delivery.redeliveryDelayMs,
    logger,
  });

  // Known only after listen() when port 0 (tests) was configured.
  let url = config.publicUrl;
  const resolveCaller = (peer: { raw: Buffer }) => pki.systemOfClientCertificate(peer);
  const http = await buildHttpServer({
    tls: { keyPem: pki.server.keyPem, certPem: pki.server.certPem, caPem: pki.caCertPem },
    bodyLimitBytes: config.bodyLimitBytes,
    logger,
    audit,
    metrics,
    resolveCaller,
    rateLimit: {
      defaultPerMinute: config.requestsPerMinute,
      perMinuteOf: (systemId) => routing.directory.system(systemId)?.requestsPerMinute,
    },
    routes: [
      operationsRoutes({
        metrics,
        checks: [
          { name: 'bus', check: () => bus.health() },
          {
            name: 'audit',
            check: async () => ({ ok: true, detail: `${(await auditStore.heads()).length} chain(s)` }),
          },
        ],
        refreshMetrics: async () => {
          for (const system of routing.directory.systems) {
            const lag = await bus.lag(
              deliveryGroup(topicPrefix, system.id),
              deliverTopic(topicPrefix, system.id),
            );
            metrics.busLag.set(
              { system: system.id },
              lag.reduce((sum, p) => sum + p.lag, 0),
            );
          }
        },
      }),
      systemMessagesRoutes({ ingress, resolveCaller, publicUrl: () => url }),
      messageStatusRoutes({ audit: auditStore, resolveCaller }),
      inboxRoutes({ mailbox, audit, resolveCaller }),
      standardsRoutes(),
    ],
  });

  await worker.start();
  const address = await http.listen({ host: config.host, port: config.port });
  const port = new URL(address).port;
  if (config.port === 0) url = config.publicUrl.replace(/:\d+$/, `:${port}`);
  logger.info({ url, bus: bus.kind, audit: auditStore.kind, dataDir: config.dataDir }, 'gateway ready');

  let stopped = false;
  return {
    config,
    pki,
    bus,
    audit,
    auditStore,
    mailbox,
    routing,
    http,
    logger,
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Stop taking requests first, then let in-flight deliveries finish, then close the stores.
      await http.close();
      routing.close();
      await worker.stop();
      await pusher.close();
      await bus.close();
      await mailbox.close();
      await auditStore.close();
    },
  };
}
