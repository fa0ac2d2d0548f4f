/** The catalogue API: GET /v1/standards, /v1/standards/{standard}/{version}[/xsd]. Public, like an XRepository. */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { StandardVersion } from '../../../standards/catalogue.ts';
import { catalogue } from '../../../standards/index.ts';
import { GatewayError } from '../../errors/catalogue.ts';

function summary(v: StandardVersion) {
  return {
    standard: v.standard,
    title: v.title,
    version: v.version,
    namespace: v.namespace,
    messageTypes: v.messageTypes.map((t) => ({ name: t.name, code: t.code, id: t.id })),
    xsd: `/v1/standards/${v.standard}/${v.version}/xsd`,
  };
}

export function standardsRoutes() {
  return async (app: FastifyInstance) => {
    app.get('/v1/standards', async () => ({ standards: catalogue.standards().map(summary) }));

    app.get<{ Params: { standard: string; version: string } }>(
      '/v1/standards/:standard/:version',
      async (request) => {
        const v = catalogue.get(request.params.standard, request.params.version);
        if (!v)
          throw new GatewayError(
            'GW_ERR_NOT_FOUND',
            `no standard ${request.params.standard} ${request.params.version}`,
          );
        return {
          ...summary(v),
          codeLists: v.codeLists.map((l) => ({
            listURI: l.listURI,
            listVersionID: l.listVersionID,
            name: l.name,
            codes: l.codes,
          })),
        };
      },
    );

    app.get<{ Params: { standard: string; version: string } }>(
      '/v1/standards/:standard/:version/xsd',
      async (request, reply) => {
        const v = catalogue.get(request.params.standard, request.params.version);
        if (!v)
          throw new GatewayError(
            'GW_ERR_NOT_FOUND',
            `no standard ${request.params.standard} ${request.params.version}`,
          );
        return reply.type('application/xml; charset=utf-8').send(await readFile(v.xsdPath));
      },
    );
  };
}
