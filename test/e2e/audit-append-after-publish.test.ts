/**
 * The ingress's audit append failing after the publish, over real HTTPS with a real store. The
 * message is on the bus then and will be delivered, so it is accepted: its ingress entries must reach
 * the trail, once, and nothing may say it failed; a resend of it must not be published again.
 *
 * The fault is injected at the gateway's AuditStore: a wrapper around its append() fails the appends
 * that carry the ingress entries of the messages a test names (before or after letting the real
 * append commit). Everything else (the replay check, delivery, the other entries) meets the store as
 * it is. A real PostgreSQL restart would do the same, slower.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../gateway/audit/hash-chain.ts';
import { SqliteAuditStore } from '../../gateway/audit/sqlite-audit-store.ts';
import { deliverTopic } from '../../gateway/bus/topics.ts';
import type { ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
import { messageView } from '../../gateway/pipeline/status.ts';
import type { AuditEntry, AuditStore } from '../../gateway/ports/audit-store.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway, tempDir } from '../support/gateway.ts';
import { scraperAuth } from '../support/metrics-scrape.ts';

/** Fails the appends carrying the ingress entries (`accepted` from the sender) of the target messages. */
class IngressAppendFaults {
  readonly targets = new Set<string>();
  /** Appends still to fail. */
  failures = 0;
  /** Fail every targeted append while set. */
  down = false;
  /** Let the failing appends commit first (the commit's acknowledgement is what is lost). */
  commitThenThrow = false;
  /** Targeted appends seen. */
  calls = 0;

  constructor(store: AuditStore) {
    const append = store.append.bind(store);
    store.append = async (events, chain) => {
      const targeted = events.some(
        (e) => e.kind === 'accepted' && e.actor.startsWith('system:') && this.targets.has(e.messageId ?? ''),
      );
      if (!targeted) return append(events, chain);
      this.calls++;
      if (!this.down && this.failures === 0) return append(events, chain);
      if (!this.down) this.failures--;
      if (this.commitThenThrow) {
        await append(events, chain);
        throw new Error('injected: the connection broke after COMMIT');
      }
      throw new Error('injected: the audit store is unavailable');
    };
  }
}

interface Problem {
  status: number;
  code: string;
  detail?: string;
}

/** Both stores: SQLite files in the data directory, and PostgreSQL (with its shared message id claims). */
const STORES: [string, () => { env: Record<string, string>; cleanUp(): Promise<void> }][] = [
  ['sqlite', () => ({ env: {}, cleanUp: async () => {} })],
  [
    'postgres',
    () => {
      const schema = freshSchemaName('auditafterpublish');
      return {
        env: { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema },
        cleanUp: () => dropSchema(schema),
      };
    },
  ],
];

