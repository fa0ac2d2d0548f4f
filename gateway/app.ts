/**
 * The composition root: builds every port from the configuration, wires the pipeline stages and
 * the HTTP server, and owns the start/stop order. Nothing else constructs implementations.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AdapterContext } from '../adapters/sdk/adapter.ts';
import { type AdapterRegistry, discoverAdapters } from '../adapters/sdk/registry.ts';
import { catalogue } from '../standards/index.ts';
import { type ArchiveRequest, DocumentArchiver } from './audit/archive/document-archiver.ts';
import type { AuditKey } from './audit/audit-key.ts';
import type { AuditLog } from './audit/audit-log.ts';
import { Checkpointer } from './audit/checkpointer.ts';
import { connectAuditStore, connectDocumentArchive, openAuditKey } from './audit/open-store.ts';
import { connectTokenStore } from './auth/open-token-store.ts';
import { routeAuth, withAuth } from './auth/route-auth.ts';
import { KafkaBus } from './bus/kafka-bus.ts';
import { SqliteBus } from './bus/sqlite-bus.ts';
import { deliverTopic, ingressAuditGroup } from './bus/topics.ts';
import type { CallbackRetryPolicy } from './callbacks/callback-dispatcher.ts';
import { connectCallbackWatermarkStore } from './callbacks/callback-watermark-store.ts';
import {
  type CallbackTimings,
  type MessageFollowUps,
  startMessageFollowUps,
} from './callbacks/message-follow-ups.ts';
import { NotifyingAuditLog } from './callbacks/notifying-audit-log.ts';
import type { ResolvedConfig } from './config/load.ts';
import { consoleRoutes } from './console/serve.ts';
import { SqliteOverdueCaseStore } from './deadlines/overdue-cases.ts';
import { PgOverdueCaseStore } from './deadlines/pg-overdue-cases.ts';
import { BREAKER_STATE_VALUE, CircuitBreakers } from './delivery/circuit-breaker.ts';
import { PushClient } from './delivery/push-client.ts';
import { RoutingConfig } from './directory/routing-config.ts';
import { GatewayError } from './errors/catalogue.ts';
import type { CertificateResolver } from './http/client-auth.ts';
import { acceptedOnDayFromAudit } from './http/message-quota.ts';
import { auditRoutes } from './http/routes/audit.ts';
import { authRoutes } from './http/routes/auth.ts';
import { deadLetterRoutes } from './http/routes/dead-letters.ts';
import { inboxRoutes } from './http/routes/inbox.ts';
import { messageStatusRoutes } from './http/routes/messages.ts';
import { operationsRoutes } from './http/routes/operations.ts';
import { overdueRoutes } from './http/routes/overdue.ts';
import { pkiRoutes } from './http/routes/pki.ts';
import { standardMessagesRoutes } from './http/routes/standard-messages.ts';
import { standardsRoutes } from './http/routes/standards.ts';
import { systemMessagesRoutes } from './http/routes/system-messages.ts';
import { buildHttpServer } from './http/server.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { AckAuditMarks } from './mailbox/ack-audit-marks.ts';
import { AckAuditSweep } from './mailbox/ack-audit-sweep.ts';
import { PgMailboxStore } from './mailbox/pg-mailbox-store.ts';
import { SqliteMailboxStore } from './mailbox/sqlite-mailbox-store.ts';
import { createMetrics } from './observability/metrics.ts';
import { PipelineInstruments } from './observability/pipeline.ts';
import { certificatesCheck, keysCheck } from './observability/readiness.ts';
import { metricsRefresher } from './observability/scrape.ts';
import { AuditPendingSpool, auditPendingDirOf } from './pipeline/audit-pending-spool.ts';
import { DeadLetterQueue } from './pipeline/dead-letters.ts';
import { DeliveryWorker } from './pipeline/delivery.ts';
import { Ingress } from './pipeline/ingress.ts';
import { IngressAuditWatermark, recoverIngressAudit } from './pipeline/ingress-audit-recovery.ts';
import { PgMessageIdLeases } from './pipeline/pg-message-id-leases.ts';
import { senderSignatureVerifier } from './pipeline/sender-signature.ts';
import type { Pki } from './pki/bootstrap.ts';
import { openPki } from './pki/open.ts';
import { connectRevocationStore } from './pki/open-revocation-store.ts';
import { connectSystemCertificateStore } from './pki/open-system-certificate-store.ts';
import { registerRevocationGauges, revocationsCheck } from './pki/revocation-health.ts';
import { SystemPins } from './pki/system-pins.ts';
import { registerSystemPinGauges } from './pki/system-pins-gauge.ts';
import { LiveTrust } from './pki/trust.ts';
import type { AuditStore } from './ports/audit-store.ts';
import type { Bus } from './ports/bus.ts';
import type { MailboxStore } from './ports/mailbox-store.ts';
import type { TokenStore } from './ports/token-store.ts';
import { InProcessQuotaCounter } from './quota/in-process-quota-counter.ts';
import { PgQuotaCounter } from './quota/pg-quota-counter.ts';
import { ReceiptArchive } from './receipts/receipt-archive.ts';
import { registryWithReceiptFallback } from './receipts/receipt-encoding.ts';
import { ReceiptInbox } from './receipts/receipt-inbox.ts';
import { SignerPool } from './signing/signer-pool.ts';

export interface Gateway {
  config: ResolvedConfig;
  pki: Pki;
  /** Live revocation list and signing keys (picks up `gw pki revoke|rotate` without a restart). */
  trust: LiveTrust;
  tokens: TokenStore;
  /** Signs audit checkpoints; its public half is <dataDir>/pki/audit.pub. */
  auditKey: AuditKey;
  /** Encrypted archive of the signed documents; absent when audit.archiveDocuments is off. */
  archiver: DocumentArchiver | undefined;
  bus: Bus;
  audit: AuditLog;
  auditStore: AuditStore;
  mailbox: MailboxStore;
  routing: RoutingConfig;
  /** Receipts, callbacks and answer deadlines (gateway/callbacks/message-follow-ups.ts). */
  followUps: MessageFollowUps;
  /** Writes the `acknowledged` of pull acks whose audit append failed and that were never resent. */
  ackAuditSweep: AckAuditSweep;
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
  /** Clock of the audit log's event times, receipts and answer deadlines; tests pass a controllable one. */
  now?: () => Date;
  /** Retries of failed callbacks; default DEFAULT_CALLBACK_RETRY (tests pass a short one). */
  callbackRetry?: CallbackRetryPolicy;
  /** When callback watermarks are written and taken-over chains replayed; default the production ones (tests pass short ones). */
  callbackTimings?: CallbackTimings;
}

