// The transport's Via rules without sockets: received/rport on arrival (RFC 3261 §18.2.1,
// RFC 3581 §4), our sent-by on departure (§18.1.1), where responses go (§18.2.2).
import { describe, expect, it } from 'vitest';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { serialize } from '../src/sip/serializer.js';
import { hostText, isWildcard, normalizeIp, sameIp } from '../src/transport/address.js';
import type { Source } from '../src/transport/types.js';
import { responseDestination, safeTopVia, setSentBy, stampReceived } from '../src/transport/via.js';

function req(via: string, extraVia = ''): SipRequest {
  const text =
    `OPTIONS sip:bob@example.com SIP/2.0\r\nVia: ${via}${extraVia}\r\n` +
    'From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n' +
    'Content-Length: 0\r\n\r\n';
  const { msg } = parseMessage(Buffer.from(text));
  if (msg.kind !== 'request') throw new Error('not a request');
  return msg;
}

const udpSource: Source = {
  transport: 'udp',
  address: '198.51.100.7',
  port: 40000,
  localAddress: '0.0.0.0',
  localPort: 5060,
};

describe('addresses', () => {
  it('normalises the spellings of one address', () => {
    expect(normalizeIp('[2001:DB8:0:0::1]')).toBe('2001:db8::1');
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::FFFF:7f00:1')).toBe('127.0.0.1');
    expect(sameIp('[::1]', '0:0:0:0:0:0:0:1')).toBe(true);
    expect(sameIp('127.0.0.1', '127.0.0.2')).toBe(false);
    expect(hostText('::1')).toBe('[::1]');
    expect(hostText('example.com')).toBe('example.com');
    expect(isWildcard('::')).toBe(true);
    expect(isWildcard('0.0.0.0')).toBe(true);
    expect(isWildcard('127.0.0.1')).toBe(false);
  });
});

describe('stampReceived', () => {
  it('adds received when sent-by differs from the source', () => {
    const r = req('SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1');
    stampReceived(r, '198.51.100.7', 40000);
    expect(r.topVia?.params).toEqual([
      ['branch', 'z9hG4bK1'],
      ['received', '198.51.100.7'],
    ]);
  });

  it('adds received for a hostname sent-by even at the same address', () => {
    const r = req('SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1');
    stampReceived(r, '192.0.2.1', 5060);
    expect(r.header('via')).toBe('SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;received=192.0.2.1');
  });

  it('leaves the message untouched when sent-by is the source and no rport is asked', () => {
    const r = req('SIP/2.0/UDP [::1]:5060 ;branch=z9hG4bK1');
    const before = serialize(r).toString();
    stampReceived(r, '0:0:0:0:0:0:0:1', 5060);
    expect(serialize(r).toString()).toBe(before);
  });

  it('fills a bare rport and adds received even when the host matches (RFC 3581 §4)', () => {
    const r = req(
      'SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1',
      ', SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0',
    );
    stampReceived(r, '192.0.2.1', 61000);
    expect(r.vias.map((v) => v.params)).toEqual([
      [
        ['rport', '61000'],
        ['branch', 'z9hG4bK1'],
        ['received', '192.0.2.1'],
      ],
      [['branch', 'z9hG4bK0']],
    ]);
  });

  it('writes an IPv6 received bare (RFC 5118 §4.5)', () => {
    const r = req('SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport');
    stampReceived(r, '2001:db8::9', 5062);
    expect(r.header('via')).toBe(
      'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport=5062;received=2001:db8::9',
    );
  });

  it('ignores a Via it cannot parse, leaving it to validation', () => {
    const r = req('SIP/2.0/UDP bad host;branch=z9hG4bK1');
    stampReceived(r, '192.0.2.1', 5060);
    expect(r.header('via')).toBe('SIP/2.0/UDP bad host;branch=z9hG4bK1');
  });
});

describe('setSentBy', () => {
  it('writes transport, bracketed IPv6 sent-by and a bare rport, dropping a stale received', () => {
    const r = req('SIP/2.0/UDP placeholder;branch=z9hG4bKx;received=1.2.3.4;rport=9');
    setSentBy(r, 'tcp', '::1', 5070);
    expect(r.header('via')).toBe('SIP/2.0/TCP [::1]:5070;branch=z9hG4bKx;rport');
  });
});

