/**
 * The gateway on a real Kafka broker (GATEWAY_BUS=kafka, a topic prefix of its own per run): the pull
 * flow and the push flow end to end, retries through the retry topic that do not block the partition
 * (seen by kcat with the documented keys and headers), and `gw demo` unchanged against `gw start` in
 * Kafka mode. The dead-letter queue and `gw dlq` are in kafka-dlq.test.ts.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER } from '../../gateway/bus/topics.ts';
import type { SystemClient } from '../../gateway/cli/system-client.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import { eventually, pushContracts, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';
import { freePort, runGw, startGw } from './support/gw-process.ts';
import { brokers, deleteByPrefix, uniquePrefix } from './support/kafka-run.ts';
import { removeScratchDirs, scratchDir } from './support/scratch.ts';

const execFileAsync = promisify(execFile);

interface InboxItem {
  messageId: string;
  payload: { data: string; contentType: string };
  signedDocument: string;
}
interface StatusView {
  status: string;
  history: { event: string; actor: string; detail: Record<string, unknown> }[];
}

function kafkaEnv(prefix: string): Record<string, string> {
  return { GATEWAY_BUS: 'kafka', KAFKA_BROKERS: brokers(), KAFKA_TOPIC_PREFIX: prefix };
}

async function kcatRecords(topic: string): Promise<{ key: string; headers: Record<string, string> }[]> {
  const { stdout } = await execFileAsync(
    'kcat',
    ['-b', brokers(), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k|%h\n'],
    { timeout: 30_000 },
  );
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [key, h] = line.split('|');
      // kcat's %h: name=value,name=value (the headers read here hold neither ',' nor '=').
      const headers = Object.fromEntries(
        (h ?? '')
          .split(',')
          .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      );
      return { key: key ?? '', headers };
    });
}

afterAll(removeScratchDirs);

/** The status once it reads `acknowledged` (audit events follow the effect a test observes). */
function acknowledgedStatus(client: SystemClient, messageId: string) {
  return eventually(
    async () => {
      const r = await client.call<StatusView>('GET', `/v1/messages/${messageId}`);
      return r.body.status === 'acknowledged' ? r : undefined;
    },
    10_000,
    `status acknowledged of ${messageId}`,
  );
}

describe('Kafka mode: the pull flow', () => {
  const prefix = uniquePrefix('pull');
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ env: kafkaEnv(prefix) });
  });
  afterAll(async () => {
    await t?.stop();
    await deleteByPrefix(prefix);
  });

  it('carries a 0201 to st-melde and the 0203 back, verified, acknowledged; the topic holds the documented key and headers', async () => {
    expect(t.gateway.bus.kind).toBe('kafka');
    const sn = t.client('sn-melde');
    const st = t.client('st-melde');
    const ca = new X509Certificate(t.gateway.pki.caCertPem);
    const msg = rueckmeldung();
    expect((await sn.send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const item = await eventually(
      async () =>
        (await st.call<{ items: InboxItem[] }>('GET', '/v1/systems/st-melde/inbox')).body.items.find(
          (i) => i.messageId === msg.id,
        ),
      20_000,
      'the 0201 in the st-melde inbox',
    );
    expect(item.payload.data).toContain('<GebDatum>12.04.1988</GebDatum>');
    const verified = await verifyDocument(item.signedDocument, { trustAnchors: [ca] });
    expect((await st.call('POST', `/v1/systems/st-melde/inbox/${msg.id}/ack`)).status).toBe(200);

    const answer = auswertung(msg.id);
    expect((await st.send('st-melde', answer.body, 'application/xml')).status).toBe(202);
    const back = await eventually(
      async () =>
        (await sn.call<{ items: InboxItem[] }>('GET', '/v1/systems/sn-melde/inbox')).body.items.find(
          (i) => i.messageId === answer.id,
        ),
      20_000,
      'the 0203 in the sn-melde inbox',
    );
    expect(JSON.parse(back.payload.data).vorgang).toMatchObject({ id: answer.id, bezugId: msg.id });
    const status = await acknowledgedStatus(sn, msg.id);
    expect(status.body.status).toBe('acknowledged');

    // An independent client sees the records: key = the case, headers as documented.
    const onTopic = await kcatRecords(`${prefix}.deliver.st-melde`);
    const record = onTopic.find((r) => r.headers[HEADER.messageId] === msg.id);
    expect(record).toBeDefined();
    expect(record!.key).toBe(msg.id);
    expect(record!.headers).toMatchObject({
      [HEADER.messageType]: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      [HEADER.senderSystem]: 'sn-melde',
      [HEADER.receiverSystem]: 'st-melde',
      [HEADER.digest]: verified.digest,
    });
    // The answer travels under the case key of the message it answers: same partition, in order.
    const answerRecord = (await kcatRecords(`${prefix}.deliver.sn-melde`)).find(
      (r) => r.headers[HEADER.messageId] === answer.id,
    );
    expect(answerRecord!.key).toBe(msg.id);
  });
});

