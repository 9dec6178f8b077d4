// The registrar's GRUUs (RFC 5627, NkSIP t15_gruu) and outbound flows (RFC 5626 §6, NkSIP
// t21_outbound register/flow): REGISTERs built as wire text, time on a FakeClock.
import { beforeEach, describe, expect, it } from 'vitest';
import type { Reply } from '../src/core/reply.js';
import { targetUri } from '../src/registrar/binding.js';
import { parseGruu } from '../src/registrar/gruu.js';
import { Registrar } from '../src/registrar/registrar.js';
import { MemoryStore } from '../src/registrar/store.js';
import { getParam, unescapeUri, unquote } from '../src/sip/grammar.js';
import { parseNameAddr } from '../src/sip/headers.js';
import type { SipRequest } from '../src/sip/message.js';
import { isSipUri, parseUri } from '../src/sip/uri.js';
import { FakeClock } from '../src/transaction/clock.js';
import { parseFlowToken } from '../src/transport/flow.js';
import { type RegisterSpec, register, replyHeaders } from './support/register.js';

const T0 = Date.UTC(2024, 0, 15, 10, 0, 0);
const AOR = 'sip:alice@example.com';
const URN = 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
const INST = `+sip.instance="<${URN}>"`;
const URN2 = 'urn:uuid:00000000-0000-1000-8000-aabbccddeeff';
const INST2 = `+sip.instance="<${URN2}>"`;
const SRC = {
  transport: 'tcp',
  address: '192.0.2.10',
  port: 40123,
  localAddress: '192.0.2.1',
  localPort: 5060,
};

function reg(spec: RegisterSpec & { cseq: number }): SipRequest {
  return register(AOR, { transport: 'TCP', callId: 'call-1', ...spec });
}

const hdrs = replyHeaders;

/** The pub-gruu and temp-gruu of the reply's Contact for `contactUri`. */
function gruus(r: Reply, contactUri: string): { pub?: string; temp?: string } {
  for (const v of hdrs(r, 'contact')) {
    const na = parseNameAddr(v);
    if (!isSipUri(na.uri) || v.slice(v.indexOf('<') + 1, v.indexOf('>')) !== contactUri) continue;
    const pub = getParam(na.params, 'pub-gruu');
    const temp = getParam(na.params, 'temp-gruu');
    const out: { pub?: string; temp?: string } = {};
    if (typeof pub === 'string') out.pub = unquote(pub);
    if (typeof temp === 'string') out.temp = unquote(temp);
    return out;
  }
  throw new Error(`no Contact ${contactUri} in ${JSON.stringify(r)}`);
}

const G = ['Supported: gruu'];
let clock: FakeClock;
let r: Registrar;

beforeEach(() => {
  clock = new FakeClock(T0);
  r = new Registrar({ store: new MemoryStore({ clock }), clock });
});

