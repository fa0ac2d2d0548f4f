/**
 * npm run bench — end-to-end throughput and latency of the embedded gateway, with the raw signing
 * rate of the same key measured in the same run as the ceiling to compare with.
 *
 * Method: the gateway runs as its own process (`gw start`, exactly as operators run it) on the
 * embedded default; st-melde is switched to push mode to a receiver in this process, so "delivered"
 * is the moment the receiver gets the native payload. The load generator sends Rückmeldungen as
 * sn-melde over HTTPS with its client certificate, keep-alive, a fixed number in flight.
 * Options: --messages N (default 3000), --concurrency C (default 32), --out FILE (default bench/results.json).
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SystemClient } from '../../gateway/cli/system-client.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { decryptPrivateKeyPem, issueCertificate } from '../../gateway/pki/ca.ts';
import { ensurePki } from '../../gateway/pki/bootstrap.ts';
import { contractsWith, TEST_PASSPHRASE, tempDir } from '../support/gateway.ts';
import { rueckmeldung } from '../support/fixtures.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results.json') },
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
  const pki = await ensurePki({
    dir: path.join(dataDir, 'pki'),
    systems: ['sn-melde', 'st-melde'],
    passphrase: TEST_PASSPHRASE,
    signingAlgorithm: 'rsa-sha256',
    rsaBits: 2048,
    serverNames: ['localhost', '127.0.0.1'],
  });
  const caKeyPem = decryptPrivateKeyPem(readFileSync(path.join(dataDir, 'pki', 'ca.key'), 'utf8'), TEST_PASSPHRASE);
  const receiverCert = issueCertificate(
    { certPem: pki.caCertPem, keyPem: caKeyPem },
    { commonName: 'bench receiver', sanIps: ['127.0.0.1'], usage: 'server', days: 1, keyAlgorithm: 'ec-p256' },
  );

  const sentAt = new Map<string, bigint>();
  const latenciesMs: number[] = [];
  let lastDelivery = 0n;
  let onAllDelivered: () => void = () => {};
  const allDelivered = new Promise<void>((resolve) => {
    onAllDelivered = resolve;
  });
  const receiver = createServer(
    { key: receiverCert.keyPem, cert: receiverCert.certPem, ca: pki.caCertPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        const id = String(req.headers['x-nachrichten-uuid']);
        const started = sentAt.get(id);
        if (started !== undefined) {
          lastDelivery = process.hrtime.bigint();
          latenciesMs.push(Number(lastDelivery - started) / 1e6);
          sentAt.delete(id);
          if (latenciesMs.length === MESSAGES) onAllDelivered();
        }
        res.writeHead(204).end();
      });
    },
  );
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;
  const contractsDir = contractsWith((systems) =>
    systems.map((s) => (s.id === 'st-melde' ? { ...s, delivery: { mode: 'push' as const, url: `https://127.0.0.1:${port}/in` } } : s)),
  );

  const gatewayPort = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/gw.js'), 'start'], {
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
    const signCeiling = rawSignRate(decryptPrivateKeyPem(readFileSync(path.join(dataDir, 'pki', 'signing.key'), 'utf8'), TEST_PASSPHRASE));

    const results = {
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, date: new Date().toISOString() },
      method: { messages: MESSAGES, concurrency: CONCURRENCY, mode: 'embedded (SQLite bus), push delivery to a local HTTPS receiver' },
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
    child.kill('SIGTERM');
    receiver.close();
  }
}

await main();
