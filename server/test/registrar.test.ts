// The registrar (RFC 3261 §10.3 with NkSIP's rules, RFC 3327 Path, RFC 5626 instance/reg-id):
// REGISTERs built as wire text and parsed by the real parser, time on a FakeClock.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Reply } from '../src/core/reply.js';
import { type Binding, targetUri } from '../src/registrar/binding.js';
import { Registrar } from '../src/registrar/registrar.js';
import { MemoryStore, type RegistrarStore } from '../src/registrar/store.js';
import { unescapeUri } from '../src/sip/grammar.js';
import { parseNameAddr } from '../src/sip/headers.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { isSipUri, parseUri } from '../src/sip/uri.js';
import { FakeClock } from '../src/transaction/clock.js';
import { bigText, heldBy } from './support/heap.js';
import { type RegisterSpec, register, replyHeaders } from './support/register.js';

const T0 = Date.UTC(2024, 0, 15, 10, 0, 0);
const AOR = 'sip:alice@example.com';
const SRC = { transport: 'udp', address: '192.0.2.10', port: 5060 };

function reg(spec: RegisterSpec = {}): SipRequest {
  return register(AOR, spec);
}

const hdrs = replyHeaders;

/** Contact values of a reply as `uri -> expires` (the reply's own text, parsed back). */
function listed(r: Reply): Map<string, string | null | undefined> {
  const m = new Map<string, string | null | undefined>();
  for (const v of hdrs(r, 'contact')) {
    const na = parseNameAddr(v);
    const exp = na.params.find(([n]) => n === 'expires');
    m.set(v.slice(v.indexOf('<') + 1, v.indexOf('>')), exp?.[1]);
  }
  return m;
}

let clock: FakeClock;
let store: MemoryStore;
let r: Registrar;
let cseq = 0;
/** A REGISTER in the running dialog (same Call-ID, growing CSeq). */
function next(spec: RegisterSpec = {}): SipRequest {
  return reg({ cseq: ++cseq, ...spec });
}

beforeEach(() => {
  clock = new FakeClock(T0);
  store = new MemoryStore({ clock });
  r = new Registrar({ store, clock });
  cseq = 0;
});

