// The proxy end to end on 127.0.0.1: a raw UDP caller → proxy (UasCore + SipProxy on a real
// TransportManager) → UAS (UasCore answering 200), and the answers back. Bounded in time;
// every socket is closed afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config.js';
import type { AppHandler } from '../src/core/app.js';
import { PROCESS } from '../src/core/decision.js';
import { UasCore } from '../src/core/uas.js';
import { SipProxy } from '../src/proxy/index.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { realClock, TransactionLayer } from '../src/transaction/index.js';
import { TransportManager } from '../src/transport/manager.js';
import { cleanup, cleanups, udpPeer, until } from './transport-helpers.js';

afterEach(cleanup);

const profile = () => ({ allow: DEFAULTS.allow, supported: ['path'] });

async function node(app: (port: number) => AppHandler, withProxy: boolean) {
  const transport = new TransportManager();
  const layer = new TransactionLayer({ transport, clock: realClock });
  cleanups.push(() => transport.close());
  cleanups.push(() => layer.close());
  const port = await transport.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
  const proxy = withProxy
    ? new SipProxy({ layer, transport, listeners: () => [{ transport: 'udp', address: '127.0.0.1', port }] })
    : undefined;
  const core = new UasCore({
    transport,
    layer,
    profile,
    app: app(port),
    ...(proxy ? { forwarder: proxy } : {}),
  });
  transport.onMessage((inc) => core.receive(inc));
  return { port, proxy, layer };
}

function text(lines: string[]): string {
  return `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
}

describe('proxy end to end over UDP', () => {
  it('relays OPTIONS and INVITE to a UAS and the answers back; the ACK follows the Route', async () => {
    const seen: SipRequest[] = [];
    const acks: SipRequest[] = [];
    const uas = await node(
      (port) => ({
        route: () => PROCESS,
        method: (req) => {
          seen.push(req);
          return req.method === 'INVITE'
            ? { status: 200, headers: [['Contact', `<sip:uas@127.0.0.1:${port}>`]] }
            : { status: 200 };
        },
        ack: (ack) => void acks.push(ack),
      }),
      false,
    );
    const uasUri = `sip:uas@127.0.0.1:${uas.port}`;
    const px = await node(
      () => ({
        route: () => ({ kind: 'proxy', targets: [[uasUri]], options: { recordRoute: true } }),
        method: () => ({ status: 500 }),
      }),
      true,
    );
    const caller = await udpPeer();
    const via = (b: string) => `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${b};rport`;
    const common = (method: string, cseq: number) => [
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=e2e1',
      'To: <sip:bob@example.com>',
      'Call-ID: e2e-call-1',
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
    ];
    const next = async (): Promise<SipResponse> => {
      const { text: t } = await caller.inbox.next('a response', 3000);
      const msg = parseMessage(Buffer.from(t, 'latin1')).msg;
      if (msg.kind !== 'response') throw new Error('expected a response');
      return msg;
    };

    await caller.send(
      text(['OPTIONS sip:bob@example.com SIP/2.0', via('z9hG4bKe2eopt'), ...common('OPTIONS', 1)]),
      px.port,
    );
    const ok = await next();
    expect(ok.status).toBe(200);
    expect(ok.cseq.method).toBe('OPTIONS');
    expect(ok.vias).toHaveLength(1);
    expect(ok.vias[0]?.params.find(([n]) => n === 'branch')?.[1]).toBe('z9hG4bKe2eopt');
    const opt = seen[0] as SipRequest;
    expect(opt.uri).toBe(uasUri);
    expect(opt.maxForwards).toBe(69);
    expect(opt.vias).toHaveLength(2);
    expect(opt.vias[0]?.port).toBe(px.port);
    expect(opt.headerValues('record-route')).toEqual([`<sip:127.0.0.1:${px.port};lr>`]);

    await caller.send(
      text(['INVITE sip:bob@example.com SIP/2.0', via('z9hG4bKe2einv'), ...common('INVITE', 2)]),
      px.port,
    );
    const trying = await next();
    expect(trying.status).toBe(100);
    const answer = await next();
    expect(answer.status).toBe(200);
    expect(answer.cseq.method).toBe('INVITE');
    expect(answer.vias).toHaveLength(1);
    const toTag = answer.toTag as string;
    expect(toTag).toBeDefined();
    await until(() => px.proxy?.stats().forks === 0, 'the fork to end');
    expect(px.proxy?.stats()).toEqual({ forks: 0, branches: 0, dialogs: 1 });

    // the ACK for the 2xx: to the UAS's Contact through the Record-Route
    await caller.send(
      text([
        `ACK sip:uas@127.0.0.1:${uas.port} SIP/2.0`,
        via('z9hG4bKe2eack'),
        `Route: <sip:127.0.0.1:${px.port};lr>`,
        'Max-Forwards: 70',
        'From: <sip:alice@example.com>;tag=e2e1',
        `To: <sip:bob@example.com>;tag=${toTag}`,
        'Call-ID: e2e-call-1',
        'CSeq: 2 ACK',
      ]),
      px.port,
    );
    await until(() => acks.length === 1, 'the ACK at the UAS', 3000);
    expect(acks[0]?.hasHeader('route')).toBe(false);
    expect(acks[0]?.vias).toHaveLength(2);
  });
});
