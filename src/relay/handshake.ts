import type { Socket } from 'socket.io';
import { type HandshakeRequest, replaceRequest, requestOf } from '../internals.js';
import { safeHeaders } from '../upstream/protocol.js';
import type { ConnectStep } from './pipeline.js';

/** Requests already cut down: a client's later namespaces share its connection's. */
const slimmed = new WeakSet<HandshakeRequest>();

/**
 * A connection keeps its handshake request for as long as it lasts: every header (a browser's cookies and
 * user agent included), the URL, the parsed query, and on uWS the request and response objects it was
 * built from. The relay needs only what backends get (`safeHeaders`), the query and the URL, so it keeps
 * those and lets the rest go. Socket.IO builds the handshake of any namespace the client joins later from
 * the same, smaller request.
 */
export const slimHandshake: ConnectStep = (socket: Socket) => {
  const request = requestOf(socket);
  if (!request || slimmed.has(request)) return;
  const slim: HandshakeRequest = {
    headers: safeHeaders(socket.handshake.headers),
    url: request.url,
    _query: request._query,
    connection: { encrypted: Boolean(request.connection?.encrypted) },
  };
  slimmed.add(slim);
  replaceRequest(socket, slim);
  socket.handshake.headers = slim.headers;
};