describe('registering and listing', () => {
  it('answers 200 with every binding, its remaining expires and a Date header', async () => {
    const a = await r.register(next({ contacts: ['<sip:alice@192.0.2.10:5060>'] }), SRC);
    expect(a.status).toBe(200);
    expect(hdrs(a, 'contact')).toEqual(['<sip:alice@192.0.2.10:5060>;expires=3600']);
    expect(hdrs(a, 'date')).toEqual(['Mon, 15 Jan 2024 10:00:00 GMT']);
    expect(hdrs(a, 'date')[0]).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);

    clock.advance(600_000);
    const b = await r.register(next({ contacts: ['"Alice Desk" <sip:alice@192.0.2.11>;q=0.5'] }), SRC);
    expect(hdrs(b, 'contact')).toEqual([
      '"Alice Desk" <sip:alice@192.0.2.11>;q=0.5;expires=3600',
      '<sip:alice@192.0.2.10:5060>;expires=3000',
    ]);
    // no Contact: a query that lists the bindings and changes nothing
    clock.advance(1_000);
    const q = await r.register(next());
    expect(q.status).toBe(200);
    expect([...listed(q).values()]).toEqual(['3599', '2999']);

    const [bind] = (await r.bindings(AOR)).filter((x) => x.q === 1) as [Binding];
    expect(bind).toMatchObject({
      uri: 'sip:alice@192.0.2.10:5060',
      q: 1,
      callId: 'call-1@192.0.2.10',
      cseq: 1,
      path: [],
      source: SRC,
      expires: T0 + 3_600_000,
      updatedAt: T0,
    });
  });

  it('takes expires from the Contact parameter, else the Expires header, else the default', async () => {
    const a = await r.register(
      next({
        contacts: ['<sip:a@192.0.2.1>;expires=120', '<sip:b@192.0.2.2>', 'sip:c@192.0.2.3;expires=bogus'],
        expires: 300,
      }),
    );
    expect(listed(a)).toEqual(
      new Map([
        ['sip:a@192.0.2.1', '120'],
        ['sip:b@192.0.2.2', '300'],
        ['sip:c@192.0.2.3', '300'],
      ]),
    );
    const b = await r.register(next({ contacts: ['<sip:d@192.0.2.4>'] }));
    expect(listed(b).get('sip:d@192.0.2.4')).toBe('3600');
    // a malformed Expires header counts as absent (RFC 3261 §20.19)
    const c = await r.register(next({ contacts: ['<sip:e@192.0.2.5>'], expires: 'soon' }));
    expect(listed(c).get('sip:e@192.0.2.5')).toBe('3600');
  });

  it('removes a contact registered with expires 0 (parameter or header)', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>', '<sip:b@192.0.2.2>', '<sip:c@192.0.2.3>'] }));
    const a = await r.register(next({ contacts: ['<sip:a@192.0.2.1>;expires=0'] }));
    expect([...listed(a).keys()].sort()).toEqual(['sip:b@192.0.2.2', 'sip:c@192.0.2.3']);
    const b = await r.register(next({ contacts: ['<sip:b@192.0.2.2>'], expires: 0 }));
    expect([...listed(b).keys()]).toEqual(['sip:c@192.0.2.3']);
    // removing an unknown contact is fine
    expect((await r.register(next({ contacts: ['<sip:zz@192.0.2.9>'], expires: 0 }))).status).toBe(200);
    const c = await r.register(next({ contacts: ['<sip:c@192.0.2.3;transport=udp>'], expires: 0 }));
    expect(hdrs(c, 'contact')).toEqual([]);
    expect(await r.find(AOR)).toEqual([]);
  });

  it('treats default port and transport as the same contact, and refreshes it in place', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>'] }));
    clock.advance(10_000);
    const a = await r.register(next({ contacts: ['<sip:a@192.0.2.1:5060;transport=UDP;ob>;expires=60'] }));
    expect(hdrs(a, 'contact')).toEqual(['<sip:a@192.0.2.1:5060;transport=UDP;ob>;expires=60']);
    // other transport or port: another binding
    const b = await r.register(
      next({ contacts: ['<sip:a@192.0.2.1;transport=tcp>', '<sip:a@192.0.2.1:5070>'] }),
    );
    expect(hdrs(b, 'contact')).toHaveLength(3);
  });
});

describe('expires limits', () => {
  it('answers 423 with Min-Expires below the minimum, and changes nothing', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>'] }));
    const a = await r.register(next({ contacts: ['<sip:a@192.0.2.1>;expires=59', '<sip:b@192.0.2.2>'] }));
    expect(a).toEqual({ status: 423, reason: 'Interval Too Brief', headers: [['Min-Expires', '60']] });
    expect((await r.find(AOR)).map((f) => f.uri)).toEqual(['sip:a@192.0.2.1']);
    const b = await r.register(next({ contacts: ['<sip:a@192.0.2.1>'], expires: 1 }));
    expect(b.status).toBe(423);
    expect((await r.register(next({ contacts: ['<sip:a@192.0.2.1>'], expires: 60 }))).status).toBe(200);
  });

  it('applies the minimum only below 3600 s (NkSIP)', async () => {
    const big = new Registrar({ store, clock, minTime: 7200, maxTime: 86400 });
    expect((await big.register(next({ contacts: ['<sip:a@192.0.2.1>'], expires: 3599 }))).status).toBe(423);
    const a = await big.register(next({ contacts: ['<sip:a@192.0.2.1>'], expires: 3600 }));
    expect(listed(a).get('sip:a@192.0.2.1')).toBe('3600');
  });

  it('cuts values above the maximum down to it', async () => {
    const a = await r.register(
      next({
        contacts: ['<sip:a@192.0.2.1>;expires=86401', '<sip:b@192.0.2.2>;expires=99999999999999999999999'],
      }),
    );
    expect([...listed(a).values()]).toEqual(['86400', '86400']);
  });

  it('rejects options NkSIP would refuse', () => {
    expect(() => new Registrar({ defaultTime: 4 })).toThrow(RangeError);
    expect(() => new Registrar({ minTime: 0 })).toThrow(RangeError);
    expect(() => new Registrar({ maxTime: 59 })).toThrow(RangeError);
    expect(() => new Registrar({ minTime: 100, maxTime: 60 })).toThrow(RangeError);
  });
});

