// Client side of digest authentication (NkSIP's `nksip_uac_auto_auth` plugin, as pure logic):
// the Authorization / Proxy-Authorization lines that answer a 401/407, and the bookkeeping
// that decides when to stop retrying.
//
// The caller (core/uac.ts) sends the retry: same Call-ID and tags, CSeq + 1, the request's
// auth lines replaced by `AuthRetry.headers`, a new branch. An ACK to a 2xx copies the
// INVITE's auth lines (`authLines`), RFC 3261 §22.1.
import { randomBytes } from 'node:crypto';
import { unescapeUri } from '../sip/grammar.js';
import { formatAuth, parseAuth } from '../sip/headers.js';
import { fromText, type SipRequest, type SipResponse, toText } from '../sip/message.js';
import { isSipUri } from '../sip/uri.js';
import {
  type DigestAlgorithm,
  digestResponse,
  formatAlgorithm,
  HASH_PREFERENCE,
  parseAlgorithm,
  passwordFits,
} from './digest.js';
import type { AuthKind } from './server.js';

/**
 * A password (NkSIP `sip_pass`): for one realm, or for any when `realm` is absent; plain or
 * `HA1!<hex>`. The user defaults to the From URI's. Text, not binary.
 */
export interface Pass {
  realm?: string;
  user?: string;
  password: string;
}

/** A Digest challenge of a 401/407 we know how to answer. `realm`, `nonce` are binary. */
export interface DigestChallenge {
  kind: AuthKind;
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  /** The qop options offered; undefined when the challenge has no qop (RFC 2069). */
  qop?: string[];
  opaque?: string;
  stale: boolean;
}

export interface AuthAnswer {
  kind: AuthKind;
  /** Text. */
  realm: string;
  nonce: string;
  algorithm: string;
  /** The header line added for it. */
  header: [string, string];
}

export interface AuthRetry {
  /**
   * Every Authorization / Proxy-Authorization line the retry carries, in order: those of the
   * request for realms not challenged now, then the new answers. Replace the request's with these.
   */
  headers: [string, string][];
  answered: AuthAnswer[];
}

export interface AnswerOptions {
  /** cnonce generator (tests); 16 random hex digits by default. */
  cnonce?: () => string;
}

const CHALLENGE_HEADERS: [string, AuthKind][] = [
  ['www-authenticate', 401],
  ['proxy-authenticate', 407],
];
const CREDENTIAL_HEADERS: [string, string, AuthKind][] = [
  ['authorization', 'Authorization', 401],
  ['proxy-authorization', 'Proxy-Authorization', 407],
];

/**
 * The Digest challenges of a response: WWW-Authenticate and Proxy-Authenticate both (a
 * proxy's best response merges those of every branch). Other schemes, unknown algorithms
 * and challenges without realm or nonce are skipped.
 */
export function challenges(resp: SipResponse): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  for (const [name, kind] of CHALLENGE_HEADERS) {
    for (const line of resp.headerLines(name)) {
      let a: ReturnType<typeof parseAuth>;
      try {
        a = parseAuth(line);
      } catch {
        continue;
      }
      if (a.scheme.toLowerCase() !== 'digest') continue;
      const { realm, nonce } = a.params;
      const algorithm = parseAlgorithm(a.params.algorithm);
      if (realm === undefined || nonce === undefined || algorithm === undefined) continue;
      const c: DigestChallenge = {
        kind,
        realm,
        nonce,
        algorithm,
        stale: (a.params.stale ?? '').toLowerCase() === 'true',
      };
      if (a.params.qop !== undefined)
        c.qop = a.params.qop
          .split(',')
          .map((q) => q.trim().toLowerCase())
          .filter((q) => q !== '');
      if (a.params.opaque !== undefined) c.opaque = a.params.opaque;
      out.push(c);
    }
  }
  return out;
}

/** The pass for a realm (text): one naming it first, then one for any realm; it must fit the hash. */
export function findPass(passes: readonly Pass[], realm: string, hash: DigestChallenge['algorithm']['hash']) {
  const fits = (p: Pass) => passwordFits(p.password, hash);
  return (
    passes.find((p) => p.realm === realm && fits(p)) ?? passes.find((p) => p.realm === undefined && fits(p))
  );
}

/** The request's Authorization and Proxy-Authorization lines, for an ACK to copy. */
export function authLines(req: SipRequest): [string, string][] {
  const out: [string, string][] = [];
  for (const h of req.headers) {
    if (h.name === 'authorization') out.push(['Authorization', h.value]);
    else if (h.name === 'proxy-authorization') out.push(['Proxy-Authorization', h.value]);
  }
  return out;
}

function fromUser(req: SipRequest): string {
  try {
    const u = req.from.uri;
    if (isSipUri(u) && u.user !== undefined) return unescapeUri(u.user);
  } catch {
    // no usable From
  }
  return '';
}

const key = (kind: AuthKind, realm: string) => `${kind} ${realm}`;

/**
 * The credentials answering `resp` (a 401 or 407 to `req`): one line per challenged realm
 * we have a password for, with the strongest algorithm offered that the password fits
 * (SHA-512-256, SHA-256, MD5), qop=auth (auth-int if that alone is offered, none if the
 * challenge has no qop), nc=00000001 and a fresh cnonce. Undefined when nothing could be
 * answered.
 */
