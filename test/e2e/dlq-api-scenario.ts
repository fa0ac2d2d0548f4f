/**
 * The operators' dead-letter API and `gw dlq show`, on whichever bus the caller names: a push
 * receiver behind a closed door makes two messages dead-lettered; the API lists them (twice: it
 * never consumes), shows one with its headers and — only with the permission, audited — its
 * document, refuses other roles and scopes, replays one entry and then all once the receiver is
 * back, each delivered once and audited as replayed by the token; the DLQ size metric follows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGw } from '../kafka/support/gw-process.ts';
import { removeScratchDirs, scratchDir } from '../kafka/support/scratch.ts';
import { type TcpSwitch, tcpSwitch } from '../kafka/support/tcp-switch.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  eventually,
  pushContracts,
  startTestGateway,
  TEST_PASSPHRASE,
  type TestGateway,
} from '../support/gateway.ts';
import { type PushedRequest, type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

interface EntryView {
  entry: string;
  systemId: string;
  messageId: string;
  messageType: string | null;
  senderSystem: string | null;
  attempts: number;
  reason: string;
  deadLetteredAt: string | null;
}
interface Detail extends EntryView {
  headers: Record<string, string>;
  document?: { contentType: string; encoding: string; data: string };
}

export function deadLetterApiScenario(
  bus: 'sqlite' | 'kafka',
  busEnv: () => Record<string, string>,
  cleanup = async () => {},
) {
  describe(`operator dead-letter API and gw dlq show, on the ${bus} bus`, () => {
    let t: TestGateway;
    let receiver: PushReceiver;
    let door: TcpSwitch;
    let cliEnv: NodeJS.ProcessEnv;
    const received: PushedRequest[] = [];
    const tokens = { operator: '', operatorId: '', payload: '', landSn: '', auditor: '' };

    beforeAll(async () => {
      const dataDir = scratchDir(`dlq-api-${bus}`);
      receiver = await startPushReceiver(dataDir, (request) => {
        received.push(request);
        return 204;
      });
      door = await tcpSwitch(receiver.url);
      const contractsDir = pushContracts({ 'st-melde': door.url }, scratchDir('contracts'));
      const env = {
        ...busEnv(),
        GATEWAY_RETRY_BASE_DELAY_MS: '100',
        GATEWAY_RETRY_MAX_DELAY_MS: '200',
        GATEWAY_DELIVERY_MAX_ATTEMPTS: '2',
        // Not the breaker's test: every entry must show its 2 attempts at the receiver, and two
        // messages × 2 failed pushes are one push short of opening it (5 in a row); a push it refused
        // would wait out its cool-down without being an attempt.
        GATEWAY_BREAKER_CONSECUTIVE_FAILURES: '1000000',
        GATEWAY_BREAKER_MIN_PUSHES: '1000000',
      };
      t = await startTestGateway({ dataDir, contractsDir, env });
      cliEnv = {
        ...process.env,
        ...env,
        GATEWAY_DATA_DIR: dataDir,
        GATEWAY_CONTRACTS_DIR: contractsDir,
        GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      };
      const issue = (role: 'operator' | 'auditor', scope: string, permissions: 'audit-payload'[] = []) =>
        t.gateway.tokens.issue({
          role,
          scope,
          name: role,
          lifetimeMs: 3_600_000,
          createdBy: 'test',
          permissions,
        });
      const operator = await issue('operator', '*');
      tokens.operator = operator.token;
      tokens.operatorId = operator.record.id;
      tokens.payload = (await issue('operator', '*', ['audit-payload'])).token;
      tokens.landSn = (await issue('operator', 'land:SN')).token;
      tokens.auditor = (await issue('auditor', '*')).token;
    });
    afterAll(async () => {
      await t?.stop();
      await door?.close();
      await receiver?.close();
      await cleanup();
      removeScratchDirs();
    });

    const call = <T>(method: 'GET' | 'POST', url: string, token?: string) =>
      t.client(null).call<T>(method, url, undefined, token ? { authorization: `Bearer ${token}` } : {});
    const list = async () => {
      // The Kafka bus may be briefly unavailable to a browse (metadata, a leader election): the
      // gateway answers 503 GW_ERR_BUS_UNAVAILABLE with Retry-After, and an operator tries again.
      for (let attempt = 1; ; attempt++) {
        const r = await call<{ systemId: string; entries: EntryView[]; code?: string }>(
          'GET',
          '/v1/operations/dead-letters/st-melde',
          tokens.operator,
        );
        if (r.status === 503 && r.body.code === 'GW_ERR_BUS_UNAVAILABLE' && attempt < 10) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          continue;
        }
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body.entries;
      }
    };
    const dlqSize = async () => {
      const operator = { authorization: `Bearer ${tokens.operator}` };
      const metrics = String(
        (await t.client(null).call<string>('GET', '/metrics', undefined, operator)).body,
      );
      return Number(/gateway_dead_letter_queue_size\{system="st-melde"\} (\d+)/.exec(metrics)?.[1]);
    };

    it('lists, shows and replays dead-lettered messages for operators only', async () => {
      const sn = t.client('sn-melde');
      const a = rueckmeldung();
      const b = rueckmeldung();
      for (const m of [a, b])
        expect((await sn.send('sn-melde', m.body, 'application/json')).status).toBe(202);
      await eventually(
        async () => {
          const ids = (await list()).map((e) => e.messageId);
          return ids.includes(a.id) && ids.includes(b.id) ? true : undefined;
        },
        60_000,
        'both messages dead-lettered',
      );

      // Listing reads; it does not consume.
      const first = await list();
      const second = await list();
      expect(second).toEqual(first);
      expect(first).toHaveLength(2);
      for (const e of first) {
        expect(e).toMatchObject({ systemId: 'st-melde', senderSystem: 'sn-melde', attempts: 2 });
        expect(e.entry).toMatch(/^\d+-\d+$/);
        expect(e.reason).toContain('gave up after 2 attempt(s)');
      }
      expect(await dlqSize()).toBe(2);

      // Roles and scopes: deny by default.
      expect((await call('GET', '/v1/operations/dead-letters/st-melde')).status).toBe(401);
      expect((await call('GET', '/v1/operations/dead-letters/st-melde', tokens.auditor)).status).toBe(403);
      expect((await sn.call('GET', '/v1/operations/dead-letters/st-melde')).status).toBe(403);
      expect((await call('GET', '/v1/operations/dead-letters/st-melde', tokens.landSn)).status).toBe(404);
      expect((await call('GET', '/v1/operations/dead-letters/sn-melde', tokens.landSn)).status).toBe(200);
      expect((await call('GET', '/v1/operations/dead-letters/no-such-system', tokens.operator)).status).toBe(
        404,
      );
      const badEntry = await call<{ code: string }>(
        'GET',
        '/v1/operations/dead-letters/st-melde/..%2Fx',
        tokens.operator,
      );
      expect(badEntry.status).toBe(400);
      expect(badEntry.body.code).toBe('GW_ERR_BAD_REQUEST');

      // Show: headers, reason, attempts; no document unless permitted.
      const entryA = first.find((e) => e.messageId === a.id)!;
      const shown = await call<Detail>(
        'GET',
        `/v1/operations/dead-letters/st-melde/${entryA.entry}`,
        tokens.operator,
      );
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ ...entryA });
      expect(shown.body.headers['gw-message-id']).toBe(a.id);
      expect(shown.body.headers['gw-dead-letter-reason']).toContain('gave up');
      expect(shown.body.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      expect(shown.body.document).toBeUndefined();
      const byId = await call<Detail>('GET', `/v1/operations/dead-letters/st-melde/${a.id}`, tokens.operator);
      expect(byId.body.entry).toBe(entryA.entry);
      expect(
        (
          await call(
            'GET',
            `/v1/operations/dead-letters/st-melde/${entryA.entry}?payload=true`,
            tokens.operator,
          )
        ).status,
      ).toBe(403);
      const withDocument = await call<Detail>(
        'GET',
        `/v1/operations/dead-letters/st-melde/${entryA.entry}?payload=true`,
        tokens.payload,
      );
      expect(withDocument.status).toBe(200);
      expect(withDocument.body.document?.data).toContain(a.id);
      expect(withDocument.body.document?.data).toContain('Signature');
      const reads = await t.gateway.auditStore.query({ messageId: a.id, kind: 'audit-export', limit: 10 });
      expect(reads.map((r) => r.detail.what)).toEqual(['dead-letter-document']);
      expect(
        (
          await call(
            'GET',
            '/v1/operations/dead-letters/st-melde/00000000-0000-4000-8000-000000000000',
            tokens.operator,
          )
        ).status,
      ).toBe(404);

      // gw dlq show: the same entry from the command line, by position and by message id. The three
      // commands only read, so they run side by side (each is a process start of its own, seconds).
      const [cli, text, missing] = await Promise.all([
        runGw(['dlq', 'show', entryA.entry, '--system', 'st-melde', '--json'], cliEnv),
        runGw(['dlq', 'show', a.id], cliEnv),
        runGw(['dlq', 'show', '00000000-0000-4000-8000-000000000000'], cliEnv),
      ]);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      const cliShown = JSON.parse(cli.stdout) as Detail & { document?: string };
      expect(cliShown).toMatchObject({ entry: entryA.entry, messageId: a.id, attempts: 2 });
      expect(cliShown.headers['gw-message-id']).toBe(a.id);
      expect(cliShown.document).toBeUndefined();
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(`message        ${a.id}`);
      expect(text.stdout).toContain('gw-dead-letter-reason: ');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('GW_ERR_NOT_FOUND');
      // Still there: nothing consumed.
      expect((await list()).map((e) => e.entry).sort()).toEqual(first.map((e) => e.entry).sort());
      expect(received).toHaveLength(0);

      // Replay one entry once the receiver is back.
      await door.up();
      expect(
        (await call('POST', `/v1/operations/dead-letters/st-melde/${entryA.entry}/replay`, tokens.auditor))
          .status,
      ).toBe(403);
      const replayed = await call<{ replayed: EntryView[]; messages: number }>(
        'POST',
        `/v1/operations/dead-letters/st-melde/${entryA.entry}/replay`,
        tokens.operator,
      );
      expect(replayed.status, JSON.stringify(replayed.body)).toBe(200);
      expect(replayed.body.messages).toBe(1);
      expect(replayed.body.replayed.map((e) => e.messageId)).toEqual([a.id]);
      await eventually(
        async () => (received.some((r) => r.messageId === a.id) ? true : undefined),
        60_000,
        'a delivered',
      );
      const audit = await t.gateway.auditStore.query({ messageId: a.id, kind: 'replayed', limit: 10 });
      expect(audit.map((e) => e.actor)).toEqual([`token:${tokens.operatorId}`]);
      expect((await list()).map((e) => e.messageId)).toEqual([b.id]);
      expect(await dlqSize()).toBe(1);
      expect(
        (await call('POST', `/v1/operations/dead-letters/st-melde/${entryA.entry}/replay`, tokens.operator))
          .status,
      ).toBe(404);

      // Replay all.
      const all = await call<{ replayed: EntryView[]; messages: number }>(
        'POST',
        '/v1/operations/dead-letters/st-melde/replay-all',
        tokens.operator,
      );
      expect(all.status).toBe(200);
      expect(all.body.replayed.map((e) => e.messageId)).toEqual([b.id]);
      await eventually(
        async () => (received.some((r) => r.messageId === b.id) ? true : undefined),
        60_000,
        'b delivered',
      );
      expect(await list()).toEqual([]);
      expect(await dlqSize()).toBe(0);
      // Each message arrived exactly once.
      expect(received.map((r) => r.messageId).sort()).toEqual([a.id, b.id].sort());
    });
  });
}
