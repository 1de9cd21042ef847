import type { Socket } from 'socket.io';
import { type HandshakeRequest, replaceRequest, requestOf } from '../internals.js';
import { safeHeaders } from '../upstream/protocol.js';
import type { ConnectStep } from './pipeline.js';

/** A request already cut down: a client's later namespaces share its connection's. */
class SlimRequest implements HandshakeRequest {
  constructor(
    readonly headers: Record<string, string>,
    readonly url: string | undefined,
    readonly _query: Record<string, unknown>,
    readonly connection: { encrypted: boolean },
  ) {}
}

/** The last handshake time seen (a date string to the second): the clients of one second share one copy. */
let lastTime = '';

/** What Socket.IO reads of the request's connection: one of two shared answers. */
const TLS = Object.freeze({ encrypted: true });
const PLAIN = Object.freeze({ encrypted: false });

/**
 * A connection keeps its handshake request for as long as it lasts: every header (a browser's cookies and
 * user agent included), the URL, the parsed query, and on uWS the request and response objects it was
 * built from. The relay needs only what backends get (`safeHeaders`), the query and the URL, so it keeps
 * those and lets the rest go; the handshake's time, the same string for every client of a second, is
 * shared. Socket.IO builds the handshake of any namespace the client joins later from the same, smaller
 * request.
 */
export const slimHandshake: ConnectStep = (socket: Socket) => {
  const request = requestOf(socket);
  if (!request || request instanceof SlimRequest) return;
  const slim = new SlimRequest(
    safeHeaders(socket.handshake.headers),
    request.url,
    request._query,
    request.connection?.encrypted ? TLS : PLAIN,
  );
  replaceRequest(socket, slim);
  socket.handshake.headers = slim.headers;
  if (socket.handshake.time === lastTime) socket.handshake.time = lastTime;
  else lastTime = socket.handshake.time;
};
