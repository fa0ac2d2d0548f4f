/**
 * The one configuration schema. Every process (server, CLI, tests) reads its settings through
 * loadConfig() in ./load.ts, so a `gw` command finds the same data directory and port as the server.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);

export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8443),
    /** Base URL clients use to reach this gateway (status URLs in 202 answers). Derived from host/port if unset. */
    publicUrl: z.url().optional(),
    contractsDir: z.string().min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    bodyLimitBytes: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** Slow-loris guard: a request must arrive completely (headers and body) within this time. */
    requestTimeoutMs: z.coerce.number().int().min(1_000).default(30_000),
    /**
     * How long a request waits for another request holding one of its nachrichtenUUIDs (in this
     * process or another one) to be answered, before it is answered 503 GW_ERR_MESSAGE_ID_IN_FLIGHT
     * with Retry-After: a holder normally answers within milliseconds, and a stalled one is waited
     * out by the sender's retry rather than by an HTTP request held open up to the claim's lease.
     */
    messageIdWaitMs: z.coerce.number().int().min(100).max(60_000).default(5_000),
    /** Requests per minute per connected system, unless its directory entry sets requestsPerMinute. */
    requestsPerMinute: z.coerce.number().int().positive().default(120_000),
    metrics: z
      .object({
        /**
         * Who may read /metrics (system ids, queue sizes, per-system counters) on the port the systems
         * connect to: `operator`, an operator token of scope `*`; or `public`, anyone who reaches the
         * port — only where the port itself is private (a scraper on an internal network).
         */
        access: z.enum(['operator', 'public']).default('operator'),
      })
      .prefault({}),
    bus: z
      .object({
        kind: z.enum(['sqlite', 'kafka']).default('sqlite'),
        /** SQLite bus: fsync every group commit (FULL) or rely on the OS after a process crash (NORMAL). */
        sqliteSync: z.enum(['FULL', 'NORMAL']).default('FULL'),
        // Parallel delivery lanes per receiving system; one case always stays in one lane. Fixed when a topic is created.
        partitions: z.coerce.number().int().min(1).max(256).default(16),
      })
      .prefault({}),
    kafka: z
      .object({
        brokers: z
          .string()
          .default('127.0.0.1:9092')
          .transform((s) =>
            s
              .split(',')
              .map((b) => b.trim())
              .filter(Boolean),
          ),
        clientId: z.string().default('laender-gateway'),
        topicPrefix: z
          .string()
          .regex(/^[a-zA-Z0-9._-]+$/)
          .default('gw'),
        replicationFactor: z.coerce.number().int().min(1).default(1),
        ssl: bool.default(false),
        saslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
        saslUsername: z.string().optional(),
        saslPassword: z.string().optional(),
        /** Ingress answers 503 (GW_ERR_BUS_UNAVAILABLE) when the broker has not acknowledged within this time. */
        publishTimeoutMs: z.coerce.number().int().positive().default(10_000),
      })
      .prefault({}),
    /** PostgreSQL connection string; when set, the audit store lives there instead of SQLite. */
    databaseUrl: z.string().optional(),
    /** PostgreSQL schema for the gateway's tables (created by the migrations); default: the server's search_path. */
    databaseSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _')
      .optional(),
    audit: z
      .object({
        /** This process's audit chain. Processes sharing one PostgreSQL may share a chain or keep one each. */
        chain: z
          .string()
          .regex(/^[A-Za-z0-9._:-]{1,64}$/)
          // `delivery.` names the partitions' chains (pipeline/delivery-audit.ts), which change writers.
          .refine((name) => !name.startsWith('delivery.'), 'must not start with "delivery."')
          .default('main'),
        // A signed checkpoint after this many events appended by this process, or this many seconds.
        checkpointEveryEvents: z.coerce.number().int().min(1).default(10_000),
        checkpointEverySeconds: z.coerce.number().positive().default(60),
        /** Keep the full signed documents, encrypted, for their contract's retentionDays (gateway/audit/archive). */
        archiveDocuments: bool.default(true),
      })
      .prefault({}),
    pki: z
      .object({
        /** Encrypts the gateway's private keys at rest (PKCS#8). Unset: a random one is kept in dataDir/pki/passphrase (mode 0600). */
        keyPassphrase: z.string().min(12).optional(),
        signingAlgorithm: z.enum(['rsa-sha256', 'ecdsa-p256-sha256']).default('rsa-sha256'),
        rsaBits: z.coerce
          .number()
          .int()
          .refine((b) => b === 2048 || b === 3072, 'must be 2048 or 3072')
          .default(2048),
        /** Worker threads that seal documents (gateway/signing/signer-pool.ts); 0 signs on the main thread. */
        signerThreads: z.coerce.number().int().min(0).max(64).default(availableParallelism()),
        /** /health/ready answers not ready when a gateway certificate expires within this many days. */
        expiryThresholdDays: z.coerce.number().min(0).default(14),
      })
      .prefault({}),
    delivery: z
      .object({
        pushTimeoutMs: z.coerce.number().int().positive().default(10_000),
        redeliveryDelayMs: z.coerce.number().int().nonnegative().default(1_000),
        // Failed pushes wait in the retry topic: exponential backoff with jitter from base to max, then the DLQ.
        retryBaseDelayMs: z.coerce.number().int().positive().default(1_000),
        retryMaxDelayMs: z.coerce.number().int().positive().default(300_000),
        maxAttempts: z.coerce.number().int().min(1).default(20),
        maxAgeMs: z.coerce.number().int().positive().default(86_400_000),
        // Push circuit breaker per receiving system and process (delivery/circuit-breaker.ts): opens after
        // this many failures in a row, or this failure rate over the window (with at least the minimum pushes).
        breakerConsecutiveFailures: z.coerce.number().int().min(1).default(5),
        breakerFailureRate: z.coerce.number().gt(0).max(1).default(0.5),
        breakerMinPushes: z.coerce.number().int().min(1).default(20),
        breakerWindowMs: z.coerce.number().int().positive().default(60_000),
        // Open this long, then one probe. Short on purpose: one push per cool-down is no load, and recovery is quick.
        breakerCoolDownMs: z.coerce.number().int().positive().default(5_000),
        /** Pull inbox: a fetched, unacknowledged item is left out of the listing this long (then listed again). */
        inboxVisibilityTimeoutMs: z.coerce.number().int().positive().default(300_000),
        /**
         * Pull acks whose `acknowledged` audit entry is not confirmed are looked at this often
         * (gateway/mailbox/ack-audit-sweep.ts), once they are older than the grace: longer than an
         * ack's audit append can take, or an append still under way would be written twice.
         */
        inboxAckAuditSweepMs: z.coerce.number().int().positive().default(60_000),
        inboxAckAuditGraceMs: z.coerce.number().int().positive().default(300_000),
      })
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables and the config path they set. One table: the README lists exactly these. */
export const ENV_SETTINGS: Record<string, string> = {
  GATEWAY_DATA_DIR: 'dataDir',
  GATEWAY_HOST: 'host',
  GATEWAY_PORT: 'port',
  GATEWAY_PUBLIC_URL: 'publicUrl',
  GATEWAY_CONTRACTS_DIR: 'contractsDir',
  GATEWAY_LOG_LEVEL: 'logLevel',
  GATEWAY_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  GATEWAY_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  GATEWAY_MESSAGE_ID_WAIT_MS: 'messageIdWaitMs',
  GATEWAY_REQUESTS_PER_MINUTE: 'requestsPerMinute',
  GATEWAY_METRICS_ACCESS: 'metrics.access',
  GATEWAY_BUS: 'bus.kind',
  GATEWAY_SQLITE_SYNC: 'bus.sqliteSync',
  GATEWAY_BUS_PARTITIONS: 'bus.partitions',
  KAFKA_BROKERS: 'kafka.brokers',
  KAFKA_CLIENT_ID: 'kafka.clientId',
  KAFKA_TOPIC_PREFIX: 'kafka.topicPrefix',
  KAFKA_REPLICATION_FACTOR: 'kafka.replicationFactor',
  KAFKA_SSL: 'kafka.ssl',
  KAFKA_SASL_MECHANISM: 'kafka.saslMechanism',
  KAFKA_SASL_USERNAME: 'kafka.saslUsername',
  KAFKA_SASL_PASSWORD: 'kafka.saslPassword',
  KAFKA_PUBLISH_TIMEOUT_MS: 'kafka.publishTimeoutMs',
  DATABASE_URL: 'databaseUrl',
  DATABASE_SCHEMA: 'databaseSchema',
  GATEWAY_AUDIT_CHAIN: 'audit.chain',
  GATEWAY_AUDIT_CHECKPOINT_EVENTS: 'audit.checkpointEveryEvents',
  GATEWAY_AUDIT_CHECKPOINT_SECONDS: 'audit.checkpointEverySeconds',
  GATEWAY_AUDIT_ARCHIVE: 'audit.archiveDocuments',
  GATEWAY_KEY_PASSPHRASE: 'pki.keyPassphrase',
  GATEWAY_SIGNING_ALGORITHM: 'pki.signingAlgorithm',
  GATEWAY_RSA_BITS: 'pki.rsaBits',
  GATEWAY_SIGNER_THREADS: 'pki.signerThreads',
  GATEWAY_CERT_EXPIRY_THRESHOLD_DAYS: 'pki.expiryThresholdDays',
  GATEWAY_PUSH_TIMEOUT_MS: 'delivery.pushTimeoutMs',
  GATEWAY_REDELIVERY_DELAY_MS: 'delivery.redeliveryDelayMs',
  GATEWAY_RETRY_BASE_DELAY_MS: 'delivery.retryBaseDelayMs',
  GATEWAY_RETRY_MAX_DELAY_MS: 'delivery.retryMaxDelayMs',
  GATEWAY_DELIVERY_MAX_ATTEMPTS: 'delivery.maxAttempts',
  GATEWAY_DELIVERY_MAX_AGE_MS: 'delivery.maxAgeMs',
  GATEWAY_BREAKER_CONSECUTIVE_FAILURES: 'delivery.breakerConsecutiveFailures',
  GATEWAY_BREAKER_FAILURE_RATE: 'delivery.breakerFailureRate',
  GATEWAY_BREAKER_MIN_PUSHES: 'delivery.breakerMinPushes',
  GATEWAY_BREAKER_WINDOW_MS: 'delivery.breakerWindowMs',
  GATEWAY_BREAKER_COOL_DOWN_MS: 'delivery.breakerCoolDownMs',
  GATEWAY_INBOX_VISIBILITY_TIMEOUT_MS: 'delivery.inboxVisibilityTimeoutMs',
  GATEWAY_INBOX_ACK_AUDIT_SWEEP_MS: 'delivery.inboxAckAuditSweepMs',
  GATEWAY_INBOX_ACK_AUDIT_GRACE_MS: 'delivery.inboxAckAuditGraceMs',
};
