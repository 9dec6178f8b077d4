// RFC 3263 §4.3 in the UAC core: a request to a name with several targets moves on to the
// next after a transport error, a timeout or a 503, as a new transaction (new branch, same
// CSeq) with a Contact made for the new target; what ends the request is reported once, and
// nothing is left pending. Real transaction layer, fake clock, recording transport.
import { describe, expect, it } from 'vitest';
import { locateInput, type NextHop } from '../src/core/target.js';
import { UacCore, type UacErrorKind, type UacListener } from '../src/core/uac.js';
import { makeResponse } from '../src/sip/build.js';
import { viaBranch } from '../src/sip/headers.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { serialize } from '../src/sip/serializer.js';
import { FakeClock } from '../src/transaction/clock.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { ipFamily } from '../src/transport/address.js';
import type { Endpoint } from '../src/transport/types.js';
import { FakeTransport, flush, incoming, parse } from './support/transaction.js';

/** Fails sends to the addresses in `down`; names a Contact of the target's family. */
class Transport extends FakeTransport {
  down = new Set<string>();
  override sendRequest(req: SipRequest, target: Endpoint): Promise<Endpoint> {
    if (this.down.has(target.address)) {
      this.sent.push({ kind: 'request', msg: req, to: target });
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    }
    return super.sendRequest(req, target);
  }
  localContact(target: Endpoint) {
    return {
      host: ipFamily(target.address) === 6 ? '2001:db8::100' : '192.0.2.100',
      port: 5060,
      transport: target.transport,
    };
  }
}

const A: Endpoint = { transport: 'tcp', address: '192.0.2.1', port: 5061 };
const B: Endpoint = { transport: 'udp', address: '2001:db8::2', port: 5062 };
const C: Endpoint = { transport: 'udp', address: '192.0.2.3', port: 5063 };

function setup(targets: Endpoint[] | Error) {
  const clock = new FakeClock();
  const transport = new Transport();
  const layer = new TransactionLayer({ transport, clock });
  const located: NextHop[] = [];
  const uac = new UacCore({
    layer,
    transport,
    clock,
    defaults: { from: '<sip:alice@nksip>', route: [], allow: 'INVITE,ACK,BYE,OPTIONS', supported: '' },
    locate: (hop) => {
      located.push(hop);
      return targets instanceof Error ? Promise.reject(targets) : Promise.resolve(targets);
    },
  });
  const finals: SipResponse[] = [];
  const errors: { kind: UacErrorKind; message: string }[] = [];
  const listener: UacListener = {
    final: (r) => void finals.push(r),
    error: (kind, message) => void errors.push({ kind, message }),
  };
  const sent = (method: string) =>
    transport.sent.flatMap((s) => (s.kind === 'request' && s.msg.method === method ? [s] : []));
  const answer = (req: SipRequest, status: number) => {
    const wire = parse(serialize(makeResponse(req, status, { toTag: 'x' })).toString('latin1'));
    layer.receive(incoming(wire as SipResponse));
  };
  const settle = async () => {
    for (let i = 0; i < 5; i++) await flush();
  };
  return { clock, transport, layer, uac, located, finals, errors, listener, sent, answer, settle };
}

