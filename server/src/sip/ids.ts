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

export function newCallId(): string {
  return randomToken(22);
}

/** 16 characters of the alphabet above (95 bits): local identifiers such as dialog handles. */
export function newId(): string {
  return randomToken(16);
}
