/**
 * The auditors' web console at /console: a handful of static files, read once at start and served
 * from memory by name (no file system path is ever built from a URL). The files are public; every
 * piece of data the console shows comes from the auditor API with the token the person signs in with.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GatewayError } from '../errors/catalogue.ts';

export const CONSOLE_ASSETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Only the console's own files and the gateway's API; no inline script, no framing, no referrer for the API. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-cache',
};

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type) assets.set(name, { type, body: readFileSync(path.join(dir, name)) });
  }
  if (!assets.has('index.html')) throw new Error(`console: ${dir} has no index.html`);
  return assets;
}

export function consoleRoutes(options: { assetsDir?: string } = {}) {
  const assets = loadAssets(options.assetsDir ?? CONSOLE_ASSETS_DIR);
  const send = (reply: FastifyReply, asset: Asset) =>
    reply.headers(SECURITY_HEADERS).type(asset.type).send(asset.body);

  return async (app: FastifyInstance) => {
    const index = assets.get('index.html')!;
    const publicRoute = { config: { auth: { public: true as const } } };
    app.get('/console', publicRoute, async (_request, reply) => send(reply, index));
    app.get('/console/', publicRoute, async (_request, reply) => send(reply, index));
    app.get<{ Params: { file: string } }>('/console/:file', publicRoute, async (request, reply) => {
      const asset = assets.get(request.params.file);
      if (!asset)
        throw new GatewayError('GW_ERR_NOT_FOUND', `the console has no file ${request.params.file}`);
      return send(reply, asset);
    });
  };
}