describe('Call-ID and CSeq', () => {
  it('rejects a CSeq not higher than the stored one for the same Call-ID', async () => {
    await r.register(reg({ cseq: 5, contacts: ['<sip:a@192.0.2.1>'] }));
    for (const n of [5, 4]) {
      const a = await r.register(reg({ cseq: n, contacts: ['<sip:a@192.0.2.1>;expires=0'] }));
      expect(a).toEqual({ status: 400, reason: 'Rejected Old CSeq' });
    }
    expect(await r.find(AOR)).toHaveLength(1);
    // a new Call-ID may use any CSeq (another UA, or a rebooted one)
    const b = await r.register(
      reg({ callId: 'other', cseq: 1, contacts: ['<sip:a@192.0.2.1>;expires=100'] }),
    );
    expect(listed(b).get('sip:a@192.0.2.1')).toBe('100');
    expect((await r.bindings(AOR))[0]).toMatchObject({ callId: 'other', cseq: 1 });
    expect(
      (await r.register(reg({ callId: 'other', cseq: 2, contacts: ['<sip:a@192.0.2.1>'] }))).status,
    ).toBe(200);
  });

  it('checks the CSeq only against stored bindings, not an earlier Contact of the same request', async () => {
    const a = await r.register(
      next({ contacts: ['<sip:a@192.0.2.1>;expires=100', '<sip:a@192.0.2.1>;expires=200'] }),
    );
    expect(hdrs(a, 'contact')).toEqual(['<sip:a@192.0.2.1>;expires=200']);
  });
});

describe('Contact: *', () => {
  beforeEach(async () => {
    await r.register(reg({ cseq: 10, contacts: ['<sip:a@192.0.2.1>', '<sip:b@192.0.2.2>'] }));
    await r.register(reg({ callId: 'c2', cseq: 1, contacts: ['<sip:c@192.0.2.3>'] }));
  });

  it('needs Expires: 0 and no other Contact', async () => {
    expect(await r.register(reg({ cseq: 11, contacts: ['*'] }))).toEqual({
      status: 400,
      reason: 'Invalid Expires',
    });
    expect((await r.register(reg({ cseq: 11, contacts: ['*'], expires: 10 }))).status).toBe(400);
    expect(await r.register(reg({ cseq: 11, contacts: ['*', '<sip:d@192.0.2.4>'], expires: 0 }))).toEqual({
      status: 400,
      reason: 'Invalid Contact',
    });
    expect(await r.find(AOR)).toHaveLength(3);
  });

  it('refuses when a binding of the same Call-ID has this CSeq or a higher one', async () => {
    expect(await r.register(reg({ cseq: 10, contacts: ['*'], expires: 0 }))).toEqual({
      status: 400,
      reason: 'Rejected Old CSeq',
    });
    expect(await r.find(AOR)).toHaveLength(3);
  });

  it('removes every binding of the AOR', async () => {
    const a = await r.register(reg({ callId: 'c3', cseq: 1, contacts: ['*'], expires: 0 }));
    expect(a.status).toBe(200);
    expect(hdrs(a, 'contact')).toEqual([]);
    expect(hdrs(a, 'date')).toHaveLength(1);
    expect(await r.find(AOR)).toEqual([]);
    expect(store.size).toBe(0);
    // and again, with nothing left
    expect((await r.register(reg({ callId: 'c3', cseq: 2, contacts: ['*'], expires: 0 }))).status).toBe(200);
  });
});

