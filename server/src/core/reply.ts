// What a UAS decides to answer, before it becomes a SipResponse.

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