describe.each(STORES)('the audit append failing after the publish (%s)', (_label, storeEnv) => {
  let t: TestGateway;
  let sn: SystemClient;
  let faults: IngressAppendFaults;
  let store: ReturnType<(typeof STORES)[number][1]> | undefined;
  /** A consumer group nobody consumes with: its lag is every record ever published to the topic. */
  const COUNTING_GROUP = 'audit-append-after-publish-counter';

  beforeAll(async () => {
    // A sixth of the request timeout: the request waits 1 s for its entries.
    store = storeEnv();
    t = await startTestGateway({ env: { GATEWAY_REQUEST_TIMEOUT_MS: '6000', ...store.env } });
    sn = t.client('sn-melde');
    faults = new IngressAppendFaults(t.gateway.auditStore);
  });
  afterAll(async () => {
    await t?.stop();
    await store?.cleanUp();
  });

  async function publishedTo(system: string): Promise<number> {
    const prefix = t.gateway.config.kafka.topicPrefix;
    const lag = await t.gateway.bus.lag(COUNTING_GROUP, deliverTopic(prefix, system));
    return lag.reduce((s, p) => s + p.lag, 0);
  }

  /** gateway_messages_total of an outcome. */
  async function counted(outcome: string): Promise<number> {
    const metrics = String(
      (await t.client(null).call<string>('GET', '/metrics', undefined, await scraperAuth(t.gateway))).body,
    );
    const line = new RegExp(`^gateway_messages_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics);
    return Number(line?.[1] ?? 0);
  }

  async function trailOf(id: string): Promise<(kind: string) => AuditEntry[]> {
    const trail = await t.gateway.auditStore.query({ messageId: id, limit: 10_000 });
    return (kind) => trail.filter((e) => e.kind === kind);
  }

  /**
   * One set of ingress entries, one sealed digest, nothing failed; refused only as a resend of an
   * accepted (or still being accepted) message, and the message's status says so.
   */
  async function expectIngressEntriesOnce(id: string, resendsRefused = 0): Promise<void> {
    const trail = await t.gateway.auditStore.query({ messageId: id, limit: 10_000 });
    const kinds = (kind: string) => trail.filter((e) => e.kind === kind);
    for (const kind of ['received', 'accepted', 'signed', 'queued']) expect(kinds(kind)).toHaveLength(1);
    expect(kinds('failed')).toHaveLength(0);
    expect(kinds('rejected')).toHaveLength(resendsRefused);
    for (const e of kinds('rejected'))
      expect(['GW_ERR_DUPLICATE_MESSAGE', 'GW_ERR_MESSAGE_ID_IN_FLIGHT']).toContain(e.detail.code);
    expect(['queued', 'delivered', 'acknowledged']).toContain(messageView(id, trail)!.status);
    const digests = new Set([...kinds('signed'), ...kinds('queued')].map((e) => e.digest));
    expect(digests.size).toBe(1);
  }

  async function expectDeliveredOnce(id: string, digest: string | null): Promise<void> {
    await eventually(async () => ((await t.gateway.mailbox.get('st-melde', id)) ? true : undefined));
    await eventually(async () => ((await trailOf(id))('delivered').length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    const inbox = await t.gateway.mailbox.list('st-melde', { limit: 1000 });
    expect(inbox.items.filter((i) => i.messageId === id)).toHaveLength(1);
    const delivered = (await trailOf(id))('delivered');
    expect(delivered).toHaveLength(1);
    // The digest delivered is the one the trail saw signed.
    expect(delivered[0]!.digest).toBe(digest);
  }

  it('a failure shorter than the wait: 202, the entries once, nothing failed', async () => {
    const before = await publishedTo('st-melde');
    const msg = rueckmeldung();
    faults.targets.add(msg.id);
    faults.failures = 2;
    const r = await sn.send('sn-melde', msg.body, 'application/json');
    expect(r.status).toBe(202);
    expect(faults.calls).toBe(3);
    await expectIngressEntriesOnce(msg.id);
    expect(await publishedTo('st-melde')).toBe(before + 1);
    await expectDeliveredOnce(msg.id, (await trailOf(msg.id))('signed')[0]!.digest);
  });

  it('a commit whose acknowledgement was lost is not written twice', async () => {
    const msg = rueckmeldung();
    faults.targets.add(msg.id);
    faults.failures = 1;
    faults.commitThenThrow = true;
    try {
      const r = await sn.send('sn-melde', msg.body, 'application/json');
      expect(r.status).toBe(202);
    } finally {
      faults.commitThenThrow = false;
    }
    await expectIngressEntriesOnce(msg.id);
    expect(verifyChain(await t.gateway.auditStore.query({ limit: 100_000 })).ok).toBe(true);
  });

  it('a longer failure: 503 GW_ERR_AUDIT_PENDING, not failed; the entries land later; a resend is not published again', async () => {
    const before = await publishedTo('st-melde');
    const acceptedBefore = await counted('accepted');
    const msg = rueckmeldung();
    faults.targets.add(msg.id);
    faults.down = true;
    let resend: Promise<ClientResponse<unknown>> | undefined;
    try {
      const r = await sn.send('sn-melde', msg.body, 'application/json');
      expect(r.status).toBe(503);
      expect(String(r.headers['content-type'])).toContain('application/problem+json');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      const problem = r.body as Problem;
      expect(problem.code).toBe('GW_ERR_AUDIT_PENDING');
      expect(problem.detail).toContain(msg.id);
      expect(problem.detail).toContain('queued');
      // On the bus once; the trail says nothing about the message yet, and certainly not `failed`.
      expect(await publishedTo('st-melde')).toBe(before + 1);
      const kinds = await trailOf(msg.id);
      expect(kinds('failed')).toHaveLength(0);
      expect(kinds('rejected')).toHaveLength(0);
      expect(kinds('accepted')).toHaveLength(0);
      // Counted apart: answered before its entries were written, and not accepted yet.
      expect(await counted('audit-pending')).toBe(1);
      expect(await counted('accepted')).toBe(acceptedBefore);
      // The sender resends while the store is still failing: it must not be published again.
      resend = sn.send('sn-melde', msg.body, 'application/json');
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      faults.down = false;
    }
    // It waited for the first request's entries and was refused as accepted (409), or, waiting
    // longer than the gateway lets it, refused as in flight (503): never published again.
    const again = await resend!;
    expect(again.status).not.toBe(202);
    expect(['GW_ERR_DUPLICATE_MESSAGE', 'GW_ERR_MESSAGE_ID_IN_FLIGHT']).toContain(
      (again.body as Problem).code,
    );
    // The entries land in the background once the store takes them.
    await eventually(async () => ((await trailOf(msg.id))('accepted').length > 0 ? true : undefined));
    await expectIngressEntriesOnce(msg.id, 1);
    expect(await counted('accepted')).toBe(acceptedBefore + 1);
    // A resend now is refused as already accepted.
    const late = await sn.send('sn-melde', msg.body, 'application/json');
    expect(late.status).toBe(409);
    expect((late.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    await expectIngressEntriesOnce(msg.id, 2);
    expect(await publishedTo('st-melde')).toBe(before + 1);
    await expectDeliveredOnce(msg.id, (await trailOf(msg.id))('signed')[0]!.digest);
    expect((await trailOf(msg.id))('failed')).toHaveLength(0);
    expect(verifyChain(await t.gateway.auditStore.query({ limit: 100_000 })).ok).toBe(true);
  });
});

describe('a clean stop with audit entries pending', () => {
  it('waits for them: they are in the trail when the gateway has stopped', async () => {
    const dataDir = tempDir('audit-pending-stop');
    try {
      const t = await startTestGateway({ dataDir, env: { GATEWAY_REQUEST_TIMEOUT_MS: '6000' } });
      const faults = new IngressAppendFaults(t.gateway.auditStore);
      const msg = rueckmeldung();
      faults.targets.add(msg.id);
      faults.down = true;
      const r = await t.client('sn-melde').send('sn-melde', msg.body, 'application/json');
      expect((r.body as Problem).code).toBe('GW_ERR_AUDIT_PENDING');
      setTimeout(() => {
        faults.down = false;
      }, 300);
      await t.stop();
      const store = new SqliteAuditStore({ file: path.join(dataDir, 'audit.sqlite') });
      try {
        const trail = await store.query({ messageId: msg.id, limit: 1000 });
        for (const kind of ['received', 'accepted', 'signed', 'queued'] as const)
          expect(trail.filter((e) => e.kind === kind)).toHaveLength(1);
        expect(trail.filter((e) => e.kind === 'failed')).toHaveLength(0);
        expect(verifyChain(await store.query({ limit: 100_000 })).ok).toBe(true);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
