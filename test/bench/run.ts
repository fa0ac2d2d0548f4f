/**
 * npm run bench — end-to-end throughput and latency of the embedded gateway, with the raw signing
 * rate of the same key measured in the same run as the ceiling to compare with.
 *
 * Method: the gateway runs as its own process (`gw start`, exactly as operators run it) on the
 * embedded default; st-melde is switched to push mode to a receiver in this process, so "delivered"
 * is the moment the receiver gets the native payload. The load generator sends Rückmeldungen as
 * sn-melde over HTTPS with its client certificate, keep-alive, a fixed number in flight.
 * Options: --messages N (default 3000), --concurrency C (default 32), --out FILE (default bench/results.json),
 * --profile DIR (write a V8 CPU profile of the gateway process there; open it in Chrome DevTools).
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { decryptPrivateKeyPem } from '../../gateway/pki/ca.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import { contractsWith, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { startPushReceiver } from '../support/push-receiver.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results.json') },
    profile: { type: 'string' },
  },
});
const MESSAGES = Number(values.messages);
const CONCURRENCY = Number(values.concurrency);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Raw RSA signatures per second on one core, same key as the gateway's seal, 1 s of work. */
function rawSignRate(keyPem: string): number {
  const key = createPrivateKey(keyPem);
  const data = Buffer.alloc(1024, 7);
  const started = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - started < 1_000_000_000n) {
    sign('sha256', data, key);
    n++;
  }
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function main(): Promise<void> {
  const dataDir = tempDir('bench');
  const sentAt = new Map<string, bigint>();
  const latenciesMs: number[] = [];
  let lastDelivery = 0n;
  let onAllDelivered: () => void = () => {};
  const allDelivered = new Promise<void>((resolve) => {
    onAllDelivered = resolve;
  });
  const receiver = await startPushReceiver(dataDir, (request) => {
    const started = sentAt.get(request.messageId);
    if (started !== undefined) {
      lastDelivery = process.hrtime.bigint();
      latenciesMs.push(Number(lastDelivery - started) / 1e6);
      sentAt.delete(request.messageId);
      if (latenciesMs.length === MESSAGES) onAllDelivered();
    }
    return 204;
  });
  const contractsDir = contractsWith((systems) =>
    systems.map((s) =>
      s.id === 'st-melde' ? { ...s, delivery: { mode: 'push' as const, url: receiver.url } } : s,
    ),
  );

  const gatewayPort = 20000 + Math.floor(Math.random() * 20000);
  const profileArgs = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values.profile)}`] : [];
  const child = spawn(process.execPath, [...profileArgs, path.join(REPO_ROOT, 'bin/gw.js'), 'start'], {
    env: {
      ...process.env,
      GATEWAY_DATA_DIR: dataDir,
      GATEWAY_CONTRACTS_DIR: contractsDir,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_KEY_PASSPHRASE: TEST_PASSPHRASE,
      GATEWAY_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const baseUrl = `https://127.0.0.1:${gatewayPort}`;
  const client = SystemClient.forSystem(baseUrl, dataDir, 'sn-melde', { connections: CONCURRENCY });
  let peakRssMb = 0;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await client.call('GET', '/health/ready')).status === 200) break;
      } catch {}
      if (i > 300) throw new Error('gateway did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const rssTimer = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        peakRssMb = Math.max(peakRssMb, kb / 1024);
      } catch {}
    }, 100);

    // Warm-up: JIT, TLS sessions, SQLite caches.
    for (let i = 0; i < 50; i++) await client.send('sn-melde', rueckmeldung().body, 'application/json');
    await new Promise((r) => setTimeout(r, 1000));
    latenciesMs.length = 0;

    const bodies = Array.from({ length: MESSAGES }, () => rueckmeldung());
    const ingressMs: number[] = [];
    let next = 0;
    let failures = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < MESSAGES; i = next++) {
          const m = bodies[i]!;
          const t0 = process.hrtime.bigint();
          sentAt.set(m.id, t0);
          const r = await client.send('sn-melde', m.body, 'application/json');
          ingressMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (r.status !== 202) failures++;
        }
      }),
    );
    const ingressDone = process.hrtime.bigint();
    await Promise.race([allDelivered, new Promise((r) => setTimeout(r, 120_000))]);
    clearInterval(rssTimer);
    if (failures > 0 || latenciesMs.length !== MESSAGES) {
      throw new Error(`${failures} requests failed, ${latenciesMs.length}/${MESSAGES} delivered`);
    }
    const seconds = Number(lastDelivery - started) / 1e9;
    latenciesMs.sort((a, b) => a - b);
    ingressMs.sort((a, b) => a - b);
    const signCeiling = rawSignRate(
      decryptPrivateKeyPem(readFileSync(path.join(dataDir, 'pki', 'signing.key'), 'utf8'), TEST_PASSPHRASE),
    );

    const results = {
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        node: process.version,
        date: new Date().toISOString(),
      },
      method: {
        messages: MESSAGES,
        concurrency: CONCURRENCY,
        mode: 'embedded (SQLite bus), push delivery to a local HTTPS receiver',
      },
      e2e_embedded_msgs_per_s: Math.round(MESSAGES / seconds),
      ingress_msgs_per_s: Math.round(MESSAGES / (Number(ingressDone - started) / 1e9)),
      p50_ms: Number(percentile(latenciesMs, 50).toFixed(1)),
      p99_ms: Number(percentile(latenciesMs, 99).toFixed(1)),
      ingress_p99_ms: Number(percentile(ingressMs, 99).toFixed(1)),
      rss_mb_peak: Math.round(peakRssMb),
      sign_ceiling_one_core_msgs_per_s: Math.round(signCeiling),
      e2e_to_one_core_sign_ratio: Number((MESSAGES / seconds / signCeiling).toFixed(3)),
    };
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, `${JSON.stringify(results, null, 2)}\n`);
    console.table({
      'end-to-end (embedded)': { value: results.e2e_embedded_msgs_per_s, unit: 'msgs/s' },
      'ingress (202s)': { value: results.ingress_msgs_per_s, unit: 'msgs/s' },
      'latency p50 (send → delivered)': { value: results.p50_ms, unit: 'ms' },
      'latency p99 (send → delivered)': { value: results.p99_ms, unit: 'ms' },
      'peak RSS of the gateway': { value: results.rss_mb_peak, unit: 'MB' },
      'raw RSA-2048 crypto.sign, 1 core': { value: results.sign_ceiling_one_core_msgs_per_s, unit: 'sig/s' },
      'end-to-end / raw sign (1 core)': { value: results.e2e_to_one_core_sign_ratio, unit: 'ratio' },
    });
    console.log(`results written to ${path.relative(process.cwd(), values.out!)}`);
  } finally {
    await client.close();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await receiver.close();
  }
}

await main();
