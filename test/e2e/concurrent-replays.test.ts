/**
 * Concurrent requests with one nachrichtenUUID over real HTTPS: the same sender sending twice at
 * once, or an attacker replaying a captured request while the original is still in the ingress.
 * Exactly one is accepted (202); every other gets 409 GW_ERR_DUPLICATE_MESSAGE, audited as a refusal,
 * with nothing published: the trail has one `accepted` and one sealed digest, the bus one record, the
 * receiver's inbox the message once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverTopic } from '../../gateway/bus/topics.ts';
import type { ClientResponse, SystemClient } from '../../gateway/cli/system-client.ts';
import { parseXmlSafely } from '../../gateway/xml/safe-parse.ts';
import { catalogue } from '../../standards/index.ts';
import { fromElement, toCanonicalXml, validateMessage } from '../../standards/xoev/xml-codec.ts';
import { fixture } from '../hostile/support/broken-payloads.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

interface Problem {
  type: string;
  status: number;
  code: string;
}

/** Requests in flight at once: two clients of 8 connections each, all warmed up before the burst. */
const CONCURRENT = 16;

const R0201 = catalogue.messageType('xmeld', '25.11', 'rueckmeldung.anmeldunginland.0201')!;

/** A valid canonical XMeld 25.11 0201 from Dresden (sn-melde) to Magdeburg, with a fresh id. */
function standardDocument(): { id: string; xml: string } {
  const xml = fixture('sn-melde', '0201-umzug-magdeburg-dresden.standard.xml').toString('utf8');
  const m = validateMessage(R0201, fromElement(R0201, parseXmlSafely(xml).documentElement!));
  const id = randomUUID();
  m['nachrichtenkopf.g2g']['identifikation.nachricht'].nachrichtenUUID = id;
  return { id, xml: toCanonicalXml(R0201, m) };
}

describe('concurrent requests with one nachrichtenUUID', () => {
  let t: TestGateway;
  let clients: SystemClient[];
  /** A consumer group nobody consumes with: its lag is every record ever published to the topic. */
  const COUNTING_GROUP = 'concurrent-replays-test-counter';

  beforeAll(async () => {
    t = await startTestGateway();
    clients = [t.client('sn-melde'), t.client('sn-melde')];
  });
  afterAll(async () => t?.stop());

  async function publishedTo(system: string): Promise<number> {
    const prefix = t.gateway.config.kafka.topicPrefix;
    const lag = await t.gateway.bus.lag(COUNTING_GROUP, deliverTopic(prefix, system));
    return lag.reduce((s, p) => s + p.lag, 0);
  }

  /** Opens every connection of every client, so that the burst below really runs at once. */
  async function warmUp(): Promise<void> {
    await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => clients[i % clients.length]!.call('GET', '/health/ready')),
    );
  }

  async function burst(
    send: (client: SystemClient) => Promise<ClientResponse<unknown>>,
  ): Promise<ClientResponse<unknown>[]> {
    await warmUp();
    return Promise.all(Array.from({ length: CONCURRENT }, (_, i) => send(clients[i % clients.length]!)));
  }

  async function expectAcceptedOnce(id: string, responses: ClientResponse<unknown>[]): Promise<void> {
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([202, ...Array<number>(CONCURRENT - 1).fill(409)]);
    for (const r of responses.filter((r) => r.status === 409)) {
      expect(String(r.headers['content-type'])).toContain('application/problem+json');
      expect(r.body as Problem).toMatchObject({
        status: 409,
        code: 'GW_ERR_DUPLICATE_MESSAGE',
        type: 'urn:laender-gateway:problem:GW_ERR_DUPLICATE_MESSAGE',
      });
    }
    // In the receiver's inbox once; only then is everything that was published delivered.
    await eventually(async () => ((await t.gateway.mailbox.get('st-melde', id)) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    const inbox = await t.gateway.mailbox.list('st-melde', { limit: 1000 });
    expect(inbox.items.filter((i) => i.messageId === id)).toHaveLength(1);

    const trail = await t.gateway.auditStore.query({ messageId: id, limit: 10_000 });
    const kinds = (kind: string) => trail.filter((e) => e.kind === kind);
    expect(kinds('received')).toHaveLength(1);
    expect(kinds('accepted')).toHaveLength(1);
    expect(kinds('signed')).toHaveLength(1);
    expect(kinds('queued')).toHaveLength(1);
    expect(kinds('delivered')).toHaveLength(1);
    expect(new Set(trail.filter((e) => e.digest).map((e) => e.digest)).size).toBe(1);
    // Each refusal is audited like a replay after the fact.
    const refusals = kinds('rejected');
    expect(refusals).toHaveLength(CONCURRENT - 1);
    for (const e of refusals) expect(e.detail.code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    expect(kinds('failed')).toHaveLength(0);
  }

  it('a native payload sent many times at once is accepted once', async () => {
    const before = await publishedTo('st-melde');
    const msg = rueckmeldung();
    const responses = await burst((c) => c.send('sn-melde', msg.body, 'application/json'));
    await expectAcceptedOnce(msg.id, responses);
    expect(await publishedTo('st-melde')).toBe(before + 1);
  });

  it('a standard document sent many times at once is accepted once', async () => {
    const before = await publishedTo('st-melde');
    const doc = standardDocument();
    const responses = await burst((c) =>
      c.call('POST', '/v1/messages', doc.xml, { 'content-type': 'application/xml' }),
    );
    await expectAcceptedOnce(doc.id, responses);
    expect(await publishedTo('st-melde')).toBe(before + 1);
  });

  it('after the burst the id stays taken, and a fresh id is accepted as ever', async () => {
    const msg = rueckmeldung();
    await burst((c) => c.send('sn-melde', msg.body, 'application/json'));
    const again = await clients[0]!.send('sn-melde', msg.body, 'application/json');
    expect(again.status).toBe(409);
    expect((again.body as Problem).code).toBe('GW_ERR_DUPLICATE_MESSAGE');
    const fresh = rueckmeldung();
    expect((await clients[1]!.send('sn-melde', fresh.body, 'application/json')).status).toBe(202);
  });
});
