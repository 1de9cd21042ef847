import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, RelayError } from '../errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** `Sec-Fetch-Site` values a browser sends for the admin server's own pages and for typed-in URLs. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/**
 * An onRequest hook that keeps browsers from using the admin API on behalf of another site, for every
 * route (probes included):
 * - DNS rebinding: the `Host` must be an IP address, `localhost`, or one of `allowedHosts`. A rebound
 *   name is none of these; an IP literal cannot be rebound, since the page would then be this server's
 *   own origin. Requests without `Host` (HTTP/1.0 health checkers) pass: browsers always send it.
 * - Cross-site requests: a state-changing request must come from this server's own origin
 *   (`Sec-Fetch-Site`, `Origin`) and may carry only a JSON body, which no form or simple request can send.
 */
export function requestGuard(allowedHosts: readonly string[]) {
  const names = new Set(allowedHosts.map((name) => name.toLowerCase()));
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const host = request.headers.host;
    if (host !== undefined) {
      const name = hostnameOf(host);
      if (name === undefined || !(isIP(name) !== 0 || name === 'localhost' || names.has(name))) {
        throw new RelayError(
          ErrorCodes.FORBIDDEN,
          `the Host ${JSON.stringify(host)} is not an address of this admin server (see --admin-allowed-hosts)`,
        );
      }
    }
    if (SAFE_METHODS.has(request.method)) return;

    const site = request.headers['sec-fetch-site'];
    const origin = request.headers.origin;
    if (
      (site !== undefined && !OWN_FETCH_SITES.has(site)) ||
      (origin !== undefined && !sameHost(origin, host))
    ) {
      throw new RelayError(ErrorCodes.FORBIDDEN, 'cross-origin admin requests that change state are refused');
    }
    const type = request.headers['content-type'];
    if (type !== undefined && mediaType(type) !== 'application/json') {
      return reply.code(415).send({
        error: { code: ErrorCodes.BAD_REQUEST, message: 'admin request bodies must be application/json' },
      });
    }
  };
}

/** The host name of a `Host` header, lower-cased, without port or IPv6 brackets; undefined if malformed. */
function hostnameOf(header: string): string | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(header.trim());
  return match?.[1]?.replace(/^\[|\]$/g, '').toLowerCase();
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === new URL(`http://${host}`).host;
  } catch {
    return false; // `Origin: null` (sandboxed frames, file: pages) and anything unparsable
  }
}

function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}
