// RFC 5626 §4.4 in the UAC core: a REGISTER whose Contact carries `;ob` starts keep-alives on
// the flow it went over once a 2xx accepts it (every Flow-Timer seconds, else 25 s on UDP and
// 120 s on a connection), an unregistration stops them, and a Contact without `;ob` none.
import { describe, expect, it } from 'vitest';
import { UacCore } from '../src/core/uac.js';
import { makeResponse } from '../src/sip/build.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { FakeClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import type { Endpoint } from '../src/transport/types.js';
import { FakeTransport, flush, incoming, parse } from './support/transaction.js';

class Transport extends FakeTransport {
  kept: { ep: Endpoint; ms: number; stopped: boolean }[] = [];
  localContact(target: Endpoint) {
    return { host: '192.0.2.100', port: 5060, transport: target.transport };
  }
  keepAlive(ep: Endpoint, ms: number) {
    const k = { ep, ms, stopped: false };
    this.kept.push(k);
    return {
      stop: () => {
        k.stopped = true;
      },
    };
  }
}

function setup() {
  const clock = new FakeClock();
  const transport = new Transport();
  const layer = new TransactionLayer({ transport, clock });
  const uac = new UacCore({
    layer,
    transport,
    clock,
    defaults: { from: '<sip:alice@nksip>', route: [], allow: 'INVITE,ACK,BYE', supported: '' },
  });
  const register = async (
    uri: string,
    contact: string,
    expires: number,
    headers: [string, string][] = [],
  ) => {
    uac.send(
      { method: 'REGISTER', uri, contact, expires, headers: [] },
      { final: () => {}, error: () => {} },
    );
    await flush();
    const req = transport.requests('REGISTER').at(-1) as SipRequest;
    const resp = makeResponse(req, 200, { toTag: 'r', headers });
    layer.receive(incoming(parse(serialize(resp).toString('latin1')) as SipResponse));
    await flush();
  };
  return { transport, uac, register };
}

describe('outbound keep-alives of registrations', () => {
  it('`;ob` over TCP with Flow-Timer: kept every Flow-Timer s; Expires 0 stops it', async () => {
    const t = setup();
    await t.register(
      'sip:registrar@192.0.2.5;transport=tcp',
      '<sip:alice@192.0.2.100;transport=tcp;ob>',
      600,
      [['Flow-Timer', '30']],
    );
    expect(t.transport.kept).toEqual([
      { ep: { transport: 'tcp', address: '192.0.2.5', port: 5060 }, ms: 30_000, stopped: false },
    ]);
    await t.register('sip:registrar@192.0.2.5;transport=tcp', '<sip:alice@192.0.2.100;transport=tcp;ob>', 0);
    expect(t.transport.kept.map((k) => k.stopped)).toEqual([true]);
  });

  it('UDP without Flow-Timer: 25 s; a refresh replaces the keep-alive; no `;ob`: none', async () => {
    const t = setup();
    await t.register('sip:registrar@192.0.2.6', '<sip:alice@192.0.2.100;ob>', 600);
    await t.register('sip:registrar@192.0.2.6', '<sip:alice@192.0.2.100;ob>', 600);
    expect(t.transport.kept.map((k) => [k.ms, k.stopped])).toEqual([
      [25_000, true],
      [25_000, false],
    ]);
    await t.register('sip:registrar@192.0.2.7', '<sip:alice@192.0.2.100;obx=1>', 600);
    expect(t.transport.kept).toHaveLength(2);
    t.uac.close();
    expect(t.transport.kept.every((k) => k.stopped)).toBe(true);
  });
});