export function answerChallenge(
  req: SipRequest,
  resp: SipResponse,
  passes: readonly Pass[],
  opts: AnswerOptions = {},
): AuthRetry | undefined {
  // group by header kind and realm, keeping the order of first appearance
  const groups = new Map<string, DigestChallenge[]>();
  for (const c of challenges(resp)) {
    const k = key(c.kind, c.realm);
    const g = groups.get(k);
    if (g) g.push(c);
    else groups.set(k, [c]);
  }
  const answered: AuthAnswer[] = [];
  for (const group of groups.values()) {
    const ranked = [...group].sort(
      (a, b) => HASH_PREFERENCE.indexOf(a.algorithm.hash) - HASH_PREFERENCE.indexOf(b.algorithm.hash),
    );
    for (const c of ranked) {
      const a = answerOne(req, c, passes, opts);
      if (a) {
        answered.push(a);
        break;
      }
    }
  }
  if (answered.length === 0) return undefined;
  const replaced = new Set(answered.map((a) => key(a.kind, fromText(a.realm))));
  const headers: [string, string][] = [];
  for (const [name, display, kind] of CREDENTIAL_HEADERS) {
    for (const line of req.headerLines(name)) {
      let realm: string | undefined;
      try {
        const a = parseAuth(line);
        if (a.scheme.toLowerCase() === 'digest') realm = a.params.realm;
      } catch {
        // kept as is
      }
      if (realm === undefined || !replaced.has(key(kind, realm))) headers.push([display, line]);
    }
  }
  for (const a of answered) headers.push(a.header);
  return { headers, answered };
}

function answerOne(
  req: SipRequest,
  c: DigestChallenge,
  passes: readonly Pass[],
  opts: AnswerOptions,
): AuthAnswer | undefined {
  const realm = toText(c.realm);
  const pass = findPass(passes, realm, c.algorithm.hash);
  if (!pass) return undefined;
  let qop: string | undefined;
  if (c.qop !== undefined) {
    if (c.qop.includes('auth')) qop = 'auth';
    else if (c.qop.includes('auth-int')) qop = 'auth-int';
    else return undefined;
  }
  const user = pass.user !== undefined ? fromText(pass.user) : fromUser(req);
  const cnonce = opts.cnonce ? opts.cnonce() : randomBytes(8).toString('hex');
  const nc = '00000001';
  const response = digestResponse({
    algorithm: c.algorithm,
    user,
    realm: c.realm,
    password: pass.password,
    method: req.method,
    uri: req.uri,
    nonce: c.nonce,
    qop,
    nc,
    cnonce,
    body: req.body,
  });
  if (response === undefined) return undefined;
  const algorithm = formatAlgorithm(c.algorithm);
  const params: Record<string, string> = {
    username: user,
    realm: c.realm,
    nonce: c.nonce,
    uri: req.uri,
    response,
    algorithm,
  };
  if (c.opaque !== undefined) params.opaque = c.opaque;
  if (qop !== undefined) {
    params.qop = qop;
    params.nc = nc;
    params.cnonce = cnonce;
  } else if (c.algorithm.sess) {
    params.cnonce = cnonce;
  }
  const name = c.kind === 401 ? 'Authorization' : 'Proxy-Authorization';
  return {
    kind: c.kind,
    realm,
    nonce: c.nonce,
    algorithm,
    header: [name, formatAuth({ scheme: 'Digest', params }, false)],
  };
}

export interface UacAuthOptions extends AnswerOptions {
  /** Retries allowed (NkSIP `sip_uac_auto_auth_max_tries`, default 5; per request too). */
  maxTries?: number;
}

/**
 * The automatic answers of one UAC request: call `retry` with each 401/407 it gets. It gives
 * the credentials for the next attempt, or undefined when the caller should stop and report
 * the response: no fitting password, `maxTries` spent, or a realm already answered
 * challenged again without stale=true, or with the very nonce we answered (the server refused
 * our password; RFC 7616 §3.3; an NkSIP server answers 403 instead, which ends things too).
 */
export class UacAuth {
  private count = 0;
  private readonly answered = new Map<string, string>();
  private readonly maxTries: number;
  private readonly opts: AnswerOptions;

  constructor(opts: UacAuthOptions = {}) {
    this.maxTries = opts.maxTries ?? 5;
    this.opts = opts.cnonce ? { cnonce: opts.cnonce } : {};
  }

  /** Retries handed out so far. */
  get tries(): number {
    return this.count;
  }

  retry(req: SipRequest, resp: SipResponse, passes: readonly Pass[]): AuthRetry | undefined {
    if (resp.status !== 401 && resp.status !== 407) return undefined;
    if (this.count >= this.maxTries) return undefined;
    for (const c of challenges(resp)) {
      const before = this.answered.get(key(c.kind, c.realm));
      if (before !== undefined && (!c.stale || c.nonce === before)) return undefined;
    }
    const r = answerChallenge(req, resp, passes, this.opts);
    if (r === undefined) return undefined;
    this.count++;
    for (const a of r.answered) this.answered.set(key(a.kind, fromText(a.realm)), a.nonce);
    return r;
  }
}
