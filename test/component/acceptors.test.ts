// Extra descriptors of a listening socket (src/transport/acceptors.ts): Node accepts one connection per
// descriptor per turn of the event loop, so a busy loop with more descriptors accepts that many more, and
// closing them with the server stops accepting altogether.
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { addAcceptors } from '../../src/transport/acceptors.js';
import { waitFor } from '../helpers/processes.js';

/** Accepted connections of `server` over `turns` event-loop turns that each keep the loop busy 10 ms. */
async function acceptedOverBusyTurns(extra: number, turns: number): Promise<number> {
  const server = createServer();
  let accepted = 0;
  const sockets: Socket[] = [];
  server.on('connection', (socket) => {
    accepted++;
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, resolve));
  const copies = extra > 0 ? await addAcceptors(server, extra, 1024) : [];
  assert.equal(copies.length, extra, 'every copy came back');
  const { port } = server.address() as { port: number };
  const clients = Array.from({ length: 300 }, () => connect(port, '127.0.0.1').on('error', () => {}));
  // The connect calls go out on the next tick; the kernel then completes the handshakes while this loop
  // spins, so every connection waits in the accept queue before the first turn.
  await null;
  const queued = Date.now() + 50;
  while (Date.now() < queued);
  for (let turn = 0; turn < turns; turn++) {
    const until = Date.now() + 10;
    while (Date.now() < until);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const counted = accepted;
  server.close();
  for (const copy of copies) copy.close();
  for (const socket of [...sockets, ...clients]) socket.destroy();
  return counted;
}

test('extra descriptors accept that many more connections per busy loop turn', async (t) => {
  const one = await acceptedOverBusyTurns(0, 20);
  const eight = await acceptedOverBusyTurns(7, 20);
  assert.ok(one <= 25, `one descriptor: about one per turn (${one} in 20 turns)`);
  t.diagnostic(`accepted in 20 busy turns: ${one} with one descriptor, ${eight} with eight`);
  assert.ok(eight >= 100, `eight descriptors: several per turn (${eight} in 20 turns)`);
});

test('closing the server and its copies stops accepting', async () => {
  const server = createServer((socket) => socket.end('hi'));
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const copies = await addAcceptors(server, 3, 511);
  const { port } = server.address() as { port: number };
  const greeting = await new Promise<string>((resolve, reject) => {
    const client = connect(port, '127.0.0.1');
    client.on('data', (data) => resolve(String(data))).on('error', reject);
  });
  assert.equal(greeting, 'hi', 'a connection accepted on any descriptor reaches the server');
  server.close();
  for (const copy of copies) copy.close();
  await waitFor(
    'the port refusing connections',
    () =>
      new Promise<boolean | undefined>((resolve) => {
        const client = connect(port, '127.0.0.1');
        client.on('connect', () => {
          client.destroy();
          resolve(undefined);
        });
        client.on('error', () => resolve(true));
      }),
  );
});

test('connections that arrive while the copies are made are answered, none left hanging', async () => {
  // Answers what the client sent: a connection handed over without its data would go unanswered.
  const server = createServer((socket) => socket.once('data', (data) => socket.end(data)));
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const { port } = server.address() as { port: number };
  let copying = true;
  const made = addAcceptors(server, 15, 511).finally(() => {
    copying = false;
  });
  // The greeting, whichever descriptor took the connection: the server's, a copy, or the short-lived
  // child's while it made the copies.
  const outcomes: Array<Promise<string>> = [];
  while (copying || outcomes.length < 20) {
    outcomes.push(
      new Promise<string>((resolve) => {
        const client = connect(port, '127.0.0.1', () => client.write('hi'));
        const timer = setTimeout(() => {
          client.destroy();
          resolve('hung');
        }, 3_000);
        client.on('data', () => {
          clearTimeout(timer);
          resolve('answered');
        });
        client.on('error', () => {});
        client.on('close', () => {
          clearTimeout(timer);
          resolve('closed unanswered');
        });
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const copies = await made;
  const counts = (await Promise.all(outcomes)).reduce<Record<string, number>>((acc, outcome) => {
    acc[outcome] = (acc[outcome] ?? 0) + 1;
    return acc;
  }, {});
  server.close();
  for (const copy of copies) copy.close();
  assert.equal(copies.length, 15);
  assert.deepEqual(Object.keys(counts), ['answered'], `outcomes: ${JSON.stringify(counts)}`);
  assert.ok((counts.answered ?? 0) >= 20, `outcomes: ${JSON.stringify(counts)}`);
});
