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

/** MurmurHash3's finaliser: every input bit moves about half the output bits. */
function spread(h: number): number {
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
 * request, as RFC 3261 §8.2.7 wants of a stateless UAS; 64 bits of hash tell other requests'
 * tags apart.
 * `parts` are what the copies share (their Via, Call-ID, From and CSeq). Two multiply-xor
 * lanes (FNV-1a's prime and another odd one) in one pass over them.
 */
export function statelessTag(parts: readonly string[]): string {
  let a = SEEDS[0];
  let b = SEEDS[1];
  for (const s of parts) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    // a separator: ("ab", "c") and ("a", "bc") differ
    a = Math.imul(a ^ 0x100, 0x01000193);
    b = Math.imul(b ^ 0x100, 0x5bd1e995);
  }
  return token32(spread(a)) + token32(spread(b));
}

export function newCallId(): string {
  return randomToken(22);
}

/** 16 characters of the alphabet above (95 bits): local identifiers such as dialog handles. */
export function newId(): string {
  return randomToken(16);
}
