// Digest authentication, server side (NkSIP nksip_auth; RFC 2617, RFC 7616, RFC 8760):
// known-answer vectors, challenges, nonce lifetime and source binding, HA1 passwords,
// several realms, unknown schemes (RFC 4475 regaut01); client side (nksip_uac_auto_auth):
// answers to 401/407, several realms, preferences, when to stop. Requests and responses are
// wire text parsed by the real parser; time is a FakeClock.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AuthRetry, answerChallenge, authLines, challenges, UacAuth } from '../src/auth/client.js';
import {
  digestResponse,
  formatAlgorithm,
  HA1_PREFIX,
  hashHex,
  makeHa1,
  parseAlgorithm,
} from '../src/auth/digest.js';
import { NonceIssuer } from '../src/auth/nonce.js';
import {
  Authenticator,
  credentials,
  defaultGetUserPass,
  defaultRealm,
  type GetUserPass,
  uriMatches,
} from '../src/auth/server.js';
import type { Reply } from '../src/core/reply.js';
import { makeResponse } from '../src/sip/build.js';
import { parseAuth } from '../src/sip/headers.js';
import type { SipRequest, SipResponse } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import { serialize } from '../src/sip/serializer.js';
import { FakeClock } from '../src/transaction/clock.js';
import { parse } from './support/transaction.js';

const T0 = Date.UTC(2024, 0, 15, 10, 0, 0);
const SRC = { address: '192.0.2.10', port: 5060 };
const OTHER = { address: '192.0.2.99', port: 5060 };

interface Spec {
  method?: string;
  uri?: string;
  cseq?: number;
  headers?: string[];
  body?: string;
}

