// Whether a parsed message may enter the stack, and if not, the RFC's answer: the checks of
// RFC 3261 §8.2 that need no state (version, mandatory and single-valued headers, their
// syntax), so that every malformed request gets a 400 naming what is wrong (RFC 4475 §3.1.2).
import { SipSyntaxError } from './grammar.js';
import { parseNameAddr } from './headers.js';
import type { SipRequest, SipResponse } from './message.js';
import type { Parsed } from './parser.js';
import { isSipUri } from './uri.js';

export interface Rejection {
  status: number;
  reason: string;
}

const MANDATORY: [string, string][] = [
  ['via', 'Via'],
  ['from', 'From'],
  ['to', 'To'],
  ['call-id', 'Call-ID'],
  ['cseq', 'CSeq'],
];

const SINGLE: [string, string][] = [
  ['from', 'From'],
  ['to', 'To'],
  ['call-id', 'Call-ID'],
  ['cseq', 'CSeq'],
  ['max-forwards', 'Max-Forwards'],
  ['content-type', 'Content-Type'],
];

const ADDR_LISTS: [string, string][] = [
  ['contact', 'Contact'],
  ['route', 'Route'],
  ['record-route', 'Record-Route'],
];

const RFC1123_DATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** The answer a malformed request must get, or undefined when it may be processed. */
export function checkRequest(p: Parsed): Rejection | undefined {
  const req = p.msg as SipRequest;
  if (p.defect) return bad(p.defect);
  if (req.version.toUpperCase() !== 'SIP/2.0') return { status: 505, reason: 'Version Not Supported' };
  for (const [name, label] of MANDATORY) if (!req.hasHeader(name)) return bad(`Missing ${label}`);
  for (const [name, label] of SINGLE) if (req.headerLines(name).length > 1) return bad(`Duplicate ${label}`);
  try {
    const ruri = req.ruri;
    // headers embedded in a Request-URI are never legal there (RFC 4475 §3.1.2.11)
    if (isSipUri(ruri) && ruri.headers.length > 0) return bad('Bad Request-URI');
  } catch {
    return bad('Bad Request-URI');
  }
  const common = checkCommon(req);
  if (common) return bad(common);
  if (req.cseq.method !== req.method) return bad('CSeq Method Mismatch');
  try {
    void req.maxForwards;
  } catch {
    return bad('Bad Max-Forwards');
  }
  for (const [name, label] of ADDR_LISTS) {
    try {
      for (const v of req.headerValues(name)) if (!(v === '*' && name === 'contact')) parseNameAddr(v);
    } catch {
      return bad(`Bad ${label}`);
    }
  }
  if (req.headerValues('contact').includes('*') && req.method !== 'REGISTER') return bad('Bad Contact');
  const date = req.header('date');
  if (date !== undefined && !RFC1123_DATE.test(date)) return bad('Bad Date');
  return undefined;
}

/** Why a response must be dropped (RFC 3261 §18.1.2, RFC 4475 §3.1.2.5/.19), or undefined. */
export function checkResponse(p: Parsed): string | undefined {
  if (p.defect) return p.defect;
  const resp = p.msg as SipResponse;
  for (const [name, label] of MANDATORY) if (!resp.hasHeader(name)) return `Missing ${label}`;
  for (const [name, label] of SINGLE) if (resp.headerLines(name).length > 1) return `Duplicate ${label}`;
  return checkCommon(resp);
}

function checkCommon(m: SipRequest | SipResponse): string | undefined {
  const steps: [string, () => unknown][] = [
    ['Bad Via', () => m.vias],
    ['Bad From', () => m.from],
    ['Bad To', () => m.to],
    ['Bad CSeq', () => m.cseq],
    ['Bad Call-ID', () => m.callId],
  ];
  for (const [label, step] of steps) {
    try {
      step();
    } catch (e) {
      if (e instanceof SipSyntaxError) return label;
      throw e;
    }
  }
  if (m.vias.length === 0) return 'Bad Via';
  return undefined;
}

function bad(reason: string): Rejection {
  return { status: 400, reason };
}