describe('address checks', () => {
  it('answers 416 for an AOR that is not sip or sips (NkSIP)', async () => {
    expect(await r.register(next({ to: '<tel:+15551234>', contacts: ['<sip:a@192.0.2.1>'] }))).toEqual({
      status: 416,
      reason: 'Unsupported URI Scheme',
    });
  });

  it('answers 403 "Invalid Contact" for a Contact equal to the AOR', async () => {
    for (const c of [
      '<sip:alice@example.com>',
      '<sip:alice@EXAMPLE.com:5060;transport=udp>',
      'sip:alice@example.com',
    ]) {
      expect(await r.register(next({ contacts: ['<sip:a@192.0.2.1>', c] }))).toEqual({
        status: 403,
        reason: 'Invalid Contact',
      });
    }
    expect(await r.find(AOR)).toEqual([]);
    // the same user at another port, or with an escaped Route header, is another target
    expect((await r.register(next({ contacts: ['<sip:alice@example.com:5070>'] }))).status).toBe(200);
  });

  it('keeps sip and sips AORs apart and registers tel contacts', async () => {
    await r.register(next({ to: '<sips:alice@example.com>', contacts: ['<sips:alice@192.0.2.1>'] }));
    await r.register(next({ contacts: ['<tel:+1-555-1234>'] }));
    expect((await r.find('sips:alice@example.com')).map((f) => f.uri)).toEqual(['sips:alice@192.0.2.1']);
    expect((await r.find('sip:alice@EXAMPLE.COM')).map((f) => f.uri)).toEqual(['tel:+1-555-1234']);
    expect(await r.find('tel:+15551234')).toEqual([]);
    expect(await r.find('not a uri')).toEqual([]);
  });

  it('answers 400 "Bad Contact" for garbage Contacts and stores nothing', async () => {
    const garbage = [
      '<sip:>',
      '<sip:a@192.0.2.1',
      'just garbage',
      '<http://www.example.com/>',
      '<sip:a@192.0.2.1>;q=high',
      '<sip:a@192.0.2.1>;;',
      '<sip:a@bad_host!>',
      '"unterminated <sip:a@192.0.2.1>',
      '<sip:a@192.0.2.1>;expires=600;q',
    ];
    for (const g of garbage) {
      const a = await r.register(next({ contacts: ['<sip:ok@192.0.2.1>', g] }));
      expect(a, g).toEqual({ status: 400, reason: 'Bad Contact' });
    }
    expect(await r.find(AOR)).toEqual([]);
  });

  it('answers 400 for a malformed reg-id or several reg-ids', async () => {
    const inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"';
    expect((await r.register(next({ contacts: [`<sip:a@192.0.2.1>;${inst};reg-id=x`] }))).status).toBe(400);
    expect(
      await r.register(
        next({ contacts: [`<sip:a@192.0.2.1>;${inst};reg-id=1`, `<sip:a@192.0.2.2>;${inst};reg-id=2`] }),
      ),
    ).toEqual({ status: 400, reason: "Several 'reg-id' Options" });
  });
});

