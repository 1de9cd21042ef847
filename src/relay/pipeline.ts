import type { Namespace, Socket } from 'socket.io';

/**
 * A step of a new socket's handshake (a Socket.IO middleware): `next()` lets it on, `next(err)` refuses it
 * with a `connect_error`. Recovered sockets skip these steps: their session was admitted when it began.
 */
export type AdmitStep = (socket: Socket, next: (err?: Error) => void) => void;

/** A step every socket goes through once connected, recovered ones included, all in the same tick. */
export type ConnectStep = (socket: Socket) => void;

/** What a namespace does with a socket, in order. */
export interface Pipeline {
  admit: AdmitStep[];
  connect: ConnectStep[];
}

/** Installs a namespace's pipeline: its admit steps, then one `connection` listener for its connect steps. */
export function installPipeline(nsp: Namespace, pipeline: Pipeline): void {
  for (const step of pipeline.admit) nsp.use(step);
  nsp.on('connection', (socket: Socket) => {
    for (const step of pipeline.connect) step(socket);
  });
}

/** A Socket.IO refusal: the client's `connect_error` carries `message` and `data.code`. */
export function refusal(code: string, message: string): Error {
  const err = new Error(message) as Error & { data: unknown };
  err.data = { code };
  return err;
}
