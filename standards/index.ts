/**
 * The catalogue registry: every standard version the gateway knows. To add one, write its module
 * (standards/<standard>/<version>/index.ts, default-exporting a StandardVersion) and list it in
 * VERSIONS below. Nothing else in the gateway names a standard.
 */
import type { MessageTypeSpec, StandardVersion } from './catalogue.ts';
import xbafoeg10 from './xbafoeg/1.0/index.ts';
import xelterngeld12 from './xelterngeld/1.2/index.ts';
import xkfz14 from './xkfz/1.4/index.ts';
import xmeld2505 from './xmeld/25.05/index.ts';
import xmeld2511 from './xmeld/25.11/index.ts';

const VERSIONS: readonly StandardVersion[] = [xmeld2505, xmeld2511, xkfz14, xelterngeld12, xbafoeg10];

const byVersion = new Map<string, StandardVersion>();
const byRootName = new Map<string, MessageTypeSpec>();
const byIdMap = new Map<string, MessageTypeSpec>();

for (const v of VERSIONS) {
  const key = `${v.standard}:${v.version}`;
  if (byVersion.has(key)) throw new Error(`catalogue: ${key} registered twice`);
  byVersion.set(key, v);
  for (const t of v.messageTypes) {
    if (t.standard !== v.standard || t.version !== v.version || t.namespace !== v.namespace) {
      throw new Error(`catalogue: ${t.id} does not belong to ${key}`);
    }
    if (byIdMap.has(t.id)) throw new Error(`catalogue: message type ${t.id} registered twice`);
    byIdMap.set(t.id, t);
    const root = `{${t.namespace}}${t.name}`;
    if (byRootName.has(root)) throw new Error(`catalogue: root element ${root} registered twice`);
    byRootName.set(root, t);
  }
}

export const catalogue = {
  /** Every registered standard version, in registration order. */
  standards(): StandardVersion[] {
    return [...VERSIONS];
  },
  /** `get('xmeld', '25.11')`. */
  get(standard: string, version: string): StandardVersion | undefined {
    return byVersion.get(`${standard}:${version}`);
  },
  /** `messageType('xmeld', '25.11', 'rueckmeldung.anmeldunginland.0201')`. */
  messageType(standard: string, version: string, name: string): MessageTypeSpec | undefined {
    return byIdMap.get(`${standard}:${version}:${name}`);
  },
  /** The message type of a document, from its root element's namespace and local name. */
  byRoot(namespaceURI: string | null, localName: string): MessageTypeSpec | undefined {
    return byRootName.get(`{${namespaceURI ?? ''}}${localName}`);
  },
  /** `byId('xmeld:25.11:rueckmeldung.anmeldunginland.0201')`. */
  byId(id: string): MessageTypeSpec | undefined {
    return byIdMap.get(id);
  },
};

export type Catalogue = typeof catalogue;
