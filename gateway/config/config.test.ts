import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support/gateway.ts';
import { loadConfig } from './load.ts';

describe('configuration', () => {
  it('has embedded defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8443, bus: { kind: 'sqlite' }, logLevel: 'info' });
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.publicUrl).toBe('https://127.0.0.1:8443');
  });

  it('reads the environment', () => {
    const config = loadConfig({
      GATEWAY_DATA_DIR: '/tmp/x',
      GATEWAY_PORT: '9443',
      GATEWAY_BUS: 'kafka',
      KAFKA_BROKERS: 'a:1, b:2',
    });
    expect(config).toMatchObject({
      dataDir: '/tmp/x',
      port: 9443,
      bus: { kind: 'kafka' },
      kafka: { brokers: ['a:1', 'b:2'] },
    });
  });

  it('reads a file and lets the environment override it', () => {
    const file = path.join(tempDir('config'), 'gateway.yaml');
    writeFileSync(file, 'port: 7443\nlogLevel: warn\nbus: { partitions: 8 }\n');
    const config = loadConfig({ GATEWAY_CONFIG: file, GATEWAY_PORT: '6443' });
    expect(config).toMatchObject({ port: 6443, logLevel: 'warn', bus: { partitions: 8 } });
  });

  it('fails with a message naming the setting', () => {
    expect(() => loadConfig({ GATEWAY_PORT: 'eighty' })).toThrow(/GATEWAY_PORT \(port\)/);
    expect(() => loadConfig({ GATEWAY_BUS: 'rabbit' })).toThrow(/GATEWAY_BUS \(bus.kind\)/);
    // The partitions' chains are named so; a process's own chain may not pose as one.
    expect(() => loadConfig({ GATEWAY_AUDIT_CHAIN: 'delivery.st-melde.0' })).toThrow(
      /GATEWAY_AUDIT_CHAIN \(audit.chain\)/,
    );
    const file = path.join(tempDir('config'), 'gateway.yaml');
    writeFileSync(file, 'prot: 7443\n');
    expect(() => loadConfig({ GATEWAY_CONFIG: file })).toThrow(/prot/);
  });
});
