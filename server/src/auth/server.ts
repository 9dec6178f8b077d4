// Server side of digest authentication (NkSIP `nksip_auth`): challenges (401 WWW-Authenticate,
// 407 Proxy-Authenticate), the credentials of a request, and their check against the
// passwords `sip_get_user_pass` gives, producing the digest part of `sip_authorize`'s AuthList.
//
// Beyond NkSIP (MD5 with qop=auth only): SHA-256 and SHA-512-256 (RFC 8760), the -sess
// variants, qop=auth-int, the RFC 2069 form without qop, and `stale=true` (RFC 7616 §3.3):
// a credential whose digest is right but whose nonce is no longer good (expired, issued to
// another ip:port, or from before a restart) is reported `stale`, so the caller challenges
// again with stale=true instead of answering 403 to a client that knows the password.
import type { Reply } from '../core/reply.js';
import { unescapeUri } from '../sip/grammar.js';
import { formatAuth, parseAuth } from '../sip/headers.js';
import { fromText, type SipRequest, toText } from '../sip/message.js';
import { isSipUri, isTelUri, parseUri } from '../sip/uri.js';
import { type Clock, realClock } from '../transaction/clock.js';
import { type DigestHash, digestResponse, HASH_PREFERENCE, parseAlgorithm, sameDigest } from './digest.js';
import { type AuthSource, NonceIssuer, type NonceStatus } from './nonce.js';

/** 401: WWW-Authenticate / Authorization. 407: Proxy-Authenticate / Proxy-Authorization. */
export type AuthKind = 401 | 407;

/** One Digest credential of a request. Values are binary header text, as received. */
export interface DigestCredential {
  kind: AuthKind;
  username: string;
  realm: string;
  nonce?: string;
  uri?: string;
  response?: string;
  algorithm?: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  opaque?: string;
  /** Every auth-param, lowercase names. */
  params: Record<string, string>;
}

/** Why a credential was not accepted. */
export type AuthFailure =
  /** The password callback said `false`. */
  | 'no-password'
  /** A parameter is missing or malformed. */
  | 'malformed'
  | 'algorithm'
  | 'qop'
  /** The digest-uri is not the Request-URI. */
  | 'uri'
  /** The digest does not match the password (or an HA1 of another hash). */
  | 'password'
  /** The digest is right but the nonce is not ours (forged, or from before a restart): stale. */
  | 'nonce'
  /** The digest is right but the nonce is too old: stale. */
  | 'expired'
  /** The digest is right but the nonce was issued to another ip:port: stale. */
  | 'source';

/**
 * The result of checking one credential; an element of the AuthList (NkSIP's
 * `{{digest, Realm}, true|false}`). `user` and `realm` are text (UTF-8 decoded).
 */
export interface AuthResult {
  kind: AuthKind;
  realm: string;
  user: string;
  ok: boolean;
  /** The digest was right, the nonce was not: challenge again with stale=true, not 403. */
  stale?: boolean;
  reason?: AuthFailure;
}

/**
 * `sip_get_user_pass`: the password (plain or `HA1!<hex>`), `true` to accept without
 * checking, `false` when the user is unknown. User and realm are text.
 */
export type GetUserPass = (
  user: string,
  realm: string,
  req: SipRequest,
) => string | boolean | Promise<string | boolean>;

/** NkSIP's default `sip_get_user_pass`: empty password for `anonymous`, nobody else. */
export const defaultGetUserPass: GetUserPass = (user) => (user === 'anonymous' ? '' : false);

export interface AuthenticatorOptions {
  clock?: Clock;
  /** Nonce lifetime in seconds (NkSIP `sip_nonce_timeout`, default 30). */
  nonceTimeout?: number;
  /** Nonce HMAC key; random per process by default. */
  secret?: Buffer;
  /** Bind nonces to the client's ip:port (default true, as NkSIP). */
  bindSource?: boolean;
  /** Algorithms challenged with when a call does not say (default MD5 only, as NkSIP). */
  algorithms?: DigestHash[];
  /** Offer qop="auth" (default true). */
  qop?: boolean;
  /** Refuse credentials without qop, the RFC 2069 form (default false: accepted). */
  requireQop?: boolean;
  /** Require the digest-uri to be the Request-URI, compared as URIs (default true). */
  checkUri?: boolean;
}

