// RFC 3263 server location through node:dns's real Resolver, asking a DNS server the test
// starts on 127.0.0.1: §4.1 transport choice (transport param, IP, port, NAPTR, SRV), §4.2
// ports and addresses, RFC 2782 ordering, the cache, and names that point nowhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocateError, ServerLocator, systemDns } from '../src/transport/resolver.js';
import type { TransportName } from '../src/transport/types.js';
import { startTestDns, type TestDns } from './dns-server.js';

let dns: TestDns;

beforeAll(async () => {
  dns = await startTestDns({
    // NAPTR prefers TCP over UDP; TLS is offered too, first, but we have no TLS
    'naptr.test': [
      {
        type: 'NAPTR',
        order: 10,
        preference: 5,
        flags: 's',
        service: 'SIPS+D2T',
        replacement: '_sips._tcp.naptr.test',
      },
      {
        type: 'NAPTR',
        order: 20,
        preference: 10,
        flags: 's',
        service: 'SIP+D2U',
        replacement: '_sip._udp.naptr.test',
      },
      {
        type: 'NAPTR',
        order: 20,
        preference: 5,
        flags: 's',
        service: 'SIP+D2T',
        replacement: '_sip._tcp.naptr.test',
      },
    ],
    '_sips._tcp.naptr.test': [{ type: 'SRV', priority: 1, weight: 0, port: 5061, target: 'tls.naptr.test' }],
    '_sip._tcp.naptr.test': [
      { type: 'SRV', priority: 20, weight: 0, port: 5072, target: 'b.naptr.test' },
      { type: 'SRV', priority: 10, weight: 0, port: 5071, target: 'a.naptr.test' },
    ],
    '_sip._udp.naptr.test': [{ type: 'SRV', priority: 1, weight: 0, port: 5080, target: 'a.naptr.test' }],
    'a.naptr.test': [
      { type: 'A', address: '192.0.2.1' },
      { type: 'AAAA', address: '2001:db8::1' },
    ],
    'b.naptr.test': [{ type: 'A', address: '192.0.2.2' }],
    'tls.naptr.test': [{ type: 'A', address: '192.0.2.3' }],
    // no NAPTR: the SRV of each transport we have
    'srv.test': [{ type: 'A', address: '192.0.2.50' }],
    '_sip._udp.srv.test': [
      { type: 'SRV', priority: 5, weight: 10, port: 6001, target: 'w10.srv.test' },
      { type: 'SRV', priority: 5, weight: 90, port: 6002, target: 'w90.srv.test' },
      { type: 'SRV', priority: 9, weight: 0, port: 6003, target: 'last.srv.test' },
    ],
    '_sip._tcp.srv.test': [{ type: 'SRV', priority: 1, weight: 0, port: 7000, target: 'tcp.srv.test' }],
    'w10.srv.test': [{ type: 'A', address: '192.0.2.10' }],
    'w90.srv.test': [{ type: 'A', address: '192.0.2.90' }],
    'last.srv.test': [{ type: 'A', address: '192.0.2.99' }],
    'tcp.srv.test': [{ type: 'A', address: '192.0.2.70' }],
    // plain A/AAAA
    'plain.test': [
      { type: 'A', address: '198.51.100.1', ttl: 1 },
      { type: 'AAAA', address: '2001:db8::5' },
    ],
    // "no SIP here" (RFC 2782 target "."), and an SRV whose target has no address
    'nosip.test': [],
    '_sip._udp.nosip.test': [{ type: 'SRV', priority: 0, weight: 0, port: 0, target: '.' }],
    'dangling.test': [],
    '_sip._udp.dangling.test': [{ type: 'SRV', priority: 0, weight: 0, port: 5060, target: 'gone.test' }],
  });
});

afterAll(async () => {
  await dns?.close();
});

function locator(opts: { transports?: TransportName[]; random?: () => number; now?: () => number } = {}) {
  const have = new Set<TransportName>(opts.transports ?? ['udp', 'tcp']);
  return new ServerLocator({
    dns: systemDns([dns.server]),
    transports: () => have,
    // the hosts file of this test: never the system's resolver
    lookup: (h: string) =>
      h === 'localhost' || h === 'hosts-only.test'
        ? Promise.resolve(['127.0.0.1', '::1'])
        : Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: 'ENOTFOUND' })),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}

const queriesDuring = async <T>(fn: () => Promise<T>): Promise<{ result: T; queries: string[] }> => {
  const before = dns.queries.length;
  const result = await fn();
  return { result, queries: dns.queries.slice(before) };
};

describe('RFC 3263 §4.1/§4.2 without DNS', () => {
  it('an IP literal is the target: UDP (TLS for sips) and the default port unless given', async () => {
    const l = locator();
    const { result, queries } = await queriesDuring(async () => [
      await l.locate({ secure: false, host: '192.0.2.7' }),
      await l.locate({ secure: false, host: '[2001:DB8::7]', port: 5099, transport: 'tcp' }),
      await l.locate({ secure: true, host: '192.0.2.7' }),
    ]);
    expect(result).toEqual([
      [{ transport: 'udp', address: '192.0.2.7', port: 5060 }],
      [{ transport: 'tcp', address: '2001:db8::7', port: 5099 }],
      [{ transport: 'tls', address: '192.0.2.7', port: 5061 }],
    ]);
    expect(queries).toEqual([]);
  });
});

