/**
 * The bench's workload and load generator: a realistic mix of the three domains, each message in
 * its sending system's native format with a fresh nachrichtenUUID, sent over HTTPS with that
 * system's client certificate (undici, keep-alive), closed-loop (a fixed number in flight: the
 * sustainable rate) or open-loop (a fixed offered rate, latency measured from the SCHEDULED send
 * time, so a stalled server cannot hide its queue — no coordinated omission).
 *
 * The mix (round robin, one third each):
 * - Meldewesen: sn-melde sends a Rückmeldung 0201 (JSON) to Sachsen-Anhalt → st-melde (XML dialect);
 * - Kfz: st-kfz reports a change of keeper (JSON) → kba-zfzr (XKfz itself);
 * - Elterngeld: elterngeld-online sends an application (JSON), routed by municipality to
 *   sn-elterngeld (Leipzig) or th-elterngeld (Jena), alternating.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';

export interface Payload {
  /** The nachrichtenUUID: the receiver sees it as x-nachrichten-uuid. */
  id: string;
  domain: 'melde' | 'kfz' | 'elterngeld';
  systemId: string;
  contentType: string;
  body: string;
}

/** Systems that send in the mix, and systems that receive it (switched to push in the bench). */
export const SENDERS = ['sn-melde', 'st-kfz', 'elterngeld-online'] as const;
export const RECEIVERS = ['st-melde', 'kba-zfzr', 'sn-elterngeld', 'th-elterngeld'] as const;

const fixture = (adapter: string, file: string) =>
  readFileSync(path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file), 'utf8');

interface Template {
  domain: Payload['domain'];
  systemId: string;
  text: string;
  /** The fixture's nachrichtenUUID, replaced by a fresh one in every copy. */
  id: RegExp;
}

const SN_MELDE = fixture('sn-melde', '0201-umzug-magdeburg-dresden.native.json');
const melde: Template = {
  domain: 'melde',
  systemId: 'sn-melde',
  text: SN_MELDE,
  id: new RegExp(JSON.parse(SN_MELDE).vorgang.id, 'gi'),
};
const kfz: Template = {
  domain: 'kfz',
  systemId: 'st-kfz',
  text: fixture('st-kfz', '1002-halterwechsel-magdeburg.native.json'),
  id: /d4e5f6a7-b8c9-4dae-9f01-3b4c5d6e7f80/gi,
};
const elterngeld = (file: string, id: RegExp): Template => ({
  domain: 'elterngeld',
  systemId: 'elterngeld-online',
  text: fixture('elterngeld-online', file),
  id,
});
/** One cycle of the round robin: each domain twice, Elterngeld once to Saxony and once to Thuringia. */
const TEMPLATES: Template[] = [
  melde,
  kfz,
  elterngeld('0101-antrag-leipzig.native.json', /2b3c4d5e-6f70-4812-93a4-b5c6d7e8f901/gi),
  melde,
  kfz,
  elterngeld('0101-antrag-jena.native.json', /7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f/gi),
];

/** `n` messages of the mix, each with a fresh id. */
export function mixedPayloads(n: number): Payload[] {
  return Array.from({ length: n }, (_, i) => {
    const t = TEMPLATES[i % TEMPLATES.length]!;
    const id = randomUUID();
    return {
      id,
      domain: t.domain,
      systemId: t.systemId,
      contentType: 'application/json',
      body: t.text.replace(t.id, id),
    };
  });
}

/** Average body size of the mix in bytes (for the table). */
export function averageBytes(payloads: Payload[]): number {
  return Math.round(payloads.reduce((n, p) => n + Buffer.byteLength(p.body), 0) / payloads.length);
}

/** One HTTPS client per sending system, with its client certificate from `dataDir`. */
export class LoadGenerator {
  private readonly clients = new Map<string, SystemClient>();

  constructor(baseUrl: string, dataDir: string, connectionsPerSystem: number) {
    for (const id of SENDERS) {
      this.clients.set(
        id,
        SystemClient.forSystem(baseUrl, dataDir, id, { connections: connectionsPerSystem }),
      );
    }
  }

  async send(p: Payload): Promise<number> {
    const client = this.clients.get(p.systemId)!;
    return (await client.send(p.systemId, p.body, p.contentType)).status;
  }

  async ready(): Promise<void> {
    const client = this.clients.get(SENDERS[0])!;
    for (let i = 0; ; i++) {
      try {
        if ((await client.call('GET', '/health/ready')).status === 200) return;
      } catch {}
      if (i > 600) throw new Error('the server did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  close(): Promise<void> {
    return Promise.all([...this.clients.values()].map((c) => c.close())).then(() => {});
  }
}

export interface SendReport {
  /** Milliseconds from the (scheduled) send to the response, per request. */
  responseMs: number[];
  accepted: number;
  failed: number;
  /** Status codes other than 202, counted (0: no response). */
  statuses: Record<string, number>;
  /** Client errors (no response), counted by message. */
  errors: Record<string, number>;
  seconds: number;
}

const nowMs = () => performance.now();

/** Closed loop: `concurrency` requests in flight until every payload was sent. */
export async function closedLoop(
  gen: LoadGenerator,
  payloads: Payload[],
  concurrency: number,
  onSend: (p: Payload, atMs: number) => void = () => {},
): Promise<SendReport> {
  const report: SendReport = { responseMs: [], accepted: 0, failed: 0, statuses: {}, errors: {}, seconds: 0 };
  let next = 0;
  const started = nowMs();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < payloads.length; i = next++) {
        const p = payloads[i]!;
        const t0 = nowMs();
        onSend(p, t0);
        await count(report, t0, gen.send(p));
      }
    }),
  );
  report.seconds = (nowMs() - started) / 1000;
  return report;
}

/**
 * Open loop: payload i is due at start + i / rate; every due payload is sent at once whether or
 * not earlier ones were answered. Latencies count from the due time.
 */
export async function openLoop(
  gen: LoadGenerator,
  payloads: Payload[],
  ratePerS: number,
  onSend: (p: Payload, dueMs: number) => void = () => {},
): Promise<SendReport> {
  const report: SendReport = { responseMs: [], accepted: 0, failed: 0, statuses: {}, errors: {}, seconds: 0 };
  const inFlight: Promise<void>[] = [];
  const started = nowMs();
  let i = 0;
  while (i < payloads.length) {
    const now = nowMs();
    while (i < payloads.length && started + (i * 1000) / ratePerS <= now) {
      const due = started + (i * 1000) / ratePerS;
      const p = payloads[i]!;
      onSend(p, due);
      inFlight.push(count(report, due, gen.send(p)));
      i++;
    }
    // ~1 ms ticks: setTimeout(0) is clamped to 1 ms, the granularity this generator needs at 1,000/s.
    await new Promise((r) => setTimeout(r, 0));
  }
  await Promise.all(inFlight);
  report.seconds = (nowMs() - started) / 1000;
  return report;
}

async function count(report: SendReport, t0: number, response: Promise<number>): Promise<void> {
  let status: number;
  try {
    status = await response;
  } catch (error) {
    status = 0;
    report.errors[String((error as Error).message)] ??= 0;
    report.errors[String((error as Error).message)]!++;
  }
  report.responseMs.push(nowMs() - t0);
  if (status === 202) report.accepted++;
  else {
    report.failed++;
    report.statuses[status] = (report.statuses[status] ?? 0) + 1;
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
