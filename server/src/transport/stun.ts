// STUN (RFC 5389) messages, as far as SIP needs them: Binding requests answered on the SIP UDP
// port (RFC 5626 keep-alives, NAT discovery) and Binding requests of our own (the `stun`
// command, UDP keep-alives). Pure functions over buffers; the manager does the I/O.
import { randomBytes } from 'node:crypto';
import { ipFamily, normalizeIp, stripBrackets } from './address.js';

export const MAGIC_COOKIE = 0x2112a442;
const HEADER = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const BINDING_ERROR = 0x0111;

const ATTR_MAPPED_ADDRESS = 0x0001;
const ATTR_ERROR_CODE = 0x0009;
const ATTR_UNKNOWN_ATTRIBUTES = 0x000a;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;
/** XOR of the CRC-32 in FINGERPRINT (§15.5): "STUN" */
const FINGERPRINT_XOR = 0x5354554e;

export type StunClass = 'request' | 'success' | 'error' | 'indication';

export interface StunMessage {
  cls: StunClass;
  /** The method (1: Binding). */
  method: number;
  /** 12 bytes (16 with the cookie for RFC 3489 messages, which have none). */
  transactionId: Buffer;
  /** False for an RFC 3489 message (no magic cookie). */
  rfc5389: boolean;
  attributes: { type: number; value: Buffer }[];
}

export interface MappedAddress {
  address: string;
  port: number;
}

/**
 * Whether a datagram is STUN rather than SIP (RFC 5626 §3.5.1, RFC 7983): the first two bits
 * are zero (a SIP message starts with a letter), the length fits and is a multiple of 4.
 */
export function isStun(data: Buffer): boolean {
  if (data.length < HEADER || (data[0] as number) > 1) return false;
  const len = data.readUInt16BE(2);
  return len % 4 === 0 && len + HEADER === data.length;
}

/** Decodes a datagram `isStun` accepted; undefined when its attributes are malformed. */
export function decodeStun(data: Buffer): StunMessage | undefined {
  if (!isStun(data)) return undefined;
  const type = data.readUInt16BE(0);
  // §6: class bits C1 (bit 8) and C0 (bit 4), the method in the remaining 12 bits
  const c = ((type >> 7) & 2) | ((type >> 4) & 1);
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const cls: StunClass = (['request', 'indication', 'success', 'error'] as const)[c] as StunClass;
  const rfc5389 = data.readUInt32BE(4) === MAGIC_COOKIE;
  const transactionId = Buffer.from(data.subarray(rfc5389 ? 8 : 4, HEADER));
  const attributes: StunMessage['attributes'] = [];
  let at = HEADER;
  while (at < data.length) {
    if (at + 4 > data.length) return undefined;
    const t = data.readUInt16BE(at);
    const len = data.readUInt16BE(at + 2);
    const end = at + 4 + len;
    if (end > data.length) return undefined;
    attributes.push({ type: t, value: Buffer.from(data.subarray(at + 4, end)) });
    at = end + ((4 - (len % 4)) % 4);
  }
  if (at !== data.length) return undefined;
  const fp = attributes.findIndex((a) => a.type === ATTR_FINGERPRINT);
  if (fp >= 0) {
    // §15.5: last attribute, CRC-32 of everything before it
    const attr = attributes[fp] as { value: Buffer };
    if (fp !== attributes.length - 1 || attr.value.length !== 4) return undefined;
    const covered = Buffer.from(data.subarray(0, data.length - 8));
    if ((crc32(covered) ^ FINGERPRINT_XOR) >>> 0 !== attr.value.readUInt32BE(0)) return undefined;
  }
  return { cls, method, transactionId, rfc5389, attributes };
}

function encode(
  type: number,
  transactionId: Buffer,
  attrs: { type: number; value: Buffer }[],
  fingerprint: boolean,
): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(a.type, 0);
    head.writeUInt16BE(a.value.length, 2);
    parts.push(head, a.value, Buffer.alloc((4 - (a.value.length % 4)) % 4));
  }
  const body = Buffer.concat(parts);
  const cookie = transactionId.length === 12;
  const header = Buffer.alloc(cookie ? 8 : 4);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(body.length + (fingerprint ? 8 : 0), 2);
  if (cookie) header.writeUInt32BE(MAGIC_COOKIE, 4);
  const msg = Buffer.concat([header, transactionId, body]);
  if (!fingerprint) return msg;
  const fp = Buffer.alloc(8);
  fp.writeUInt16BE(ATTR_FINGERPRINT, 0);
  fp.writeUInt16BE(4, 2);
  fp.writeUInt32BE((crc32(msg) ^ FINGERPRINT_XOR) >>> 0, 4);
  return Buffer.concat([msg, fp]);
}

export function newTransactionId(): Buffer {
  return randomBytes(12);
}

/** A Binding request (with FINGERPRINT, as RFC 5626 §4.4.2 keep-alives carry). */
export function bindingRequest(transactionId: Buffer): Buffer {
  return encode(BINDING_REQUEST, transactionId, [], true);
}

