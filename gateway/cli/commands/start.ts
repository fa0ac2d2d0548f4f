import path from 'node:path';
import { startGateway } from '../../app.ts';
import { loadConfig, REPO_ROOT } from '../../config/load.ts';

export async function startCommand(): Promise<void> {
  const config = loadConfig();
  const gateway = await startGateway(config);
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  const pki = rel(path.join(config.dataDir, 'pki'));
  const fixture = rel(
    path.join(REPO_ROOT, 'adapters/sn-melde/fixtures/0201-umzug-magdeburg-dresden.native.json'),
  );
  process.stdout.write(
    `\nLänder gateway ready at ${gateway.url} (bus: ${gateway.bus.kind}, data: ${rel(config.dataDir)})\n` +
      `Health: curl --cacert ${pki}/ca.crt ${gateway.url}/health/ready\n` +
      'Send a Rückmeldung as sn-melde (Dresden → Magdeburg); change vorgang.id to send it again:\n' +
      `  curl --cacert ${pki}/ca.crt --cert ${pki}/systems/sn-melde.crt --key ${pki}/systems/sn-melde.key \\\n` +
      `    -H 'content-type: application/json' --data-binary @${fixture} \\\n` +
      `    ${gateway.url}/v1/systems/sn-melde/messages\n` +
      `Play the whole flow: npm run demo\n\n`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.logger.info({ signal }, 'stopping');
    await gateway.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