describe('GRUU (RFC 5627, NkSIP t15 register)', () => {
  it('issues pub-gruu and temp-gruu for a Contact with +sip.instance when the UA supports gruu', async () => {
    const a = await r.register(
      reg({ cseq: 1, contacts: [`<sip:a@192.0.2.10:5070>;${INST}`], headers: G }),
      SRC,
    );
    expect(a.status).toBe(200);
    const g = gruus(a, 'sip:a@192.0.2.10:5070');
    expect(g.pub).toBe(`sip:alice@example.com;gr=${URN}`);
    // the temporary one names the domain only, not the AOR or the instance
    expect(g.temp).toMatch(/^sip:[A-Za-z0-9_-]+@example\.com;gr$/);
    expect(g.temp).not.toContain('alice');
    expect(g.temp).not.toContain('f81d4fae');
  });

  it('issues none without Supported: gruu, nor for a Contact without an instance', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [`<sip:a@192.0.2.10:5070>;${INST}`] }), SRC);
    expect(gruus(a, 'sip:a@192.0.2.10:5070')).toEqual({});
    const b = await r.register(reg({ cseq: 2, contacts: ['<sip:b@192.0.2.11>'], headers: G }), SRC);
    expect(gruus(b, 'sip:b@192.0.2.11')).toEqual({});
    // the one with an instance gets them now, listed beside the other
    expect(gruus(b, 'sip:a@192.0.2.10:5070').pub).toBe(`sip:alice@example.com;gr=${URN}`);
  });

  it('two UAs on one AOR: each GRUU finds only its own instance', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [`<sip:a@192.0.2.10>;${INST}`], headers: G }), SRC);
    const b = await r.register(
      reg({ callId: 'call-2', cseq: 1, contacts: [`<sip:b@192.0.2.20>;${INST2}`], headers: G }),
      SRC,
    );
    const ga = gruus(a, 'sip:a@192.0.2.10');
    const gb = gruus(b, 'sip:b@192.0.2.20');
    expect((await r.find(AOR)).map((c) => c.uri).sort()).toEqual(['sip:a@192.0.2.10', 'sip:b@192.0.2.20']);
    for (const [gruu, uri] of [
      [ga.pub, 'sip:a@192.0.2.10'],
      [ga.temp, 'sip:a@192.0.2.10'],
      [gb.pub, 'sip:b@192.0.2.20'],
      [gb.temp, 'sip:b@192.0.2.20'],
    ] as const) {
      expect((await r.find(gruu as string)).map((c) => c.uri)).toEqual([uri]);
      expect(await r.qfind(gruu as string)).toEqual([[uri]]);
    }
    // the instance in the pub GRUU compares as a URN does (case-insensitively)
    expect(
      await r.find(`sip:alice@example.com;gr=${URN.toUpperCase().replace('URN:UUID', 'urn:uuid')}`),
    ).toHaveLength(1);
    // an instance never registered, another AOR's pub GRUU: nothing
    expect(await r.find('sip:alice@example.com;gr=urn:uuid:11111111-2222-3333-4444-555555555555')).toEqual(
      [],
    );
    expect(await r.find(`sip:bob@example.com;gr=${URN}`)).toEqual([]);
  });

  it('a temporary GRUU cannot be forged or altered', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [`<sip:a@192.0.2.10>;${INST}`], headers: G }), SRC);
    const temp = gruus(a, 'sip:a@192.0.2.10').temp as string;
    const u = parseUri(temp);
    if (!isSipUri(u) || u.user === undefined) throw new Error('no user');
    const flipped = `${u.user.slice(0, 5)}${u.user[5] === 'A' ? 'B' : 'A'}${u.user.slice(6)}`;
    expect(await r.find(`sip:${flipped}@example.com;gr`)).toEqual([]);
    expect(await r.find('sip:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@example.com;gr')).toEqual(
      [],
    );
    // another registrar (another key) does not know it
    const other = new Registrar({ store: new MemoryStore({ clock }), clock });
    expect(parseGruu(Buffer.alloc(32), temp)).toBeUndefined();
    expect(await other.find(temp)).toEqual([]);
  });

  it('keeps no pub-gruu or temp-gruu a UA put on its Contact: its own are listed once', async () => {
    const a = await r.register(
      reg({
        cseq: 1,
        contacts: [
          `<sip:a@192.0.2.10>;${INST};pub-gruu="sip:evil@example.com";temp-gruu="sip:x@example.com;gr"`,
        ],
        headers: G,
      }),
      SRC,
    );
    const [c] = hdrs(a, 'contact');
    expect(c?.match(/pub-gruu=/g)).toHaveLength(1);
    expect(c?.match(/temp-gruu=/g)).toHaveLength(1);
    expect(gruus(a, 'sip:a@192.0.2.10').pub).toBe(`sip:alice@example.com;gr=${URN}`);
  });

  it('answers 403 to a REGISTER whose Contact is a GRUU of the AOR', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [`<sip:a@192.0.2.10>;${INST}`], headers: G }), SRC);
    const g = gruus(a, 'sip:a@192.0.2.10');
    for (const [i, gruu] of [g.pub, g.temp].entries()) {
      const b = await r.register(reg({ cseq: 2 + i, contacts: [`<${gruu}>`], headers: G }), SRC);
      expect(b).toEqual({ status: 403, reason: 'Invalid Contact' });
    }
    expect(await r.find(AOR)).toHaveLength(1);
  });
});