describe('+sip.instance and reg-id (RFC 5626)', () => {
  const inst = '+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"';

  const ob = ['Supported: outbound'];

  it('replaces the binding of the same instance and reg-id, even under another Call-ID', async () => {
    await r.register(
      reg({
        callId: 'boot1',
        cseq: 7,
        contacts: [`<sip:a@192.0.2.1:5062;transport=tcp>;${inst};reg-id=1`],
        headers: ob,
      }),
      SRC,
    );
    await r.register(
      reg({ callId: 'boot1', cseq: 8, contacts: [`<sip:a@192.0.2.1:5064>;${inst};reg-id=2`], headers: ob }),
      SRC,
    );
    // the UA rebooted: new Call-ID, lower CSeq, new address for flow 1
    const a = await r.register(
      reg({
        callId: 'boot2',
        cseq: 1,
        contacts: [`<sip:a@198.51.100.7:40000;transport=tcp>;${inst};reg-id=1`],
        headers: ob,
      }),
      SRC,
    );
    expect(a.status).toBe(200);
    expect([...listed(a).keys()].sort()).toEqual([
      'sip:a@192.0.2.1:5064',
      'sip:a@198.51.100.7:40000;transport=tcp',
    ]);
    const flow1 = (await r.bindings(AOR)).find((b) => b.regId === 1);
    expect(flow1).toMatchObject({
      instance: '<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>',
      regId: 1,
      callId: 'boot2',
    });
    // and the Call-ID/CSeq rule still holds within one Call-ID
    expect(
      await r.register(
        reg({ callId: 'boot2', cseq: 1, contacts: [`<sip:a@198.51.100.8>;${inst};reg-id=1`], headers: ob }),
        SRC,
      ),
    ).toEqual({ status: 400, reason: 'Rejected Old CSeq' });
    // expires 0 on the instance's flow removes it whatever its URI
    const b = await r.register(
      reg({
        callId: 'boot2',
        cseq: 2,
        contacts: [`<sip:x@192.0.2.99>;${inst};reg-id=1;expires=0`],
        headers: ob,
      }),
      SRC,
    );
    expect([...listed(b).keys()]).toEqual(['sip:a@192.0.2.1:5064']);
  });

  it('ignores a reg-id without an instance, and an instance alone does not replace other URIs', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>;reg-id=1'] }));
    await r.register(next({ contacts: ['<sip:a@192.0.2.2>;reg-id=1'] }));
    await r.register(next({ contacts: [`<sip:a@192.0.2.3>;${inst}`] }));
    expect(await r.find(AOR)).toHaveLength(3);
  });
});

describe('Path (RFC 3327)', () => {
  it('answers 420 with Unsupported: path when the UA did not say it supports path', async () => {
    const a = await r.register(
      next({ contacts: ['<sip:a@192.0.2.1>'], headers: ['Path: <sip:p1.example.net;lr>'] }),
    );
    expect(a).toEqual({ status: 420, reason: 'Bad Extension', headers: [['Unsupported', 'path']] });
    expect(await r.find(AOR)).toEqual([]);
  });

  it('rejects a malformed Path', async () => {
    const a = await r.register(
      next({ contacts: ['<sip:a@192.0.2.1>'], headers: ['Supported: path', 'Path: <sip:p1.example.net;lr'] }),
    );
    expect(a).toEqual({ status: 400, reason: 'Invalid Path' });
  });

  it('stores the Path, echoes it in the 200, and turns it into the Route of lookups', async () => {
    const a = await r.register(
      next({
        contacts: ['<sip:a@192.0.2.1>'],
        headers: ['Supported: outbound, path', 'Path: <sip:p2.example.net;lr>, <sip:p1.example.net;lr;ob>'],
      }),
    );
    expect(a.status).toBe(200);
    expect(hdrs(a, 'path')).toEqual(['<sip:p2.example.net;lr>', '<sip:p1.example.net;lr;ob>']);
    expect(await r.find(AOR)).toEqual([
      { uri: 'sip:a@192.0.2.1', route: ['<sip:p2.example.net;lr>', '<sip:p1.example.net;lr;ob>'] },
    ]);
    const set = await r.qfind(AOR);
    expect(set).toHaveLength(1);
    const target = parseUri(set[0]?.[0] as string);
    if (!isSipUri(target)) throw new Error('not sip');
    expect(target.user).toBe('a');
    expect(target.headers.map(([n, v]) => [n, unescapeUri(v ?? '')])).toEqual([
      ['Route', '<sip:p2.example.net;lr>,<sip:p1.example.net;lr;ob>'],
    ]);
    // a later REGISTER without Path replaces the stored one
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>'] }));
    expect(await r.find(AOR)).toEqual([{ uri: 'sip:a@192.0.2.1', route: [] }]);
  });
});

