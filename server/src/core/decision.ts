// What whoever runs the application logic (the built-in app or a SipApp over gRPC) decides
// about a request, in the core's own terms: NkSIP's sip_route answers (reference §4) and the
// options of a proxy decision (reference §5). The apps layer maps the protobuf contract onto
// these; nothing here knows of gRPC.
import type { SipResponse } from '../sip/message.js';
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
  /**
   * Act as an RFC 2543 strict router (NkSIP's test-only `strict_proxy`, always stateless): a
   * Request-URI naming us takes the top Route as the next hop, and Record-Route has no `lr`.
   */
  strict?: boolean;
  /**
   * Asked about each branch's final 3xx–5xx while the fork is still open (the contract's
   * BRANCH_FINAL); its answer may add targets or end the fork. Must settle in bounded time.
   */
  onBranchFinal?: (branch: BranchFinal) => Promise<BranchAnswer>;
}

/** One branch of a stateful fork ended with a final response that is not 2xx or 6xx. */
export interface BranchFinal {
  uri: string;
  /** As it would go upstream (our Via removed), or the one the proxy made (408, 503...). */
  response: SipResponse;
  /** Branches still without a final outcome. */
  pending: number;
}

export type BranchAnswer =
  /** Go on: the response joins the candidates for the best response. */
  | { kind: 'continue' }
  /** Launch these groups within the fork: the first at once, the others before later groups. */
  | { kind: 'fork'; targets: UriSet; options: ProxyOptions }
  /** Stop forking: pending branches are CANCELled and this reply goes upstream. */
  | { kind: 'reply'; reply: Reply };

export const CONTINUE: BranchAnswer = { kind: 'continue' };

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
