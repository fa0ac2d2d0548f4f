/**
 * The auditor API over real HTTPS with real tokens, a real audit store and real signed checkpoints:
 * search (filters, time range, cursor paging, both orders), a message's trail, inclusion proofs that
 * verify with nothing but the audit public key, the checkpoints, the streamed JSONL export that
 * `gw audit verify` accepts, scopes (a Saxon auditor does not see a message between Thüringen and
 * Sachsen-Anhalt), the payload permission, and every refusal as an audited problem+json.
 */
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointHash,
  checkpointSignatureValid,
  GENESIS_CHECKPOINT_HASH,
} from '../../gateway/audit/checkpoint.ts';
import { verifyExportStream } from '../../gateway/audit/verify-export.ts';
import { verifyInclusionProof } from '../../gateway/audit/verify-proof.ts';
import type {
  AuditCheckpoint,
  AuditEntry,
  AuditMessageSummary,
  InclusionProof,
} from '../../gateway/ports/audit-store.ts';
import { verifyDocument } from '../../gateway/signing/verifier.ts';
import { dropSchema, freshSchemaName, PG_URL } from '../conformance/pg-test-schema.ts';
import { eventually } from '../support/gateway.ts';
import { type AuditScenario, startAuditScenario } from './audit-scenario.ts';

interface Page {
  items: AuditMessageSummary[];
  next: string | null;
}
interface Problem {
  status: number;
  code: string;
  detail: string;
  pointer?: string;
}
interface ProofAnswer {
  messageId: string;
  keyId: string;
  publicKey: string;
  proofs: { entry: AuditEntry; proof: InclusionProof | null }[];
}

let s: AuditScenario;

const get = <T>(urlPath: string, token?: string | null) => s.person.get<T>(urlPath, token);
const ids = (page: Page) => page.items.map((m) => m.messageId);

/** Every message visible to the token (all pages). */
async function everything(token: string, query = ''): Promise<AuditMessageSummary[]> {
  const out: AuditMessageSummary[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: Page } = await get<Page>(
      `/v1/audit/messages?limit=1000${query}${cursor ? `&cursor=${cursor}` : ''}`,
      token,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    out.push(...r.body.items);
    cursor = r.body.next;
  } while (cursor);
  return out;
}

function expectProblem(
  r: { status: number; headers: Record<string, unknown>; body: unknown },
  status: number,
  code: string,
) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect((r.body as Problem).code, JSON.stringify(r.body)).toBe(code);
}

async function rejectionsOf(route: string): Promise<AuditEntry[]> {
  const rejected = await s.t.gateway.auditStore.query({ kind: 'rejected' });
  return rejected.filter((e) => e.detail.route === route);
}

const STORES = [
  { store: 'SQLite', env: () => ({}) },
  { store: 'PostgreSQL', env: (schema: string) => ({ DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema }) },
];

/** GET /v1/audit/export with the token, as the raw text of the streamed body. */
async function exportAs(token: string): Promise<string> {
  const response = await request(`${s.t.gateway.url}/v1/audit/export`, {
    headers: { authorization: `Bearer ${token}` },
    dispatcher: s.person.agent,
  });
  const text = await response.body.text();
  expect(response.statusCode, text).toBe(200);
  return text;
}

const GW = fileURLToPath(new URL('../../bin/gw.js', import.meta.url));

