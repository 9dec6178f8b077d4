// Tags, branches and Call-IDs: random enough to be globally unique (RFC 3261 §19.3),
// cheap enough for the hot path (one random buffer refilled in blocks).
import { randomBytes } from 'node:crypto';

const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomToken(len: number): string {
  if (offset + len > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  let out = '';
  for (let i = 0; i < len; i++) out += ALPHABET[(pool[offset++] as number) % 62];
  return out;
}

export const MAGIC_COOKIE = 'z9hG4bK';

export function newBranch(): string {
  return MAGIC_COOKIE + randomToken(16);
}

export function newTag(): string {
  return randomToken(12);
}

// Per process: the tags of stateless answers are not guessable from the requests alone.
const SEEDS = [randomBytes(4).readUInt32LE(0), randomBytes(4).readUInt32LE(0)] as const;

/** FNV-1a over the char codes, from `basis`, then MurmurHash3's finaliser to spread the bits. */
function hash32(s: string, basis: number): number {
  let h = basis;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Six characters of the alphabet for a 32-bit number (62^6 > 2^32). */
function token32(n: number): string {
  let out = '';
  for (let i = 0; i < 6; i++) {
    out += ALPHABET[n % 62];
    n = Math.floor(n / 62);
  }
  return out;
}

/**
 * The To tag of a response sent without a transaction: the same for every copy of one
 * request, as RFC 3261 §8.2.7 wants of a stateless UAS, and 64 bits apart for any other.
 * `identity` is what the copies share (their Via, Call-ID, From and CSeq).
 */
export function statelessTag(identity: string): string {
  return token32(hash32(identity, SEEDS[0])) + token32(hash32(identity, SEEDS[1]));
}

export function newCallId(): string {
  return randomToken(22);
}

/** 16 characters of the alphabet above (95 bits): local identifiers such as dialog handles. */
export function newId(): string {
  return randomToken(16);
}
