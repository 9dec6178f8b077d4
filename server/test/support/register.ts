// REGISTER requests as wire text for the registrar's tests, and reading their replies.
import type { Reply } from '../../src/core/reply.js';
import type { SipRequest } from '../../src/sip/message.js';
import { parse } from './transaction.js';

export interface RegisterSpec {
  /** To and From (default `<aor>`). */
  to?: string;
  contacts?: string[];
  callId?: string;
  cseq?: number;
  expires?: string | number;
  headers?: string[];
  /** How many Vias (one per hop, the UA's last); default 1. */
  vias?: number;
  /** Via transport; default UDP. */
  transport?: string;
}

let branch = 0;

/** A REGISTER for `aor` from 192.0.2.10 (further hops 192.0.2.11, ...), a fresh branch each. */
export function register(aor: string, spec: RegisterSpec = {}): SipRequest {
  const vias = [];
  for (let i = (spec.vias ?? 1) - 1; i >= 0; i--)
    vias.push(`Via: SIP/2.0/${spec.transport ?? 'UDP'} 192.0.2.${10 + i}:5060;branch=z9hG4bK-r${++branch}`);
  const lines = [
    'REGISTER sip:example.com SIP/2.0',
    ...vias,
    'Max-Forwards: 70',
    `To: ${spec.to ?? `<${aor}>`}`,
    `From: ${spec.to ?? `<${aor}>`};tag=f${branch}`,
    `Call-ID: ${spec.callId ?? 'call-1@192.0.2.10'}`,
    `CSeq: ${spec.cseq ?? 1} REGISTER`,
    ...(spec.contacts ?? []).map((c) => `Contact: ${c}`),
    ...(spec.expires !== undefined ? [`Expires: ${spec.expires}`] : []),
    ...(spec.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parse(lines.join('\r\n')) as SipRequest;
}

/** The values of a header of a reply, in order. */
export function replyHeaders(r: Reply, name: string): string[] {
  return (r.headers ?? []).filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}