describe('lookups', () => {
  it('qfind groups by q, highest first, newest first within a group (NkSIP register2 contacts)', async () => {
    await r.register(next({ contacts: ['<sip:client2@aaa>'] }));
    clock.advance(1000);
    await r.register(next({ contacts: ['<sip:bbb>;q=2.1;expires=180, <sips:ccc>;q=3'] }));
    clock.advance(1000);
    await r.register(next({ contacts: ['<sip:ddd:444;transport=tcp>;q=2.1'] }));
    clock.advance(1000);
    await r.register(next({ contacts: ['<sip:eee>;q=0.5', '<sip:fff>;q=0'] }));
    expect(await r.qfind(AOR)).toEqual([
      ['sips:ccc'],
      ['sip:ddd:444;transport=tcp', 'sip:bbb'],
      ['sip:client2@aaa'],
      ['sip:eee'],
      ['sip:fff'],
    ]);
    expect((await r.find(AOR)).map((f) => f.uri)).toEqual([
      'sips:ccc',
      'sip:ddd:444;transport=tcp',
      'sip:bbb',
      'sip:client2@aaa',
      'sip:eee',
      'sip:fff',
    ]);
    expect(await r.qfind('sip:nobody@example.com')).toEqual([]);
  });

  it('delete removes one contact or the whole AOR; clear removes everything', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>', '<sip:b@192.0.2.2;transport=tcp>'] }));
    await r.register(next({ to: '<sip:bob@example.com>', contacts: ['<sip:b@192.0.2.3>'] }));
    expect(await r.delete(AOR, 'sip:b@192.0.2.2:5060;transport=TCP')).toBe(true);
    expect((await r.find(AOR)).map((f) => f.uri)).toEqual(['sip:a@192.0.2.1']);
    expect(await r.delete(AOR, 'sip:zz@192.0.2.2')).toBe(false);
    expect(await r.delete(AOR)).toBe(true);
    expect(await r.delete(AOR)).toBe(false);
    expect(await r.find(AOR)).toEqual([]);
    expect(await r.find('sip:bob@example.com')).toHaveLength(1);
    await r.clear();
    expect(await r.find('sip:bob@example.com')).toEqual([]);
  });

  it('isRegistered matches the REGISTER source or the contact address', async () => {
    await r.register(next({ contacts: ['<sip:alice@198.51.100.20:5070;transport=tcp>'] }), SRC);
    expect(await r.isRegistered(AOR, SRC)).toBe(true);
    expect(await r.isRegistered(AOR, { transport: 'TCP', address: '198.51.100.20', port: 5070 })).toBe(true);
    expect(await r.isRegistered(AOR, { transport: 'udp', address: '198.51.100.20', port: 5070 })).toBe(false);
    expect(await r.isRegistered(AOR, { transport: 'udp', address: '192.0.2.10', port: 5061 })).toBe(false);
    expect(await r.isRegistered('sip:bob@example.com', SRC)).toBe(false);
  });

  it('serialises concurrent REGISTERs of one AOR so none is lost', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        r.register(reg({ callId: `c${i}`, contacts: [`<sip:u${i}@192.0.2.1>`] })),
      ),
    );
    expect(replies.every((x) => x.status === 200)).toBe(true);
    expect(await r.find(AOR)).toHaveLength(20);
  });
});

describe('expiry without timers', () => {
  it('sets no timer; expired bindings vanish when read', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>;expires=60', '<sip:b@192.0.2.2>;expires=120'] }));
    await r.register(next({ to: '<sip:bob@example.com>', contacts: ['<sip:b@192.0.2.3>;expires=60'] }));
    expect(clock.pending).toBe(0);
    clock.advance(59_999);
    expect(await r.find(AOR)).toHaveLength(2);
    clock.advance(1);
    expect((await r.find(AOR)).map((f) => f.uri)).toEqual(['sip:b@192.0.2.2']);
    const q = await r.register(next());
    expect(hdrs(q, 'contact')).toEqual(['<sip:b@192.0.2.2>;expires=60']);
    clock.advance(60_000);
    expect(await r.find(AOR)).toEqual([]);
    // bob's AOR was never read: still held until a sweep
    expect(store.size).toBe(1);
    expect(store.sweep()).toBe(1);
    expect(store.size).toBe(0);
  });

  it('an expired binding of the same Call-ID does not block a lower CSeq', async () => {
    await r.register(reg({ cseq: 9, contacts: ['<sip:a@192.0.2.1>;expires=60'] }));
    clock.advance(61_000);
    expect((await r.register(reg({ cseq: 3, contacts: ['<sip:a@192.0.2.1>'] }))).status).toBe(200);
  });

  it('the optional sweeper runs on one timer and stops', async () => {
    await r.register(next({ contacts: ['<sip:a@192.0.2.1>;expires=60'] }));
    store.startSweeper(30_000);
    expect(clock.pending).toBe(1);
    clock.advance(30_000);
    expect(store.size).toBe(1);
    clock.advance(30_000);
    expect(store.size).toBe(0);
    expect(clock.pending).toBe(1);
    store.stopSweeper();
    expect(clock.pending).toBe(0);
  });
});