export function createBus(config: ResolvedConfig, logger: Logger): Bus {
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
      publishTimeoutMs: kafka.publishTimeoutMs,
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

  // Receipts reach systems whose adapter does not map them as the standard document (receipt-encoding.ts).
  const adapters = registryWithReceiptFallback(await discoverAdapters(undefined, options.adapters));
  const routing = new RoutingConfig(config.contractsDir, (id) => adapters.get(id) !== undefined, logger);

  const pki = await openPki(
    config,
    routing.directory.systems.map((s) => s.id),
  );
  for (const warning of pki.warnings) logger.warn(warning);

  const bus = createBus(config, logger);
  // PostgreSQL when DATABASE_URL is set (N processes share it), else SQLite files in the data dir.
  const auditStore = await connectAuditStore(config);
  const auditKey = openAuditKey(config);
  const checkpointer = new Checkpointer({
    store: auditStore,
    signer: auditKey.signer,
    everyEvents: config.audit.checkpointEveryEvents,
    everyMs: config.audit.checkpointEverySeconds * 1000,
    logger,
  });
  const audit = new NotifyingAuditLog(auditStore, {
    logger,
    ...(options.now ? { now: options.now } : {}),
    chain: config.audit.chain,
    onAppended: (count) => checkpointer.noteAppended(count),
  });
  const archive = config.audit.archiveDocuments ? await connectDocumentArchive(config) : undefined;
  const archiver = archive && new DocumentArchiver({ archive, contracts: () => routing.contracts, logger });
  const archiveDocument = archiver && ((request: ArchiveRequest) => archiver.archive(request));
  routing.watch(audit);
  const mailbox = config.databaseUrl
    ? await PgMailboxStore.connect({ url: config.databaseUrl, schema: config.databaseSchema })
    : new SqliteMailboxStore({ file: path.join(config.dataDir, 'mailbox.sqlite') });
  const ackAuditMarks = new AckAuditMarks({ mailbox, logger });
  const metrics = createMetrics();
  const instruments = new PipelineInstruments(metrics);
  const breakers = new CircuitBreakers(
    {
      consecutiveFailures: config.delivery.breakerConsecutiveFailures,
      failureRate: config.delivery.breakerFailureRate,
      minPushesInWindow: config.delivery.breakerMinPushes,
      windowMs: config.delivery.breakerWindowMs,
      coolDownMs: config.delivery.breakerCoolDownMs,
    },
    (system, state) => {
      metrics.pushBreakerState.set({ system }, BREAKER_STATE_VALUE[state]);
      logger.warn({ system, state }, 'push circuit breaker changed state');
    },
  );
  const pusher = new PushClient({
    certPem: pki.gatewayClient.certPem,
    keyPem: pki.gatewayClient.keyPem,
    caPems: [pki.caCertPem],
    timeoutMs: config.delivery.pushTimeoutMs,
  });
  // `gw pki revoke|rotate` take effect here within a second, without a restart. Revocations are
  // kept beside the rest of the state: in PostgreSQL every replica refuses the same certificates.
  const revocations = await connectRevocationStore(config, { logger });
  const trust = await LiveTrust.open(pki, { logger, revocations });
  // The systems' pins beside the revocations: in PostgreSQL a `gw pki issue` beside any replica
  // re-pins the system at every replica.
  const systemCertificates = await connectSystemCertificateStore(config, { logger });
  const systemPins = await SystemPins.open(systemCertificates, { logger });
  registerRevocationGauges(metrics.registry, trust);
  registerSystemPinGauges(metrics.registry, systemPins);
  const sealer = new SignerPool({ threads: config.pki.signerThreads, key: trust.signingKey(), logger });
  trust.onSigningKeyChange((key) => sealer.setKey(key));
  // Beside the rest of the state: in PostgreSQL every replica checks the same tokens.
  const tokens = await connectTokenStore(config);

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
  // Processes sharing PostgreSQL claim message ids there too (replay protection across processes).
  const sharedClaims = config.databaseUrl
    ? await PgMessageIdLeases.connect({ url: config.databaseUrl, schema: config.databaseSchema, logger })
    : undefined;

  const ingress = new Ingress({
    adapters,
    directory: () => routing.directory,
    contracts: () => routing.contracts,
    sealer,
    bus,
    audit,
    topicPrefix,
    adapterContext,
    logger,
    instruments,
    alreadyAccepted: (messageId) => auditStore.hasEvent(messageId, 'accepted'),
    // A request waits this long for its audit entries after a failed append: a sixth of the time a
    // request may take to arrive, at most 5 s (published-audit.ts).
    auditWithinRequestMs: Math.min(5_000, Math.floor(config.requestTimeoutMs / 6)),
    // Pending entries survive a crash in the data directory, appended at the next start (below).
    auditSpool: new AuditPendingSpool({
      dir: auditPendingDirOf(config.dataDir, config.audit.chain),
      logger,
      onUnreadable: () => metrics.auditSpoolUnreadable.inc(),
    }),
    auditChain: config.audit.chain,
    ...(sharedClaims ? { sharedClaims } : {}),
    messageIdWaitMs: config.messageIdWaitMs,
    verifySender: senderSignatureVerifier({
      pinnedCertificate: (id) => systemPins.pinnedCertificate(id),
      verifySignedBy: (xml, pinned, parsed) => trust.verifySignedBy(xml, pinned, parsed),
    }),
  });
  const worker = new DeliveryWorker({
    bus,
    directory: () => routing.directory,
    adapters,
    mailbox,
    audit,
    pusher,
    breakers,
    verify: (xml) => trust.verifySeal(xml),
    adapterContext,
    topicPrefix,
    partitions: config.bus.partitions,
    redeliveryDelayMs: config.delivery.redeliveryDelayMs,
    ...(archiveDocument ? { archive: archiveDocument } : {}),
    retry: {
      baseDelayMs: config.delivery.retryBaseDelayMs,
      maxDelayMs: config.delivery.retryMaxDelayMs,
      maxAttempts: config.delivery.maxAttempts,
      maxAgeMs: config.delivery.maxAgeMs,
    },
    logger,
    instruments,
  });
  // Receipts put into an inbox are archived after their row; those for the bus before their publish,
  // and read back on a re-issue (receipt-archive.ts).
  const receiptArchive =
    archive && archiveDocument
      ? new ReceiptArchive({ write: archiveDocument, versions: (messageId) => archive.get(messageId) })
      : undefined;
  const followUps = startMessageFollowUps({
    audit,
    directory: () => routing.directory,
    contracts: () => routing.contracts,
    contractsDir: config.contractsDir,
    overdueCases: config.databaseUrl
      ? await PgOverdueCaseStore.connect({ url: config.databaseUrl, schema: config.databaseSchema })
      : new SqliteOverdueCaseStore(path.join(config.dataDir, 'deadlines.sqlite')),
    callbackWatermarks: await connectCallbackWatermarkStore(config),
    sealer,
    receiptInbox: new ReceiptInbox({
      mailbox,
      adapters,
      adapterContext,
      instruments,
      ...(receiptArchive ? { archive: receiptArchive } : {}),
      ...(options.now ? { now: options.now } : {}),
    }),
    ...(receiptArchive ? { receiptArchive } : {}),
    bus,
    topicPrefix,
    tls: { certPem: pki.gatewayClient.certPem, keyPem: pki.gatewayClient.keyPem, caPems: [pki.caCertPem] },
    timeoutMs: config.delivery.pushTimeoutMs,
    metrics,
    logger,
    ...(options.now ? { now: options.now } : {}),
    ...(options.callbackRetry ? { callbackRetry: options.callbackRetry } : {}),
    ...(options.callbackTimings ? { callbackTimings: options.callbackTimings } : {}),
  });

  const acceptedOnDay = acceptedOnDayFromAudit(auditStore);
  const quotaCounter = config.databaseUrl
    ? new PgQuotaCounter({ url: config.databaseUrl, schema: config.databaseSchema, acceptedOnDay })
    : new InProcessQuotaCounter(acceptedOnDay);

  // Known only after listen() when port 0 (tests) was configured.
  let url = config.publicUrl;
  // Only systems the directory lists now: a certificate the CA issued for any other id is refused.
  const resolveCaller: CertificateResolver = Object.assign(
    (peer: { raw: Buffer }) => trust.resolveCaller(peer),
    {
      isRevoked: (serial: string) => trust.isRevoked(serial),
      isListed: (systemId: string) => routing.directory.system(systemId) !== undefined,
    },
  );
  const http = await buildHttpServer({
    tls: { keyPem: pki.server.keyPem, certPem: pki.server.certPem, caPem: pki.caCertPem },
    bodyLimitBytes: config.bodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    logger,
    audit,
    metrics,
    resolveCaller,
    rateLimit: {
      defaultPerMinute: config.requestsPerMinute,
      perMinuteOf: (systemId) => routing.directory.system(systemId)?.requestsPerMinute,
      messageQuota: {
        messagesPerDayOf: (systemId) => routing.directory.system(systemId)?.quota?.messagesPerDay,
        counter: quotaCounter,
        ...(options.now ? { now: options.now } : {}),
      },
    },
    routes: [
      // First: its onRequest hook enforces every route's `auth` declaration (deny by default).
      routeAuth({ tokens, resolveCaller, audit }),
      operationsRoutes({
        metrics,
        access: config.metrics.access,
        checks: [
          { name: 'bus', check: () => bus.health() },
          {
            name: 'audit',
            check: async () => ({ ok: true, detail: `${(await auditStore.heads()).length} chain(s)` }),
          },
          {
            name: 'mailbox',
            check: async () => {
              await mailbox.wasDelivered('health-probe', '00000000-0000-0000-0000-000000000000');
              return { ok: true, detail: mailbox.constructor.name };
            },
          },
          keysCheck(trust),
          revocationsCheck(trust),
          certificatesCheck({
            pkiDir: pki.dir,
            isRevoked: trust.isRevoked,
            thresholdDays: config.pki.expiryThresholdDays,
          }),
        ],
        refreshMetrics: metricsRefresher({
          metrics,
          bus,
          topicPrefix,
          systems: () => routing.directory.systems.map((s) => s.id),
          deadLetters: new DeadLetterQueue({
            bus,
            audit,
            topicPrefix,
            actor: 'gateway',
            browseTimeoutMs: 10_000,
          }),
          pkiDir: pki.dir,
          isRevoked: trust.isRevoked,
          systemPins,
          logger,
        }),
      }),
      systemMessagesRoutes({ ingress, resolveCaller, publicUrl: () => url }),
      standardMessagesRoutes({ ingress, resolveCaller, publicUrl: () => url }),
      messageStatusRoutes({ audit: auditStore, directory: () => routing.directory }),
      inboxRoutes({
        mailbox,
        audit,
        resolveCaller,
        visibilityTimeoutMs: config.delivery.inboxVisibilityTimeoutMs,
        ackAudited: (key) => ackAuditMarks.add(key),
        ...(options.now ? { now: options.now } : {}),
      }),
      overdueRoutes({ overdue: followUps.overdue, directory: () => routing.directory, now: options.now }),
      withAuth({ public: true }, standardsRoutes()),
      pkiRoutes({ trust, pkiDir: pki.dir, caCertPem: pki.caCertPem, systemCertificates }),
      authRoutes(),
      deadLetterRoutes({ bus, audit, topicPrefix, directory: () => routing.directory }),
      auditRoutes({
        store: auditStore,
        audit,
        directory: () => routing.directory,
        auditKey,
        archive,
      }),
      consoleRoutes(),
    ],
  });

  // Before the first message and the first delivery: the audit entries an earlier run left pending
  // (a crash, a stop that gave them up) are written, or their ids held until they are
  // (published-audit.ts); then those of records it published and died before auditing
  // (ingress-audit-recovery.ts).
  await ingress.resumeSpooledAudit();
  // Both buses: on Kafka the bookmark is committed without joining its group (one OffsetCommit
  // request, bus/kafka-group-offsets.ts); only a start that finds records past it joins the group, once.
  const auditBookmark = ingressAuditGroup(topicPrefix, config.audit.chain);
  const deliverTopics = () => routing.directory.systems.map((s) => deliverTopic(topicPrefix, s.id));
  const recovery = {
    bus,
    group: auditBookmark,
    partitions: config.bus.partitions,
    chain: config.audit.chain,
    isAudited: (messageId: string) => ingress.isAuditedOrPending(messageId),
    logger,
  };
  await recoverIngressAudit({
    ...recovery,
    topics: deliverTopics(),
    append: async (batch) => {
      await ingress.appendRecovered(batch);
      return true;
    },
  });
  const watermark = new IngressAuditWatermark({
    bus,
    group: auditBookmark,
    topics: deliverTopics,
    inFlight: ingress.inFlightPublishes,
    doubts: ingress.publishDoubts,
    recheck: () =>
      recoverIngressAudit({
        ...recovery,
        topics: deliverTopics(),
        append: (batch) => ingress.appendRecoveredWhileRunning(batch),
        occasion: 'after a publish the bus did not confirm (its sender was answered 503)',
      }),
    logger,
  });
  watermark.start();
  metrics.onScrape(async () => metrics.publishesInDoubt.set(ingress.publishDoubts.count));
  await worker.start();
  await followUps.callbacks.start();
  // A reloaded directory may name new systems (subscribe them) or drop some (close theirs).
  routing.onApplied(() => {
    worker.sync().catch((error: unknown) => {
      logger.error({ err: error }, 'delivery subscriptions could not follow the reloaded directory');
    });
    followUps.callbacks.sync().catch((error: unknown) => {
      logger.error({ err: error }, 'callback subscriptions could not follow the reloaded directory');
    });
  });
  checkpointer.start();
  archiver?.start();
  const ackAuditSweep = new AckAuditSweep({
    mailbox,
    audit,
    everyMs: config.delivery.inboxAckAuditSweepMs,
    graceMs: config.delivery.inboxAckAuditGraceMs,
    registry: metrics.registry,
    logger,
  });
  ackAuditSweep.start();
  const address = await http.listen({ host: config.host, port: config.port });
  const port = new URL(address).port;
  if (config.port === 0) url = config.publicUrl.replace(/:\d+$/, `:${port}`);
  logger.info({ url, bus: bus.kind, audit: auditStore.kind, dataDir: config.dataDir }, 'gateway ready');

  let stopped = false;
  return {
    config,
    pki,
    trust,
    tokens,
    auditKey,
    archiver,
    bus,
    audit,
    auditStore,
    mailbox,
    routing,
    followUps,
    ackAuditSweep,
    http,
    logger,
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Stop taking requests first, then let in-flight deliveries finish, then close the stores.
      // Pending audit entries of published messages are waited for (bounded) while requests drain:
      // a resend of one of those messages waits for them.
      await Promise.all([http.close(), ingress.settleAudit()]);
      // Before the receipts stop: a repair it writes sets one off.
      await ackAuditSweep.stop();
      await ackAuditMarks.close();
      // Nothing is published any more: the next start reads nothing it need not.
      await watermark.stop({ final: true });
      routing.close();
      await worker.stop();
      await followUps.stop();
      await pusher.close();
      await sealer.close();
      trust.close();
      await revocations.close();
      systemPins.close();
      await systemCertificates.close();
      await tokens.close();
      await bus.close();
      await mailbox.close();
      await quotaCounter.close();
      await sharedClaims?.close();
      await archiver?.stop();
      await archive?.close();
      await checkpointer.stop();
      await auditStore.close();
    },
  };
}
