// SIP ⇄ protobuf conversions: requests as apps see them, named replies and their headers,
// automatic response headers, header operations, app config checks.

import { describe, expect, it } from 'vitest';
import { appConfig } from '../../test/apps/support.js';
import { appSettings, configDiff } from '../src/apps/app-config.js';
import {
  InvalidAnswer,
  NAMED_REPLIES,
  type ReplyContext,
  replyFromPb,
  requestToPb,
} from '../src/apps/convert.js';
import { HeaderOp_Kind, NamedReply, Reply as PbReply } from '../src/gen/nksip/v1/decisions.js';
import { CallbackKind, type Start } from '../src/gen/nksip/v1/service.js';
import type { SipRequest } from '../src/sip/message.js';
import { parse, request, richInvite, source } from './support/transaction.js';

function pb(extra: Partial<PbReply>): PbReply {
  return PbReply.fromPartial(extra);
}

const ctx = (req: SipRequest = request({ method: 'OPTIONS' })): ReplyContext => ({
  req,
  allow: 'INVITE,ACK',
  supported: ['path'],
  contact: '<sip:192.0.2.1:5060>',
});

describe('requestToPb', () => {
  it('carries the essentials, every header in order, the body and the transport', () => {
    const req = richInvite();
    const r = requestToPb(req, source());
    expect(r.method).toBe('INVITE');
    expect(r.ruri).toMatchObject({ scheme: 'sip', user: 'bob', host: 'biloxi.com', port: 0 });
    expect(r.ruri?.params).toEqual([{ name: 'transport', value: 'udp', flag: false }]);
    expect(r.from?.displayName).toBe('Alicé');
    expect(r.from?.params).toEqual([{ name: 'tag', value: '1928', flag: false }]);
    expect([r.callId, r.cseq, r.cseqMethod, r.maxForwards]).toEqual(['abc@x', 7, 'INVITE', 69]);
    expect(r.vias[0]).toMatchObject({ transport: 'UDP', host: 'pc33.atlanta.com' });
    expect(r.vias[0]?.params).toContainEqual({ name: 'rport', value: '', flag: true });
    expect(r.contacts[0]?.params).toEqual([{ name: 'expires', value: '60', flag: false }]);
    expect(r.routes.map((x) => x.uri?.user)).toEqual(['p1', 'p2']);
    expect(r.headers.map((h) => h.name)).toEqual([
      'via',
      'max-forwards',
      'to',
      'from',
      'call-id',
      'cseq',
      'contact',
      'route',
      'content-type',
      'x-custom',
      'content-length',
    ]);
    expect(r.body.toString()).toBe('v=0\n');
    expect(r.contentType).toBe('application/sdp');
    expect(r.transport).toEqual({
      transport: 'udp',
      localIp: '192.0.2.1',
      localPort: 5060,
      remoteIp: '192.0.2.10',
      remotePort: 5060,
    });
  });
});

