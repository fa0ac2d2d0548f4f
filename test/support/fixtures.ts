/** Native payloads of the demo systems, each with a fresh id (the gateway refuses replayed ids). */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../gateway/config/load.ts';

const SN_FIXTURE = path.join(
  REPO_ROOT,
  'adapters/sn-melde/fixtures/0201-umzug-magdeburg-dresden.native.json',
);
const ST_ANSWER = path.join(REPO_ROOT, 'adapters/st-melde/fixtures/0203-auswertung.native.xml');

// biome-ignore lint/suspicious/noExplicitAny: tests patch arbitrary native fields
export function rueckmeldung(patch: (doc: Record<string, any>) => void = () => {}): {
  id: string;
  body: string;
} {
  const doc = JSON.parse(readFileSync(SN_FIXTURE, 'utf8'));
  doc.vorgang.id = randomUUID();
  patch(doc);
  return { id: doc.vorgang.id, body: JSON.stringify(doc) };
}

export function auswertung(referenz: string): { id: string; body: string } {
  const id = randomUUID();
  const body = readFileSync(ST_ANSWER, 'utf8')
    .replace(/<VorgangsID>[^<]*</, `<VorgangsID>${id}<`)
    .replace(/<BezugID>[^<]*</, `<BezugID>${referenz}<`);
  return { id, body };
}
