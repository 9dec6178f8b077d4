// IP address helpers: SIP text writes IPv6 in brackets (RFC 3261 §25, RFC 5118), sockets want
// them bare, and the same address has several spellings that must compare equal.
import { isIP } from 'node:net';
import type { TransportName } from './types.js';

/** `[::1]` → `::1`; anything else unchanged. */
export function stripBrackets(host: string): string {
  return host.length > 1 && host[0] === '[' && host[host.length - 1] === ']' ? host.slice(1, -1) : host;
}

// Every message asks these of the same few peer and local addresses, and node's isIP runs
// two regular expressions each time: the answers are kept (a bounded table, cleared when full).
const FAMILY_CACHE_MAX = 1024;
const families = new Map<string, 0 | 4 | 6>();

function familyOf(bare: string): 0 | 4 | 6 {
  let f = families.get(bare);
  if (f === undefined) {
    f = isIP(bare) as 0 | 4 | 6;
    if (families.size >= FAMILY_CACHE_MAX) families.clear();
    families.set(bare, f);
  }
  return f;
}

/** 4 or 6 for an IP (brackets allowed), 0 for a hostname. */
export function ipFamily(host: string): 0 | 4 | 6 {
  return familyOf(stripBrackets(host));
}

/**
 * One spelling per address: brackets removed, IPv6 lowercased and compressed, IPv4-mapped
 * IPv6 (`::ffff:10.0.0.1`, what a dual-stack socket reports) turned back into IPv4.
 * Hostnames are lowercased.
 */
export function normalizeIp(host: string): string {
  const bare = stripBrackets(host);
  const family = familyOf(bare);
  if (family !== 6) return family === 4 ? bare : bare.toLowerCase();
  // the URL parser implements RFC 5952's canonical text form
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
  if (mapped) return mapped[1] as string;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (hex) {
    const hi = Number.parseInt(hex[1] as string, 16);
    const lo = Number.parseInt(hex[2] as string, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return canonical;
}

export function sameIp(a: string, b: string): boolean {
  return normalizeIp(a) === normalizeIp(b);
}

/** How a host goes into Via sent-by, URIs and Host-like places: IPv6 in brackets. */
export function hostText(host: string): string {
  return ipFamily(host) === 6 ? `[${stripBrackets(host)}]` : host;
}

export function isWildcard(address: string): boolean {
  const a = stripBrackets(address);
  return a === '0.0.0.0' || (familyOf(a) === 6 && normalizeIp(a) === '::');
}

export function isLoopback(address: string): boolean {
  const a = normalizeIp(address);
  return a === '::1' || (familyOf(a) === 4 && a.startsWith('127.'));
}

export function loopbackFor(family: 4 | 6): string {
  return family === 6 ? '::1' : '127.0.0.1';
}

export function defaultPort(transport: TransportName): number {
  return transport === 'tls' || transport === 'wss' ? 5061 : 5060;
}

/** Key for "a connection to this peer" (connection reuse). */
export function peerKey(transport: TransportName, address: string, port: number): string {
  return `${transport}|${normalizeIp(address)}|${port}`;
}