const SOFTWARE = Buffer.from('nksip-server');

/**
 * The answer to a decoded request, or undefined when it gets none (not a request, or not
 * Binding: §7.3.1 answers unknown methods with 400, but a SIP port has no other STUN use).
 * `from` is where it came from: XOR-MAPPED-ADDRESS (MAPPED-ADDRESS for an RFC 3489 client).
 */
export function answerRequest(req: StunMessage, from: MappedAddress): Buffer | undefined {
  if (req.cls !== 'request' || req.method !== 1) return undefined;
  // §7.3.1: comprehension-required attributes we do not know get 420 with their list
  const unknown = req.attributes
    .map((a) => a.type)
    .filter((t) => t < 0x8000 && t !== ATTR_MAPPED_ADDRESS && t !== ATTR_XOR_MAPPED_ADDRESS);
  if (unknown.length > 0) {
    const list = Buffer.alloc(unknown.length * 2);
    for (const [i, t] of unknown.entries()) list.writeUInt16BE(t, i * 2);
    const reason = Buffer.from('Unknown Attribute');
    const code = Buffer.concat([Buffer.from([0, 0, 4, 20]), reason]);
    return encode(
      BINDING_ERROR,
      req.transactionId,
      [
        { type: ATTR_ERROR_CODE, value: code },
        { type: ATTR_UNKNOWN_ATTRIBUTES, value: list },
      ],
      req.rfc5389,
    );
  }
  const attrs = req.rfc5389
    ? [{ type: ATTR_XOR_MAPPED_ADDRESS, value: addressValue(from, req.transactionId, true) }]
    : [{ type: ATTR_MAPPED_ADDRESS, value: addressValue(from, req.transactionId, false) }];
  attrs.push({ type: ATTR_SOFTWARE, value: SOFTWARE });
  // FINGERPRINT only for those who speak RFC 5389 (an RFC 3489 client would not expect it)
  return encode(BINDING_SUCCESS, req.transactionId, attrs, req.rfc5389);
}

/** The mapped address of a Binding success response (XOR-MAPPED-ADDRESS first). */
export function mappedAddressOf(resp: StunMessage): MappedAddress | undefined {
  const xor = resp.attributes.find((a) => a.type === ATTR_XOR_MAPPED_ADDRESS);
  if (xor) return readAddress(xor.value, resp.transactionId, true);
  const plain = resp.attributes.find((a) => a.type === ATTR_MAPPED_ADDRESS);
  return plain ? readAddress(plain.value, resp.transactionId, false) : undefined;
}

/** The ERROR-CODE of an error response, as `420 Unknown Attribute`. */
export function errorOf(resp: StunMessage): string {
  const e = resp.attributes.find((a) => a.type === ATTR_ERROR_CODE);
  if (!e || e.value.length < 4) return 'error response';
  const code = ((e.value[2] as number) & 7) * 100 + (e.value[3] as number);
  return `${code} ${e.value.subarray(4).toString('utf8')}`.trim();
}

function xorMask(transactionId: Buffer): Buffer {
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(mask, 4);
  return mask;
}

function addressValue(a: MappedAddress, transactionId: Buffer, xor: boolean): Buffer {
  const bare = normalizeIp(stripBrackets(a.address));
  const six = ipFamily(bare) === 6;
  const ip = six ? ipv6Bytes(bare) : Buffer.from(bare.split('.').map(Number));
  const out = Buffer.alloc(4 + ip.length);
  out[1] = six ? 2 : 1;
  out.writeUInt16BE(xor ? a.port ^ (MAGIC_COOKIE >>> 16) : a.port, 2);
  const mask = xorMask(transactionId);
  for (let i = 0; i < ip.length; i++)
    out[4 + i] = xor ? (ip[i] as number) ^ (mask[i] as number) : (ip[i] as number);
  return out;
}

function readAddress(v: Buffer, transactionId: Buffer, xor: boolean): MappedAddress | undefined {
  if (v.length < 8) return undefined;
  const family = v[1];
  const len = family === 1 ? 4 : family === 2 ? 16 : 0;
  if (len === 0 || v.length !== 4 + len) return undefined;
  const port = xor ? v.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16) : v.readUInt16BE(2);
  const mask = xorMask(transactionId);
  const ip = Buffer.alloc(len);
  for (let i = 0; i < len; i++)
    ip[i] = xor ? (v[4 + i] as number) ^ (mask[i] as number) : (v[4 + i] as number);
  const address = len === 4 ? [...ip].join('.') : normalizeIp(ipv6Text(ip));
  return { address, port };
}

function ipv6Bytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

function ipv6Text(ip: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip.readUInt16BE(i).toString(16));
  return groups.join(':');
}

let crcTable: Uint32Array | undefined;

function crc32(data: Buffer): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = (crcTable[(crc ^ b) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