/** `gw audit verify <file> --checkpoint-key audit.pub` as an auditor runs it offline: a real process. */
async function gwVerify(exported: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-scoped-export-'));
  try {
    const file = path.join(dir, 'export.jsonl');
    writeFileSync(file, exported);
    const pub = path.join(s.t.dataDir, 'pki', 'audit.pub');
    return await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [GW, 'audit', 'verify', file, '--checkpoint-key', pub], {
        env: { PATH: process.env.PATH ?? '', GATEWAY_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => {
        stdout += c;
      });
      child.stderr.on('data', (c) => {
        stderr += c;
      });
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.each(STORES)('the auditor API on $store', ({ store, env }) => {
  const schema = freshSchemaName('auditapi');
  beforeAll(async () => {
    s = await startAuditScenario(env(schema));
    expect(s.t.gateway.auditStore.kind).toBe(store === 'SQLite' ? 'sqlite' : 'postgres');
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    if (store === 'PostgreSQL') await dropSchema(schema);
  });

  describe('who may read the audit log', () => {
    it('refuses missing, malformed, expired and revoked tokens, systems and foreign roles — problem+json, audited', async () => {
      const route = '/v1/audit/messages';
      const before = (await rejectionsOf(route)).length;

      const none = await get<Problem>(route);
      expectProblem(none, 401, 'GW_ERR_TOKEN_REQUIRED');
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);

      expectProblem(await get<Problem>(route, 'not-a-token'), 401, 'GW_ERR_TOKEN_INVALID');
      expectProblem(await get<Problem>(route, s.tokens.expired), 401, 'GW_ERR_TOKEN_INVALID');
      expectProblem(await get<Problem>(route, s.tokens.revoked), 401, 'GW_ERR_TOKEN_INVALID');

      // A connected system's client certificate opens no audit route: deny by default.
      const system = await s.t.client('sn-melde').call<Problem>('GET', route);
      expect(system.status).toBe(403);
      expect(system.body.code).toBe('GW_ERR_ROLE_FORBIDDEN');

      const after = await rejectionsOf(route);
      expect(after.length - before).toBe(5);
      expect(after.slice(-5).map((e) => e.detail.code)).toEqual([
        'GW_ERR_TOKEN_REQUIRED',
        'GW_ERR_TOKEN_INVALID',
        'GW_ERR_TOKEN_INVALID',
        'GW_ERR_TOKEN_INVALID',
        'GW_ERR_ROLE_FORBIDDEN',
      ]);
      expect(after.slice(-5).every((e) => e.detail.method === 'GET')).toBe(true);
    });

    it('admits auditors and operators; answers are not cached', async () => {
      for (const token of [s.tokens.sn, s.tokens.all, s.tokens.operator]) {
        const r = await get<Page>('/v1/audit/messages', token);
        expect(r.status).toBe(200);
        expect(r.headers['cache-control']).toBe('no-store');
      }
    });
  });

  describe('search', () => {
    it('finds by message id, authority, system, message type, status and time range', async () => {
      const { snToSt, thToSn, thToSt, refused } = s.ids;
      const q = async (query: string) => {
        const r = await get<Page>(`/v1/audit/messages?limit=1000&${query}`, s.tokens.all);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return ids(r.body);
      };

      expect(await q(`messageId=${thToSt}`)).toEqual([thToSt]);
      const bySystem = await q('system=th-melde');
      expect(new Set(bySystem)).toEqual(new Set([...thToSn, thToSt]));
      expect(new Set(await q('senderSystem=sn-melde'))).toEqual(new Set([...snToSt, refused]));
      expect(new Set(await q('receiverSystem=st-melde'))).toEqual(new Set([...snToSt, thToSt]));
      // Authorities by DVDV key or prefix: Halle (Saale) receives only the Thüringen message.
      expect(await q('receiver=ags:15002000')).toEqual([thToSt]);
      expect(new Set(await q('authority=ags:16*'))).toEqual(new Set([...thToSn, thToSt]));
      expect(new Set(await q('sender=ags:14612000'))).toEqual(new Set(snToSt));
      expect(
        new Set(await q('messageType=xmeld:25.11:rueckmeldung.anmeldunginland.0201&system=th-melde')),
      ).toEqual(new Set([...thToSn, thToSt]));
      expect(await q('messageType=xmeld:25.11:rueckmeldung.auswertung.0203')).toEqual([]);
      expect(await q('status=acknowledged')).toEqual([snToSt[0]]);
      expect(await q(`status=rejected&messageId=${refused}`)).toEqual([refused]);
      expect(new Set(await q('status=acknowledged,rejected&system=sn-melde'))).toEqual(
        new Set([snToSt[0], refused]),
      );
      expect(new Set(await q('status=acknowledged&status=rejected&system=sn-melde'))).toEqual(
        new Set([snToSt[0], refused]),
      );

      // Time range on the first event: [from, to).
      const [first] = (await get<Page>(`/v1/audit/messages?messageId=${thToSt}`, s.tokens.all)).body.items;
      const since = await q(`system=th-melde&from=${first!.firstTime}`);
      expect(since).toContain(thToSt);
      const until = await q(`system=th-melde&to=${first!.firstTime}`);
      expect(until).not.toContain(thToSt);
      expect(new Set([...since, ...until])).toEqual(new Set(bySystem));
      expect(await q('from=2000-01-01&to=2000-01-02')).toEqual([]);
    });

    it('pages with a cursor, sorted by time, in both orders, without gaps or repeats', async () => {
      // sn-melde sent four messages (one refused), received the two from Thüringen and a receipt.
      const all = await everything(s.tokens.all, '&system=sn-melde');
      expect(new Set(ids({ items: all, next: null }))).toEqual(
        new Set([...s.ids.snToSt, s.ids.refused, ...s.ids.thToSn, s.ids.receipt]),
      );
      const times = all.map((m) => m.firstTime);
      expect(times).toEqual([...times].sort());

      for (const order of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const r: { body: Page } = await get<Page>(
            `/v1/audit/messages?system=sn-melde&limit=3&order=${order}${cursor ? `&cursor=${cursor}` : ''}`,
            s.tokens.all,
          );
          expect(r.body.items.length).toBeLessThanOrEqual(3);
          seen.push(...ids(r.body));
          cursor = r.body.next;
          pages += 1;
        } while (cursor);
        expect(pages).toBe(Math.ceil(all.length / 3));
        expect(seen).toEqual(
          order === 'asc' ? ids({ items: all, next: null }) : ids({ items: all, next: null }).reverse(),
        );
      }
    });

    it('refuses malformed and unknown query parameters, naming them', async () => {
      const cases: [string, string][] = [
        ['limit=0', '/limit'],
        ['limit=1001', '/limit'],
        ['status=lost', '/status/0'],
        ['from=yesterday', '/from'],
        ['from=2026-11-01T10:00:00', '/from'],
        ['system=SN_MELDE', '/system'],
        ['sendr=ags:14612000', '/sendr'],
        ['order=sideways', '/order'],
        ['cursor=%24%24%24', '/cursor'],
      ];
      for (const [query, pointer] of cases) {
        const r = await get<Problem>(`/v1/audit/messages?${query}`, s.tokens.all);
        expectProblem(r, 400, 'GW_ERR_BAD_REQUEST');
        expect(r.body.pointer, query).toBe(pointer);
      }
      // Values the store checks: an authority that is no DVDV key, a cursor it did not issue.
      expectProblem(
        await get(`/v1/audit/messages?authority=Dresden`, s.tokens.all),
        400,
        'GW_ERR_BAD_REQUEST',
      );
      expectProblem(
        await get(`/v1/audit/messages?cursor=bm90LWEtY3Vyc29y`, s.tokens.all),
        400,
        'GW_ERR_BAD_REQUEST',
      );
      const audited = await rejectionsOf('/v1/audit/messages');
      expect(audited.filter((e) => e.detail.code === 'GW_ERR_BAD_REQUEST').length).toBeGreaterThanOrEqual(
        cases.length + 2,
      );
    });
  });

  describe('a message', () => {
    it('has its full trail, in time order, from acceptance to acknowledgement', async () => {
      const id = s.ids.snToSt[0]!;
      const r = await get<{ message: AuditMessageSummary; trail: AuditEntry[]; truncated: boolean }>(
        `/v1/audit/messages/${id}`,
        s.tokens.sn,
      );
      expect(r.status).toBe(200);
      expect(r.body.message).toMatchObject({
        messageId: id,
        status: 'acknowledged',
        sender: 'ags:14612000',
        receiver: 'ags:15003000',
        senderSystem: 'sn-melde',
        receiverSystem: 'st-melde',
        messageType: 'xmeld:25.11:rueckmeldung.anmeldunginland.0201',
      });
      const kinds = r.body.trail.map((e) => e.kind);
      expect(kinds[0]).toBe('received');
      expect(kinds).toEqual(
        expect.arrayContaining(['accepted', 'signed', 'queued', 'delivered', 'acknowledged']),
      );
      expect(kinds.at(-1)).toBe('acknowledged');
      expect(r.body.trail.every((e) => e.messageId === id)).toBe(true);
      const times = r.body.trail.map((e) => e.time);
      expect(times).toEqual([...times].sort());
      expect(r.body.message.events).toBe(r.body.trail.length);
      expect(r.body.truncated).toBe(false);

      expectProblem(await get(`/v1/audit/messages/no-such-message`, s.tokens.all), 404, 'GW_ERR_NOT_FOUND');
      expectProblem(await get(`/v1/audit/messages/bad%20id`, s.tokens.all), 400, 'GW_ERR_BAD_REQUEST');
      expectProblem(await get(`/v1/audit/messages/${id}?full=1`, s.tokens.all), 400, 'GW_ERR_BAD_REQUEST');
    });

    it('is proven to a signed checkpoint with nothing but the audit public key', async () => {
      const id = s.ids.snToSt[0]!;
      const answer = await eventually(
        async () => {
          const r = await get<ProofAnswer>(`/v1/audit/messages/${id}/proof`, s.tokens.sn);
          expect(r.status).toBe(200);
          return r.body.proofs.every((p) => p.proof !== null) ? r.body : undefined;
        },
        10_000,
        'a checkpoint covering the whole trail',
      );
      // The key the API hands out is the one on disk, and the public route serves the same.
      const onDisk = readFileSync(path.join(s.t.dataDir, 'pki', 'audit.pub'), 'utf8');
      expect(answer.publicKey).toBe(onDisk);
      const published = await get<string>('/v1/audit/public-key');
      expect(published.status).toBe(200);
      expect(published.body).toBe(onDisk);
      expect(published.headers['x-audit-key-id']).toBe(answer.keyId);

      expect(answer.proofs.length).toBeGreaterThanOrEqual(6);
      for (const { entry, proof } of answer.proofs) {
        expect(await verifyInclusionProof(proof!, onDisk, entry)).toEqual({ ok: true });
      }

      // Any change is caught: an edited entry, a forged path, a re-signed checkpoint under another key.
      const { entry, proof } = answer.proofs[0]!;
      const edited = { ...entry, receiver: 'ags:16051000' };
      expect((await verifyInclusionProof(proof!, onDisk, edited)).ok).toBe(false);
      if (proof!.path.length > 0) {
        const forged = {
          ...proof!,
          path: [proof!.path[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0')), ...proof!.path.slice(1)],
        };
        expect(await verifyInclusionProof(forged, onDisk, entry)).toEqual({
          ok: false,
          reason: 'the audit path does not lead to the checkpoint root',
        });
      }
      const otherKey = createPublicKey(readFileSync(path.join(s.t.dataDir, 'pki', 'ca.crt'))).export({
        type: 'spki',
        format: 'pem',
      }) as string;
      expect((await verifyInclusionProof(proof!, otherKey, entry)).ok).toBe(false);
    });

    it('archived documents need the audit-payload permission; refusals are audited', async () => {
      const id = s.ids.snToSt[0]!;
      const route = '/v1/audit/messages/:messageId/document';
      const before = (await rejectionsOf(route)).length;
      for (const token of [s.tokens.sn, s.tokens.all, s.tokens.operator]) {
        const r = await get<Problem>(`/v1/audit/messages/${id}/document`, token);
        expectProblem(r, 403, 'GW_ERR_FORBIDDEN');
        expect(r.body.detail).toContain('audit-payload');
      }
      const refused = (await rejectionsOf(route)).slice(before);
      expect(refused.map((e) => e.detail.code)).toEqual([
        'GW_ERR_FORBIDDEN',
        'GW_ERR_FORBIDDEN',
        'GW_ERR_FORBIDDEN',
      ]);
      // Nothing was disclosed, so no access entry exists.
      const accesses = await s.t.gateway.auditStore.query({ messageId: id, kind: 'audit-export' });
      expect(accesses).toEqual([]);
    });
  });

  describe('payload', () => {
    it('an auditor with the audit-payload permission reads the sealed document; the read is audited first', async () => {
      const id = s.ids.snToSt[0]!;
      const r = await get<{ documents: { status: string; digest: string; document: string | null }[] }>(
        `/v1/audit/messages/${id}/document`,
        s.tokens.payload,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const [doc] = r.body.documents;
      expect(doc!.status).toBe('available');
      const summary = (await get<Page>(`/v1/audit/messages?messageId=${id}`, s.tokens.payload)).body
        .items[0]!;
      expect(doc!.digest).toBe(summary.digest);
      expect(createHash('sha256').update(doc!.document!, 'utf8').digest('hex')).toBe(doc!.digest);
      await verifyDocument(doc!.document!, {
        trustAnchors: [new X509Certificate(s.t.gateway.pki.caCertPem)],
      });
      const accesses = await s.t.gateway.auditStore.query({ messageId: id, kind: 'audit-export' });
      expect(accesses).toHaveLength(1);
      expect(accesses[0]).toMatchObject({
        actor: `token:${s.tokenIds.payload}`,
        detail: { what: 'document' },
      });
      // The permission does not widen the scope.
      expectProblem(
        await get(`/v1/audit/messages/${s.ids.thToSt}/document`, s.tokens.payload),
        404,
        'GW_ERR_NOT_FOUND',
      );
    });
  });

  describe('scopes', () => {
    it('an auditor scoped to Sachsen cannot see a message between Thüringen and Sachsen-Anhalt', async () => {
      const { snToSt, thToSn, thToSt, refused } = s.ids;
      const saxon = new Set((await everything(s.tokens.sn)).map((m) => m.messageId));
      for (const id of [...snToSt, ...thToSn, refused]) expect(saxon.has(id), id).toBe(true);
      expect(saxon.has(thToSt)).toBe(false);
      // Not by id, not by filter, not its trail, not its proof: it does not exist for this auditor.
      expect(ids((await get<Page>(`/v1/audit/messages?messageId=${thToSt}`, s.tokens.sn)).body)).toEqual([]);
      expect(ids((await get<Page>('/v1/audit/messages?receiver=ags:15002000', s.tokens.sn)).body)).toEqual(
        [],
      );
      expectProblem(await get(`/v1/audit/messages/${thToSt}`, s.tokens.sn), 404, 'GW_ERR_NOT_FOUND');
      expectProblem(await get(`/v1/audit/messages/${thToSt}/proof`, s.tokens.sn), 404, 'GW_ERR_NOT_FOUND');
      // Every visible message has a Saxon system on one side.
      for (const m of await everything(s.tokens.sn)) {
        expect([m.senderSystem, m.receiverSystem].some((id) => id?.startsWith('sn-'))).toBe(true);
      }

      // Thüringen's auditor sees it, and not the Saxon messages to Sachsen-Anhalt.
      const thuringian = new Set((await everything(s.tokens.th)).map((m) => m.messageId));
      expect(thuringian).toEqual(new Set([...thToSn, thToSt]));
      const r = await get<{ message: AuditMessageSummary }>(`/v1/audit/messages/${thToSt}`, s.tokens.th);
      expect(r.body.message.receiverSystem).toBe('st-melde');

      // A system scope: everything to and from st-melde (the receipt sent on its behalf too), nothing else.
      const stMelde = new Set((await everything(s.tokens.stMelde)).map((m) => m.messageId));
      expect(stMelde).toEqual(new Set([...snToSt, thToSt, s.ids.receipt]));
      expect(ids((await get<Page>('/v1/audit/messages?system=sn-kfz', s.tokens.stMelde)).body)).toEqual([]);
    });

    it("a message's lifecycle status (GET /v1/messages/{id}) follows the same scopes", async () => {
      const { snToSt, thToSt } = s.ids;
      interface Status {
        messageId: string;
        status: string;
        senderSystem: string;
        history: { event: string }[];
      }
      for (const token of [s.tokens.sn, s.tokens.all, s.tokens.operator, s.tokens.stMelde]) {
        const r = await get<Status>(`/v1/messages/${snToSt[0]}`, token);
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({
          messageId: snToSt[0],
          status: 'acknowledged',
          senderSystem: 'sn-melde',
        });
        expect(r.body.history.map((e) => e.event)).toContain('accepted');
      }
      // Outside the scope it looks like no message at all.
      expectProblem(await get(`/v1/messages/${thToSt}`, s.tokens.sn), 404, 'GW_ERR_NOT_FOUND');
      expect((await get<Status>(`/v1/messages/${thToSt}`, s.tokens.th)).status).toBe(200);
      expectProblem(await get(`/v1/messages/${snToSt[0]}`, null), 401, 'GW_ERR_TOKEN_REQUIRED');
      expectProblem(await get(`/v1/messages/${snToSt[0]}`, s.tokens.revoked), 401, 'GW_ERR_TOKEN_INVALID');
    });

    it('a narrow scope still pages completely', async () => {
      const all = (await everything(s.tokens.sn)).map((m) => m.messageId);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const r: { body: Page } = await get<Page>(
          `/v1/audit/messages?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          s.tokens.sn,
        );
        paged.push(...ids(r.body));
        cursor = r.body.next;
      } while (cursor);
      expect(paged).toEqual(all);
    });
  });

  describe('checkpoints', () => {
    it('lists the signed checkpoints, each chained to the one before and signed by the audit key', async () => {
      const key = createPublicKey(readFileSync(path.join(s.t.dataDir, 'pki', 'audit.pub')));
      const all: AuditCheckpoint[] = [];
      let after = 0;
      for (;;) {
        const r = await get<{ items: AuditCheckpoint[]; next: string | null }>(
          `/v1/audit/checkpoints?after=${after}&limit=2`,
          s.tokens.th,
        );
        expect(r.status).toBe(200);
        all.push(...r.body.items);
        if (!r.body.next) break;
        after = Number(r.body.next);
      }
      expect(all.length).toBeGreaterThanOrEqual(1);
      all.forEach((cp, i) => {
        expect(cp.id).toBe(i + 1);
        expect(checkpointSignatureValid(cp, key)).toBe(true);
        expect(cp.prev).toBe(i === 0 ? GENESIS_CHECKPOINT_HASH : checkpointHash(all[i - 1]!));
      });
      const latest = await get<AuditCheckpoint>('/v1/audit/checkpoints/latest', s.tokens.operator);
      expect(latest.status).toBe(200);
      expect(latest.body.id).toBeGreaterThanOrEqual(all.at(-1)!.id);
      expectProblem(await get('/v1/audit/checkpoints?limit=5000', s.tokens.th), 400, 'GW_ERR_BAD_REQUEST');
    });
  });

  describe('export', () => {
    it('streams the log as JSONL that verifies offline, with the export itself audited', async () => {
      const response = await request(`${s.t.gateway.url}/v1/audit/export`, {
        headers: { authorization: `Bearer ${s.tokens.all}` },
        dispatcher: s.person.agent,
      });
      expect(response.statusCode).toBe(200);
      expect(String(response.headers['content-type'])).toMatch(/^application\/x-ndjson/);
      expect(String(response.headers['content-disposition'])).toMatch(
        /^attachment; filename="audit-export-.*\.jsonl"$/,
      );
      expect(response.headers['content-length']).toBeUndefined(); // streamed, not buffered
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      const key = createPublicKey(readFileSync(path.join(s.t.dataDir, 'pki', 'audit.pub')));
      const verdict = await verifyExportStream(
        (async function* () {
          yield Buffer.concat(chunks);
        })(),
        { publicKey: key },
      );
      expect(verdict.failure).toBeUndefined();
      expect(verdict.ok).toBe(true);
      expect(verdict.checkpoints).toBeGreaterThanOrEqual(1);
      const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n');
      expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'header', format: 'gw-audit-export' });
      for (const id of [...s.ids.snToSt, s.ids.thToSt]) expect(lines.some((l) => l.includes(id))).toBe(true);

      const exports = await s.t.gateway.auditStore.query({ kind: 'audit-export' });
      expect(exports.at(-1)).toMatchObject({
        actor: `token:${s.tokenIds.all}`,
        detail: { what: 'log', channel: 'api', from: null, to: null, scope: '*' },
      });
    });

    it('takes a time range, and refuses a malformed one', async () => {
      const from = '2026-01-01T00:00:00.000Z';
      const r = await get<string>(`/v1/audit/export?from=${from}&to=2100-01-01`, s.tokens.operator);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.split('\n')[0]!)).toMatchObject({ from, to: '2100-01-01T00:00:00.000Z' });
      const exports = await s.t.gateway.auditStore.query({ kind: 'audit-export' });
      expect(exports.at(-1)).toMatchObject({ actor: `token:${s.tokenIds.operator}`, detail: { from } });

      const before = (await s.t.gateway.auditStore.query({ kind: 'audit-export' })).length;
      expectProblem(await get('/v1/audit/export?from=soon', s.tokens.all), 400, 'GW_ERR_BAD_REQUEST');
      expect((await s.t.gateway.auditStore.query({ kind: 'audit-export' })).length).toBe(before);
      expect((await rejectionsOf('/v1/audit/export')).map((e) => e.detail.code)).toEqual(
        expect.arrayContaining(['GW_ERR_BAD_REQUEST']),
      );
    });

    it('gives a land:SN auditor the whole chain with Thüringen-only entries redacted, and `gw audit verify` accepts it', async () => {
      const text = await exportAs(s.tokens.sn);
      const lines = text.trimEnd().split('\n');
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parsed[0]).toMatchObject({
        type: 'header',
        format: 'gw-audit-export',
        version: 2,
        scope: 'land:SN',
      });
      // Not one field of the Thüringen → Sachsen-Anhalt message: not its id, authorities or document digest.
      const foreign = await s.t.gateway.auditStore.query({ messageId: s.ids.thToSt });
      expect(foreign.length).toBeGreaterThan(0);
      const secrets = new Set<string>([s.ids.thToSt]);
      for (const e of foreign)
        for (const v of [e.sender, e.receiver, e.digest]) if (v !== null) secrets.add(v);
      expect([...secrets]).toEqual(expect.arrayContaining(['ags:16053000', 'ags:15002000']));
      for (const secret of secrets) expect(text.toLowerCase()).not.toContain(secret.toLowerCase());
      // In full: exactly the entries of the messages the same token's search shows.
      const visible = new Set((await everything(s.tokens.sn)).map((m) => m.messageId));
      const shown = parsed.filter((l) => l.type === 'entry').map((l) => (l.entry as AuditEntry).messageId);
      for (const id of [...s.ids.snToSt, ...s.ids.thToSn, s.ids.receipt]) expect(shown).toContain(id);
      for (const id of shown) expect(visible.has(id!)).toBe(true);
      const redacted = parsed.filter((l) => l.type === 'redacted');
      expect(redacted.length).toBeGreaterThan(0);
      for (const l of redacted) expect(Object.keys(l)).toEqual(['type', 'chain', 'seq', 'prevHash', 'hash']);
      expect(parsed.at(-1)).toMatchObject({
        type: 'end',
        entries: shown.length + redacted.length,
        redacted: redacted.length,
      });

      const verdict = await gwVerify(text);
      expect(verdict.stderr).toBe('');
      expect(verdict.code, verdict.stdout).toBe(0);
      expect(verdict.stdout).toMatch(/^OK: \d+ entries/);
      expect(verdict.stdout).toContain(
        `scoped to land:SN: ${redacted.length} of ${shown.length + redacted.length} entries redacted`,
      );
      const exports = await s.t.gateway.auditStore.query({ kind: 'audit-export' });
      expect(exports.at(-1)).toMatchObject({
        actor: `token:${s.tokenIds.sn}`,
        detail: { what: 'log', channel: 'api', scope: 'land:SN' },
      });

      // A deleted redacted line (a Thüringen message's rejection, say) is named by chain and seq.
      // (One of the Thüringen → Sachsen-Anhalt message's own entries, with a later one in its chain.)
      const place = (l: Record<string, unknown> | undefined) => {
        const e = (l?.entry ?? l) as { chain?: string; seq?: number } | undefined;
        return `${e?.chain}:${e?.seq}`;
      };
      const k = parsed.findIndex(
        (l, j) =>
          l.type === 'redacted' &&
          foreign.some((e) => place(l) === `${e.chain}:${e.seq}`) &&
          place(parsed[j + 1]) === `${l.chain}:${(l.seq as number) + 1}`,
      );
      expect(k).toBeGreaterThan(0);
      const gone = parsed[k] as { chain: string; seq: number };
      const tampered = await gwVerify(`${lines.filter((_, j) => j !== k).join('\n')}\n`);
      expect(tampered.code).toBe(1);
      expect(tampered.stdout).toContain(
        `FAILED (seq-mismatch; chain ${gone.chain}, first bad seq ${gone.seq}`,
      );
    });

    it('gives an auditor whose scope holds no message an export of redacted lines only, which verifies', async () => {
      const { token } = await s.t.gateway.tokens.issue({
        role: 'auditor',
        scope: 'land:HB',
        name: 'Prüfer Bremen',
        lifetimeMs: 3_600_000,
        createdBy: 'test',
      });
      expect(await everything(token)).toEqual([]);
      const text = await exportAs(token);
      const parsed = text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string });
      expect(parsed.filter((l) => l.type === 'entry')).toEqual([]);
      const redacted = parsed.filter((l) => l.type === 'redacted').length;
      expect(redacted).toBeGreaterThan(0);
      expect(parsed.at(-1)).toMatchObject({ type: 'end', entries: redacted, redacted });
      const verdict = await gwVerify(text);
      expect(verdict.code, verdict.stdout).toBe(0);
      expect(verdict.stdout).toContain(`scoped to land:HB: ${redacted} of ${redacted} entries redacted`);
    });
  });
});
