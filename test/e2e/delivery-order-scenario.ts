/**
 * The per-case ordering scenario of issue 8, shared by the SQLite-bus and the Kafka test: a real
 * push receiver (HTTPS, mTLS) that refuses (503) the first attempts of some messages, then goes
 * down altogether for a while and comes back; several cases with several messages each, sent case
 * by case in order (cases side by side). Every message must arrive exactly once, and the messages
 * of each case in the order they were accepted.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { rueckmeldung } from '../support/fixtures.ts';
import { eventually, type TestGateway } from '../support/gateway.ts';
import { type PushedRequest, startPushReceiver } from '../support/push-receiver.ts';

export interface FlakyReceiver {
  url: string;
  /** Accepted pushes (2xx), in arrival order. */
  accepted: PushedRequest[];
  /** Every push as it came in, with the status it got. */
  log: { messageId: string; status: number }[];
  /** Refused pushes (503) per message id. */
  refusals: Map<string, number>;
  /** Refuses everything while set. */
  down: boolean;
  /** These messages are refused on their first `n` attempts. */
  flaky: Map<string, number>;
  /** These messages are answered 400 (never accepted: the gateway dead-letters them). */
  rejected: Set<string>;
  /** These messages get these statuses on their first attempts, one per attempt, before the rules above. */
  scripted: Map<string, number[]>;
  close(): Promise<void>;
}

export async function startFlakyReceiver(dataDir: string): Promise<FlakyReceiver> {
  const state = {
    accepted: [] as PushedRequest[],
    log: [] as { messageId: string; status: number }[],
    refusals: new Map<string, number>(),
    down: false,
    flaky: new Map<string, number>(),
    rejected: new Set<string>(),
    scripted: new Map<string, number[]>(),
  };
  const receiver = await startPushReceiver(dataDir, (request) => {
    const status = answer(request);
    state.log.push({ messageId: request.messageId, status });
    return status;
  });
  function answer(request: PushedRequest): number {
    const next = state.scripted.get(request.messageId)?.shift();
    if (next !== undefined) {
      state.refusals.set(request.messageId, (state.refusals.get(request.messageId) ?? 0) + 1);
      return next;
    }
    if (state.rejected.has(request.messageId)) return 400;
    const refused = state.refusals.get(request.messageId) ?? 0;
    if (state.down || refused < (state.flaky.get(request.messageId) ?? 0)) {
      state.refusals.set(request.messageId, refused + 1);
      return 503;
    }
    state.accepted.push(request);
    return 204;
  }
  return Object.assign(state, { url: receiver.url, close: () => receiver.close() });
}

/** Retries fast enough for a test; several cases share each partition. */
export const ORDER_TEST_ENV = {
  GATEWAY_BUS_PARTITIONS: '2',
  GATEWAY_RETRY_BASE_DELAY_MS: '150',
  GATEWAY_RETRY_MAX_DELAY_MS: '600',
  // The push circuit breaker off: this scenario counts refusals during the outage, which an open
  // breaker would spare the receiver (test/e2e/circuit-breaker.test.ts runs the outage with it).
  GATEWAY_BREAKER_CONSECUTIVE_FAILURES: '1000000',
  GATEWAY_BREAKER_MIN_PUSHES: '1000000',
};

export interface OrderScenarioResult {
  /** Message ids per case, in the order they were accepted (202). */
  cases: string[][];
}

/**
 * Runs the scenario: `caseCount` cases of `perCase` messages (the messages of a case share its
 * referenzUUID, so they share the bus key). Messages 0 and 2 of every case are refused twice first;
 * half-way the receiver goes down for `downMs`.
 */
export async function runOrderScenario(
  t: TestGateway,
  receiver: FlakyReceiver,
  options: {
    caseCount: number;
    perCase: number;
    downMs: number;
    timeoutMs: number;
    /** Runs while the receiver is down (e.g. stops one of two gateways). */
    duringOutage?: () => Promise<void>;
  },
): Promise<OrderScenarioResult> {
  const sn = t.client('sn-melde');
  const cases: string[][] = Array.from({ length: options.caseCount }, () => []);
  const caseIds = cases.map(() => randomUUID());
  const sendCase = async (c: number, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const msg = rueckmeldung((doc) => {
        doc.vorgang.bezugId = caseIds[c];
      });
      if (i === 0 || i === 2) receiver.flaky.set(msg.id, 2);
      const sent = await sn.send('sn-melde', msg.body, 'application/json');
      expect(sent.status).toBe(202);
      cases[c]!.push(msg.id);
    }
  };
  const half = Math.ceil(options.perCase / 2);
  await Promise.all(cases.map((_, c) => sendCase(c, 0, half)));
  receiver.down = true;
  await Promise.all(cases.map((_, c) => sendCase(c, half, options.perCase)));
  await Promise.all([new Promise((r) => setTimeout(r, options.downMs)), options.duringOutage?.()]);
  receiver.down = false;

  const all = cases.flat();
  await eventually(
    async () => {
      const got = new Set(receiver.accepted.map((r) => r.messageId));
      return all.every((id) => got.has(id)) ? true : undefined;
    },
    options.timeoutMs,
    `all ${all.length} messages at the receiver`,
  );
  // Give a duplicate time to show up if there were one.
  await new Promise((r) => setTimeout(r, 1_000));
  return { cases };
}

/** Each message exactly once; per case, in the order accepted. */
export function expectOncePerMessageInOrderPerCase(
  receiver: FlakyReceiver,
  result: OrderScenarioResult,
): void {
  const arrived = receiver.accepted.map((r) => r.messageId);
  const all = result.cases.flat();
  expect(arrived.length).toBe(all.length);
  expect(new Set(arrived).size).toBe(all.length);
  for (const ids of result.cases) {
    const inCase = new Set(ids);
    expect(arrived.filter((id) => inCase.has(id))).toEqual(ids);
  }
  // Stronger: a later message of a case is not even attempted before the earlier one was accepted.
  for (const ids of result.cases) {
    for (let k = 0; k + 1 < ids.length; k++) {
      const accepted = receiver.log.findIndex((e) => e.messageId === ids[k] && e.status < 300);
      const firstOfNext = receiver.log.findIndex((e) => e.messageId === ids[k + 1]);
      expect(firstOfNext).toBeGreaterThan(accepted);
    }
  }
  // The scenario did what it says: flaky messages and the outage were refused on the way.
  for (const ids of result.cases) {
    expect(receiver.refusals.get(ids[0]!) ?? 0).toBeGreaterThanOrEqual(2);
    expect(receiver.refusals.get(ids[2]!) ?? 0).toBeGreaterThanOrEqual(2);
  }
  expect([...receiver.refusals.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(result.cases.length * 4);
}