describe('temporary GRUUs (NkSIP t15 temp_gruu)', () => {
  const contact = `<sip:a@192.0.2.10>;${INST}`;

  it('a new one on each REGISTER, all valid while the Call-ID stays; a new Call-ID invalidates them', async () => {
    const temps: string[] = [];
    for (let cseq = 1; cseq <= 3; cseq++) {
      const a = await r.register(reg({ cseq, contacts: [contact], headers: G }), SRC);
      temps.push(gruus(a, 'sip:a@192.0.2.10').temp as string);
    }
    expect(new Set(temps).size).toBe(3);
    for (const t of temps) expect(await r.find(t)).toHaveLength(1);

    // the UA restarted: same instance and contact, new Call-ID
    const b = await r.register(reg({ callId: 'call-9', cseq: 1, contacts: [contact], headers: G }), SRC);
    const fresh = gruus(b, 'sip:a@192.0.2.10');
    for (const t of temps) expect(await r.find(t)).toEqual([]);
    expect(await r.find(fresh.temp as string)).toHaveLength(1);
    // the public one does not change
    expect(fresh.pub).toBe(`sip:alice@example.com;gr=${URN}`);
  });

  it('unregistering (Contact: * or expires 0) clears them, also for a later REGISTER', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [contact], headers: G }), SRC);
    const g = gruus(a, 'sip:a@192.0.2.10');
    expect((await r.register(reg({ cseq: 2, contacts: ['*'], expires: 0 }), SRC)).status).toBe(200);
    expect(await r.find(g.temp as string)).toEqual([]);
    expect(await r.find(g.pub as string)).toEqual([]);
    // registered again under the same Call-ID: the old temporary GRUU stays dead
    await r.register(reg({ cseq: 3, contacts: [contact], headers: G }), SRC);
    expect(await r.find(g.temp as string)).toEqual([]);
    expect(await r.find(g.pub as string)).toHaveLength(1);
    await r.register(reg({ cseq: 4, contacts: [`<sip:a@192.0.2.10>;${INST};expires=0`] }), SRC);
    expect(await r.find(g.pub as string)).toEqual([]);
  });

  it('they die with the binding when it expires', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [contact], expires: 60, headers: G }), SRC);
    const g = gruus(a, 'sip:a@192.0.2.10');
    clock.advance(59_000);
    expect(await r.find(g.temp as string)).toHaveLength(1);
    clock.advance(1_000);
    expect(await r.find(g.temp as string)).toEqual([]);
    expect(await r.find(g.pub as string)).toEqual([]);
  });
});