/** A request from alice@atlanta.com as a peer would send it. */
function req(spec: Spec = {}): SipRequest {
  const method = spec.method ?? 'REGISTER';
  const body = spec.body ?? '';
  const lines = [
    `${method} ${spec.uri ?? 'sip:atlanta.com'} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKauth1',
    'Max-Forwards: 70',
    'To: <sip:alice@atlanta.com>',
    'From: Alice <sip:alice@atlanta.com>;tag=a1',
    'Call-ID: auth-test@192.0.2.10',
    `CSeq: ${spec.cseq ?? 1} ${method}`,
    'Contact: <sip:alice@192.0.2.10>',
    ...(spec.headers ?? []),
    ...(body !== '' ? ['Content-Type: text/plain'] : []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '',
    body,
  ];
  return parse(lines.join('\r\n')) as SipRequest;
}

function wire<T extends SipRequest | SipResponse>(m: T): T {
  return parse(serialize(m).toString('latin1')) as T;
}

/** The response a server built from `reply` (a challenge), through the wire. */
function answer(r: SipRequest, reply: Reply): SipResponse {
  return wire(makeResponse(r, reply.status, { headers: reply.headers ?? [], toTag: 'srv1' }));
}

/** A response with hand-written challenge lines. */
function respWith(r: SipRequest, status: number, headers: [string, string][]): SipResponse {
  return wire(makeResponse(r, status, { headers, toTag: 'srv1' }));
}

/** The retry of `r`: CSeq + 1, auth lines replaced by the retry's. */
function retried(r: SipRequest, retry: AuthRetry): SipRequest {
  const next = wire(r);
  next.removeHeader('authorization').removeHeader('proxy-authorization');
  next.setHeader('cseq', `${r.cseq.seq + 1} ${r.method}`);
  for (const [n, v] of retry.headers) next.addHeader(n, v);
  return wire(next);
}

const pass =
  (password: string | boolean): GetUserPass =>
  () =>
    password;

function setup(opts: ConstructorParameters<typeof Authenticator>[0] = {}) {
  const clock = new FakeClock(T0);
  const auth = new Authenticator({ clock, ...opts });
  return { clock, auth };
}

/** A request answered by the client to the server's challenge, ready to check. */
function authed(
  auth: Authenticator,
  opts: {
    kind?: 401 | 407;
    realm?: string;
    algorithms?: ('MD5' | 'SHA-256')[];
    password?: string;
    method?: string;
    source?: { address: string; port: number };
  } = {},
): SipRequest {
  const r = req(opts.method ? { method: opts.method, uri: 'sip:bob@atlanta.com' } : {});
  const ch = auth.challenge(opts.kind ?? 401, opts.realm ?? 'atlanta.com', {
    source: opts.source ?? SRC,
    ...(opts.algorithms ? { algorithms: opts.algorithms } : {}),
  });
  const retry = answerChallenge(r, answer(r, ch), [{ password: opts.password ?? '1234' }]);
  if (!retry) throw new Error('no answer');
  return retried(r, retry);
}

describe('known-answer vectors', () => {
  it('RFC 2617 §3.5 (MD5, qop=auth)', () => {
    const header =
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
      'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"';
    const p = parseAuth(header).params;
    const response = digestResponse({
      algorithm: { hash: 'MD5', sess: false },
      user: p.username as string,
      realm: p.realm as string,
      password: 'Circle Of Life',
      method: 'GET',
      uri: p.uri as string,
      nonce: p.nonce as string,
      qop: p.qop,
      nc: p.nc,
      cnonce: p.cnonce,
    });
    expect(response).toBe('6629fae49393a05397450978507c4ef1');
    expect(response).toBe(p.response);
  });

  it('RFC 7616 §3.9.1 (SHA-256 and MD5, qop=auth)', () => {
    const common = {
      user: 'Mufasa',
      realm: 'http-auth@example.org',
      password: 'Circle of Life',
      method: 'GET',
      uri: '/dir/index.html',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      qop: 'auth',
      nc: '00000001',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    };
    expect(digestResponse({ ...common, algorithm: { hash: 'SHA-256', sess: false } })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
    expect(digestResponse({ ...common, algorithm: { hash: 'MD5', sess: false } })).toBe(
      '8ca523f5e9506fed4657c9700eebdbec',
    );
    // the same from an HA1 password
    const ha1 = makeHa1('Mufasa', 'http-auth@example.org', 'Circle of Life', 'SHA-256');
    expect(digestResponse({ ...common, password: ha1, algorithm: { hash: 'SHA-256', sess: false } })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('RFC 2069 form (no qop) and -sess', () => {
    const ha1 = hashHex('MD5', 'Mufasa:testrealm@host.com:Circle Of Life');
    const ha2 = hashHex('MD5', 'GET:/dir/index.html');
    const base = {
      user: 'Mufasa',
      realm: 'testrealm@host.com',
      password: 'Circle Of Life',
      method: 'GET',
      uri: '/dir/index.html',
      nonce: 'n1',
    };
    expect(digestResponse({ ...base, algorithm: { hash: 'MD5', sess: false } })).toBe(
      hashHex('MD5', `${ha1}:n1:${ha2}`),
    );
    const sessHa1 = hashHex('MD5', `${ha1}:n1:c1`);
    expect(
      digestResponse({
        ...base,
        algorithm: { hash: 'MD5', sess: true },
        qop: 'auth',
        nc: '00000001',
        cnonce: 'c1',
      }),
    ).toBe(hashHex('MD5', `${sessHa1}:n1:00000001:c1:auth:${ha2}`));
  });

  it('makeHa1 is NkSIP’s HA1! form', () => {
    const h = makeHa1('user1', 'nksip', '1234');
    expect(h.startsWith(HA1_PREFIX)).toBe(true);
    expect(h).toBe(`HA1!${hashHex('MD5', 'user1:nksip:1234')}`);
    expect(makeHa1('user1', 'nksip', '1234', 'SHA-256')).toHaveLength(4 + 64);
  });

  it('algorithm names', () => {
    expect(parseAlgorithm(undefined)).toEqual({ hash: 'MD5', sess: false });
    expect(parseAlgorithm('md5')).toEqual({ hash: 'MD5', sess: false });
    expect(parseAlgorithm('SHA-256-sess')).toEqual({ hash: 'SHA-256', sess: true });
    expect(parseAlgorithm('SHA-512-256')).toEqual({ hash: 'SHA-512-256', sess: false });
    expect(parseAlgorithm('AKAv1-MD5')).toBeUndefined();
    expect(formatAlgorithm({ hash: 'SHA-256', sess: true })).toBe('SHA-256-sess');
  });
});

describe('challenges', () => {
  it('401 with one WWW-Authenticate, NkSIP style (MD5, qop="auth", opaque)', () => {
    const { auth } = setup();
    const reply = auth.challenge(401, 'atlanta.com', { source: SRC });
    expect(reply.status).toBe(401);
    expect(reply.headers).toHaveLength(1);
    const [name, value] = reply.headers[0]!;
    expect(name).toBe('WWW-Authenticate');
    expect(value).toMatch(
      /^Digest realm="atlanta\.com", nonce="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth", opaque="/,
    );
    expect(value).not.toContain('stale');
  });

  it('407 with one Proxy-Authenticate per algorithm, SHA-256 first (RFC 8760), stale=TRUE', () => {
    const { auth } = setup();
    const reply = auth.challenge(407, 'proxy.net', {
      source: SRC,
      algorithms: ['MD5', 'SHA-256'],
      stale: true,
    });
    expect(reply.status).toBe(407);
    const hs = reply.headers.map(([n, v]) => [n, parseAuth(v).params] as const);
    expect(hs.map(([n]) => n)).toEqual(['Proxy-Authenticate', 'Proxy-Authenticate']);
    expect(hs.map(([, p]) => p.algorithm)).toEqual(['SHA-256', 'MD5']);
    expect(hs.every(([, p]) => p.stale === 'TRUE' && p.realm === 'proxy.net' && p.qop === 'auth')).toBe(true);
    expect(hs[0]?.[1].nonce).not.toBe(hs[1]?.[1].nonce);
  });

  it('without qop, and the default realm is the From domain', () => {
    const { auth } = setup({ qop: false });
    const [, value] = auth.challenge(401, 'x', { source: SRC }).headers[0]!;
    expect(parseAuth(value).params.qop).toBeUndefined();
    expect(defaultRealm(req())).toBe('atlanta.com');
  });
});

describe('checking credentials', () => {
  it('round trip, MD5 and SHA-256, 401 and 407', async () => {
    for (const algorithms of [['MD5'], ['SHA-256'], ['MD5', 'SHA-256']] as const) {
      for (const kind of [401, 407] as const) {
        const { auth } = setup();
        const r = authed(auth, { kind, algorithms: [...algorithms] });
        const cred = credentials(r, kind);
        expect(cred).toHaveLength(1);
        expect(cred[0]?.algorithm).toBe(
          (algorithms as readonly string[]).includes('SHA-256') ? 'SHA-256' : 'MD5',
        );
        expect(credentials(r, kind === 401 ? 407 : 401)).toHaveLength(0);
        expect(await auth.authorize(r, pass('1234'), SRC)).toEqual([
          { kind, realm: 'atlanta.com', user: 'alice', ok: true },
        ]);
      }
    }
  });

  it('an INVITE with a body, and qop=auth-int', async () => {
    const { auth } = setup();
    const r = req({ method: 'INVITE', uri: 'sip:bob@atlanta.com', body: 'v=0\r\n' });
    const nonce = auth.nonces.issue('atlanta.com', SRC);
    const resp = respWith(r, 401, [
      ['WWW-Authenticate', `Digest realm="atlanta.com", nonce="${nonce}", qop="auth-int"`],
    ]);
    const retry = answerChallenge(r, resp, [{ password: '1234' }]);
    expect(retry?.headers[0]?.[1]).toContain('qop=auth-int');
    const next = retried(r, retry!);
    expect((await auth.authorize(next, pass('1234'), SRC))[0]?.ok).toBe(true);
    // the body is covered
    next.body = Buffer.from('v=1\r\n');
    expect((await auth.authorize(next, pass('1234'), SRC))[0]).toMatchObject({
      ok: false,
      reason: 'password',
    });
  });

  it('a wrong password is not ok, and not stale', async () => {
    const { auth } = setup();
    const r = authed(auth, { password: 'wrong' });
    expect(await auth.authorize(r, pass('1234'), SRC)).toEqual([
      { kind: 401, realm: 'atlanta.com', user: 'alice', ok: false, reason: 'password' },
    ]);
  });

  it('an expired nonce with the right digest is stale (sip_nonce_timeout)', async () => {
    const { auth, clock } = setup();
    const r = authed(auth);
    clock.advance(29_000);
    expect((await auth.authorize(r, pass('1234'), SRC))[0]?.ok).toBe(true);
    clock.advance(2_000);
    expect(await auth.authorize(r, pass('1234'), SRC)).toEqual([
      { kind: 401, realm: 'atlanta.com', user: 'alice', ok: false, stale: true, reason: 'expired' },
    ]);
    // wrong password and expired: not stale
    expect((await auth.authorize(r, pass('bad'), SRC))[0]).toMatchObject({ ok: false, reason: 'password' });
    expect((await auth.authorize(r, pass('bad'), SRC))[0]?.stale).toBeUndefined();
  });

  it('nonceTimeout is configurable', async () => {
    const { auth, clock } = setup({ nonceTimeout: 5 });
    const r = authed(auth);
    clock.advance(6_000);
    expect((await auth.authorize(r, pass('1234'), SRC))[0]).toMatchObject({ ok: false, stale: true });
  });

  it('a nonce issued to another ip:port is not ok (except for ACK, as NkSIP)', async () => {
    const { auth } = setup();
    const r = authed(auth, { source: OTHER });
    expect((await auth.authorize(r, pass('1234'), SRC))[0]).toMatchObject({
      ok: false,
      stale: true,
      reason: 'source',
    });
    expect((await auth.authorize(r, pass('1234'), { ...SRC, port: 5061 }))[0]?.ok).toBe(false);
    expect((await auth.authorize(r, pass('1234'), OTHER))[0]?.ok).toBe(true);

    const ack = authed(auth, { source: OTHER, method: 'ACK' });
    expect((await auth.authorize(ack, pass('1234'), SRC))[0]?.ok).toBe(true);

    const loose = setup({ bindSource: false }).auth;
    expect((await loose.authorize(authed(loose, { source: OTHER }), pass('1234'), SRC))[0]?.ok).toBe(true);
  });

  it('a nonce we did not issue (another secret, a restart, another realm, tampered) is not ok', async () => {
    const { auth, clock } = setup();
    const other = new Authenticator({ clock });
    const r = authed(other);
    expect((await auth.authorize(r, pass('1234'), SRC))[0]).toMatchObject({
      ok: false,
      stale: true,
      reason: 'nonce',
    });

    const secret = Buffer.alloc(32, 7);
    const a1 = new Authenticator({ clock, secret });
    const a2 = new Authenticator({ clock, secret });
    expect((await a2.authorize(authed(a1), pass('1234'), SRC))[0]?.ok).toBe(true);

    // a nonce issued for realm A presented for realm B
    const nonce = auth.nonces.issue('a.com', SRC);
    const r2 = req();
    const resp = respWith(r2, 401, [
      ['WWW-Authenticate', `Digest realm="b.com", nonce="${nonce}", qop="auth"`],
    ]);
    const next = retried(r2, answerChallenge(r2, resp, [{ password: '1234' }])!);
    expect((await auth.authorize(next, pass('1234'), SRC))[0]).toMatchObject({ ok: false, reason: 'nonce' });

    const issuer = new NonceIssuer({ clock });
    const n = issuer.issue('r', SRC);
    expect(issuer.verify(n, 'r', SRC)).toBe('ok');
    expect(issuer.verify(`${n.slice(0, 5)}${n[5] === 'A' ? 'B' : 'A'}${n.slice(6)}`, 'r', SRC)).toBe(
      'unknown',
    );
    expect(issuer.verify('dcd98b7102dd2f0e8b11d0f600bfb0c093', 'r', SRC)).toBe('unknown');
    expect(issuer.verify('not base64!', 'r', SRC)).toBe('unknown');
  });

  it('HA1 passwords, server and client side', async () => {
    const { auth } = setup({ algorithms: ['MD5', 'SHA-256'] });
    const ha1md5 = makeHa1('alice', 'atlanta.com', '1234');
    const ha1sha = makeHa1('alice', 'atlanta.com', '1234', 'SHA-256');
    // the client answers SHA-256 (preferred): an MD5 HA1 on the server cannot check it
    const r = authed(auth);
    expect(credentials(r)[0]?.algorithm).toBe('SHA-256');
    expect((await auth.authorize(r, pass(ha1sha), SRC))[0]?.ok).toBe(true);
    expect((await auth.authorize(r, pass(ha1md5), SRC))[0]).toMatchObject({ ok: false, reason: 'password' });
    expect((await auth.authorize(r, pass('HA1!nothex'), SRC))[0]?.ok).toBe(false);
    // a client holding an MD5 HA1 picks the MD5 challenge
    const r2 = authed(auth, { password: ha1md5 });
    expect(credentials(r2)[0]?.algorithm).toBe('MD5');
    expect((await auth.authorize(r2, pass(ha1md5), SRC))[0]?.ok).toBe(true);
    expect((await auth.authorize(r2, pass('1234'), SRC))[0]?.ok).toBe(true);
  });

  it('password callback: true accepts unchecked, false refuses, async answers, anonymous', async () => {
    const { auth } = setup();
    const r = authed(auth, { password: 'whatever' });
    expect((await auth.authorize(r, pass(true), SRC))[0]?.ok).toBe(true);
    expect((await auth.authorize(r, pass(false), SRC))[0]).toMatchObject({
      ok: false,
      reason: 'no-password',
    });
    const seen: [string, string][] = [];
    const asyncPass: GetUserPass = async (user, realm) => {
      seen.push([user, realm]);
      await new Promise((resolve) => setImmediate(resolve));
      return 'whatever';
    };
    expect((await auth.authorize(r, asyncPass, SRC))[0]?.ok).toBe(true);
    expect(seen).toEqual([['alice', 'atlanta.com']]);
    // NkSIP's default: '' for anonymous, nobody else
    expect(defaultGetUserPass('anonymous', 'x', r)).toBe('');
    expect(defaultGetUserPass('alice', 'x', r)).toBe(false);
    const anon = req();
    const ch = answer(anon, auth.challenge(401, 'atlanta.com', { source: SRC }));
    const next = retried(anon, answerChallenge(anon, ch, [{ user: 'anonymous', password: '' }])!);
    expect(await auth.authorize(next, defaultGetUserPass, SRC)).toMatchObject([
      { user: 'anonymous', ok: true },
    ]);
  });

  it('several realms: one result per credential, both header kinds', async () => {
    const { auth } = setup();
    const r = req();
    const resp = respWith(r, 407, [
      ...auth.challenge(407, 'proxy.net', { source: SRC }).headers,
      ...auth.challenge(401, 'atlanta.com', { source: SRC }).headers,
    ]);
    const retry = answerChallenge(r, resp, [
      { realm: 'proxy.net', user: 'p-user', password: 'ppp' },
      { password: '1234' },
    ]);
    expect(retry?.headers.map(([n]) => n)).toEqual(['Authorization', 'Proxy-Authorization']);
    const next = retried(r, retry!);
    const passes: GetUserPass = (user, realm) =>
      realm === 'proxy.net' ? user === 'p-user' && 'ppp' : '1234';
    expect(await auth.authorize(next, passes, SRC)).toEqual([
      { kind: 401, realm: 'atlanta.com', user: 'alice', ok: true },
      { kind: 407, realm: 'proxy.net', user: 'p-user', ok: true },
    ]);
    expect(await auth.authorize(next, passes, SRC, 407)).toEqual([
      { kind: 407, realm: 'proxy.net', user: 'p-user', ok: true },
    ]);
  });

  it('the digest-uri must name the Request-URI', async () => {
    const { auth } = setup();
    const r = authed(auth);
    const moved = r;
    moved.uri = 'sip:elsewhere.com';
    expect((await auth.authorize(moved, pass('1234'), SRC))[0]).toMatchObject({ ok: false, reason: 'uri' });
    expect(uriMatches('sip:atlanta.com', 'sip:ATLANTA.com;transport=udp')).toBe(true);
    expect(uriMatches('sip:bob@atlanta.com:5060', 'sip:bob@atlanta.com')).toBe(false);
    expect(uriMatches('sip:bob@atlanta.com', 'sips:bob@atlanta.com')).toBe(false);
    expect(uriMatches('tel:+1234', 'tel:+1234;phone-context=x')).toBe(true);
    const lax = setup({ checkUri: false }).auth;
    const r2 = authed(lax);
    r2.uri = 'sip:elsewhere.com';
    expect((await lax.authorize(r2, pass('1234'), SRC))[0]?.ok).toBe(true);
  });

  it('RFC 2069 credentials (challenge without qop) unless requireQop', async () => {
    const { auth } = setup({ qop: false });
    const r = authed(auth);
    expect(credentials(r)[0]?.qop).toBeUndefined();
    expect((await auth.authorize(r, pass('1234'), SRC))[0]?.ok).toBe(true);
    const strict = setup({ qop: false, requireQop: true }).auth;
    expect((await strict.authorize(authed(strict), pass('1234'), SRC))[0]).toMatchObject({
      ok: false,
      reason: 'qop',
    });
  });

  it('malformed and unsupported credentials are not ok', async () => {
    const { auth } = setup();
    const nonce = auth.nonces.issue('atlanta.com', SRC);
    const line = (extra: string) =>
      `Authorization: Digest username="alice", realm="atlanta.com", nonce="${nonce}", uri="sip:atlanta.com", ${extra}`;
    const check = async (extra: string) =>
      (await auth.authorize(req({ headers: [line(extra)] }), pass('1234'), SRC))[0];
    expect(await check('response="00", algorithm=AKAv1-MD5')).toMatchObject({
      ok: false,
      reason: 'algorithm',
    });
    expect(await check('response="00", qop=auth')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await check('response="00", qop=auth, nc=1, cnonce="x"')).toMatchObject({ reason: 'malformed' });
    expect(await check('response="00", qop=foo, nc=00000001, cnonce="x"')).toMatchObject({ reason: 'qop' });
    expect(await check('qop=auth, nc=00000001, cnonce="x"')).toMatchObject({ reason: 'malformed' });
    expect(await check('response="00", qop=auth, nc=00000001, cnonce="x"')).toMatchObject({
      reason: 'password',
    });
  });
});

describe('unknown schemes', () => {
  it('are skipped, and unparsable values too', async () => {
    const { auth } = setup();
    const r = req({
      headers: [
        'Authorization: NoOneKnowsThisScheme opaque-data=here',
        'Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
        'Proxy-Authorization: Digest username="x", realm="unterminated',
        'Proxy-Authorization: Digest username="x"',
      ],
    });
    expect(credentials(r)).toEqual([]);
    expect(await auth.authorize(r, pass('1234'), SRC)).toEqual([]);
  });

  it('RFC 4475 regaut01', async () => {
    const dat = readFileSync(join(import.meta.dirname, '../../test/fixtures/sip-torture/regaut01.dat'));
    const r = parseMessage(dat).msg as SipRequest;
    expect(r.headerLines('authorization')).toEqual(['NoOneKnowsThisScheme opaque-data=here']);
    expect(credentials(r)).toEqual([]);
    expect(await setup().auth.authorize(r, pass('1234'), SRC)).toEqual([]);
  });
});

describe('client: answering 401/407', () => {
  const fixedCnonce = () => '0a4f113b';

  it('builds qop=auth, nc=00000001, a cnonce, the challenge’s opaque and algorithm', () => {
    const { auth } = setup();
    const r = req();
    const resp = answer(r, auth.challenge(401, 'atlanta.com', { source: SRC }));
    const retry = answerChallenge(r, resp, [{ password: '1234' }], { cnonce: fixedCnonce })!;
    expect(retry.answered).toMatchObject([{ kind: 401, realm: 'atlanta.com', algorithm: 'MD5' }]);
    const [name, value] = retry.headers[0]!;
    expect(name).toBe('Authorization');
    const p = parseAuth(value).params;
    const ch = challenges(resp)[0]!;
    expect(p).toMatchObject({
      username: 'alice',
      realm: 'atlanta.com',
      nonce: ch.nonce,
      uri: 'sip:atlanta.com',
      algorithm: 'MD5',
      opaque: ch.opaque,
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    });
    expect(value).toContain('qop=auth, nc=00000001');
    expect(p.response).toBe(
      digestResponse({
        algorithm: { hash: 'MD5', sess: false },
        user: 'alice',
        realm: 'atlanta.com',
        password: '1234',
        method: 'REGISTER',
        uri: 'sip:atlanta.com',
        nonce: ch.nonce,
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
    );
  });

  it('prefers SHA-256 when offered, whatever the order; skips what it cannot compute', () => {
    const r = req();
    const resp = respWith(r, 401, [
      ['WWW-Authenticate', 'Digest realm="a", nonce="n1", algorithm=AKAv1-MD5, qop="auth"'],
      ['WWW-Authenticate', 'Digest realm="a", nonce="n2", algorithm=MD5, qop="auth"'],
      ['WWW-Authenticate', 'Digest realm="a", nonce="n3", algorithm=SHA-256, qop="auth"'],
      ['WWW-Authenticate', 'Basic realm="a"'],
    ]);
    const retry = answerChallenge(r, resp, [{ password: 'x' }])!;
    expect(retry.headers).toHaveLength(1);
    expect(retry.answered[0]).toMatchObject({ algorithm: 'SHA-256', nonce: 'n3' });
    // only auth-int offered: auth-int; an unknown qop only: nothing
    const ai = respWith(r, 401, [['WWW-Authenticate', 'Digest realm="a", nonce="n", qop="auth-int"']]);
    expect(answerChallenge(r, ai, [{ password: 'x' }])?.headers[0]?.[1]).toContain('qop=auth-int');
    const odd = respWith(r, 401, [['WWW-Authenticate', 'Digest realm="a", nonce="n", qop="foo"']]);
    expect(answerChallenge(r, odd, [{ password: 'x' }])).toBeUndefined();
  });

  it('realm-specific passwords first, then one for any realm; undefined when none fits', () => {
    const r = req();
    const resp = respWith(r, 401, [['WWW-Authenticate', 'Digest realm="a.com", nonce="n", qop="auth"']]);
    const user = (passes: { realm?: string; user?: string; password: string }[]) =>
      parseAuth(answerChallenge(r, resp, passes)?.headers[0]?.[1] ?? 'X').params.username;
    expect(
      user([
        { user: 'any', password: '1' },
        { realm: 'a.com', user: 'specific', password: '2' },
      ]),
    ).toBe('specific');
    expect(
      user([
        { realm: 'b.com', user: 'b', password: '1' },
        { user: 'any', password: '2' },
      ]),
    ).toBe('any');
    expect(answerChallenge(r, resp, [{ realm: 'b.com', password: '1' }])).toBeUndefined();
    expect(answerChallenge(r, resp, [])).toBeUndefined();
    // an HA1 of the wrong length does not fit
    expect(
      answerChallenge(r, resp, [{ password: makeHa1('alice', 'a.com', '1', 'SHA-256') }]),
    ).toBeUndefined();
  });

  it('several realms: one line per realm we have a password for; earlier lines for other realms kept', () => {
    const r = req({
      headers: [
        'Proxy-Authorization: Digest username="alice", realm="p1", nonce="old", uri="sip:atlanta.com", response="00"',
        'Authorization: Digest username="alice", realm="ua", nonce="stale1", uri="sip:atlanta.com", response="00"',
      ],
    });
    const resp = respWith(r, 401, [
      ['WWW-Authenticate', 'Digest realm="ua", nonce="fresh", qop="auth"'],
      ['WWW-Authenticate', 'Digest realm="nopass", nonce="n", qop="auth"'],
    ]);
    const retry = answerChallenge(r, resp, [
      { realm: 'ua', password: '1' },
      { realm: 'p1', password: '2' },
    ])!;
    expect(retry.answered.map((a) => a.realm)).toEqual(['ua']);
    expect(retry.headers.map(([n, v]) => [n, parseAuth(v).params.nonce])).toEqual([
      ['Proxy-Authorization', 'old'],
      ['Authorization', 'fresh'],
    ]);
  });

  it('the ACK copies the INVITE’s credentials', () => {
    const { auth } = setup();
    const r = authed(auth, { method: 'INVITE' });
    expect(authLines(r)).toEqual([['Authorization', r.header('authorization')]]);
  });
});

describe('client: when to stop (nksip_uac_auto_auth)', () => {
  it('proxy 407, proxy 407 again for another realm, UA 401: all answered and accepted', async () => {
    const p1 = setup().auth;
    const p2 = setup().auth;
    const ua = setup().auth;
    const uac = new UacAuth();
    const passes = [{ password: '1234' }];
    const get = pass('1234');
    let r = req({ method: 'INVITE', uri: 'sip:bob@biloxi.com' });
    // proxy 1
    let retry = uac.retry(r, answer(r, p1.challenge(407, 'p1.net', { source: SRC })), passes)!;
    r = retried(r, retry);
    expect(await p1.authorize(r, get, SRC, 407)).toMatchObject([{ realm: 'p1.net', ok: true }]);
    // proxy 2: the request keeps p1's line
    retry = uac.retry(r, answer(r, p2.challenge(407, 'p2.net', { source: SRC })), passes)!;
    r = retried(r, retry);
    expect((await p2.authorize(r, get, SRC, 407)).map((x) => [x.realm, x.ok])).toEqual([
      ['p1.net', false],
      ['p2.net', true],
    ]);
    expect((await p1.authorize(r, get, SRC, 407)).find((x) => x.realm === 'p1.net')?.ok).toBe(true);
    // the UA
    retry = uac.retry(r, answer(r, ua.challenge(401, 'biloxi.com', { source: SRC })), passes)!;
    r = retried(r, retry);
    expect(r.headerLines('proxy-authorization')).toHaveLength(2);
    expect(await ua.authorize(r, get, SRC, 401)).toMatchObject([{ realm: 'biloxi.com', ok: true }]);
    expect(uac.tries).toBe(3);
    expect(r.cseq.seq).toBe(4);
  });

  it('a wrong password: the server challenging the same realm again ends it', async () => {
    const { auth } = setup();
    const uac = new UacAuth();
    let r = req();
    const retry = uac.retry(r, answer(r, auth.challenge(401, 'atlanta.com', { source: SRC })), [
      { password: 'bad' },
    ]);
    r = retried(r, retry!);
    expect((await auth.authorize(r, pass('1234'), SRC))[0]?.ok).toBe(false);
    // an NkSIP server answers 403 (the app's `forbidden`): not a challenge, stop
    expect(uac.retry(r, respWith(r, 403, []), [{ password: 'bad' }])).toBeUndefined();
    // a server that challenges again, fresh nonce, no stale: stop too
    expect(
      uac.retry(r, answer(r, auth.challenge(401, 'atlanta.com', { source: SRC })), [{ password: 'bad' }]),
    ).toBe(undefined);
    expect(uac.tries).toBe(1);
  });

  it('stale=true: retried with the new nonce, and accepted', async () => {
    const { auth, clock } = setup();
    const uac = new UacAuth();
    let r = req();
    r = retried(
      r,
      uac.retry(r, answer(r, auth.challenge(401, 'atlanta.com', { source: SRC })), [{ password: '1234' }])!,
    );
    clock.advance(60_000);
    const [res] = await auth.authorize(r, pass('1234'), SRC);
    expect(res).toMatchObject({ ok: false, stale: true });
    const again = answer(r, auth.challenge(401, 'atlanta.com', { source: SRC, stale: true }));
    expect(challenges(again)[0]?.stale).toBe(true);
    r = retried(r, uac.retry(r, again, [{ password: '1234' }])!);
    expect((await auth.authorize(r, pass('1234'), SRC))[0]?.ok).toBe(true);
    // stale=true but the very nonce we answered: stop
    const nonce = parseAuth(r.header('authorization')!).params.nonce;
    const same = respWith(r, 401, [
      ['WWW-Authenticate', `Digest realm="atlanta.com", nonce="${nonce}", stale=true`],
    ]);
    expect(uac.retry(r, same, [{ password: '1234' }])).toBeUndefined();
  });

  it('a bound on tries (default 5, NkSIP sip_uac_auto_auth_max_tries)', () => {
    const { auth } = setup();
    const count = (uac: UacAuth) => {
      let r = req();
      for (;;) {
        const retry = uac.retry(
          r,
          answer(r, auth.challenge(401, 'atlanta.com', { source: SRC, stale: true })),
          [{ password: '1234' }],
        );
        if (!retry) return uac.tries;
        r = retried(r, retry);
      }
    };
    expect(count(new UacAuth())).toBe(5);
    expect(count(new UacAuth({ maxTries: 2 }))).toBe(2);
    expect(count(new UacAuth({ maxTries: 0 }))).toBe(0);
  });

  it('nothing to do for other responses or without a fitting password', () => {
    const { auth } = setup();
    const r = req();
    const uac = new UacAuth();
    expect(uac.retry(r, respWith(r, 200, []), [{ password: '1' }])).toBeUndefined();
    expect(
      uac.retry(r, answer(r, auth.challenge(401, 'atlanta.com', { source: SRC })), [
        { realm: 'x', password: '1' },
      ]),
    ).toBeUndefined();
    expect(uac.tries).toBe(0);
  });
});