export interface ChallengeOptions {
  /** One challenge per algorithm, strongest first whatever the order given (RFC 8760 §2.4). */
  algorithms?: DigestHash[];
  qop?: boolean;
  stale?: boolean;
  /** The client the nonce is for. */
  source: AuthSource;
}

const HEADER_OF: Record<AuthKind, { challenge: string; credentials: string }> = {
  401: { challenge: 'WWW-Authenticate', credentials: 'authorization' },
  407: { challenge: 'Proxy-Authenticate', credentials: 'proxy-authorization' },
};

/**
 * Every Digest credential in the request's Authorization (401) or Proxy-Authorization (407)
 * headers, or both when `kind` is omitted. Other schemes and unparsable values are skipped
 * (RFC 4475 §3.1.2.12 regaut01), as are digests without a realm.
 */
export function credentials(req: SipRequest, kind?: AuthKind): DigestCredential[] {
  const out: DigestCredential[] = [];
  for (const k of kind === undefined ? ([401, 407] as const) : [kind]) {
    for (const line of req.headerLines(HEADER_OF[k].credentials)) {
      let parsed: ReturnType<typeof parseAuth>;
      try {
        parsed = parseAuth(line);
      } catch {
        continue;
      }
      if (parsed.scheme.toLowerCase() !== 'digest') continue;
      const p = parsed.params;
      if (p.realm === undefined) continue;
      const c: DigestCredential = { kind: k, username: p.username ?? '', realm: p.realm, params: p };
      for (const f of ['nonce', 'uri', 'response', 'algorithm', 'qop', 'nc', 'cnonce', 'opaque'] as const) {
        const v = p[f];
        if (v !== undefined) c[f] = v;
      }
      out.push(c);
    }
  }
  return out;
}

/** NkSIP's default realm for `authenticate` replies: the From domain. */
export function defaultRealm(req: SipRequest): string {
  try {
    const u = req.from.uri;
    if (isSipUri(u)) return toText(u.host);
  } catch {
    // fall through
  }
  return 'nksip';
}

/**
 * Whether a digest-uri names the Request-URI: the same text, or for SIP the same scheme,
 * user, host and port (parameters aside: RFC 2617 §3.2.2.5 wants the same resource, and
 * clients differ in how they copy parameters), for tel the same number.
 */
export function uriMatches(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  try {
    const a = parseUri(digestUri);
    const b = parseUri(requestUri);
    if (isSipUri(a) && isSipUri(b))
      return (
        a.scheme === b.scheme &&
        unescapeUri(a.user ?? '') === unescapeUri(b.user ?? '') &&
        a.host.toLowerCase() === b.host.toLowerCase() &&
        (a.port ?? 0) === (b.port ?? 0)
      );
    if (isTelUri(a) && isTelUri(b)) return a.number === b.number;
  } catch {
    // unparsable: only the exact text matched
  }
  return false;
}

const NC_RE = /^[0-9a-fA-F]{8}$/;

/**
 * Issues challenges and checks credentials for one service: one nonce secret, one clock.
 * Stateless apart from the secret (see nonce.ts).
 */
export class Authenticator {
  readonly nonces: NonceIssuer;
  private readonly algorithms: DigestHash[];
  private readonly qop: boolean;
  private readonly requireQop: boolean;
  private readonly checkUri: boolean;

  constructor(opts: AuthenticatorOptions = {}) {
    const nonceOpts: ConstructorParameters<typeof NonceIssuer>[0] = { clock: opts.clock ?? realClock };
    if (opts.nonceTimeout !== undefined) nonceOpts.timeout = opts.nonceTimeout;
    if (opts.secret !== undefined) nonceOpts.secret = opts.secret;
    if (opts.bindSource !== undefined) nonceOpts.bindSource = opts.bindSource;
    this.nonces = new NonceIssuer(nonceOpts);
    this.algorithms = opts.algorithms ?? ['MD5'];
    this.qop = opts.qop ?? true;
    this.requireQop = opts.requireQop ?? false;
    this.checkUri = opts.checkUri ?? true;
  }

