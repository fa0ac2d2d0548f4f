/**
 * Logs never carry personal data, keys or tokens. A message with a distinctive name goes through
 * the whole gateway — accepted, sealed, pushed; answered and pulled; once refused — while every log
 * line at trace level is captured; tokens are used and misused. Then the captured log must not
 * contain the name, any private key (PEM body or a line of it), the key passphrase or a token.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptPrivateKeyPem } from '../../gateway/pki/ca.ts';
import { auswertung, rueckmeldung } from '../support/fixtures.ts';
import { eventually, TEST_PASSPHRASE } from '../support/gateway.ts';
import { type ObservedGateway, startObservedGateway } from './observability-harness.ts';

const NAME = 'Zyxwvutsrq';
const GIVEN = 'Qpwoeiruty';
const BIRTHPLACE = 'Xylophonhausen';

/** The base64 body of a PEM, and each of its lines (a partial leak is a leak). */
function pemSecrets(pem: string): string[] {
  const lines = pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('-----'));
  return [lines.join(''), ...lines.filter((l) => l.length >= 32)];
}

describe('logs carry no personal data, keys or tokens', () => {
  let o: ObservedGateway;

  beforeAll(async () => {
    o = await startObservedGateway({ GATEWAY_LOG_LEVEL: 'trace' });
  });
  afterAll(async () => {
    await o?.stop();
  });

  it('a full flow with a distinctive name leaves no trace of it, of keys or of tokens in the log', async () => {
    const sn = o.client('sn-melde');
    // biome-ignore lint/suspicious/noExplicitAny: patches the native JSON fixture (as fixtures.ts does)
    const personal = (doc: Record<string, any>) => {
      doc.person.nachname = NAME;
      doc.person.vornamen = [GIVEN];
      doc.person.geburtsort = BIRTHPLACE;
    };
    const m = rueckmeldung(personal);
    expect((await sn.send('sn-melde', m.body, 'application/json')).status).toBe(202);
    await eventually(async () => o.pushed.find((p) => p.messageId === m.id), 20_000, 'push');
    // The receiver got the personal data (so it really went through) …
    expect(o.pushed.find((p) => p.messageId === m.id)!.body.toString('utf8')).toContain(NAME);

    // … an answer goes the other way into sn-melde's pull inbox …
    const st = o.client('st-melde');
    const answer = auswertung(m.id);
    expect((await st.send('st-melde', answer.body, 'application/xml')).status).toBe(202);
    const inbox = await eventually(async () => {
      const r = await sn.call<{ items: { messageId: string }[] }>('GET', '/v1/systems/sn-melde/inbox');
      return r.body.items.some((i) => i.messageId === answer.id) ? r : undefined;
    }, 20_000);
    expect(inbox.status).toBe(200);

    // … a refused message carrying the name …
    const refused = rueckmeldung((doc) => {
      personal(doc);
      doc.person.geschlecht = 'not-a-code';
    });
    expect((await sn.send('sn-melde', refused.body, 'application/json')).status).toBe(422);
    // … a replayed id …
    expect((await sn.send('sn-melde', m.body, 'application/json')).status).toBe(409);

    // … tokens used, misused and wrong.
    const operator = await o.gateway.tokens.issue({
      role: 'operator',
      scope: '*',
      name: 'Betrieb',
      lifetimeMs: 3_600_000,
      createdBy: 'test',
      permissions: ['audit-payload'],
    });
    const anonymous = o.client(null);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    expect(
      (await anonymous.call('GET', '/v1/operations/dead-letters/st-melde', undefined, bearer(operator.token)))
        .status,
    ).toBe(200);
    expect(
      (await anonymous.call('GET', `/v1/audit/messages/${m.id}`, undefined, bearer(operator.token))).status,
    ).toBe(200);
    expect(
      (await anonymous.call('GET', '/v1/systems/sn-melde/inbox', undefined, bearer(operator.token))).status,
    ).toBe(403);
    const forged = `${operator.token.slice(0, -4)}AAAA`;
    expect(
      (await anonymous.call('GET', '/v1/operations/dead-letters/st-melde', undefined, bearer(forged))).status,
    ).toBe(401);

    await eventually(async () =>
      o.lines().some((l) => l.messageId === answer.id && /deliver|inbox|queued/.test(String(l.msg)))
        ? true
        : undefined,
    );
    const log = o.rawLog.join('\n');
    expect(o.rawLog.length).toBeGreaterThan(10);
    // The log is about these messages (so the check below is not vacuous) …
    expect(log).toContain(m.id);
    expect(log).toContain(answer.id);

    // … and holds none of the personal data,
    for (const word of [NAME, GIVEN, BIRTHPLACE]) expect(log).not.toContain(word);
    // no private key of the gateway (decrypted) or of a system, nor the passphrase,
    const pki = path.join(o.dataDir, 'pki');
    const keys = [
      ...['ca', 'server', 'signing', 'gateway-client'].map((k) =>
        decryptPrivateKeyPem(readFileSync(path.join(pki, `${k}.key`), 'utf8'), TEST_PASSPHRASE),
      ),
      ...readdirSync(path.join(pki, 'systems'))
        .filter((f) => f.endsWith('.key'))
        .map((f) => readFileSync(path.join(pki, 'systems', f), 'utf8')),
    ];
    expect(keys.length).toBeGreaterThan(8);
    for (const key of keys) for (const secret of pemSecrets(key)) expect(log).not.toContain(secret);
    expect(log).not.toContain(TEST_PASSPHRASE);
    // and no token, right or wrong.
    expect(log).not.toContain(operator.token);
    expect(log).not.toContain(forged);
    expect(log).not.toContain(operator.token.slice(-20));
  });
});