describe('outbound (RFC 5626 §6, NkSIP t21 register and flow)', () => {
  const OB = ['Supported: outbound'];
  const flowContact = (n: number) => `<sip:a@192.0.2.10:5070;transport=tcp>;${INST};reg-id=${n}`;

  it('a direct REGISTER binds its flow: the lookup routes over it, and the 200 requires outbound', async () => {
    const a = await r.register(reg({ cseq: 1, contacts: [flowContact(1)], headers: OB }), SRC);
    expect(a.status).toBe(200);
    expect(hdrs(a, 'require')).toEqual(['outbound']);
    const [b] = await r.bindings(AOR);
    expect(b).toMatchObject({ ob: true, regId: 1, instance: `<${URN}>` });
    // the target carries a Route of ours naming the flow the REGISTER came on
    const target = parseUri((await r.qfind(AOR))[0]?.[0] as string);
    if (!isSipUri(target)) throw new Error('not sip');
    const route = unescapeUri(target.headers.find(([n]) => n === 'Route')?.[1] ?? '');
    const ru = parseNameAddr(route).uri;
    if (!isSipUri(ru)) throw new Error('not sip');
    expect([ru.host, ru.port, getParam(ru.params, 'transport')]).toEqual(['192.0.2.1', 5060, 'tcp']);
    expect(parseFlowToken(ru.user)).toEqual({ transport: 'tcp', address: '192.0.2.10', port: 40123 });
    // find gives the same Route apart from the URI
    expect(await r.find(AOR)).toEqual([{ uri: 'sip:a@192.0.2.10:5070;transport=tcp', route: [route] }]);
  });

  it('a direct REGISTER without reg-id still binds its flow (UDP too), with no Require', async () => {
    const udp = { ...SRC, transport: 'udp', port: 5070 };
    const a = await r.register(reg({ cseq: 1, contacts: ['<sip:a@192.0.2.10:5070>'], headers: OB }), udp);
    expect(a.status).toBe(200);
    expect(hdrs(a, 'require')).toEqual([]);
    const [b] = await r.bindings(AOR);
    expect(b?.ob).toBe(true);
    const target = parseUri(targetUri(b as NonNullable<typeof b>));
    if (!isSipUri(target)) throw new Error('not sip');
    const ru = parseNameAddr(unescapeUri(target.headers[0]?.[1] ?? '')).uri;
    if (!isSipUri(ru)) throw new Error('not sip');
    expect(getParam(ru.params, 'transport')).toBeUndefined();
    expect(parseFlowToken(ru.user)).toEqual({ transport: 'udp', address: '192.0.2.10', port: 5070 });
  });

  it('without Supported: outbound no flow is bound and reg-id is ignored (a plain contact)', async () => {
    await r.register(reg({ cseq: 1, contacts: [flowContact(1)] }), SRC);
    await r.register(reg({ cseq: 2, contacts: [`<sip:a@192.0.2.99;transport=tcp>;${INST};reg-id=1`] }), SRC);
    const all = await r.bindings(AOR);
    expect(all).toHaveLength(2);
    expect(all.every((b) => b.ob === undefined && b.regId === undefined)).toBe(true);
    expect((await r.qfind(AOR)).flat().sort()).toEqual([
      'sip:a@192.0.2.10:5070;transport=tcp',
      'sip:a@192.0.2.99;transport=tcp',
    ]);
  });

  it('several reg-ids in one REGISTER get 400; instance and reg-id replace the earlier binding', async () => {
    expect(
      await r.register(reg({ cseq: 1, contacts: [flowContact(1), flowContact(2)], headers: OB }), SRC),
    ).toEqual({ status: 400, reason: "Several 'reg-id' Options" });
    await r.register(reg({ cseq: 2, contacts: [flowContact(1)], headers: OB }), SRC);
    await r.register(reg({ cseq: 3, contacts: [flowContact(2)], headers: OB }), { ...SRC, port: 40124 });
    const moved = { ...SRC, address: '198.51.100.7', port: 40000 };
    await r.register(
      reg({
        callId: 'call-2',
        cseq: 1,
        contacts: [`<sip:a@198.51.100.7:40000;transport=tcp>;${INST};reg-id=1`],
        headers: OB,
      }),
      moved,
    );
    const all = await r.bindings(AOR);
    const rows = all.map((b) => [b.regId, b.source?.address, b.source?.port]);
    expect(rows.sort((x, y) => Number(x[0]) - Number(y[0]))).toEqual([
      [1, '198.51.100.7', 40000],
      [2, '192.0.2.10', 40124],
    ]);
  });

  it('through proxies: 439 when the first hop has no ob Path, a stored Path when it has', async () => {
    const via2 = { vias: 2, headers: ['Supported: outbound, path'] };
    // no Path at all
    expect(await r.register(reg({ cseq: 1, contacts: [flowContact(1)], ...via2 }), SRC)).toEqual({
      status: 439,
      reason: 'First Hop Lacks Outbound Support',
    });
    // the first hop (the last Path value) without ob, whatever the others say
    const lacking = reg({
      cseq: 2,
      contacts: [flowContact(1)],
      vias: 2,
      headers: [...via2.headers, 'Path: <sip:p2.example.net;lr;ob>, <sip:p1.example.net;lr>'],
    });
    expect((await r.register(lacking, SRC)).status).toBe(439);
    expect(await r.bindings(AOR)).toEqual([]);
    // a Contact without reg-id is fine through such a hop
    const plain = reg({
      cseq: 3,
      contacts: ['<sip:a@192.0.2.10>'],
      vias: 2,
      headers: [...via2.headers, 'Path: <sip:p1.example.net;lr>'],
    });
    expect((await r.register(plain, SRC)).status).toBe(200);
    // the first hop keeps the flow: its Path is stored, the binding is not ours to flow
    const ok = await r.register(
      reg({
        cseq: 4,
        contacts: [flowContact(1)],
        vias: 2,
        headers: [...via2.headers, 'Path: <sip:p1.example.net;lr;ob>'],
      }),
      SRC,
    );
    expect(ok.status).toBe(200);
    expect(hdrs(ok, 'require')).toEqual(['outbound']);
    const flow = (await r.bindings(AOR)).find((b) => b.regId === 1);
    expect(flow).toMatchObject({ path: ['<sip:p1.example.net;lr;ob>'] });
    expect(flow?.ob).toBeUndefined();
  });

  it('an AOR lookup forks to one flow per instance, the others after it (RFC 5626 §5.3)', async () => {
    await r.register(reg({ cseq: 1, contacts: [flowContact(1)], headers: OB }), SRC);
    clock.advance(1000);
    await r.register(reg({ cseq: 2, contacts: ['<sip:other@192.0.2.20>'] }), SRC);
    clock.advance(1000);
    await r.register(reg({ callId: 'call-2', cseq: 1, contacts: [flowContact(2)], headers: OB }), {
      ...SRC,
      port: 40124,
    });
    const flowPort = (uri: string | undefined) => {
      const u = parseUri(uri ?? '');
      if (!isSipUri(u)) return undefined;
      if (u.headers.length === 0) return u.user;
      const ru = parseNameAddr(unescapeUri(u.headers[0]?.[1] ?? '')).uri;
      return isSipUri(ru) ? parseFlowToken(ru.user)?.port : undefined;
    };
    const set = await r.qfind(AOR);
    expect(set.map((g) => g.map(flowPort))).toEqual([[40124, 'other'], [40123]]);
    // find still lists every binding
    expect(await r.find(AOR)).toHaveLength(3);
  });

  it('a GRUU lookup of an instance with two flows tries them one at a time, newest first', async () => {
    await r.register(reg({ cseq: 1, contacts: [flowContact(1)], headers: [...OB, ...G] }), SRC);
    clock.advance(1000);
    const a = await r.register(
      reg({ callId: 'call-2', cseq: 1, contacts: [flowContact(2)], headers: [...OB, ...G] }),
      { ...SRC, port: 40124 },
    );
    const pub = gruus(a, 'sip:a@192.0.2.10:5070;transport=tcp').pub as string;
    const set = await r.qfind(pub);
    expect(set).toHaveLength(2);
    const ports = set.map((g) => {
      const u = parseUri(g[0] as string);
      if (!isSipUri(u)) throw new Error('not sip');
      const ru = parseNameAddr(unescapeUri(u.headers[0]?.[1] ?? '')).uri;
      return isSipUri(ru) ? parseFlowToken(ru.user)?.port : undefined;
    });
    expect(ports).toEqual([40124, 40123]);
  });
});