describe('limits', () => {
  it('refuses a Contact list of 1,000 entries with 403 and stores nothing', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => `<sip:u${i}@192.0.2.1:${5000 + i}>`);
    // one header line and one line each
    for (const contacts of [[many.join(', ')], many]) {
      const a = await r.register(next({ contacts }));
      expect(a).toEqual({ status: 403, reason: 'Too Many Contacts' });
    }
    expect(await r.find(AOR)).toEqual([]);
  });

  it('accepts up to maxBindings per AOR and refuses the one beyond', async () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `<sip:u${i}@192.0.2.1>`);
    const a = await r.register(next({ contacts: hundred }));
    expect(a.status).toBe(200);
    expect(hdrs(a, 'contact')).toHaveLength(100);
    expect(await r.register(next({ contacts: ['<sip:extra@192.0.2.1>'] }))).toEqual({
      status: 403,
      reason: 'Too Many Contacts',
    });
    // a refresh of an existing one, or a swap, still fits
    expect((await r.register(next({ contacts: ['<sip:u5@192.0.2.1>;expires=600'] }))).status).toBe(200);
    expect(
      (await r.register(next({ contacts: ['<sip:u6@192.0.2.1>;expires=0', '<sip:extra@192.0.2.1>'] })))
        .status,
    ).toBe(200);
  });

  it('answers 503 when the store holds its maximum of AORs, after sweeping expired ones', async () => {
    const small = new MemoryStore({ clock, maxAors: 2 });
    const reg2 = new Registrar({ store: small, clock });
    const user = (u: string, exp = 60) =>
      reg({ to: `<sip:${u}@example.com>`, contacts: [`<sip:${u}@192.0.2.1>;expires=${exp}`] });
    expect((await reg2.register(user('u1'))).status).toBe(200);
    expect((await reg2.register(user('u2', 3600))).status).toBe(200);
    expect(await reg2.register(user('u3'))).toEqual({ status: 503, reason: 'Registrar Full' });
    // refreshing an AOR already held is fine
    expect(
      (await reg2.register(reg({ to: '<sip:u1@example.com>', cseq: 2, contacts: ['<sip:u1@192.0.2.1>'] })))
        .status,
    ).toBe(200);
    clock.advance(3_600_000 - 1);
    expect((await reg2.register(user('u3'))).status).toBe(503);
    clock.advance(2_000);
    expect((await reg2.register(user('u3'))).status).toBe(200);
  });

  it('the memory store keeps its own copy: a binding holds none of the REGISTER text', () => {
    const own = new MemoryStore({ clock });
    const { held } = heldBy(() => {
      // every string of these bindings a slice of one 4 MiB text, as a parsed REGISTER's are
      const text = bigText();
      const cut = (i: number) => text.slice(i * 1024, i * 1024 + 30);
      for (let i = 0; i < 16; i++) {
        const b: Binding = {
          key: cut(i),
          contact: `<${cut(i)}>`,
          uri: cut(i),
          params: [[cut(i + 1), cut(i + 2)]],
          expires: T0 + 60_000,
          q: 1,
          callId: cut(i + 3),
          cseq: 1,
          path: [cut(i + 4)],
          source: { transport: 'udp', address: cut(i + 5), port: 5060 },
          updatedAt: T0,
        };
        void own.put(cut(i + 6), [b], 60_000);
      }
    });
    expect(own.size).toBe(16);
    expect(held).toBeLessThan(512 * 1024);
  });

  it('answers 500 when the store fails', async () => {
    const broken: RegistrarStore = {
      get: () => Promise.reject(new Error('down')),
      put: () => Promise.reject(new Error('down')),
      del: () => Promise.reject(new Error('down')),
      clear: () => Promise.resolve(),
    };
    const reg3 = new Registrar({ store: broken, clock });
    expect(await reg3.register(next({ contacts: ['<sip:a@192.0.2.1>'] }))).toEqual({
      status: 500,
      reason: 'Registrar Store Error',
    });
  });
});