  /**
   * The challenge header lines: `Digest realm, nonce, algorithm, qop="auth", opaque[, stale]`,
   * one per algorithm, strongest first. `realm` is text.
   */
  challengeHeaders(kind: AuthKind, realm: string, opts: ChallengeOptions): [string, string][] {
    const wireRealm = fromText(realm);
    const wanted = opts.algorithms ?? this.algorithms;
    const algs = HASH_PREFERENCE.filter((h) => wanted.includes(h));
    if (algs.length === 0) throw new Error('challenge: no digest algorithm');
    const qop = opts.qop ?? this.qop;
    const opaque = this.nonces.opaque(wireRealm);
    return algs.map((algorithm) => {
      const params: Record<string, string> = {
        realm: wireRealm,
        nonce: this.nonces.issue(wireRealm, opts.source),
        algorithm,
      };
      if (qop) params.qop = 'auth';
      params.opaque = opaque;
      if (opts.stale) params.stale = 'TRUE';
      return [HEADER_OF[kind].challenge, formatAuth({ scheme: 'Digest', params })];
    });
  }

  /** A 401 or 407 carrying the challenges. */
  challenge(kind: AuthKind, realm: string, opts: ChallengeOptions): Reply & { headers: [string, string][] } {
    return { status: kind, headers: this.challengeHeaders(kind, realm, opts) };
  }

  /**
   * Checks one credential against the answer of the password callback. The nonce must be
   * ours, for this realm, alive and issued to `source` (any source for an ACK, as NkSIP).
   */
  check(req: SipRequest, cred: DigestCredential, password: string | boolean, source: AuthSource): AuthResult {
    const base = { kind: cred.kind, realm: toText(cred.realm), user: toText(cred.username) };
    const fail = (reason: AuthFailure): AuthResult => ({ ...base, ok: false, reason });
    if (password === true) return { ...base, ok: true };
    if (password === false) return fail('no-password');
    const algorithm = parseAlgorithm(cred.algorithm);
    if (algorithm === undefined) return fail('algorithm');
    const { nonce, uri, response, qop } = cred;
    if (!nonce || uri === undefined || !response || !cred.username) return fail('malformed');
    if (qop === undefined ? this.requireQop : qop !== 'auth' && qop !== 'auth-int') return fail('qop');
    if (qop !== undefined && (cred.nc === undefined || !NC_RE.test(cred.nc) || !cred.cnonce))
      return fail('malformed');
    if (algorithm.sess && !cred.cnonce) return fail('malformed');
    if (this.checkUri && !uriMatches(uri, req.uri)) return fail('uri');
    const expected = digestResponse({
      algorithm,
      user: cred.username,
      realm: cred.realm,
      password,
      method: req.method,
      uri,
      nonce,
      qop,
      nc: cred.nc,
      cnonce: cred.cnonce,
      body: req.body,
    });
    if (expected === undefined || !sameDigest(expected, response)) return fail('password');
    const status: NonceStatus = this.nonces.verify(nonce, cred.realm, source, req.method === 'ACK');
    if (status === 'ok') return { ...base, ok: true };
    return { ...base, ok: false, stale: true, reason: status === 'unknown' ? 'nonce' : status };
  }

  /**
   * The digest part of `sip_authorize`'s AuthList: one result per credential of the request
   * (both header kinds unless `kind` says), asking `getUserPass` for each in order.
   */
  async authorize(
    req: SipRequest,
    getUserPass: GetUserPass,
    source: AuthSource,
    kind?: AuthKind,
  ): Promise<AuthResult[]> {
    const out: AuthResult[] = [];
    for (const cred of credentials(req, kind)) {
      const pass = await getUserPass(toText(cred.username), toText(cred.realm), req);
      out.push(this.check(req, cred, pass, source));
    }
    return out;
  }
}
