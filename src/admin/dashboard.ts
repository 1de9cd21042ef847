import type { FastifyInstance, FastifyReply } from 'fastify';
import { loadDashboardAssets } from '../pages/pages.js';

/** The dashboard loads only its own files and talks only to this admin server. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The live dashboard at `/dashboard` and its files under `/dashboard/`. These routes are open, like the
 * probes: the files hold no data, and every `/v1/*` call the page makes carries the admin token.
 */
export function dashboardRoutes(app: FastifyInstance, opts: { tokenRequired: boolean }): void {
  const assets = loadDashboardAssets(opts);
  const serve = (name: string) => {
    const asset = assets.get(name);
    if (!asset) throw new Error(`dashboard asset ${name} is missing`);
    return async (_request: unknown, reply: FastifyReply) =>
      reply
        .type(asset.contentType)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(asset.body);
  };
  app.get('/dashboard', serve('index.html'));
  app.get('/dashboard/', serve('index.html'));
  for (const name of assets.keys()) {
    if (name !== 'index.html') app.get(`/dashboard/${name}`, serve(name));
  }
}
