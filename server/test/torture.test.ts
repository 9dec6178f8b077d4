// RFC 4475 / RFC 5118 torture messages: each gets the verdict of expected.tsv from the
// message layer (parse, then the stateless checks of validate.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getParam } from '../src/sip/grammar.js';
import { parseNameAddr } from '../src/sip/headers.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { type Parsed, parseMessage } from '../src/sip/parser.js';
import { serialize } from '../src/sip/serializer.js';
import { isSipUri, type SipUri } from '../src/sip/uri.js';
import { checkRequest, checkResponse } from '../src/sip/validate.js';

const DIR = join(import.meta.dirname, '../../test/fixtures/sip-torture');
const rows = readFileSync(join(DIR, 'expected.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split('\t') as [string, string, string, string]);

function load(name: string): Buffer {
  return readFileSync(join(DIR, `${name}.dat`));
}

function tryParse(name: string): Parsed | undefined {
  try {
    return parseMessage(load(name));
  } catch {
    return undefined;
  }
}

/** What the stack does with the message: accept, or the answer (status) / drop. */
function verdictOf(name: string): { accepted: boolean; status?: number; parsed?: Parsed } {
  const p = tryParse(name);
  if (!p) return { accepted: false };
  if (p.msg.kind === 'response') return { accepted: checkResponse(p) === undefined, parsed: p };
  const rej = checkRequest(p);
  return rej ? { accepted: false, status: rej.status, parsed: p } : { accepted: true, parsed: p };
}

/** Why each invalid message is refused: the reason phrase of the 400 or of the drop. */
const WHY: Record<string, string> = {
  badinv01: 'Bad Via',
  clerr: 'Content-Length Exceeds Body',
  ncl: 'Bad Content-Length',
  scalar02: 'Bad CSeq',
  scalarlg: 'Bad CSeq',
  quotbal: 'Bad To',
  ltgtruri: 'Bad Request-URI',
  lwsruri: 'Bad Request-Line',
  lwsstart: 'Bad Request-Line',
  trws: 'Bad Request-Line',
  escruri: 'Bad Request-URI',
  baddate: 'Bad Date',
  regbadct: 'Bad Contact',
  badaspec: 'Bad To',
  baddn: 'Bad From',
  badvers: 'Version Not Supported',
  mismatch01: 'CSeq Method Mismatch',
  mismatch02: 'CSeq Method Mismatch',
  bigcode: 'Bad Status-Code',
  insuf: 'Missing From',
  multi01: 'Duplicate From',
  mcl01: 'Conflicting Content-Length',
  'ipv6-bad': 'Bad Request-URI',
};

function reasonOf(p: Parsed): string | undefined {
  return p.msg.kind === 'request' ? checkRequest(p)?.reason : checkResponse(p);
}

describe('torture corpus verdicts', () => {
  it('every invalid message is refused for its own fault', () => {
    const invalid = rows.filter((r) => r[1] === 'invalid').map((r) => r[0]);
    expect(Object.keys(WHY).sort()).toEqual(invalid.sort());
    for (const name of invalid) expect([name, reasonOf(parseMessage(load(name)))]).toEqual([name, WHY[name]]);
  });

  it('has all 61 messages', () => {
    expect(rows).toHaveLength(61);
  });
  for (const [name, verdict, section] of rows) {
    it(`${name} (${section}) is ${verdict}`, () => {
      const v = verdictOf(name);
      if (verdict === 'invalid') {
        expect(v.accepted).toBe(false);
        if (v.parsed?.msg.kind === 'request') {
          const want = name === 'badvers' ? [505] : name === 'mismatch02' ? [400, 501] : [400];
          expect(want).toContain(v.status);
        }
      } else {
        // valid and valid-but-reject both parse and pass the stateless checks; the rejection
        // of the latter happens in the UAS core (see the core tests and the replay test)
        expect(v.accepted).toBe(true);
      }
    });
  }
});

function req(name: string): SipRequest {
  const p = parseMessage(load(name));
  expect(p.defect).toBeUndefined();
  return p.msg as SipRequest;
}

describe('torture messages parse to the right structure', () => {
  it('wsinv: folding, compact names, leading zeros, unknown header kept verbatim', () => {
    const m = req('wsinv');
    expect(m.method).toBe('INVITE');
    expect(m.cseq).toEqual({ seq: 9, method: 'INVITE' });
    expect(m.maxForwards).toBe(68);
    expect(m.vias).toHaveLength(3);
    expect(m.topVia?.transport).toBe('UDP');
    expect(m.topVia?.host).toBe('192.0.2.2');
    expect(getParam(m.topVia?.params ?? [], 'branch')).toBe('390skdjuw');
    expect([m.toTag, m.fromTag]).toEqual(['1918181833n', '98asjd8']);
    expect(m.from.displayName).toBe('J Rosenberg \\"');
    const unknown = m.headers.find((h) => h.name === 'unknownheaderwithunusualvalue');
    expect(unknown?.value).toBe(';;,,;;,;');
    const out = serialize(m).toString('latin1');
    expect(out).toContain(unknown?.raw);
    expect(m.body.length).toBe(Number(m.header('content-length')));
  });

  it('intmeth: token method with odd chars and a quoted NUL in the display name', () => {
    const m = req('intmeth');
    expect(m.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    expect(m.cseq.method).toBe(m.method);
    expect(m.to.displayName).toContain('\u0000');
    expect((m.to.uri as SipUri).user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  });

  it('esc01: escapes are not unescaped in parameters', () => {
    const m = req('esc01');
    const uri = m.ruri as SipUri;
    expect(uri.user).toBe('sips%3Auser%40example.com');
    expect(m.contacts).toHaveLength(1);
  });

  it('escnull: two distinct contacts with escaped NULs', () => {
    const m = req('escnull');
    expect(m.contacts.map((c) => (c.uri as SipUri).user)).toEqual(['%00', '%00%00']);
  });

  it('esc02: escaped method is not REGISTER, and C%6Fntact is another header', () => {
    const m = req('esc02');
    expect(m.method).toBe('RE%47IST%45R');
    expect(m.contacts).toHaveLength(2);
    expect(m.headers.some((h) => h.name === 'c%6fntact')).toBe(true);
  });

  it('lwsdisp: display name with no space before <', () => {
    expect(req('lwsdisp').from.displayName).toBe('caller');
  });

  it('longreq: 34 Via values and a very long display name', () => {
    const m = req('longreq');
    expect(m.vias).toHaveLength(34);
    expect((m.to.displayName ?? '').length).toBeGreaterThan(100);
  });

  it('dblreq: trailing INVITE octets after Content-Length 0 are ignored', () => {
    const m = req('dblreq');
    expect(m.method).toBe('REGISTER');
    expect(m.body.length).toBe(0);
    expect(serialize(m).toString('latin1')).not.toContain('INVITE');
  });

  it('semiuri: user part holds a semicolon', () => {
    expect((req('semiuri').ruri as SipUri).user).toBe('user;par=u%40example.net');
  });

  it('transports: five Via transports', () => {
    expect(req('transports').vias.map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
  });

  it('mpart01: binary body framed by Content-Length', () => {
    const m = req('mpart01');
    expect(m.body.length).toBe(553);
    expect(m.body.includes(0)).toBe(true);
    expect(serialize(m).subarray(-553).equals(m.body)).toBe(true);
  });

  it('unreason and noreason responses', () => {
    const u = parseMessage(load('unreason')).msg as SipResponse;
    expect(u.status).toBe(200);
    expect(Buffer.from(u.reason, 'latin1').toString('utf8')).toContain('= 2**3 * 5**2');
    const n = parseMessage(load('noreason')).msg as SipResponse;
    expect(n.status).toBe(100);
    expect(n.reason).toBe('');
  });

  it('inv2543: no Content-Length over UDP takes the rest of the datagram', () => {
    const m = req('inv2543');
    expect(m.body.length).toBe(105);
    expect(m.fromTag).toBeUndefined();
    expect(getParam(m.topVia?.params ?? [], 'branch')).toBeUndefined();
  });

  it('badbranch: bare magic cookie parses', () => {
    expect(getParam(req('badbranch').topVia?.params ?? [], 'branch')).toBe('z9hG4bK');
  });

  it('cparam01/02 and regescrt: contact params and escaped URI headers', () => {
    const c1 = req('cparam01').contacts[0];
    expect(c1?.params.map((p) => p[0])).toEqual(['unknownparam']);
    const c2 = req('cparam02').contacts[0];
    expect(isSipUri(c2!.uri) && c2!.uri.params.map((p) => p[0])).toContain('unknownparam');
    const c3 = req('regescrt').contacts[0];
    expect(isSipUri(c3!.uri) && c3!.uri.headers[0]?.[0]).toBe('Route');
  });

  it('unkscm, novelsc, unksm2: other URI schemes are kept as absolute URIs', () => {
    expect(req('unkscm').ruri.scheme).toBe('nobodyknowsthisscheme');
    expect(req('novelsc').ruri.scheme).toBe('soap.beep');
    expect(req('unksm2').to.uri.scheme).toBe('isbn');
  });

  it('IPv6 references', () => {
    expect((req('ipv6-good').ruri as SipUri).host).toBe('[2001:db8::10]');
    expect((req('port-ambiguous').ruri as SipUri).host).toBe('[2001:db8::10:5070]');
    const pu = req('port-unambiguous').ruri as SipUri;
    expect([pu.host, pu.port]).toEqual(['[2001:db8::10]', 5070]);
    expect(getParam(req('via-received-param-with-delim').topVia!.params, 'received')).toBe(
      '[2001:db8::9:255]',
    );
    expect(getParam(req('via-received-param-no-delim').topVia!.params, 'received')).toBe('2001:db8::9:255');
    const mih = req('mult-ip-in-header').vias;
    expect(mih.map((v) => v.host)).toContain('[2001:db8::9:1]');
    const mapped = req('ipv4-mapped-ipv6');
    expect(mapped.topVia?.host.startsWith('[')).toBe(true);
    expect(mapped.topVia?.port).toBeDefined();
    expect((req('ipv6-bug-abnf-3-colons').ruri as SipUri).host).toBe('[2001:db8:::192.0.2.1]');
  });
});

describe('name-addr edge cases', () => {
  it('keeps header params apart from URI params in addr-spec form', () => {
    const a = parseNameAddr('sip:alice@example.com;tag=1234');
    expect(a.params).toEqual([['tag', '1234']]);
    expect((a.uri as SipUri).params).toEqual([]);
  });
  it('puts URI params inside <> on the URI', () => {
    const a = parseNameAddr('"Al" <sip:alice@example.com;transport=tcp>;expires=60');
    expect(a.displayName).toBe('Al');
    expect((a.uri as SipUri).params).toEqual([['transport', 'tcp']]);
    expect(a.params).toEqual([['expires', '60']]);
  });
});
