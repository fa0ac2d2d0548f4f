/**
 * The catalogue API, public like an XRepository: every standard version with its message types, the
 * XSD vendors implement against, the code lists in the versions the catalogue ships, one example
 * instance per message type, and the version converters the gateway bridges with.
 *
 *   GET /v1/standards                                         all versions + converters
 *   GET /v1/standards/{standard}                              the versions of one standard
 *   GET /v1/standards/{standard}/{version}                    one version, with its code lists
 *   GET /v1/standards/{standard}/{version}/xsd                the XSD
 *   GET /v1/standards/{standard}/{version}/examples/{type}    the example instance of a message type
 *   GET /v1/standards/{standard}/{version}/codelists/{id}     one code list
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { StandardVersion } from '../../../standards/catalogue.ts';
import { catalogue } from '../../../standards/index.ts';
import { versionBridge } from '../../../standards/version-bridge.ts';
import type { CodeList } from '../../../standards/xoev/codelist.ts';
import { GatewayError } from '../../errors/catalogue.ts';

type VersionParams = { standard: string; version: string };

// The catalogue changes only with a release of the gateway.
const CACHE_CONTROL = 'public, max-age=3600';

function base(v: StandardVersion): string {
  return `/v1/standards/${v.standard}/${v.version}`;
}

function codeListRef(v: StandardVersion, l: CodeList) {
  return {
    id: l.id,
    listURI: l.listURI,
    listVersionID: l.listVersionID,
    name: l.name,
    url: `${base(v)}/codelists/${l.id}`,
  };
}

function summary(v: StandardVersion) {
  return {
    standard: v.standard,
    title: v.title,
    version: v.version,
    namespace: v.namespace,
    description: v.description,
    messageTypes: v.messageTypes.map((t) => ({
      name: t.name,
      code: t.code,
      id: t.id,
      example: `${base(v)}/examples/${t.name}`,
    })),
    xsd: `${base(v)}/xsd`,
    codeLists: v.codeLists.map((l) => codeListRef(v, l)),
    converters: versionBridge
      .converters()
      .filter((c) => c.standard === v.standard && (c.from === v.version || c.to === v.version)),
  };
}

function versionOf(params: VersionParams): StandardVersion {
  const v = catalogue.get(params.standard, params.version);
  if (!v) throw new GatewayError('GW_ERR_NOT_FOUND', `no standard ${params.standard} ${params.version}`);
  return v;
}

async function sendFile(reply: FastifyReply, file: string, type: string) {
  return reply
    .type(type)
    .header('cache-control', CACHE_CONTROL)
    .send(await readFile(file));
}

export function standardsRoutes() {
  return async (app: FastifyInstance) => {
    app.get('/v1/standards', async (_request, reply) => {
      reply.header('cache-control', CACHE_CONTROL);
      return { standards: catalogue.standards().map(summary), converters: versionBridge.converters() };
    });

    app.get<{ Params: { standard: string } }>('/v1/standards/:standard', async (request, reply) => {
      const versions = catalogue.standards().filter((v) => v.standard === request.params.standard);
      if (versions.length === 0) {
        throw new GatewayError('GW_ERR_NOT_FOUND', `no standard ${request.params.standard}`);
      }
      reply.header('cache-control', CACHE_CONTROL);
      return { standard: versions[0]!.standard, title: versions[0]!.title, versions: versions.map(summary) };
    });

    app.get<{ Params: VersionParams }>('/v1/standards/:standard/:version', async (request, reply) => {
      const v = versionOf(request.params);
      reply.header('cache-control', CACHE_CONTROL);
      return {
        ...summary(v),
        codeLists: v.codeLists.map((l) => ({
          ...codeListRef(v, l),
          herausgeber: l.herausgeber,
          codes: l.codes,
        })),
      };
    });

    app.get<{ Params: VersionParams }>('/v1/standards/:standard/:version/xsd', async (request, reply) =>
      sendFile(reply, versionOf(request.params).xsdPath, 'application/xml; charset=utf-8'),
    );

    app.get<{ Params: VersionParams & { messageType: string } }>(
      '/v1/standards/:standard/:version/examples/:messageType',
      async (request, reply) => {
        const v = versionOf(request.params);
        const spec = v.messageTypes.find((t) => t.name === request.params.messageType);
        if (!spec) {
          throw new GatewayError(
            'GW_ERR_NOT_FOUND',
            `${v.standard} ${v.version} has no message type ${request.params.messageType}`,
          );
        }
        return sendFile(
          reply,
          path.join(v.examplesDir, `${spec.name}.xml`),
          'application/xml; charset=utf-8',
        );
      },
    );

    app.get<{ Params: VersionParams & { id: string } }>(
      '/v1/standards/:standard/:version/codelists/:id',
      async (request, reply) => {
        const v = versionOf(request.params);
        const list = v.codeLists.find((l) => l.id === request.params.id);
        if (!list) {
          throw new GatewayError(
            'GW_ERR_NOT_FOUND',
            `${v.standard} ${v.version} uses no code list ${request.params.id}`,
          );
        }
        reply.header('cache-control', CACHE_CONTROL);
        const { listURI, listVersionID, name, herausgeber, codes } = list;
        return { id: list.id, listURI, listVersionID, name, herausgeber, codes };
      },
    );
  };
}