describe('responseDestination (RFC 3261 §18.2.2, RFC 3581 §4)', () => {
  const via = (v: string) => safeTopVia(req(v));

  it('UDP: received address at the rport port', () => {
    expect(
      responseDestination(via('SIP/2.0/UDP h.example.com:5070;rport=40000;received=198.51.100.7'), udpSource),
    ).toEqual({
      transport: 'udp',
      host: '198.51.100.7',
      port: 40000,
    });
  });

  it('UDP: received at the sent-by port without rport, 5060 without a port', () => {
    expect(
      responseDestination(via('SIP/2.0/UDP h.example.com:5070;received=198.51.100.7'), udpSource).port,
    ).toBe(5070);
    expect(responseDestination(via('SIP/2.0/UDP h.example.com;received=198.51.100.7'), udpSource).port).toBe(
      5060,
    );
    expect(responseDestination(via('SIP/2.0/UDP 192.0.2.4'), udpSource)).toEqual({
      transport: 'udp',
      host: '192.0.2.4',
      port: 5060,
    });
  });

  it('UDP: maddr wins, at the sent-by port', () => {
    expect(
      responseDestination(
        via('SIP/2.0/UDP 192.0.2.4:5080;maddr=239.255.255.1;received=198.51.100.7;rport=1'),
        udpSource,
      ),
    ).toEqual({ transport: 'udp', host: '239.255.255.1', port: 5080 });
  });

  it('TCP: received at the sent-by port, ignoring rport', () => {
    const src: Source = { ...udpSource, transport: 'tcp', connectionId: 99 };
    expect(
      responseDestination(via('SIP/2.0/TCP [2001:db8::1]:5090;rport=4;received=2001:db8::2'), src),
    ).toEqual({
      transport: 'tcp',
      host: '2001:db8::2',
      port: 5090,
    });
  });

  it('without a usable Via: back to the source', () => {
    expect(responseDestination(undefined, udpSource)).toEqual({
      transport: 'udp',
      host: '198.51.100.7',
      port: 40000,
    });
  });
});

/** A fresh parse of what `m` would send: what its cached views must agree with. */
function reparsed(m: SipRequest): SipRequest {
  const { msg } = parseMessage(serialize(m));
  if (msg.kind !== 'request') throw new Error('not a request');
  return msg;
}

describe('Via edits keep the parsed views in step with the text', () => {
  it('setSentBy on a line of two Vias: the cached list changes its first value only', () => {
    const r = req('SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9hG4bK2');
    expect(r.vias).toHaveLength(2); // cached before the edit
    setSentBy(r, 'udp', '192.0.2.1', 5070);
    expect(r.vias.map((v) => [v.host, v.port])).toEqual([
      ['192.0.2.1', 5070],
      ['b.example.com', undefined],
    ]);
    expect(r.vias).toEqual(reparsed(r).vias);
    expect(r.headerLines('via')).toHaveLength(1);
  });

  it('stampReceived without a cached list leaves the rest to be parsed from the new text', () => {
    const r = req(
      'SIP/2.0/UDP host.example.com;branch=z9hG4bK1;rport',
      '\r\nVia: SIP/2.0/UDP c.example.com;branch=z9hG4bK3',
    );
    stampReceived(r, '198.51.100.7', 40000);
    expect(r.vias).toEqual(reparsed(r).vias);
    expect(r.vias).toHaveLength(2);
    expect(r.topVia?.params).toContainEqual(['received', '198.51.100.7']);
  });

  it('shiftVia takes the first value off a shared line or a line of its own', () => {
    const shared = req(
      'SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
    );
    expect(shared.vias).toHaveLength(2);
    shared.shiftVia();
    expect(shared.vias.map((v) => v.host)).toEqual(['b.example.com']);
    expect(shared.vias).toEqual(reparsed(shared).vias);
    const own = req(
      'SIP/2.0/UDP a.example.com;branch=z9hG4bK1',
      '\r\nVia: SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
    );
    own.shiftVia();
    expect(own.headerLines('via')).toEqual(['SIP/2.0/UDP b.example.com;branch=z9hG4bK2']);
    expect(own.topVia?.host).toBe('b.example.com');
  });

  it('a copy shares the views but not the edits', () => {
    const r = req('SIP/2.0/UDP a.example.com;branch=z9hG4bK1');
    const from = r.from;
    const c = r.copy();
    expect(c.from).toBe(from); // not parsed again
    c.setHeader('to', '<sip:carol@example.com>');
    setSentBy(c, 'tcp', '192.0.2.9', 5061);
    c.shiftVia();
    expect(r.to.uri).toMatchObject({ user: 'bob' });
    expect(r.vias.map((v) => v.host)).toEqual(['a.example.com']);
    expect(r.headerLines('via')).toEqual(['SIP/2.0/UDP a.example.com;branch=z9hG4bK1']);
    expect(c.to.uri).toMatchObject({ user: 'carol' });
    expect(c.vias).toEqual([]);
  });
});
