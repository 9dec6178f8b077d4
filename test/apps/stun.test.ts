// The `stun` command end to end: a SipApp (TypeScript SDK) asks an in-process server to send
// a STUN Binding request from the app's own UDP listener to another server's SIP port, which
// answers it as a STUN server; the SDK resolves with both addresses or rejects with a UacError.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipApp, UacError } from '../../clients/typescript/src/index.js';
import { DEFAULTS } from '../../server/src/config.js';
import { type Server, startServer } from '../../server/src/server.js';

let server: Server;
let stunServer: Server;
let app: SipApp;

const base = { ...DEFAULTS, logLevel: 'silent' as const, t1: 100, t4: 200 };

beforeAll(async () => {
  server = await startServer({ ...base, listen: ['sip:127.0.0.1:0'], grpc: '127.0.0.1:0' });
  stunServer = await startServer({ ...base, listen: ['sip:127.0.0.1:0'], grpc: false });
  app = await SipApp.start(
    { app: 'stunner', server: server.grpcAddress as string, listen: 'sip:127.0.0.1:0' },
    {},
  );
});

afterAll(async () => {
  await app?.stop();
  await server?.stop(1000);
  await stunServer?.stop(1000);
});

describe('stun command', () => {
  it("leaves from the app's own UDP listener and reports what the STUN server saw", async () => {
    const own = app.startedInfo?.listeners.find((l) => l.startsWith('udp:')) as string;
    const ownPort = Number(own.slice(own.lastIndexOf(':') + 1));
    expect(ownPort).not.toBe(server.listeners[0]?.port);
    const stunPort = stunServer.listeners.find((l) => l.transport === 'udp')?.port as number;
    const info = await app.stun(`sip:127.0.0.1:${stunPort}`);
    expect(info).toEqual({
      local: { address: '127.0.0.1', port: ownPort },
      public: { address: '127.0.0.1', port: ownPort },
    });
    // host:port works too
    expect((await app.stun(`127.0.0.1:${stunPort}`)).public.port).toBe(ownPort);
  });

  it('rejects an invalid URI with invalidUri', async () => {
    const err = await app.stun('not a uri at all').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UacError);
    expect((err as UacError).kind).toBe('invalidUri');
  });
});
