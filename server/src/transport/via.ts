// The transport's edits to the top Via, and the §18.2.2 choice of where a response goes.
// Pure: messages and addresses in, messages edited or a destination out.
import { formatParams, getParam, removeParam, setParam } from '../sip/grammar.js';
import type { Via } from '../sip/headers.js';
import type { SipMessage, SipRequest } from '../sip/message.js';
import { defaultPort, hostText, ipFamily, normalizeIp, sameIp, stripBrackets } from './address.js';
import { isReliable, type Source, type TransportName } from './types.js';

/** The top Via, or undefined when there is none or it does not parse. */
export function safeTopVia(msg: SipMessage): Via | undefined {
  try {
    return msg.topVia;
  } catch {
    return undefined;
  }
}

/**
 * RFC 3261 §18.2.1 and RFC 3581 §4 on a request just received: `received` when the sent-by
 * host is not the packet's source address (or whenever `rport` is asked for), and `rport`
 * set to the source port. A present `rport` is overwritten even if it carries a value, as
 * the source port is what a NAT in the path will let back in. The message is left untouched
 * (raw bytes kept) when nothing needs to change, and when the Via does not parse: the
 * validation layer answers that one.
 */
export function stampReceived(req: SipRequest, address: string, port: number): void {
  const via = safeTopVia(req);
  if (!via) return;
  const rport = getParam(via.params, 'rport');
  const hostDiffers = ipFamily(via.host) === 0 || !sameIp(via.host, address);
  if (!hostDiffers && rport === undefined) return;
  // IPv6 goes in bare (RFC 3261 grammar `received = IPv4address / IPv6address`, RFC 5118 §4.5)
  let params = setParam(via.params, 'received', normalizeIp(address));
  if (rport !== undefined) params = setParam(params, 'rport', String(port));
  if (formatParams(params) === formatParams(via.params)) return;
  req.setTopVia({ ...via, params });
}

/**
 * Puts our own sent-by in the top Via of a request about to leave (RFC 3261 §18.1.1), with a
 * bare `rport` asking the next hop for RFC 3581 symmetric responses.
 */
export function setSentBy(req: SipRequest, transport: TransportName, host: string, port: number): void {
  const via = safeTopVia(req);
  if (!via) throw new Error('request has no valid top Via');
  let params = removeParam(via.params, 'received');
  params = setParam(params, 'rport', null);
  req.setTopVia({ ...via, transport: transport.toUpperCase(), host: hostText(host), port, params });
}

/** Where a response goes when there is no open connection to answer on. */
export interface ResponseDestination {
  transport: TransportName;
  /** IP or hostname, bare. */
  host: string;
  port: number;
}

/**
 * RFC 3261 §18.2.2 with RFC 3581 §4, for when the request's connection (if any) is gone:
 * reliable → `received` (else sent-by host) at the sent-by port; unreliable → `maddr` at the
 * sent-by port, else `received` (else sent-by host) at the `rport` value, the sent-by port
 * or 5060. Without a usable Via, back to where the request came from.
 */
export function responseDestination(via: Via | undefined, source: Source): ResponseDestination {
  const transport = source.transport;
  if (!via) return { transport, host: source.address, port: source.port };
  const sentByPort = via.port ?? defaultPort(transport);
  const received = paramValue(via, 'received');
  const host = stripBrackets(received ?? via.host);
  if (isReliable(transport)) return { transport, host, port: sentByPort };
  const maddr = paramValue(via, 'maddr');
  if (maddr !== undefined) return { transport, host: stripBrackets(maddr), port: sentByPort };
  const rport = paramValue(via, 'rport');
  const port = rport !== undefined && /^\d{1,5}$/.test(rport) ? Number(rport) : sentByPort;
  return { transport, host, port };
}

function paramValue(via: Via, name: string): string | undefined {
  const v = getParam(via.params, name);
  return v === null || v === undefined || v === '' ? undefined : v;
}