describe('RFC 3263 failover in the UAC', () => {
  it('asks the locator only for what the URI named', async () => {
    const t = setup([C]);
    t.uac.send({ method: 'OPTIONS', uri: 'sip:bob@example.test' }, t.listener);
    t.uac.send({ method: 'OPTIONS', uri: 'sip:bob@example.test:5099;transport=tcp' }, t.listener);
    t.uac.send({ method: 'OPTIONS', uri: 'sip:bob@example.test;maddr=proxy.example.test' }, t.listener);
    t.uac.send({ method: 'OPTIONS', uri: 'sip:bob@192.0.2.9' }, t.listener);
    await t.settle();
    expect(t.located.map(locateInput)).toEqual([
      { secure: false, host: 'example.test' },
      { secure: false, host: 'example.test', port: 5099, transport: 'tcp' },
      { secure: false, host: 'proxy.example.test' },
    ]);
    // the IP literal went straight out
    expect(t.sent('OPTIONS').map((s) => s.to.address)).toContain('192.0.2.9');
  });

  it('a transport error, then a 503: the third target answers; new branch, same CSeq, new Contact', async () => {
    const t = setup([A, B, C]);
    t.transport.down.add(A.address);
    t.uac.send({ method: 'INVITE', uri: 'sip:bob@example.test' }, t.listener);
    await t.settle();
    const [toA, toB] = t.sent('INVITE');
    expect(toA?.to).toMatchObject(A);
    expect(toB?.to).toMatchObject(B);
    t.answer(toB?.msg as SipRequest, 503);
    await t.settle();
    const all = t.sent('INVITE');
    expect(all.map((s) => s.to.address)).toEqual([A.address, B.address, C.address]);
    const reqs = all.map((s) => s.msg);
    expect(new Set(reqs.map((r) => viaBranch(r.topVia!))).size).toBe(3);
    expect(new Set(reqs.map((r) => `${r.callId} ${r.cseq.seq} ${r.fromTag}`)).size).toBe(1);
    expect(reqs.map((r) => r.header('contact'))).toEqual([
      '<sip:alice@192.0.2.100:5060;transport=tcp>',
      '<sip:alice@[2001:db8::100]:5060>',
      '<sip:alice@192.0.2.100:5060>',
    ]);
    expect(t.finals).toEqual([]); // the 503 was not the end
    t.answer(reqs[2] as SipRequest, 486);
    await t.settle();
    expect(t.finals.map((r) => r.status)).toEqual([486]);
    expect(t.errors).toEqual([]);
    expect(t.uac.stats().pending).toBe(0);
  });

  it('a timeout moves on too (Timer F)', async () => {
    const t = setup([C, A]);
    t.uac.send({ method: 'OPTIONS', uri: 'sip:bob@example.test' }, t.listener);
    await t.settle();
    t.clock.advance(64 * 500 + 1);
    await t.settle();
    const all = t.sent('OPTIONS');
    expect(all.at(-1)?.to).toMatchObject(A);
    t.answer(all.at(-1)?.msg as SipRequest, 200);
    await t.settle();
    expect(t.finals.map((r) => r.status)).toEqual([200]);
  });

  it('every target failing: the last failure is what the app hears, once', async () => {
    const t = setup([A, C]);
    t.transport.down.add(A.address);
    t.uac.send({ method: 'OPTIONS', uri: 'sip:bob@example.test' }, t.listener);
    await t.settle();
    t.answer(t.sent('OPTIONS').at(-1)?.msg as SipRequest, 503);
    await t.settle();
    expect(t.finals.map((r) => r.status)).toEqual([503]);
    expect(t.errors).toEqual([]);
    expect(t.uac.stats().pending).toBe(0);

    const u = setup([A, { ...A, address: '192.0.2.77' }]);
    u.transport.down.add(A.address).add('192.0.2.77');
    u.uac.send({ method: 'OPTIONS', uri: 'sip:bob@example.test' }, u.listener);
    await u.settle();
    expect(u.errors).toEqual([
      { kind: 'service_unavailable', message: expect.stringContaining('192.0.2.77') },
    ]);
    expect(u.uac.stats().pending).toBe(0);
  });

  it('no failover once an INVITE got a provisional', async () => {
    const t = setup([C, A]);
    t.uac.send({ method: 'INVITE', uri: 'sip:bob@example.test' }, t.listener);
    await t.settle();
    const req = t.sent('INVITE')[0]?.msg as SipRequest;
    t.answer(req, 180);
    t.answer(req, 503);
    await t.settle();
    expect(t.sent('INVITE')).toHaveLength(1);
    expect(t.finals.map((r) => r.status)).toEqual([503]);
  });

  it('a name that points nowhere: service_unavailable, nothing pending', async () => {
    const t = setup(new Error('no address for nowhere.test'));
    expect(t.uac.send({ method: 'INVITE', uri: 'sip:bob@nowhere.test' }, t.listener)).toBeDefined();
    await t.settle();
    expect(t.errors).toEqual([
      { kind: 'service_unavailable', message: expect.stringContaining('nowhere.test') },
    ]);
    expect(t.transport.sent).toEqual([]);
    expect(t.uac.stats().pending).toBe(0);
  });
});
