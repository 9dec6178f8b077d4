// The connection_lost notification end to end: a SipApp (TypeScript SDK) answers an INVITE
// that came over TCP; when the caller's connection goes away, the app hears which of its
// dialogs used it. A connection that carried no dialog of the app tells it nothing.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionLostEvent, ok, SipApp } from '../../clients/typescript/src/index.js';
import { DEFAULTS } from '../../server/src/config.js';
import { type Server, startServer } from '../../server/src/server.js';

let server: Server;
let app: SipApp;
let tcpPort: number;
const lost: ConnectionLostEvent[] = [];
const dialogs: string[] = [];

beforeAll(async () => {
  server = await startServer({
    ...DEFAULTS,
    listen: ['sip:127.0.0.1:0'],
    grpc: '127.0.0.1:0',
    logLevel: 'silent',
    t1: 100,
    t4: 200,
  });
  tcpPort = server.listeners.find((l) => l.transport === 'tcp')?.port as number;
  app = await SipApp.start(
    { app: 'lost', server: server.grpcAddress as string },
    {
      invite: () => ok(),
      dialogUpdate: (e) => {
        if (e.status === 'start') dialogs.push(e.dialogHandle);
      },
      options: () => ok(),
    },
  );
  app.on('connectionLost', (e) => lost.push(e));
});

afterAll(async () => {
  await app?.stop();
  await server?.stop(1000);
});

function open(): Promise<{ socket: Socket; port: number; data: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: tcpPort });
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, port: socket.localPort ?? 0, data: () => text }));
  });
}

const request = (method: string, port: number, callId: string) =>
  `${method} sip:app@127.0.0.1:${tcpPort};transport=tcp SIP/2.0\r\n` +
  `Via: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bK-${callId}\r\nMax-Forwards: 70\r\n` +
  `From: <sip:a@127.0.0.1>;tag=a-${callId}\r\nTo: <sip:app@127.0.0.1>\r\nCall-ID: ${callId}\r\n` +
  `CSeq: 1 ${method}\r\nContact: <sip:a@127.0.0.1:${port};transport=tcp>\r\nContent-Length: 0\r\n\r\n`;

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('connection_lost', () => {
  it('a connection without dialogs: nothing; the caller of a dialog hangs up its TCP: the app is told', async () => {
    const quiet = await open();
    quiet.socket.write(request('OPTIONS', quiet.port, 'cl-options'));
    await until(() => quiet.data().includes('SIP/2.0 200'), 'OPTIONS answered');
    quiet.socket.destroy();

    const caller = await open();
    caller.socket.write(request('INVITE', caller.port, 'cl-invite'));
    await until(() => caller.data().includes('SIP/2.0 200'), 'INVITE answered');
    await until(() => dialogs.length === 1, 'the dialog handle');
    caller.socket.destroy();
    await until(() => lost.length > 0, 'connectionLost');
    expect(lost).toEqual([
      {
        transport: 'tcp',
        remoteAddress: '127.0.0.1',
        remotePort: caller.port,
        localAddress: '127.0.0.1',
        localPort: tcpPort,
        reason: 'closed',
        dialogs: [dialogs[0]],
      },
    ]);
  });
});
