// STUN (RFC 5389) on the SIP UDP port: the codec against the RFC 5769 test vectors, Binding
// requests answered on a live listener (IPv4 and IPv6) while SIP keeps flowing on the same
// port, and our own Binding requests (`TransportManager.stun`) with their retransmission.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { TransportManager, type TransportOptions } from '../src/transport/manager.js';
import {
  answerRequest,
  bindingRequest,
  decodeStun,
  isStun,
  mappedAddressOf,
  newTransactionId,
} from '../src/transport/stun.js';
import { cleanup, newManager, requestText, sleep, udpPeer } from './transport-helpers.js';

const manager = (opts: TransportOptions = {}) => newManager((o) => new TransportManager(o), opts);

afterEach(async () => {
  await cleanup();
  await sleep(5);
  expect(process.getActiveResourcesInfo().filter((r) => /TCP|UDP/.test(r))).toEqual([]);
});

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Whether ::1 can be bound here (containers without IPv6 cannot). */
const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = createSocket({ type: 'udp6', ipv6Only: true });
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => s.close(() => resolve(true)));
});
const on6 = hasIpv6 ? it : it.skip;

describe('STUN codec', () => {
  // RFC 5769 §2.2 and §2.3: sample responses with XOR-MAPPED-ADDRESS and FINGERPRINT
  const tid = 'b7e7a701 bc34d686 fa87dfae';
  it('decodes the RFC 5769 IPv4 response: mapped address and a valid FINGERPRINT', () => {
    const data = hex(`0101003c 2112a442 ${tid}
      8022000b 74657374 20766563 746f7220
      00200008 0001a147 e112a643
      00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
      80280004 c07d4c96`);
    expect(isStun(data)).toBe(true);
    const msg = decodeStun(data);
    expect(msg?.cls).toBe('success');
    expect(msg?.method).toBe(1);
    expect(msg && mappedAddressOf(msg)).toEqual({ address: '192.0.2.1', port: 32853 });
    // one bit changed anywhere before FINGERPRINT: the message is refused
    const bad = Buffer.from(data);
    bad[30] = (bad[30] as number) ^ 1;
    expect(decodeStun(bad)).toBeUndefined();
  });

  it('decodes the RFC 5769 IPv6 response', () => {
    const data = hex(`01010048 2112a442 ${tid}
      8022000b 74657374 20766563 746f7220
      00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
      00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
      80280004 c8fb0b4c`);
    const msg = decodeStun(data);
    expect(msg && mappedAddressOf(msg)).toEqual({
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    });
  });

  it('answers a Binding request with what it decodes back to, for both families', () => {
    for (const from of [
      { address: '203.0.113.9', port: 40000 },
      { address: '2001:db8::1', port: 5060 },
    ]) {
      const req = decodeStun(bindingRequest(newTransactionId()));
      expect(req?.cls).toBe('request');
      const answer = answerRequest(req as NonNullable<typeof req>, from) as Buffer;
      const resp = decodeStun(answer);
      expect(resp?.cls).toBe('success');
      expect(resp?.transactionId.equals(req?.transactionId as Buffer)).toBe(true);
      expect(resp && mappedAddressOf(resp)).toEqual(from);
    }
  });

  it('tells SIP from STUN by the first byte and the length', () => {
    expect(isStun(Buffer.from(requestText({ via: 'SIP/2.0/UDP h;branch=z9hG4bK-1' })))).toBe(false);
    expect(isStun(Buffer.from('\r\n\r\n'))).toBe(false);
    const req = bindingRequest(newTransactionId());
    expect(isStun(req)).toBe(true);
    expect(isStun(req.subarray(0, req.length - 4))).toBe(false);
  });
});

/** A raw Binding request as a peer would send it. */
function classicRequest(): Buffer {
  // RFC 3489: no magic cookie, a 16-byte transaction id
  return Buffer.concat([hex('00010000'), Buffer.from('0123456789abcdef')]);
}

