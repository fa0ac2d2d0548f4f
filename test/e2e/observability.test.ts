/**
 * Tracing and metrics end to end, over real HTTPS, the SQLite bus and a real mTLS push receiver:
 * - a caller's W3C traceparent is continued: the 202 names the same trace, the receiver's push
 *   request carries the same trace id with a new parent span id, and every log line about the
 *   message (ingress and delivery) carries the message id and the trace id;
 * - a missing or invalid traceparent is replaced by a new trace, never passed on;
 * - /metrics has per-stage latency histograms, outcome counts, rejections by code, bus lag and
 *   certificate expiry times that match the certificates on disk.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually } from '../support/gateway.ts';
import { scraperAuth } from '../support/metrics-scrape.ts';
import { type ObservedGateway, startObservedGateway } from './observability-harness.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).split(' ')[0]!;
    if (wanted.every((w) => labelText.includes(w))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('W3C trace context and metrics', () => {
  let o: ObservedGateway;

  beforeAll(async () => {
    o = await startObservedGateway();
  });
  afterAll(async () => {
    await o?.stop();
  });

  async function sendAndAwaitPush(headers: Record<string, string>) {
    const m = rueckmeldung();
    const response = await o.client('sn-melde').call('POST', '/v1/systems/sn-melde/messages', m.body, {
      'content-type': 'application/json',
      ...headers,
    });
    expect(response.status).toBe(202);
    const pushed = await eventually(
      async () => o.pushed.find((p) => p.messageId === m.id),
      20_000,
      `push of ${m.id}`,
    );
    return { id: m.id, response, pushed };
  }

  it('continues the caller trace through ingress, the bus and delivery to the push request', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const { id, response, pushed } = await sendAndAwaitPush({
      traceparent: `00-${traceId}-${callerSpan}-01`,
      tracestate: 'vendor=abc',
    });

    const answered = TRACEPARENT.exec(String(response.headers.traceparent));
    expect(answered?.[1]).toBe(traceId);
    expect(answered?.[2]).not.toBe(callerSpan);

    const atReceiver = TRACEPARENT.exec(String(pushed.headers.traceparent));
    expect(atReceiver, String(pushed.headers.traceparent)).not.toBeNull();
    expect(atReceiver![1]).toBe(traceId);
    // A new parent span: the gateway's delivery span, neither the caller's nor the ingress span.
    expect(atReceiver![2]).not.toBe(callerSpan);
    expect(atReceiver![2]).not.toBe(answered![2]);
    expect(atReceiver![2]).not.toBe('0000000000000000');
    expect(atReceiver![3]).toBe('01');
    // The vendors' trace state travels with its trace.
    expect(pushed.headers.tracestate).toBe('vendor=abc');

    // Every line about this message carries its id and the trace id: ingress and delivery alike.
    await eventually(async () =>
      o.lines().some((l) => l.messageId === id && l.msg === 'message queued') ? true : undefined,
    );
    const about = o.lines().filter((l) => l.messageId === id || JSON.stringify(l).includes(id));
    expect(about.length).toBeGreaterThan(0);
    for (const line of about) {
      expect(line.messageId, JSON.stringify(line)).toBe(id);
      expect(line.traceId, JSON.stringify(line)).toBe(traceId);
    }
  });

  it('delivery log lines carry the trace id', async () => {
    // A duplicate push is suppressed and logged by the delivery worker: force one line from delivery.
    const traceId = 'a'.repeat(31) + 'b';
    const { id } = await sendAndAwaitPush({ traceparent: `00-${traceId}-${'1'.repeat(16)}-00` });
    const { gateway } = o;
    // Publish the sealed record again (as a crash between push and commit would): the worker logs.
    const { deliverTopic, HEADER } = await import('../../gateway/bus/topics.ts');
    const { browseTopic } = await import('../../gateway/bus/browse.ts');
    const topic = deliverTopic(gateway.config.kafka.topicPrefix, 'st-melde');
    const records = await browseTopic(gateway.bus, { topic, group: `browse-${id}`, timeoutMs: 10_000 });
    const record = records.find((r) => r.headers[HEADER.messageId] === id);
    expect(record?.headers[HEADER.traceparent]).toMatch(new RegExp(`^00-${traceId}-`));
    if (!record) return;
    await gateway.bus.publish([{ topic, key: record.key, value: record.value, headers: record.headers }]);
    const line = await eventually(async () =>
      o.lines().find((l) => l.messageId === id && /already|duplicate/.test(String(l.msg))),
    );
    expect(line.traceId, JSON.stringify(line)).toBe(traceId);
    expect(line.to).toBe('st-melde');
  });

  it('replaces a missing or invalid traceparent by a new trace instead of passing it on', async () => {
    const invalid = [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // all-zero parent id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // forbidden version
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // version 00 has no extra field
      'garbage',
    ];
    const seen = new Set<string>();
    for (const traceparent of [...invalid, undefined]) {
      const { response, pushed } = await sendAndAwaitPush({
        ...(traceparent ? { traceparent } : {}),
        tracestate: 'vendor=abc',
      });
      const answered = TRACEPARENT.exec(String(response.headers.traceparent));
      expect(answered, String(traceparent)).not.toBeNull();
      expect(answered![1]).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(answered![1]).not.toMatch(/^0+$/);
      const traceId = answered![1]!;
      expect(seen.has(traceId)).toBe(false);
      seen.add(traceId);
      expect(TRACEPARENT.exec(String(pushed.headers.traceparent))?.[1]).toBe(answered![1]);
      // A trace state belongs to the caller's trace: it never rides on a replacement.
      expect(pushed.headers.tracestate).toBeUndefined();
    }
  });

  it('answers every request, refusals too, with its trace', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const r = await o.client(null).call('GET', '/v1/systems/sn-melde/inbox', undefined, {
      traceparent: `00-${traceId}-b7ad6b7169203331-01`,
    });
    expect(r.status).toBe(401);
    expect(String(r.headers.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const refusal = o.lines().find((l) => l.msg === 'request rejected' && l.traceId === traceId);
    expect(refusal).toBeDefined();
  });

  it('exposes stage latencies, outcomes, rejections by code, bus lag and certificate expiry', async () => {
    const sn = o.client('sn-melde');
    // One refused message (not on the code list) for the rejection counter.
    const bad = rueckmeldung((doc) => {
      doc.person.geschlecht = 'q';
    });
    const refused = await sn.send('sn-melde', bad.body, 'application/json');
    expect(refused.status).toBe(422);
    const code = (refused.body as { code: string }).code;

    const metrics = String(
      (await o.client(null).call<string>('GET', '/metrics', undefined, await scraperAuth(o.gateway))).body,
    );
    for (const stage of [
      'ingress.decode',
      'ingress.validate',
      'ingress.sign',
      'ingress.publish',
      'delivery.verify',
      'delivery.encode',
      'delivery.push',
    ]) {
      const count = sample(metrics, 'gateway_stage_duration_seconds_count', { stage });
      expect(count, stage).toBeGreaterThanOrEqual(1);
      expect(sample(metrics, 'gateway_stage_duration_seconds_sum', { stage }), stage).toBeGreaterThan(0);
    }
    const accepted = sample(metrics, 'gateway_messages_total', { outcome: 'accepted' })!;
    const delivered = sample(metrics, 'gateway_messages_total', { outcome: 'delivered' })!;
    // The counters agree with the audit log: accepted at ingress (sent by systems; receipts the
    // gateway makes itself are not ingress), delivered (receipts routed back count as deliveries).
    const audited = async (kind: 'accepted' | 'delivered') =>
      (await o.gateway.auditStore.query({ kind, limit: 10_000 })).filter((e) => !e.detail.recovered);
    expect(accepted).toBe(o.pushed.length);
    expect(accepted).toBe((await audited('accepted')).filter((e) => e.actor.startsWith('system:')).length);
    expect(delivered).toBe((await audited('delivered')).length);
    expect(sample(metrics, 'gateway_stage_duration_seconds_count', { stage: 'ingress.publish' })).toBe(
      accepted,
    );
    expect(sample(metrics, 'gateway_requests_rejected_total', { code })).toBe(1);
    expect(sample(metrics, 'gateway_bus_lag_records', { system: 'st-melde' })).toBe(0);
    expect(sample(metrics, 'gateway_dead_letter_queue_size', { system: 'st-melde' })).toBe(0);
    expect(metrics).toContain('# TYPE gateway_overdue_answers gauge');

    const pki = path.join(o.dataDir, 'pki');
    const expected: [string, string, string][] = [
      ['ca', '', 'ca.crt'],
      ['server', '', 'server.crt'],
      ['signing', '', 'signing.crt'],
      ['gateway-client', '', 'gateway-client.crt'],
      ...o.gateway.routing.directory.systems.map(
        (s) => ['system', s.id, path.join('systems', `${s.id}.crt`)] as [string, string, string],
      ),
    ];
    for (const [kind, system, file] of expected) {
      const notAfter = Date.parse(new X509Certificate(readFileSync(path.join(pki, file))).validTo);
      const seconds = sample(metrics, 'gateway_certificate_expiry_seconds', { kind, system });
      expect(seconds, `${kind} ${system}`).toBeDefined();
      expect(Math.abs(seconds! - (notAfter - Date.now()) / 1000), `${kind} ${system}`).toBeLessThan(120);
    }
  });
});
