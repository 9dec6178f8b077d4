// Flow tokens (RFC 5626 §5.2, RFC 7118 §5): a SIP WebSocket client (a browser) cannot be
// reached at its Contact (`…@df7jal23ls0d.invalid;transport=ws`), only over the connection it
// opened. Our Record-Route and the registrar's Route to a binding name that connection in
// their user part, `nkf-<base64url of transport|address|port>`; a request routed through such
// a URI goes back over that flow. Pure encoding, no sockets.
// The token carries an HMAC under a key of this process (RFC 5626 §5.2): anyone could write a
// Route naming a browser's address and port, and without the MAC we would inject their
// request into that browser's connection. Connections do not outlive the process, nor need
// their tokens.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { normalizeIp } from './address.js';
import type { Endpoint, TransportName } from './types.js';

const PREFIX = 'nkf-';
const KEY = randomBytes(32);
const MAC_BYTES = 12;

const mac = (raw: string): Buffer => createHmac('sha256', KEY).update(raw).digest().subarray(0, MAC_BYTES);
/** Transports a flow token may name: the streams, and UDP for RFC 5626 outbound bindings. */
export const FLOW_TRANSPORTS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** A request for a flow whose connection is gone (the proxy answers 430, RFC 5626 §5.3). */
export class FlowFailedError extends Error {
  override name = 'FlowFailedError';
}

/** Whether peers on this transport get flow tokens: the WebSocket ones (RFC 7118 §5). */
export function needsFlowToken(transport: TransportName): boolean {
  return transport === 'ws' || transport === 'wss';
}

export function flowToken(flow: { transport: TransportName; address: string; port: number }): string {
  const raw = `${flow.transport}|${normalizeIp(flow.address)}|${flow.port}`;
  return `${PREFIX}${Buffer.from(raw).toString('base64url')}.${mac(raw).toString('base64url')}`;
}

/** The flow a URI user part names, or undefined when it is not a (valid) flow token. */
export function parseFlowToken(user: string | undefined): Endpoint | undefined {
  if (user === undefined || !user.startsWith(PREFIX)) return undefined;
  const [body = '', sig = ''] = user.slice(PREFIX.length).split('.');
  const raw = Buffer.from(body, 'base64url').toString();
  const given = Buffer.from(sig, 'base64url');
  // base64 decoding forgives stray characters: only the exact encoding of a MAC is one
  if (given.length !== MAC_BYTES || given.toString('base64url') !== sig || !timingSafeEqual(given, mac(raw)))
    return undefined;
  const [transport, address, port] = raw.split('|');
  const p = Number(port);
  if (!transport || !FLOW_TRANSPORTS.has(transport) || !address || !Number.isInteger(p) || p < 1 || p > 65535)
    return undefined;
  return { transport: transport as TransportName, address, port: p };
}

/** `<sip:host:port;…>` → `<sip:TOKEN@host:port;…>` (an `lr` URI of ours without a user). */
export function withFlowUser(uri: string, token: string): string {
  return uri.replace(/^<(sips?):/, `<$1:${token}@`);
}
