// Digest arithmetic shared by both sides (RFC 2617 §3.2.2, RFC 7616 §3.4, RFC 8760 for SIP):
// algorithms, HA1 (with NkSIP's "HA1!<hex>" password form), HA2 and the request-digest.
//
// Strings: values read from or written to headers are "binary" (latin1, one char per octet;
// see sip/message.ts) and are hashed octet for octet. Passwords, and the user and realm given
// to `makeHa1`, are application text (Unicode) and are hashed as UTF-8 (RFC 7616 §4).
import { createHash, timingSafeEqual } from 'node:crypto';
import { fromText } from '../sip/message.js';

/** Hash functions of RFC 7616 §3.2 (RFC 8760 for SIP). */
export type DigestHash = 'MD5' | 'SHA-256' | 'SHA-512-256';

/** An `algorithm` value we can compute: a hash, and the `-sess` variant or not. */
export interface DigestAlgorithm {
  hash: DigestHash;
  sess: boolean;
}

/** Strongest first: the order RFC 8760 §2.4 wants challenges in and clients pick by. */
export const HASH_PREFERENCE: readonly DigestHash[] = ['SHA-512-256', 'SHA-256', 'MD5'];

const NODE_HASH: Record<DigestHash, string> = {
  MD5: 'md5',
  'SHA-256': 'sha256',
  'SHA-512-256': 'sha512-256',
};
const HEX_LEN: Record<DigestHash, number> = { MD5: 32, 'SHA-256': 64, 'SHA-512-256': 64 };

/** Prefix of a password given as HA1 (NkSIP `nksip_auth:make_ha1/3`). */
export const HA1_PREFIX = 'HA1!';

/**
 * The `algorithm` parameter, case-insensitively (RFC 7616 §3.3); absent means MD5.
 * Undefined for algorithms we cannot compute (AKAv1-MD5, ...).
 */
export function parseAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined || value === '') return { hash: 'MD5', sess: false };
  const v = value.toUpperCase();
  const sess = v.endsWith('-SESS');
  const base = sess ? v.slice(0, -5) : v;
  for (const h of HASH_PREFERENCE) if (h === base) return { hash: h, sess };
  return undefined;
}

export function formatAlgorithm(a: DigestAlgorithm): string {
  return a.sess ? `${a.hash}-sess` : a.hash;
}

/** Hex digest of binary text (or raw octets). */
export function hashHex(hash: DigestHash, data: string | Buffer): string {
  const h = createHash(NODE_HASH[hash]);
  if (typeof data === 'string') h.update(data, 'latin1');
  else h.update(data);
  return h.digest('hex');
}

/**
 * NkSIP's stored-password form: `HA1!` + hex H(user:realm:password), usable wherever a
 * password is (sip_get_user_pass answers, client passes). User, realm and password are text.
 * NkSIP's own `make_ha1(User, Pass, Realm)` takes them in another order and knows only MD5.
 */
export function makeHa1(user: string, realm: string, password: string, hash: DigestHash = 'MD5'): string {
  return HA1_PREFIX + hashHex(hash, `${fromText(user)}:${fromText(realm)}:${fromText(password)}`);
}

export function isHa1(password: string): boolean {
  return password.startsWith(HA1_PREFIX);
}

/**
 * Which hash an HA1 password was made with, from its length; undefined for a plain password
 * (fits any) or a malformed HA1 (fits none: see `ha1For`).
 */
export function ha1Hash(password: string): DigestHash | 'invalid' | undefined {
  if (!isHa1(password)) return undefined;
  const hex = password.slice(HA1_PREFIX.length);
  if (!/^[0-9a-fA-F]+$/.test(hex)) return 'invalid';
  if (hex.length === 32) return 'MD5';
  if (hex.length === 64) return 'SHA-256'; // or SHA-512-256: same length, cannot tell
  return 'invalid';
}

/** Whether a password (plain or HA1) can answer with this hash. */
export function passwordFits(password: string, hash: DigestHash): boolean {
  const h = ha1Hash(password);
  return h === undefined || (h !== 'invalid' && HEX_LEN[h] === HEX_LEN[hash]);
}

/**
 * H(user:realm:password) for a plain password, the hex of an HA1 one; undefined when an HA1
 * password does not fit the hash. `user` and `realm` are binary (as on the wire).
 */
export function ha1For(hash: DigestHash, user: string, realm: string, password: string): string | undefined {
  if (isHa1(password))
    return passwordFits(password, hash) ? password.slice(HA1_PREFIX.length).toLowerCase() : undefined;
  return hashHex(hash, `${user}:${realm}:${fromText(password)}`);
}

export interface DigestInput {
  algorithm: DigestAlgorithm;
  /** Binary, as on the wire. */
  user: string;
  realm: string;
  /** Plain text or `HA1!<hex>`. */
  password: string;
  method: string;
  /** The digest-uri exactly as in the credentials. */
  uri: string;
  nonce: string;
  /** 'auth', 'auth-int' or undefined for the RFC 2069 form. */
  qop?: string | undefined;
  nc?: string | undefined;
  cnonce?: string | undefined;
  /** Message body, for qop=auth-int. */
  body?: Buffer | undefined;
}

/** The request-digest (the `response` parameter), or undefined when it cannot be computed. */
export function digestResponse(d: DigestInput): string | undefined {
  const { hash, sess } = d.algorithm;
  let ha1 = ha1For(hash, d.user, d.realm, d.password);
  if (ha1 === undefined) return undefined;
  if (sess) {
    if (d.cnonce === undefined) return undefined;
    ha1 = hashHex(hash, `${ha1}:${d.nonce}:${d.cnonce}`);
  }
  let a2 = `${d.method}:${d.uri}`;
  if (d.qop === 'auth-int') a2 += `:${hashHex(hash, d.body ?? Buffer.alloc(0))}`;
  const ha2 = hashHex(hash, a2);
  if (d.qop === undefined) return hashHex(hash, `${ha1}:${d.nonce}:${ha2}`);
  if (d.qop !== 'auth' && d.qop !== 'auth-int') return undefined;
  if (d.nc === undefined || d.cnonce === undefined) return undefined;
  return hashHex(hash, `${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${d.qop}:${ha2}`);
}

/** Constant-time comparison of two hex digests (case-insensitive). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'latin1');
  const y = Buffer.from(b.toLowerCase(), 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}