describe('named replies', () => {
  it('every NamedReply value has a code', () => {
    const values = Object.values(NamedReply).filter((v): v is number => typeof v === 'number' && v > 0);
    for (const v of values) expect(NAMED_REPLIES[v]?.code, NamedReply[v]).toBeGreaterThanOrEqual(180);
  });

  const table: [string, Partial<PbReply>, number, [string, RegExp | string][]][] = [
    ['ringing', { named: NamedReply.NAMED_REPLY_RINGING }, 180, []],
    ['ok', { named: NamedReply.NAMED_REPLY_OK }, 200, []],
    ['accepted', { named: NamedReply.NAMED_REPLY_ACCEPTED }, 202, []],
    [
      'redirect',
      { named: NamedReply.NAMED_REPLY_REDIRECT, contacts: ['sip:a@x', '<sip:b@y>'] },
      300,
      [
        ['Contact', '<sip:a@x>'],
        ['Contact', '<sip:b@y>'],
      ],
    ],
    [
      'redirect_temporary',
      { named: NamedReply.NAMED_REPLY_REDIRECT_TEMPORARY, contacts: ['sip:a@x'] },
      302,
      [['Contact', '<sip:a@x>']],
    ],
    [
      'authenticate (realm from From)',
      { named: NamedReply.NAMED_REPLY_AUTHENTICATE },
      401,
      [['WWW-Authenticate', /^Digest realm="atlanta.com", nonce="[0-9a-f]+", algorithm=MD5, qop="auth"$/]],
    ],
    [
      'proxy_authenticate with realm',
      { named: NamedReply.NAMED_REPLY_PROXY_AUTHENTICATE, realm: 'r1' },
      407,
      [['Proxy-Authenticate', /^Digest realm="r1"/]],
    ],
    ['forbidden', { named: NamedReply.NAMED_REPLY_FORBIDDEN }, 403, []],
    [
      'method_not_allowed',
      { named: NamedReply.NAMED_REPLY_METHOD_NOT_ALLOWED },
      405,
      [['Allow', 'INVITE,ACK']],
    ],
    [
      'unsupported_media_type',
      { named: NamedReply.NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE, accept: 'application/sdp' },
      415,
      [['Accept', 'application/sdp']],
    ],
    [
      'bad_extension',
      { named: NamedReply.NAMED_REPLY_BAD_EXTENSION, unsupported: 'foo' },
      420,
      [['Unsupported', 'foo']],
    ],
    [
      'extension_required',
      { named: NamedReply.NAMED_REPLY_EXTENSION_REQUIRED, require: '100rel' },
      421,
      [['Require', '100rel']],
    ],
    [
      'session_too_small',
      { named: NamedReply.NAMED_REPLY_SESSION_TOO_SMALL, minValue: 90 },
      422,
      [['Min-SE', '90']],
    ],
    [
      'interval_too_brief',
      { named: NamedReply.NAMED_REPLY_INTERVAL_TOO_BRIEF, minValue: 60 },
      423,
      [['Min-Expires', '60']],
    ],
    ['unknown_dialog', { named: NamedReply.NAMED_REPLY_UNKNOWN_DIALOG }, 481, []],
    ['busy', { named: NamedReply.NAMED_REPLY_BUSY }, 486, []],
    [
      'not_acceptable',
      { named: NamedReply.NAMED_REPLY_NOT_ACCEPTABLE, warning: '399 x "no"' },
      488,
      [['Warning', '399 x "no"']],
    ],
    ['busy_everywhere', { named: NamedReply.NAMED_REPLY_BUSY_EVERYWHERE }, 600, []],
    ['decline', { named: NamedReply.NAMED_REPLY_DECLINE }, 603, []],
  ];
  for (const [name, r, code, headers] of table) {
    it(`${name} → ${code}`, () => {
      const out = replyFromPb(pb(r), ctx());
      expect(out.status).toBe(code);
      const got = out.headers ?? [];
      expect(got).toHaveLength(headers.length);
      headers.forEach(([n, v], i) => {
        expect(got[i]?.[0]).toBe(n);
        if (typeof v === 'string') expect(got[i]?.[1]).toBe(v);
        else expect(got[i]?.[1]).toMatch(v);
      });
    });
  }

  it('invalid replies', () => {
    const bad: Partial<PbReply>[] = [
      {},
      { code: 99 },
      { code: 700 },
      { code: 200, named: NamedReply.NAMED_REPLY_OK },
      { named: NamedReply.NAMED_REPLY_BAD_EXTENSION },
      { named: NamedReply.NAMED_REPLY_ANSWER },
      { code: 200, headers: [{ kind: HeaderOp_Kind.KIND_UNSPECIFIED, name: 'X', value: '1' }] },
      { code: 200, headers: [{ kind: HeaderOp_Kind.KIND_ADD, name: 'X', value: 'a\r\nB: c' }] },
      { named: NamedReply.NAMED_REPLY_INTERVAL_TOO_BRIEF },
    ];
    for (const r of bad) expect(() => replyFromPb(pb(r), ctx()), JSON.stringify(r)).toThrow(InvalidAnswer);
  });

  it('automatic headers on named replies to INVITE, none on a bare code', () => {
    const invite = parse(
      [
        'INVITE sip:bob@biloxi.com SIP/2.0',
        'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKy',
        'Record-Route: <sip:p1@proxy;lr>',
        'Max-Forwards: 70',
        'To: <sip:bob@biloxi.com>',
        'From: <sip:alice@atlanta.com>;tag=1',
        'Call-ID: y',
        'CSeq: 1 INVITE',
        'Timestamp: 54',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ) as SipRequest;
    const named = replyFromPb(pb({ named: NamedReply.NAMED_REPLY_OK }), ctx(invite));
    expect(named.headers).toEqual([
      ['Timestamp', '54'],
      ['Allow', 'INVITE,ACK'],
      ['Supported', 'path'],
      // no Record-Route: the UAS core copies it into the response it sends (once)
      ['Contact', '<sip:192.0.2.1:5060>'],
    ]);
    expect(replyFromPb(pb({ code: 200 }), ctx(invite)).headers).toBeUndefined();
  });

  it('header operations and an SDP body', () => {
    const out = replyFromPb(
      pb({
        code: 200,
        body: Buffer.from('v=0\r\n'),
        contacts: ['sip:me@x'],
        headers: [
          { kind: HeaderOp_Kind.KIND_ADD, name: 'X-A', value: '1' },
          { kind: HeaderOp_Kind.KIND_INSERT, name: 'X-B', value: '2' },
          { kind: HeaderOp_Kind.KIND_REPLACE, name: 'contact', value: '<sip:other@y>' },
        ],
      }),
      ctx(),
    );
    expect(out.headers).toEqual([
      ['X-B', '2'],
      ['X-A', '1'],
      ['contact', '<sip:other@y>'],
    ]);
    expect(out.contentType).toBe('application/sdp');
  });
});

describe('app config', () => {
  const base = (
    config: Partial<NonNullable<Start['config']>> = {},
    callbacks = [CallbackKind.CALLBACK_KIND_INVITE],
  ): Start => ({
    app: 'a1',
    token: '',
    instanceId: '',
    batching: false,
    callbacks,
    config: appConfig(config),
  });

  it('names the field that is wrong', () => {
    const cases: [Start, RegExp][] = [
      [{ ...base(), app: '' }, /^app:/],
      [base({ listen: ['sip:nowhere.example:5060'] }), /^config\.listen\[0\]/],
      [base({ from: 'not an address <' }), /^config\.from/],
      [base({ route: ['::'] }), /^config\.route\[0\]/],
      [base({ deadlinesMs: { invit: 100 } }), /^config\.deadlines_ms: unknown callback name "invit"/],
      [base({ deadlineReplies: { ack: pb({ code: 500 }) } }), /^config\.deadline_replies\.ack/],
      [
        base({ plugins: [{ name: 'gruu', options: {} }] }),
        /^config\.plugins: plugin "gruu" is not available/,
      ],
      [
        base({ plugins: [{ name: 'registrar', options: { min_time: '0' } }] }),
        /^config\.plugins\[0\]\.options\.min_time/,
      ],
      [
        base({ plugins: [{ name: 'registrar', options: { maxtime: '60' } }] }),
        /^config\.plugins\[0\]\.options\.maxtime: unknown/,
      ],
      [base({}, [0 as CallbackKind]), /^callbacks\[0\]/],
      [base({ graceMs: 99_999_999 }), /^config\.grace_ms/],
    ];
    for (const [s, re] of cases) expect(() => appSettings(s), re.source).toThrow(re);
  });

  it('canonical form: equal configs compare equal whatever the map order; differences named', () => {
    const a = appSettings(base({ deadlinesMs: { invite: 100, route: 200 } }));
    const b = appSettings(base({ deadlinesMs: { route: 200, invite: 100 } }));
    expect(a.canonical).toBe(b.canonical);
    const c = appSettings(base({ listen: ['sip:127.0.0.1:0'] }, [CallbackKind.CALLBACK_KIND_ROUTE]));
    expect(configDiff(appSettings(base()).canonical, c.canonical)).toEqual(['config.listen', 'callbacks']);
    expect(a.defaultDeadlineMs).toBe(5000);
    expect(a.graceMs).toBe(10_000);
  });
});