describe('RFC 4475 messages', () => {
  const DIR = join(import.meta.dirname, '../../test/fixtures/sip-torture');
  const load = (name: string) => parseMessage(readFileSync(join(DIR, `${name}.dat`))).msg as SipRequest;

  it('cparam01: unknownparam is a contact-param, never a URI parameter', async () => {
    const a = await r.register(load('cparam01'));
    expect(a.status).toBe(200);
    expect(hdrs(a, 'contact')).toEqual(['<sip:+19725552222@gw1.example.net>;unknownparam;expires=3600']);
    expect(await r.find('sip:watson@example.com')).toEqual([
      { uri: 'sip:+19725552222@gw1.example.net', route: [] },
    ]);
    expect(await r.qfind('sip:watson@example.com')).toEqual([['sip:+19725552222@gw1.example.net']]);
  });

  it('cparam02: unknownparam inside <> is a URI parameter and is listed back in the URI', async () => {
    const a = await r.register(load('cparam02'));
    expect(a.status).toBe(200);
    expect(hdrs(a, 'contact')).toEqual(['<sip:+19725552222@gw1.example.net;unknownparam>;expires=3600']);
    expect(await r.qfind('sip:watson@example.com')).toEqual([
      ['sip:+19725552222@gw1.example.net;unknownparam'],
    ]);
  });

  it('cparam01 then cparam02 (new Call-ID): the same binding, refreshed with the new URI', async () => {
    await r.register(load('cparam01'));
    const a = await r.register(load('cparam02'));
    expect(hdrs(a, 'contact')).toEqual(['<sip:+19725552222@gw1.example.net;unknownparam>;expires=3600']);
  });

  it('regescrt: the escaped Route header stays in the contact URI', async () => {
    const a = await r.register(load('regescrt'));
    expect(a.status).toBe(200);
    expect(hdrs(a, 'contact')).toEqual([
      '<sip:user@example.com?Route=%3Csip:sip.example.com%3E>;expires=3600',
    ]);
    const [found] = await r.find('sip:user@example.com');
    expect(found?.uri).toBe('sip:user@example.com?Route=%3Csip:sip.example.com%3E');
    const u = parseUri(found?.uri as string);
    expect(isSipUri(u) && unescapeUri(u.headers[0]?.[1] ?? '')).toBe('<sip:sip.example.com>');
  });

  it('escnull: %00 and %00%00 are two bindings of the AOR with the NUL kept', async () => {
    const a = await r.register(load('escnull'));
    expect(a.status).toBe(200);
    expect([...listed(a).keys()].sort()).toEqual([
      'sip:%00%00@host5.example.com',
      'sip:%00@host5.example.com',
    ]);
    expect(await r.find('sip:null-%00-null@example.com')).toHaveLength(2);
    // the AOR is not cut at the NUL
    expect(await r.find('sip:null-@example.com')).toEqual([]);
    expect(await r.find('sip:null-%00-nul@example.com')).toEqual([]);
  });

  it('unksm2: a non-SIP To gets 416 (NkSIP; RFC 4475 §3.3.4 asks for 400)', async () => {
    expect((await r.register(load('unksm2'))).status).toBe(416);
  });
});

describe('targetUri', () => {
  it('keeps URI headers and adds the Path as an escaped Route after them', () => {
    const b = {
      uri: 'sip:u@h?Route=%3Csip:x%3E',
      path: ['<sip:p1;lr>'],
    } as Binding;
    expect(targetUri(b)).toBe('sip:u@h?Route=%3Csip:x%3E&Route=%3Csip:p1%3Blr%3E');
  });
});
