/**
 * A gateway with a small, known message history for the auditor API and console tests: Rückmeldungen
 * from Sachsen to Sachsen-Anhalt (one acknowledged), a night batch from Thüringen (two to Sachsen,
 * one to Sachsen-Anhalt: the Thüringen-only message a Saxon auditor must not see), one route the
 * contract refuses, and tokens for every kind of person. Checkpoints are signed every half second.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { Agent, request } from 'undici';
import type { Permission } from '../../gateway/auth/roles.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { AuditMessageSummary } from '../../gateway/ports/audit-store.ts';
import { receiptIdFor } from '../../gateway/receipts/receipt-id.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, startTestGateway, type TestGateway } from '../support/gateway.ts';

export interface ApiResponse<T> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

/** A person's HTTPS client: trusts the gateway CA, presents no client certificate. */
export class PersonClient {
  readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    caPem: string,
  ) {
    this.agent = new Agent({ connect: { ca: caPem, rejectUnauthorized: true } });
  }

  async get<T = unknown>(urlPath: string, token?: string | null, headers: Record<string, string> = {}) {
    const response = await request(`${this.baseUrl}${urlPath}`, {
      method: 'GET',
      headers: token ? { authorization: `Bearer ${token}`, ...headers } : headers,
      dispatcher: this.agent,
    });
    const text = await response.body.text();
    const type = String(response.headers['content-type'] ?? '');
    const body = /^application\/(problem\+)?json/.test(type) ? JSON.parse(text) : text;
    return { status: response.statusCode, headers: response.headers, body } as ApiResponse<T>;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export interface AuditScenario {
  t: TestGateway;
  person: PersonClient;
  tokens: {
    /** land:SN, land:TH, system:st-melde, * — auditors; an operator; an expired and a revoked auditor token. */
    sn: string;
    th: string;
    stMelde: string;
    all: string;
    /** land:SN with the audit-payload permission. */
    payload: string;
    operator: string;
    expired: string;
    revoked: string;
  };
  tokenIds: Record<string, string>;
  ids: {
    /** sn-melde → st-melde; the first is acknowledged. */
    snToSt: string[];
    /** th-melde → sn-melde. */
    thToSn: string[];
    /** th-melde → st-melde: nothing to do with Sachsen. */
    thToSt: string;
    /** sn-melde → ags:14713000 (within Sachsen): refused by the contract. */
    refused: string;
    /** The receipt (quittung.0020) st-melde's acknowledgement of snToSt[0] sent to sn-melde. */
    receipt: string;
  };
  stop(): Promise<void>;
}

const TH_BATCH = path.join(
  REPO_ROOT,
  'adapters/th-melde/fixtures/0201-nachtlauf-erfurt-jena-weimar.native.csv',
);
const TH_BATCH_IDS = [
  '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A41',
  '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A42',
  '6B0E2A91-3C4D-4F5E-8A7B-9C0D1E2F3A43',
];

function thBatch(): { body: Buffer; ids: string[] } {
  let text = iconv.decode(readFileSync(TH_BATCH), 'win1252');
  const ids = TH_BATCH_IDS.map(() => randomUUID());
  TH_BATCH_IDS.forEach((old, i) => {
    text = text.replace(new RegExp(old, 'gi'), ids[i]!);
  });
  return { body: iconv.encode(text, 'win1252'), ids };
}

/** `env` adds settings, e.g. DATABASE_URL and DATABASE_SCHEMA for the PostgreSQL stores. */
export async function startAuditScenario(env: Record<string, string> = {}): Promise<AuditScenario> {
  const t = await startTestGateway({ env: { GATEWAY_AUDIT_CHECKPOINT_SECONDS: '0.5', ...env } });
  const person = new PersonClient(t.gateway.url, t.gateway.pki.caCertPem);
  const sn = t.client('sn-melde');
  const th = t.client('th-melde');
  const st = t.client('st-melde');
  try {
    const issue = (
      role: 'auditor' | 'operator',
      scope: string,
      name: string,
      now?: Date,
      permissions?: Permission[],
    ) =>
      t.gateway.tokens.issue({
        role,
        scope,
        name,
        lifetimeMs: 3_600_000,
        createdBy: 'test',
        ...(now ? { now } : {}),
        ...(permissions ? { permissions } : {}),
      });
    const issued = {
      sn: await issue('auditor', 'land:SN', 'Prüferin Sachsen'),
      th: await issue('auditor', 'land:TH', 'Prüfer Thüringen'),
      stMelde: await issue('auditor', 'system:st-melde', 'Prüfer Meldewesen Sachsen-Anhalt'),
      all: await issue('auditor', '*', 'Datenschutzaufsicht'),
      payload: await issue('auditor', 'land:SN', 'Prüferin mit Dokumentzugriff', undefined, [
        'audit-payload',
      ]),
      operator: await issue('operator', '*', 'Betrieb'),
      expired: await issue('auditor', 'land:SN', 'abgelaufen', new Date(Date.now() - 2 * 3_600_000)),
      revoked: await issue('auditor', 'land:SN', 'gesperrt'),
    };
    await t.gateway.tokens.revoke(issued.revoked.record.id);

    const snToSt: string[] = [];
    for (let i = 0; i < 3; i++) {
      const message = rueckmeldung();
      const accepted = await sn.send('sn-melde', message.body, 'application/json');
      if (accepted.status !== 202) throw new Error(`sn-melde: ${JSON.stringify(accepted.body)}`);
      snToSt.push(message.id);
    }
    const batch = thBatch();
    const accepted = await th.send('th-melde', batch.body, 'text/csv');
    if (accepted.status !== 202) throw new Error(`th-melde: ${JSON.stringify(accepted.body)}`);
    const refused = rueckmeldung((doc) => {
      doc.empfaenger.ags = '14713000';
    });
    const refusal = await sn.send('sn-melde', refused.body, 'application/json');
    if (refusal.status !== 403) throw new Error(`expected a contract refusal, got ${refusal.status}`);

    const routed = [...snToSt, ...batch.ids];
    const search = async (messageId: string) =>
      (
        await person.get<{ items: AuditMessageSummary[] }>(
          `/v1/audit/messages?messageId=${messageId}`,
          issued.all.token,
        )
      ).body.items[0];
    await eventually(
      async () => {
        for (const id of routed) {
          const status = (await search(id))?.status;
          if (status !== 'delivered' && status !== 'acknowledged') return undefined;
        }
        return true;
      },
      20_000,
      'every routed message delivered',
    );
    const ack = await st.call('POST', `/v1/systems/st-melde/inbox/${snToSt[0]}/ack`);
    if (ack.status !== 200) throw new Error(`ack: ${JSON.stringify(ack.body)}`);
    // The acknowledgement sends sn-melde a receipt (gateway/receipts/): one more message, once delivered.
    const receipt = receiptIdFor(snToSt[0]!);
    await eventually(
      async () =>
        (await t.gateway.auditStore.query({ messageId: receipt, kind: 'delivered', limit: 1 })).length > 0
          ? true
          : undefined,
      20_000,
      'the receipt of the acknowledged message delivered',
    );

    const tokens = Object.fromEntries(
      Object.entries(issued).map(([k, v]) => [k, v.token]),
    ) as AuditScenario['tokens'];
    const tokenIds = Object.fromEntries(Object.entries(issued).map(([k, v]) => [k, v.record.id]));
    return {
      t,
      person,
      tokens,
      tokenIds,
      ids: {
        snToSt,
        thToSn: [batch.ids[0]!, batch.ids[2]!],
        thToSt: batch.ids[1]!,
        refused: refused.id,
        receipt,
      },
      async stop() {
        await person.close();
        await t.stop();
      },
    };
  } catch (error) {
    await person.close();
    await t.stop();
    throw error;
  }
}
