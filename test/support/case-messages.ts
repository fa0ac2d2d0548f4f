/**
 * Native payloads of the three domains' demo senders for stream tests: message `seq` of a case,
 * with a fresh nachrichtenUUID and the case id as its referenzUUID, so that every message of a
 * case has one bus key (one partition) and the gateway's per-case order (pipeline/case-order.ts)
 * applies to it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import { rueckmeldung } from './fixtures.ts';

export type CaseDomain = 'melde' | 'kfz' | 'elterngeld';

export interface CaseMessage {
  id: string;
  caseId: string;
  seq: number;
  domain: CaseDomain;
  /** The sending system, whose adapter decodes `body`. */
  system: string;
  /** The system the directory routes it to. */
  receiver: string;
  body: string;
}

/** Sender and receiver of each domain's fixture: sn-melde → st-melde, Halle → KBA, Leipzig → Sachsen. */
export const CASE_ROUTES: Record<CaseDomain, { system: string; receiver: string }> = {
  melde: { system: 'sn-melde', receiver: 'st-melde' },
  kfz: { system: 'st-kfz', receiver: 'kba-zfzr' },
  elterngeld: { system: 'elterngeld-online', receiver: 'sn-elterngeld' },
};

const fixture = (adapter: string, file: string) =>
  readFileSync(path.join(REPO_ROOT, 'adapters', adapter, 'fixtures', file), 'utf8');
const KFZ = fixture('st-kfz', '1001-zulassung-firmenwagen-halle.native.json');
const ELTERNGELD = fixture('elterngeld-online', '0101-antrag-leipzig.native.json');

export function caseMessage(domain: CaseDomain, caseId: string, seq: number): CaseMessage {
  const id = randomUUID();
  const route = { id, caseId, seq, domain, ...CASE_ROUTES[domain] };
  if (domain === 'melde') {
    const m = rueckmeldung((d) => {
      d.vorgang.id = id;
      d.vorgang.bezugId = caseId;
    });
    return { ...route, body: m.body };
  }
  if (domain === 'kfz') {
    const doc = JSON.parse(KFZ);
    doc.vorgangsId = id;
    doc.bezugsId = caseId;
    return { ...route, body: JSON.stringify(doc) };
  }
  const doc = JSON.parse(ELTERNGELD);
  doc.antragsId = id;
  doc.bezugsId = caseId;
  return { ...route, body: JSON.stringify(doc) };
}
