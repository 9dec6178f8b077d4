// What whoever runs the application logic (the built-in app or a SipApp over gRPC) decides
// about a request, in the core's own terms: NkSIP's sip_route answers (reference §4) and the
// options of a proxy decision (reference §5). The apps layer maps the protobuf contract onto
// these; nothing here knows of gRPC.
import type { Reply } from './reply.js';

export interface HeaderOp {
  op: 'add' | 'replace' | 'remove' | 'insert';
  /** Any case, compact forms allowed. */
  name: string;
  value: string;
}

export interface ProxyOptions {
  recordRoute?: boolean;
  path?: boolean;
  followRedirects?: boolean;
  headers?: HeaderOp[];
  /** Route URIs inserted before the request's own Route headers. */
  route?: string[];
}

/** Serial groups of URIs tried in parallel within a group; empty means the Request-URI. */
export type UriSet = string[][];

export type RouteDecision =
  | { kind: 'process' }
  | { kind: 'process_stateless' }
  | { kind: 'reply'; reply: Reply }
  | { kind: 'reply_stateless'; reply: Reply }
  | { kind: 'proxy'; targets: UriSet; options: ProxyOptions }
  | { kind: 'proxy_stateless'; targets: UriSet; options: ProxyOptions };

export const PROCESS: RouteDecision = { kind: 'process' };
