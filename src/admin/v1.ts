import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { InstanceInfo } from '../cluster/registry.js';
import { ErrorCodes, RelayError } from '../errors.js';
import { MAX_USER_ID_LENGTH, userRoom } from '../relay/users.js';
import type { AdminDeps } from './deps.js';

const NamespaceQuery = Type.Object(
  { namespace: Type.String({ minLength: 1, default: '/' }) },
  { additionalProperties: false },
);

const PublishBody = Type.Object(
  {
    namespace: Type.Optional(Type.String({ minLength: 1 })),
    room: Type.Optional(Type.String({ minLength: 1 })),
    /** In place of `room`: every socket of this user (the room `user:<id>`). */
    user: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH })),
    event: Type.String({ minLength: 1 }),
    data: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

/** The `/v1/*` operator API (the bearer token, when one is configured, is checked in app.ts). */
export async function v1Routes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.get('/stats', async () => {
    const local = deps.ops.localStats();
    return {
      instanceId: deps.config.instanceId,
      transport: deps.config.transport,
      adapter: deps.adapterName,
      connectionStateRecovery: deps.recoverable,
      connections: local.connections,
      rooms: local.rooms,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      draining: deps.isDraining(),
    };
  });

  app.get('/instances', async () => {
    let instances: InstanceInfo[];
    try {
      instances = await deps.registry.list();
    } catch (err) {
      throw new RelayError(
        ErrorCodes.CLUSTER,
        `the instance registry (Redis) is unavailable: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    // Marks the rooms that keep presence, so the dashboard asks presence counts for those only.
    return {
      instances: instances.map((info) => ({
        ...info,
        topRooms: info.topRooms.map((r) => ({ ...r, presence: deps.isPresenceRoom(r.namespace, r.room) })),
      })),
    };
  });

  app.post<{ Body: Static<typeof PublishBody> }>(
    '/publish',
    { schema: { body: PublishBody } },
    async (request, reply) => {
      const { namespace, room, user, event, data } = request.body;
      if (room !== undefined && user !== undefined) {
        throw new RelayError(ErrorCodes.BAD_REQUEST, 'expected room or user, not both');
      }
      const to = user === undefined ? room : userRoom(user);
      await deps.ops.publish({ namespace, room: to, event, data }, 'admin');
      return reply.code(202).send({ ok: true });
    },
  );

  app.get<{ Params: { room: string }; Querystring: Static<typeof NamespaceQuery> }>(
    '/rooms/:room/sockets',
    { schema: { querystring: NamespaceQuery } },
    async (request) => {
      const sockets = await deps.ops.roomSockets(request.query.namespace, request.params.room);
      return { room: request.params.room, namespace: request.query.namespace, sockets };
    },
  );

  app.get<{ Params: { room: string }; Querystring: Static<typeof NamespaceQuery> }>(
    '/rooms/:room/presence',
    { schema: { querystring: NamespaceQuery } },
    async (request) => {
      const { namespace } = request.query;
      const users = await deps.presence(namespace, request.params.room);
      return { room: request.params.room, namespace, users };
    },
  );

  app.delete<{ Params: { id: string }; Querystring: Static<typeof NamespaceQuery> }>(
    '/sockets/:id',
    { schema: { querystring: NamespaceQuery } },
    async (request, reply) => {
      const found = await deps.ops.disconnectSocket(request.query.namespace, request.params.id);
      if (!found) {
        throw new RelayError(
          ErrorCodes.SOCKET_NOT_FOUND,
          `no socket ${JSON.stringify(request.params.id)} is connected`,
        );
      }
      return reply.code(204).send();
    },
  );

  app.post('/drain', async (_request, reply) => {
    deps.startDrain('admin request');
    return reply.code(202).send({ ok: true, draining: true });
  });

  app.post<{ Params: { id: string } }>('/instances/:id/drain', async (request, reply) => {
    const { id } = request.params;
    if (id !== deps.config.instanceId) {
      let live: Array<{ instanceId: string }>;
      try {
        live = await deps.registry.list();
      } catch (err) {
        throw new RelayError(
          ErrorCodes.CLUSTER,
          `the instance registry (Redis) is unavailable: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (!live.some((instance) => instance.instanceId === id)) {
        throw new RelayError(ErrorCodes.INSTANCE_NOT_FOUND, `no live instance ${JSON.stringify(id)}`);
      }
    }
    deps.drainInstance(id);
    return reply.code(202).send({ ok: true, instanceId: id, draining: true });
  });
}
