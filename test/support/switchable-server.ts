// A server on 127.0.0.1 that tests can take down (stop listening, drop open connections: clients
// see resets, then refusals) and bring back on the same port, to simulate a store outage.
import type { Server, Socket } from 'node:net';

export interface SwitchableServer {
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
}

export async function listenSwitchable(server: Server, extraSockets?: Set<Socket>): Promise<SwitchableServer> {
  const sockets = extraSockets ?? new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as { port: number }).port;
  let listening = true;
  return {
    port,
    async down() {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async up() {
      if (listening) return;
      await listen(port);
      listening = true;
    },
  };
}
