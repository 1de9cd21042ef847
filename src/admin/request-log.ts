import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/**
 * One `admin request` line per request, once it is answered, instead of Fastify's two (received,
 * completed). It goes through the request's logger, so a route's `logLevel` can keep it out.
 */
export class AdminRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = {
      msg: 'admin request',
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      remoteAddress: request.ip,
    };
    if (error) reply.log.error({ ...line, err: error });
    else reply.log.info(line);
  }
}
