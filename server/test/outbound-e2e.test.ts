// RFC 5626 §4.4 end to end in a running server: a REGISTER whose Contact carries `;ob`, sent
// by the server's UAC to a registrar peer on 127.0.0.1 that grants `Flow-Timer: 1`, keeps its
// UDP flow alive with STUN Binding requests (the peer answers them as a STUN server would);
// when the peer stops answering, the transport reports the flow lost (reason `keepalive`).
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import { type Server, startServer } from '../src/server.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import type { FlowLost } from '../src/transport/manager.js';
import { answerRequest, decodeStun, isStun } from '../src/transport/stun.js';
import { parse, until } from './transport-helpers.js';

let server: Server;
const socket = createSocket('udp4');
let registrarPort = 0;
let answering = true;
let stunSeen = 0;
const lost: FlowLost[] = [];

beforeAll(async () => {
  socket.on('message', (data, rinfo) => {
    if (isStun(data)) {
      stunSeen++;
      const req = decodeStun(data);
      const answer =
        req && answering ? answerRequest(req, { address: rinfo.address, port: rinfo.port }) : undefined;
      if (answer) socket.send(answer, rinfo.port, rinfo.address);
      return;
    }
    const req = parse(data.toString('latin1')) as SipRequest;
    if (req.kind !== 'request') return;
    const ok = makeResponse(req, 200, { toTag: 'reg', headers: [['Flow-Timer', '1']] });
    for (const c of req.headerValues('contact')) ok.addHeader('contact', `${c};expires=600`);
    socket.send(serialize(ok), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  registrarPort = socket.address().port;
  server = await startServer({
    ...DEFAULTS,
    listen: ['sip:127.0.0.1:0'],
    grpc: false,
    logLevel: 'silent',
    t1: 100,
    t4: 200,
  });
  server.transport.onFlowLost((l) => lost.push(l));
});

afterAll(async () => {
  await server?.stop(500);
  await new Promise<void>((r) => socket.close(() => r()));
});

describe('outbound keep-alives of a registration (;ob)', () => {
  it('STUN keep-alives while the registrar answers them; the flow is lost once it stops', async () => {
    const final = await new Promise<SipResponse>((resolve, reject) => {
      server.uac.send(
        {
          method: 'REGISTER',
          uri: `sip:registrar@127.0.0.1:${registrarPort}`,
          contact: `<sip:alice@127.0.0.1:${server.listeners[0]?.port};ob>`,
          expires: 600,
        },
        { final: resolve, error: (kind, message) => reject(new Error(`${kind}: ${message}`)) },
      );
    });
    expect(final.status).toBe(200);
    await until(() => stunSeen >= 2, 'two keep-alives answered', 10_000);
    expect(lost).toEqual([]);
    answering = false;
    await until(() => lost.length === 1, 'the flow lost', 15_000);
    expect(lost[0]).toMatchObject({
      transport: 'udp',
      address: '127.0.0.1',
      port: registrarPort,
      reason: 'keepalive',
    });
  });
});
