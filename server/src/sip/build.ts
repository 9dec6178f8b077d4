// Messages derived from others: responses to a request (RFC 3261 §8.2.6), the ACK for a
// non-2xx final response (§17.1.1.3) and CANCEL (§9.1).

import { newTag, statelessTag } from './ids.js';
import { type Header, SipRequest, SipResponse } from './message.js';

const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  412: 'Conditional Request Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  417: 'Unknown Resource-Priority',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  428: 'Use Identity Header',
  429: 'Provide Referrer Identity',
  430: 'Flow Failed',
  433: 'Anonymity Disallowed',
  436: 'Bad Identity-Info',
  437: 'Unsupported Certificate',
  438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support',
  440: 'Max-Breadth Exceeded',
  469: 'Bad Info Package',
  470: 'Consent Needed',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
  607: 'Unwanted',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (REASONS[Math.floor(status / 100) * 100] as string | undefined) ?? 'Unknown';
}

const COPIED = new Set(['via', 'from', 'call-id', 'cseq']);

export interface ResponseOptions {
  reason?: string;
  /** To tag to add when the request has none (ignored for 100). A fresh one by default. */
  toTag?: string;
  headers?: [string, string][];
  body?: Buffer;
  contentType?: string;
}

/**
 * Whether the request's To has a tag. A To that does not parse (the 400 we are building may
 * be about it, RFC 4475 §3.1.2.6) counts as untagged: the tag is appended to its text.
 */
function hasToTag(req: SipRequest): boolean {
  try {
    return req.toTag !== undefined;
  } catch {
    return false;
  }
}

/** A response to `req`: Via, From, To, Call-ID and CSeq copied, To tag added after 100. */
export function makeResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  const headers: Header[] = [];
  for (const h of req.headers) {
    if (COPIED.has(h.name)) {
      headers.push(h);
    } else if (h.name === 'to') {
      if (status > 100 && !hasToTag(req)) {
        headers.push({ name: 'to', value: `${h.value};tag=${opts.toTag ?? newTag()}` });
      } else {
        headers.push(h);
      }
    } else if (h.name === 'timestamp' && status === 100) {
      headers.push(h); // RFC 3261 §8.2.6.1
    }
  }
  const resp = new SipResponse(status, opts.reason ?? reasonPhrase(status), headers);
  resp.shareViews(req);
  for (const [n, v] of opts.headers ?? []) resp.addHeader(n, v);
  if (opts.body && opts.body.length > 0) {
    resp.body = opts.body;
    if (opts.contentType) resp.setHeader('content-type', opts.contentType);
  }
  return resp;
}

/**
 * A response sent without a transaction (a stateless UAS or proxy, RFC 3261 §8.2.7): its To
 * tag, unless given, is the same for each retransmission of the request.
 */
export function makeStatelessResponse(
  req: SipRequest,
  status: number,
  opts: ResponseOptions = {},
): SipResponse {
  if (opts.toTag !== undefined || status === 100) return makeResponse(req, status, opts);
  const tag = statelessTag([
    req.header('via') ?? '',
    req.header('call-id') ?? '',
    req.header('from') ?? '',
    req.header('cseq') ?? '',
  ]);
  return makeResponse(req, status, { ...opts, toTag: tag });
}

/** The ACK a client INVITE transaction sends for a non-2xx final response. */
export function makeNon2xxAck(invite: SipRequest, resp: SipResponse): SipRequest {
  const ack = new SipRequest('ACK', invite.uri);
  // only the top Via value: the request may carry several values on one line
  ack.headers.push({ name: 'via', value: invite.headerValues('via')[0] as string });
  ack.addHeader('max-forwards', '70');
  for (const h of invite.headers) if (h.name === 'route') ack.headers.push(h);
  ack.headers.push(...invite.headers.filter((h) => h.name === 'from' || h.name === 'call-id'));
  const to = resp.headers.find((h) => h.name === 'to');
  if (to) ack.headers.push(to);
  ack.addHeader('cseq', `${invite.cseq.seq} ACK`);
  return ack;
}

/** CANCEL for a pending request (RFC 3261 §9.1): same R-URI, top Via, Route, From, To, CSeq number. */
export function makeCancel(req: SipRequest, reason?: string): SipRequest {
  const cancel = new SipRequest('CANCEL', req.uri);
  cancel.headers.push({ name: 'via', value: req.headerValues('via')[0] as string });
  cancel.addHeader('max-forwards', '70');
  for (const h of req.headers) if (h.name === 'route') cancel.headers.push(h);
  cancel.headers.push(
    ...req.headers.filter((h) => h.name === 'from' || h.name === 'to' || h.name === 'call-id'),
  );
  cancel.addHeader('cseq', `${req.cseq.seq} CANCEL`);
  if (reason) cancel.addHeader('reason', reason);
  return cancel;
}