describe('STUN server on the SIP UDP port', () => {
  it('answers Binding requests with the source address, and SIP still flows on the port', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    await peer.send(bindingRequest(newTransactionId()), port);
    const got = await peer.inbox.next('STUN answer');
    const resp = decodeStun(Buffer.from(got.text, 'latin1'));
    expect(resp?.cls).toBe('success');
    expect(resp && mappedAddressOf(resp)).toEqual({ address: '127.0.0.1', port: peer.port });
    expect(got.rinfo.port).toBe(port);
    await peer.send(requestText({ via: 'SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-s1;rport' }), port);
    expect((await inbox.next('SIP request after STUN')).msg.kind).toBe('request');
  });

  it('answers an RFC 3489 client with MAPPED-ADDRESS', async () => {
    const { m } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    await peer.send(classicRequest(), port);
    const resp = decodeStun(Buffer.from((await peer.inbox.next('answer')).text, 'latin1'));
    expect(resp?.rfc5389).toBe(false);
    expect(resp?.transactionId.toString()).toBe('0123456789abcdef');
    expect(resp && mappedAddressOf(resp)).toEqual({ address: '127.0.0.1', port: peer.port });
  });

  it('gives 420 for an unknown comprehension-required attribute, drops malformed ones, keeps serving', async () => {
    const { m, inbox } = await manager();
    const port = await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await udpPeer();
    const tid = newTransactionId();
    // attribute 0x7777, 4 bytes
    await peer.send(Buffer.concat([hex('00010008 2112a442'), tid, hex('77770004 00000000')]), port);
    const resp = decodeStun(Buffer.from((await peer.inbox.next('420')).text, 'latin1'));
    expect(resp?.cls).toBe('error');
    expect(resp?.attributes.find((a) => a.type === 0x0009)?.value.subarray(2, 4)).toEqual(hex('0414'));
    expect(resp?.attributes.find((a) => a.type === 0x000a)?.value).toEqual(hex('7777'));
    // an attribute running past the end; a response nobody asked for
    await peer.send(Buffer.concat([hex('00010004 2112a442'), tid, hex('00200010')]), port);
    await peer.send(answerRequest(decodeStun(bindingRequest(tid))!, { address: '1.2.3.4', port: 1 })!, port);
    await peer.send(requestText({ via: 'SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-s2;rport' }), port);
    expect((await inbox.next('SIP request')).msg.kind).toBe('request');
    expect(peer.inbox.items).toEqual([]);
  });

  on6('answers on ::1 with an IPv6 XOR-MAPPED-ADDRESS', async () => {
    const { m } = await manager();
    const port = await m.listen({ transport: 'udp', address: '::1', port: 0 });
    const peer = await udpPeer('::1');
    await peer.send(bindingRequest(newTransactionId()), port);
    const resp = decodeStun(Buffer.from((await peer.inbox.next('answer on ::1')).text, 'latin1'));
    expect(resp && mappedAddressOf(resp)).toEqual({ address: '::1', port: peer.port });
  });
});

describe('stun (our Binding requests)', () => {
  it('learns the mapped address from another server and names the listener it left from', async () => {
    const { m: a } = await manager();
    const { m: b } = await manager();
    const aPort = await a.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const bPort = await b.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const result = await a.stun('127.0.0.1', bPort);
    expect(result).toEqual({
      local: { address: '127.0.0.1', port: aPort },
      mapped: { address: '127.0.0.1', port: aPort },
    });
  });

  on6('works over ::1 from an IPv6 listener chosen among both families', async () => {
    const { m: a } = await manager();
    const { m: b } = await manager();
    await a.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const a6 = await a.listen({ transport: 'udp', address: '::1', port: 0 });
    const b6 = await b.listen({ transport: 'udp', address: '::1', port: 0 });
    expect((await a.stun('[::1]', b6)).mapped).toEqual({ address: '::1', port: a6 });
  });

  it('retransmits, then fails with no response; a peer that answers late still counts', async () => {
    const { m } = await manager({ stun: { rto: 20, rc: 3, rm: 2 } });
    await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const silent = await udpPeer();
    await expect(m.stun('127.0.0.1', silent.port)).rejects.toThrow(/no response/);
    // Rc requests went out, all with one transaction id
    const sent = silent.inbox.items.map((i) => decodeStun(Buffer.from(i.text, 'latin1')));
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s?.transactionId.toString('hex'))).size).toBe(1);

    const late = await udpPeer();
    const pending = m.stun('127.0.0.1', late.port);
    const first = await late.inbox.next('request');
    await late.inbox.next('retransmission');
    const req = decodeStun(Buffer.from(first.text, 'latin1'));
    await late.send(answerRequest(req!, { address: '198.51.100.7', port: 6000 })!, first.rinfo.port);
    expect((await pending).mapped).toEqual({ address: '198.51.100.7', port: 6000 });
  });

  it('fails at once without a UDP listener of the family, and on close', async () => {
    const { m } = await manager({ stun: { rto: 1000 } });
    await expect(m.stun('127.0.0.1', 3478)).rejects.toThrow(/no udp listener/);
    await m.listen({ transport: 'udp', address: '127.0.0.1', port: 0 });
    const silent = await udpPeer();
    const pending = m.stun('127.0.0.1', silent.port);
    await silent.inbox.next('request');
    await m.close();
    await expect(pending).rejects.toThrow(/closed/);
  });
});
