/**
 * The physical bound of the end-to-end bench: the rate of a gateway that did nothing per message but
 * the work no gateway can skip, on the same cores, measured in the same run. Per message that is
 * - the ingress HTTPS request, server side and the load generator's side (the bare fastify route);
 * - the seals: the message's and its receipt's (raw crypto.sign);
 * - the seal verifications before delivery (raw crypto.verify);
 * - the HTTPS pushes to the receiver, client side and the receiver's side (the gateway's own undici
 *   push client against the bench's push receiver, with bodies and headers the gateway pushed).
 * How many seals, verifications and pushes a message takes is counted from the gateway's own
 * metrics over the closed loop, not assumed. Every cost is CPU time (user + system, all threads)
 * per operation, which other load on a shared machine disturbs far less than a rate:
 *   bound_msgs_per_s = cores × 1000 / Σ count_per_message × cpu_ms_per_operation.
 */
import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { PushClient } from '../../gateway/delivery/push-client.ts';
import { type PushedRequest, startPushReceiver } from '../support/push-receiver.ts';
import { cpuSync } from './sign-rates.ts';

/** One push as the receiver saw it, to be replayed byte for byte. */
export interface PushSample {
  body: Buffer;
  contentType: string;
  headers: Record<string, string>;
}

/** Keeps the first `limit` pushes the receiver got. */
export class PushSampler {
  readonly samples: PushSample[] = [];

  constructor(private readonly limit = 60) {}

  take(request: PushedRequest): void {
    if (this.samples.length >= this.limit) return;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      // The headers the gateway sets itself; the connection-level ones undici sets again.
      if (name.startsWith('x-') || name === 'traceparent' || name === 'tracestate')
        headers[name] = String(value);
    }
    this.samples.push({ body: request.body, contentType: request.contentType, headers });
  }
}

/** Cumulative counters from the gateway's /metrics: records sealed-and-delivered, verified, pushed. */
export interface PipelineCounts {
  accepted: number;
  delivered: number;
  verified: number;
  pushed: number;
}

const metricValue = (text: string, line: string) =>
  Number(new RegExp(`^${line.replace(/[{}.]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

/** Records published to a deliver topic and not yet handled, over all systems. */
const busLag = (text: string) =>
  [...text.matchAll(/^gateway_bus_lag_records\{[^}]*\} (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);

async function scrape(probe: SystemClient): Promise<PipelineCounts & { lag: number }> {
  const { status, body } = await probe.call<string>('GET', '/metrics');
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  return {
    lag: busLag(body),
    accepted: metricValue(body, 'gateway_messages_total{outcome="accepted"}'),
    delivered: metricValue(body, 'gateway_messages_total{outcome="delivered"}'),
    verified: metricValue(body, 'gateway_stage_duration_seconds_count{stage="delivery.verify"}'),
    pushed: metricValue(body, 'gateway_stage_duration_seconds_count{stage="delivery.push"}'),
  };
}

/**
 * The counters once the gateway is idle: receipts are issued on the push's 2xx and delivered to
 * their sender's mailbox after the message itself, so wait until no deliver topic has a backlog and
 * the counters stop moving.
 */
export async function settledCounts(baseUrl: string, dataDir: string): Promise<PipelineCounts> {
  const probe = SystemClient.forSystem(baseUrl, dataDir, null);
  try {
    let last = await scrape(probe);
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await scrape(probe);
      if (now.lag === 0 && now.delivered === last.delivered && now.verified === last.verified) return now;
      last = now;
    }
    process.stderr.write('gateway metrics did not settle within 30 s: counts per message may be low\n');
    return last;
  } finally {
    await probe.close();
  }
}

/** Per accepted message, between two readings. */
export function workPerMessage(before: PipelineCounts, after: PipelineCounts) {
  const messages = after.accepted - before.accepted;
  const per = (x: number) => Number(x.toFixed(3));
  return {
    messages,
    // Every delivered record, message or receipt, was sealed exactly once.
    seals: per((after.delivered - before.delivered) / messages),
    verifications: per((after.verified - before.verified) / messages),
    pushes: per((after.pushed - before.pushed) / messages),
  };
}
export type WorkPerMessage = ReturnType<typeof workPerMessage>;

/** CPU ms per raw crypto.sign and per raw crypto.verify (RSA-2048, SHA-256), alternating rounds. */
export function sealCosts(privateKey: KeyObject, certPem: string, document: string) {
  const bytes = Buffer.from(document, 'utf8');
  const publicKey = createPublicKey(certPem);
  const signature = sign('sha256', bytes, privateKey);
  const signed = { cpuMs: 0, ops: 0 };
  const verified = { cpuMs: 0, ops: 0 };
  for (let round = 0; round < 4; round++) {
    const s = cpuSync(250, () => sign('sha256', bytes, privateKey));
    signed.cpuMs += s.cpuMs;
    signed.ops += s.ops;
    const v = cpuSync(250, () => verify('sha256', bytes, publicKey, signature));
    verified.cpuMs += v.cpuMs;
    verified.ops += v.ops;
  }
  return { signCpuMs: signed.cpuMs / signed.ops, verifyCpuMs: verified.cpuMs / verified.ops };
}

/**
 * CPU ms per HTTPS push, both ends in this process: the gateway's push client (undici, keep-alive,
 * the gateway's client certificate) sends the sampled pushes round robin to a push receiver like the
 * bench's, `inFlight` at a time; warmed up first so that no TLS handshake is counted.
 */
export async function pushCost(
  dataDir: string,
  samples: PushSample[],
  pushes: number,
  inFlight: number,
): Promise<{ cpuMsPerPush: number; pushesPerS: number }> {
  if (samples.length === 0) throw new Error('no pushes sampled');
  const receiver = await startPushReceiver(dataDir, () => 204);
  const client = new PushClient({
    certPem: receiver.pki.gatewayClient.certPem,
    keyPem: receiver.pki.gatewayClient.keyPem,
    caPems: [receiver.pki.caCertPem],
    timeoutMs: 30_000,
  });
  const run = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let i = next++; i < count; i = next++) {
          const sample = samples[i % samples.length]!;
          const result = await client.push(receiver.url, sample.body, sample.contentType, sample.headers);
          if (!result.ok) throw new Error(`raw push: ${result.detail}`);
        }
      }),
    );
  };
  try {
    await run(Math.max(300, inFlight * 10));
    const before = process.cpuUsage();
    const started = performance.now();
    await run(pushes);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(before);
    return { cpuMsPerPush: (used.user + used.system) / 1000 / pushes, pushesPerS: pushes / seconds };
  } finally {
    await client.close();
    await receiver.close();
  }
}

export interface BoundComponents {
  cores: number;
  /** The bare fastify route's server process, per request. */
  ingressServerCpuMs: number;
  /** The load generator (this process) per request against the bare route. */
  generatorCpuMs: number;
  signCpuMs: number;
  verifyCpuMs: number;
  pushCpuMs: number;
  work: WorkPerMessage;
}

/** The bound and its per-message CPU, term by term. */
export function physicalBound(c: BoundComponents) {
  const terms = {
    ingress_server: c.ingressServerCpuMs,
    load_generator: c.generatorCpuMs,
    seals: c.work.seals * c.signCpuMs,
    verifications: c.work.verifications * c.verifyCpuMs,
    pushes: c.work.pushes * c.pushCpuMs,
  };
  const cpuMsPerMessage = Object.values(terms).reduce((a, b) => a + b, 0);
  return { terms, cpuMsPerMessage, msgsPerS: (c.cores * 1000) / cpuMsPerMessage };
}