describe('RFC 3263 through a DNS server', () => {
  it('an explicit port: the A and AAAA of the host, no NAPTR or SRV asked', async () => {
    const { result, queries } = await queriesDuring(() =>
      locator().locate({ secure: false, host: 'a.naptr.test', port: 5090, transport: 'tcp' }),
    );
    expect(result).toEqual([
      { transport: 'tcp', address: '192.0.2.1', port: 5090 },
      { transport: 'tcp', address: '2001:db8::1', port: 5090 },
    ]);
    expect(queries.sort()).toEqual(['A a.naptr.test', 'AAAA a.naptr.test']);
  });

  it('NAPTR: the lowest order and preference among the transports we have, then its SRV by priority', async () => {
    const { result, queries } = await queriesDuring(() =>
      locator().locate({ secure: false, host: 'naptr.test' }),
    );
    // SIPS+D2T (order 10) is skipped without TLS; SIP+D2T (pref 5) beats SIP+D2U (pref 10)
    expect(result).toEqual([
      { transport: 'tcp', address: '192.0.2.1', port: 5071 },
      { transport: 'tcp', address: '2001:db8::1', port: 5071 },
      { transport: 'tcp', address: '192.0.2.2', port: 5072 },
    ]);
    expect(queries[0]).toBe('NAPTR naptr.test');
    expect(queries).toContain('SRV _sip._tcp.naptr.test');
    expect(queries).not.toContain('SRV _sips._tcp.naptr.test');
  });

  it('NAPTR with TLS available: sips+D2T first; a sips URI takes only secure services', async () => {
    const l = locator({ transports: ['udp', 'tcp', 'tls'] });
    expect(await l.locate({ secure: false, host: 'naptr.test' })).toEqual([
      { transport: 'tls', address: '192.0.2.3', port: 5061 },
    ]);
    expect(
      await locator({ transports: ['udp', 'tcp'] })
        .locate({ secure: true, host: 'naptr.test' })
        .catch((e) => e),
    ).toBeInstanceOf(LocateError);
  });

  it('no NAPTR: SRV per transport (UDP first), priority then weight (RFC 2782)', async () => {
    // random 0.95 of weights 10+90: the 90 comes first; 0.01: the 10 does
    const heavy = await locator({ random: () => 0.95 }).locate({ secure: false, host: 'srv.test' });
    expect(heavy.map((e) => `${e.address}:${e.port}`)).toEqual([
      '192.0.2.90:6002',
      '192.0.2.10:6001',
      '192.0.2.99:6003',
    ]);
    const light = await locator({ random: () => 0.01 }).locate({ secure: false, host: 'srv.test' });
    expect(light.map((e) => e.port)).toEqual([6001, 6002, 6003]);
    expect(heavy.every((e) => e.transport === 'udp')).toBe(true);
  });

  it('transport given, no port: the SRV of that transport; none: A/AAAA at 5060', async () => {
    expect(await locator().locate({ secure: false, host: 'srv.test', transport: 'tcp' })).toEqual([
      { transport: 'tcp', address: '192.0.2.70', port: 7000 },
    ]);
    expect(await locator().locate({ secure: false, host: 'plain.test', transport: 'tcp' })).toEqual([
      { transport: 'tcp', address: '198.51.100.1', port: 5060 },
      { transport: 'tcp', address: '2001:db8::5', port: 5060 },
    ]);
  });

  it('no NAPTR and no SRV: A/AAAA, UDP, 5060', async () => {
    expect(await locator().locate({ secure: false, host: 'plain.test' })).toEqual([
      { transport: 'udp', address: '198.51.100.1', port: 5060 },
      { transport: 'udp', address: '2001:db8::5', port: 5060 },
    ]);
  });

  it('a name pointing nowhere fails with LocateError: unknown name, SRV target ".", a dangling SRV target', async () => {
    for (const host of ['unknown.test', 'nosip.test', 'dangling.test']) {
      const err = await locator()
        .locate({ secure: false, host })
        .catch((e: unknown) => e);
      expect(err, host).toBeInstanceOf(LocateError);
    }
  });

  it('localhost goes to the hosts file only; a name DNS does not know falls back to it', async () => {
    const { result, queries } = await queriesDuring(() =>
      locator().locate({ secure: false, host: 'localhost' }),
    );
    expect(result).toEqual([
      { transport: 'udp', address: '127.0.0.1', port: 5060 },
      { transport: 'udp', address: '::1', port: 5060 },
    ]);
    expect(queries).toEqual([]);
    const named = await queriesDuring(() =>
      locator().locate({ secure: false, host: 'hosts-only.test', transport: 'tcp' }),
    );
    expect(named.result.map((e) => `${e.transport}:${e.address}:${e.port}`)).toEqual([
      'tcp:127.0.0.1:5060',
      'tcp:::1:5060',
    ]);
    expect(named.queries.sort()).toEqual([
      'A hosts-only.test',
      'AAAA hosts-only.test',
      'SRV _sip._tcp.hosts-only.test',
    ]);
  });

  it('caches answers (A/AAAA for their TTL) and asks again once they expire', async () => {
    let now = 1_000_000;
    const l = locator({ now: () => now });
    const first = await queriesDuring(() => l.locate({ secure: false, host: 'plain.test', port: 5060 }));
    expect(first.queries.length).toBe(2);
    const again = await queriesDuring(() => l.locate({ secure: false, host: 'plain.test', port: 5060 }));
    expect(again.queries).toEqual([]);
    expect(again.result).toEqual(first.result);
    now += 1500; // the A record's TTL is 1 s; the AAAA's 60 s
    const later = await queriesDuring(() => l.locate({ secure: false, host: 'plain.test', port: 5060 }));
    expect(later.queries).toEqual(['A plain.test']);
  });
});