describe('Kafka mode: the push flow, with retries that do not block the partition', () => {
  const prefix = uniquePrefix('push');
  let t: TestGateway;
  let receiver: PushReceiver;
  const received: PushedRequest[] = [];
  let refuse = new Set<string>();
  const refusals = new Map<string, number>();

  beforeAll(async () => {
    const dataDir = scratchDir('kafka-push');
    receiver = await startPushReceiver(dataDir, (request) => {
      const n = refusals.get(request.messageId) ?? 0;
      if (refuse.has(request.messageId) && n < 2) {
        refusals.set(request.messageId, n + 1);
        return 503;
      }
      received.push(request);
      return 204;
    });
    const contractsDir = pushContracts({ 'st-melde': receiver.url }, scratchDir('contracts'));
    t = await startTestGateway({
      dataDir,
      contractsDir,
      env: {
        ...kafkaEnv(prefix),
        // One partition: everything queues behind a failing record unless retries leave the partition.
        GATEWAY_BUS_PARTITIONS: '1',
        GATEWAY_RETRY_BASE_DELAY_MS: '300',
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
    await deleteByPrefix(prefix);
  });

  it('parks a failing push in the retry topic, delivers what follows meanwhile, then delivers it once', async () => {
    const sn = t.client('sn-melde');
    const first = rueckmeldung();
    const second = rueckmeldung();
    refuse = new Set([first.id]);
    expect((await sn.send('sn-melde', first.body, 'application/json')).status).toBe(202);
    expect((await sn.send('sn-melde', second.body, 'application/json')).status).toBe(202);
    await eventually(
      async () => (received.some((r) => r.messageId === first.id) ? true : undefined),
      20_000,
      'the first message after its retries',
    );
    // The second was behind the first in the one partition, and still arrived first.
    expect(received.map((r) => r.messageId)).toEqual([second.id, first.id]);

    // The receiver has the push before the gateway has its 2xx and the audit event.
    const status = await acknowledgedStatus(sn, first.id);
    expect(status.body.status).toBe('acknowledged');
    const attempts = status.body.history.filter((h) => h.event === 'delivery-attempted');
    expect(attempts.map((h) => [h.detail.attempt, h.detail.status])).toEqual([
      [1, 503],
      [2, 503],
      [3, 204],
    ]);
    const push = received.find((r) => r.messageId === first.id)!;
    expect(push.body.toString('utf8')).toContain(`<VorgangsID>${first.id}</VorgangsID>`);
    expect(push.clientCommonName).toBe('laender-gateway');

    // The retry topic, as an independent client sees it: same key, attempt count, not-before time.
    const parked = (await kcatRecords(`${prefix}.retry.st-melde`)).filter(
      (r) => r.headers[HEADER.messageId] === first.id,
    );
    expect(parked.map((r) => r.headers[HEADER.attempts])).toEqual(['1', '2']);
    for (const r of parked) {
      expect(r.key).toBe(first.id);
      expect(Number.isNaN(Date.parse(r.headers[HEADER.notBefore] ?? ''))).toBe(false);
      expect(r.headers[HEADER.lastError]).toContain('503');
    }
    const [p1, p2] = parked.map((r) => Date.parse(r.headers[HEADER.notBefore]!));
    const firstFailed = Date.parse(parked[0]!.headers[HEADER.firstFailedAt]!);
    // Backoff with equal jitter: at least half the step (300 ms, then 600 ms).
    expect(p1! - firstFailed).toBeGreaterThanOrEqual(150);
    expect(p2!).toBeGreaterThan(p1!);

    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((r) => r.messageId === first.id)).toHaveLength(1);
    expect(received.filter((r) => r.messageId === second.id)).toHaveLength(1);
  });
});

describe('gw start + gw demo in Kafka mode', () => {
  const prefix = uniquePrefix('demo');
  let env: NodeJS.ProcessEnv;
  let server: Awaited<ReturnType<typeof startGw>> | undefined;

  beforeAll(async () => {
    env = {
      ...process.env,
      ...kafkaEnv(prefix),
      GATEWAY_DATA_DIR: scratchDir('kafka-demo'),
      GATEWAY_PORT: String(await freePort()),
      GATEWAY_LOG_LEVEL: 'warn',
    };
    server = await startGw(env);
  });
  afterAll(async () => {
    await server?.stop();
    await deleteByPrefix(prefix);
  });

  it('gw demo plays the whole flow unchanged and exits 0', async () => {
    expect(server!.output()).toContain('bus: kafka');
    const demo = await runGw(['demo'], env);
    expect(demo.stderr).toBe('');
    expect(demo.stdout).toContain('Demo complete');
    expect(demo.code).toBe(0);
    expect(await server!.stop()).toBe(0);
  }, 120_000);
});
