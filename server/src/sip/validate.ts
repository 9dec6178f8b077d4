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

/** How often each header the checks care about occurs: one pass over the headers. */
interface Counts {
  via: number;
  from: number;
  to: number;
  callId: number;
  cseq: number;
  maxForwards: number;
  contentType: number;
  contact: number;
  route: number;
  recordRoute: number;
}

function countHeaders(m: SipRequest | SipResponse): Counts {
  const c: Counts = {
    via: 0,
    from: 0,
    to: 0,
    callId: 0,
    cseq: 0,
    maxForwards: 0,
    contentType: 0,
    contact: 0,
    route: 0,
    recordRoute: 0,
  };
  for (const h of m.headers) {
    switch (h.name) {
      case 'via':
        c.via++;
        break;
      case 'from':
        c.from++;
        break;
      case 'to':
        c.to++;
        break;
      case 'call-id':
        c.callId++;
        break;
      case 'cseq':
        c.cseq++;
        break;
      case 'max-forwards':
        c.maxForwards++;
        break;
      case 'content-type':
        c.contentType++;
        break;
      case 'contact':
        c.contact++;
        break;
      case 'route':
        c.route++;
        break;
      case 'record-route':
        c.recordRoute++;
        break;
    }
  }
  return c;
}

/** Mandatory headers present (RFC 3261 §8.1.1) and single-valued ones not repeated. */
function presence(c: Counts): string | undefined {
  if (c.via === 0) return 'Missing Via';
  if (c.from === 0) return 'Missing From';
  if (c.to === 0) return 'Missing To';
  if (c.callId === 0) return 'Missing Call-ID';
  if (c.cseq === 0) return 'Missing CSeq';
  if (c.from > 1) return 'Duplicate From';
  if (c.to > 1) return 'Duplicate To';
  if (c.callId > 1) return 'Duplicate Call-ID';
  if (c.cseq > 1) return 'Duplicate CSeq';
  if (c.maxForwards > 1) return 'Duplicate Max-Forwards';
  if (c.contentType > 1) return 'Duplicate Content-Type';
  return undefined;
}

const RFC1123_DATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** The answer a malformed request must get, or undefined when it may be processed. */
export function checkRequest(p: Parsed): Rejection | undefined {
  const req = p.msg as SipRequest;
  if (p.defect) return bad(p.defect);
  if (req.version.toUpperCase() !== 'SIP/2.0') return { status: 505, reason: 'Version Not Supported' };
  const counts = countHeaders(req);
  const missing = presence(counts);
  if (missing) return bad(missing);
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
  if (counts.contact > 0) {
    try {
      void req.contacts; // parsed once, kept for whoever reads them next
    } catch {
      return bad('Bad Contact');
    }
    if (req.headerValues('contact').includes('*') && req.method !== 'REGISTER') return bad('Bad Contact');
  }
  if (counts.route > 0 && !addrsParse(req, 'route')) return bad('Bad Route');
  if (counts.recordRoute > 0 && !addrsParse(req, 'record-route')) return bad('Bad Record-Route');
  const date = req.header('date');
  if (date !== undefined && !RFC1123_DATE.test(date)) return bad('Bad Date');
  return undefined;
}

function addrsParse(m: SipRequest, name: string): boolean {
  try {
    for (const v of m.headerValues(name)) parseNameAddr(v);
    return true;
  } catch {
    return false;
  }
}

/** Why a response must be dropped (RFC 3261 §18.1.2, RFC 4475 §3.1.2.5/.19), or undefined. */
export function checkResponse(p: Parsed): string | undefined {
  if (p.defect) return p.defect;
  const resp = p.msg as SipResponse;
  return presence(countHeaders(resp)) ?? checkCommon(resp);
}

/** Syntax of the headers every message needs; the label names the first bad one. */
function checkCommon(m: SipRequest | SipResponse): string | undefined {
  let label = 'Bad Via';
  try {
    if (m.vias.length === 0) return label;
    label = 'Bad From';
    void m.from;
    label = 'Bad To';
    void m.to;
    label = 'Bad CSeq';
    void m.cseq;
    label = 'Bad Call-ID';
    void m.callId;
  } catch (e) {
    if (e instanceof SipSyntaxError) return label;
    throw e;
  }
  return undefined;
}

function bad(reason: string): Rejection {
  return { status: 400, reason };
}
