// What a UAS decides to answer, before it becomes a SipResponse.
import type { ResponseOptions } from '../sip/build.js';

export interface Reply {
  status: number;
  reason?: string;
  /** Extra headers, added in order. */
  headers?: [name: string, value: string][];
  body?: Buffer;
  contentType?: string;
  /**
   * A 101–199 to an INVITE sent reliably (RFC 3262) when the caller supports 100rel
   * (NkSIP rel_ringing, rel_session_progress, do100rel); sent normally otherwise.
   */
  reliable?: boolean;
}

export function reply(status: number, reason?: string, headers?: [string, string][]): Reply {
  const r: Reply = { status };
  if (reason !== undefined) r.reason = reason;
  if (headers !== undefined) r.headers = headers;
  return r;
}

/** The options `makeResponse` takes for a reply (everything but its status). */
export function responseOptions(r: Reply): ResponseOptions {
  const opts: ResponseOptions = {};
  if (r.reason !== undefined) opts.reason = r.reason;
  if (r.headers) opts.headers = r.headers;
  if (r.body) opts.body = r.body;
  if (r.contentType) opts.contentType = r.contentType;
  return opts;
}
