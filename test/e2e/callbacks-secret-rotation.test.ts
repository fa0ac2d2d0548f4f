/**
 * A callback secret file rotated while the gateway runs: the gateway keeps what it read of the file
 * (callback-secret.ts) and signs with the new secret from the first callback after the rotation —
 * a rename over the file, then a directory reload that names another file. The receiver knows the
 * old and the new secret, as receivers do during a rotation, and tells which one verified.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { CallbackEvent } from '../../gateway/callbacks/callback-event.ts';
import { verifyCallback } from '../../gateway/callbacks/signature.ts';
import type { SystemEntry } from '../../gateway/directory/directory.ts';
import { rueckmeldung } from '../support/fixtures.ts';
import {
  contractsWith,
  eventually,
  startTestGateway,
  type TestGateway,
  tempDir,
} from '../support/gateway.ts';
import { type PushReceiver, startPushReceiver } from '../support/push-receiver.ts';

const SECRETS = {
  first: 'the first sn-melde callback secret, 32 bytes and more',
  rotated: 'the rotated sn-melde callback secret, 32 bytes and more',
  reloaded: 'the sn-melde callback secret of another file, 32 bytes and more',
};
type SecretName = keyof typeof SECRETS;

describe('a rotated callback secret file', () => {
  let t: TestGateway;
  let dataDir: string;
  let contractsDir: string;
  let receiver: PushReceiver;
  /** Each callback received: its event and the secret it verified with (none: refused). */
  const received: { event: CallbackEvent; secret: SecretName | undefined }[] = [];

  beforeAll(async () => {
    dataDir = tempDir('callbacks-secret');
    receiver = await startPushReceiver(dataDir, (request) => {
      const secret = (Object.keys(SECRETS) as SecretName[]).find(
        (name) => verifyCallback({ secret: SECRETS[name], body: request.body, headers: request.headers }).ok,
      );
      received.push({ event: JSON.parse(request.body.toString('utf8')), secret });
      return secret ? 204 : 401;
    });
    contractsDir = contractsWith((systems) =>
      systems.map((s) =>
        s.id === 'sn-melde'
          ? { ...s, callback: { url: receiver.url, secretFile: 'secrets/sn-melde.callback' } }
          : s,
      ),
    );
    mkdirSync(path.join(contractsDir, 'secrets'), { mode: 0o700 });
    writeFileSync(path.join(contractsDir, 'secrets/sn-melde.callback'), `${SECRETS.first}\n`, {
      mode: 0o600,
    });
    t = await startTestGateway({ dataDir, contractsDir });
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(contractsDir, { recursive: true, force: true });
  });

  /** Sends a message; the secrets the attempts of its delivered callback verified with, until one did. */
  async function secretsOfCallbacks(): Promise<(SecretName | undefined)[]> {
    const msg = rueckmeldung();
    expect((await t.client('sn-melde').send('sn-melde', msg.body, 'application/json')).status).toBe(202);
    const attempts = await eventually(
      async () => {
        const of = received.filter(
          (r) => r.event.messageId === msg.id && r.event.type === 'message.delivered',
        );
        return of.some((r) => r.secret) ? of : undefined;
      },
      15_000,
      'the delivered callback',
    );
    return attempts.map((r) => r.secret);
  }

  it('signs with the new secret once the file was replaced', async () => {
    expect(await secretsOfCallbacks()).toEqual(['first']);
    const next = path.join(contractsDir, 'secrets/sn-melde.next');
    writeFileSync(next, `${SECRETS.rotated}\n`, { mode: 0o600 });
    renameSync(next, path.join(contractsDir, 'secrets/sn-melde.callback'));
    expect(await secretsOfCallbacks()).toEqual(['rotated']);
  });

  it('signs with the secret of the file a reloaded directory names', async () => {
    writeFileSync(path.join(contractsDir, 'secrets/sn-melde.other'), `${SECRETS.reloaded}\n`, {
      mode: 0o600,
    });
    const before = t.gateway.routing.digest;
    const file = path.join(contractsDir, 'directory.yaml');
    const directory = YAML.parse(readFileSync(file, 'utf8')) as { systems: SystemEntry[] };
    writeFileSync(
      file,
      YAML.stringify({
        systems: directory.systems.map((s) =>
          s.id === 'sn-melde'
            ? { ...s, callback: { url: receiver.url, secretFile: 'secrets/sn-melde.other' } }
            : s,
        ),
      }),
    );
    await eventually(
      async () => (t.gateway.routing.digest !== before ? true : undefined),
      5_000,
      'the reloaded directory',
    );
    expect(await secretsOfCallbacks()).toEqual(['reloaded']);
  });
});
