import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ErrorCodes, RelayError } from '../errors.js';

/** An onRequest hook requiring `Authorization: Bearer <token>`, compared in constant time. */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest) => {
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!given || !timingSafeEqual(digest(given), expected)) {
      throw new RelayError(
        ErrorCodes.UNAUTHORIZED,
        'a valid Authorization: Bearer <admin token> header is required',
      );
    }
  };
}

// Hashing first makes both sides the same length, as timingSafeEqual requires.
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
