// What callbacks answer. Each callback family has its own type, so returning a route decision
// from `invite` (or a reply from `authorize`) does not compile.
import { type HeadersInput, toHeaderOps } from './headers.js';
import {
  AuthorizeDecision_Kind,
  type CallbackAnswer,
  type Proxy as PbProxy,
  type RouteDecision as PbRouteDecision,
} from './pb.js';
import { type Reply, toProtoReply } from './reply.js';

/**
 * Proxy targets, as NkSIP's UriSet: one URI; a flat list of URIs tried in parallel; or a list
 * whose elements are URIs or lists of URIs, each element a group tried after the previous one
 * (`['sip:a', ['sip:b', 'sip:c'], 'sip:d']`: a, then b and c in parallel, then d).
 * Empty (or absent): the Request-URI.
 */
export type UriSet = string | readonly (string | readonly string[])[];

export interface ProxyOptions {
  /** Insert Record-Route so in-dialog requests come through this server. */
  recordRoute?: boolean;
  /** Add Path to a REGISTER (RFC 3327). */
  path?: boolean;
  /** Launch the Contacts of a 3xx within the fork instead of relaying the 3xx. */
  followRedirects?: boolean;
  /** Edits of the forwarded request's headers. */
  headers?: HeadersInput;
  /** Route URIs inserted before the request's own Route headers. */
  route?: readonly string[];
  /** Call `branchFinal` with each branch's final response before the best one is chosen. */
  branchEvents?: boolean;
}

const RAW: unique symbol = Symbol('nksip.rawAnswer');

/**
 * An answer passed to the server as is, whatever the callback: for testing the server's
 * handling of invalid answers (it answers the request 500 "Invalid Service Reply").
 */
export interface RawAnswer {
  readonly [RAW]: true;
  readonly answer: CallbackAnswer['answer'];
}

/** Sends `answer` unchecked (see RawAnswer). `raw(undefined)` sends an empty answer. */
export const raw = (answer: CallbackAnswer['answer']): RawAnswer => ({ [RAW]: true, answer });

export function isRaw(x: unknown): x is RawAnswer {
  return typeof x === 'object' && x !== null && RAW in x;
}

// ---- route ----

type ProxyKind = 'proxy' | 'proxyStateless' | 'strictProxy';

/** The answer to `route` (NkSIP's sip_route). */
export type RouteDecision =
  | { readonly route: 'process' }
  | { readonly route: 'processStateless' }
  | { readonly route: 'reply'; readonly reply: Reply }
  | { readonly route: 'replyStateless'; readonly reply: Reply }
  | { readonly route: ProxyKind; readonly uriSet?: UriSet; readonly options?: ProxyOptions };

/** Process the request here: its method callback comes next. */
export const process = (): RouteDecision => ({ route: 'process' });
/** Process without a transaction (not for INVITE: the server answers 500). */
export const processStateless = (): RouteDecision => ({ route: 'processStateless' });
/** Answer now, statefully. */
export const reply = (r: Reply): RouteDecision => ({ route: 'reply', reply: r });
/** Answer now without a transaction. */
export const replyStateless = (r: Reply): RouteDecision => ({ route: 'replyStateless', reply: r });
/** Proxy statefully to `uriSet` (absent or empty: the Request-URI). */
export const proxy = (uriSet?: UriSet, options?: ProxyOptions): RouteDecision => ({
  route: 'proxy',
  uriSet,
  options,
});
/** Forward statelessly to the first URI only. */
export const proxyStateless = (uriSet?: UriSet, options?: ProxyOptions): RouteDecision => ({
  route: 'proxyStateless',
  uriSet,
  options,
});
/** Test-only strict-router simulation (NkSIP's strict_proxy). */
export const strictProxy = (uriSet?: UriSet, options?: ProxyOptions): RouteDecision => ({
  route: 'strictProxy',
  uriSet,
  options,
});

/** Normalises a UriSet to serial groups of parallel URIs, as NkSIP does. */
export function normalizeUriSet(set: UriSet | undefined): string[][] {
  if (set === undefined) return [];
  if (typeof set === 'string') return [[set]];
  if (set.every((e) => typeof e === 'string')) return set.length === 0 ? [] : [[...(set as string[])]];
  return set.map((e) => (typeof e === 'string' ? [e] : [...e]));
}

export function toProtoProxy(uriSet: UriSet | undefined, o: ProxyOptions | undefined): PbProxy {
  return {
    uriSet: normalizeUriSet(uriSet).map((uris) => ({ uris })),
    options: {
      recordRoute: o?.recordRoute ?? false,
      path: o?.path ?? false,
      followRedirects: o?.followRedirects ?? false,
      headers: toHeaderOps(o?.headers),
      route: [...(o?.route ?? [])],
      branchEvents: o?.branchEvents ?? false,
    },
  };
}

export function toProtoRoute(d: RouteDecision): PbRouteDecision {
  switch (d.route) {
    case 'process':
      return { decision: { $case: 'process', value: {} } };
    case 'processStateless':
      return { decision: { $case: 'processStateless', value: {} } };
    case 'reply':
      return { decision: { $case: 'reply', value: toProtoReply(d.reply) } };
    case 'replyStateless':
      return { decision: { $case: 'replyStateless', value: toProtoReply(d.reply) } };
    case 'proxy':
    case 'proxyStateless':
    case 'strictProxy':
      return { decision: { $case: d.route, value: toProtoProxy(d.uriSet, d.options) } };
    default:
      throw new TypeError(`invalid route decision ${JSON.stringify(d)}`);
  }
}

// ---- method callbacks ----

/** No answer now: answer later with `request.reply(...)`. */
export interface NoReply {
  readonly noreply: true;
}
export const noreply = (): NoReply => ({ noreply: true });

/** The answer to a method callback (invite, options, bye, ...): a reply, or `noreply()`. */
export type MethodAnswer = Reply | NoReply;

export function isNoReply(a: MethodAnswer): a is NoReply {
  return (a as NoReply).noreply === true;
}

// ---- authorize ----

/** The answer to `authorize` (NkSIP's sip_authorize). */
export type AuthorizeAnswer =
  | { readonly authorize: 'ok' }
  | { readonly authorize: 'forbidden' }
  | { readonly authorize: 'authenticate'; readonly realm?: string }
  | { readonly authorize: 'proxyAuthenticate'; readonly realm?: string };

/** Decisions for `authorize`. */
export const Authorize = {
  ok: (): AuthorizeAnswer => ({ authorize: 'ok' }),
  /** 403. */
  forbidden: (): AuthorizeAnswer => ({ authorize: 'forbidden' }),
  /** 401 challenge for `realm` (default: the From domain). */
  authenticate: (realm?: string): AuthorizeAnswer => ({ authorize: 'authenticate', realm }),
  /** 407 challenge for `realm`. */
  proxyAuthenticate: (realm?: string): AuthorizeAnswer => ({ authorize: 'proxyAuthenticate', realm }),
} as const;

export const AUTHORIZE_KIND: Record<AuthorizeAnswer['authorize'], AuthorizeDecision_Kind> = {
  ok: AuthorizeDecision_Kind.KIND_OK,
  forbidden: AuthorizeDecision_Kind.KIND_FORBIDDEN,
  authenticate: AuthorizeDecision_Kind.KIND_AUTHENTICATE,
  proxyAuthenticate: AuthorizeDecision_Kind.KIND_PROXY_AUTHENTICATE,
};

// ---- getUserPass ----

/**
 * The answer to `getUserPass`: the password (or `HA1!` + hex HA1), `true` to accept without
 * checking, `false` for an unknown user.
 */
export type UserPassAnswer = string | boolean;

// ---- branchFinal ----

/** The answer to `branchFinal` (ProxyOptions.branchEvents). */
export type BranchAnswer =
  | { readonly branch: 'continue' }
  | { readonly branch: 'fork'; readonly uriSet: UriSet; readonly options?: ProxyOptions }
  | { readonly branch: 'reply'; readonly reply: Reply };

/** Decisions for `branchFinal`. */
export const Branch = {
  /** Go on as NkSIP does (best-response selection). */
  continue: (): BranchAnswer => ({ branch: 'continue' }),
  /** Launch these targets now, within this fork. */
  fork: (uriSet: UriSet, options?: ProxyOptions): BranchAnswer => ({ branch: 'fork', uriSet, options }),
  /** Stop forking and send this reply upstream. */
  reply: (r: Reply): BranchAnswer => ({ branch: 'reply', reply: r }),
} as const;

/**
 * The route decisions in one object, for modules where the bare name `process` would shadow
 * Node's global: `Route.process()`, `Route.proxy(uris, { recordRoute: true })`, ...
 */
export const Route = {
  process,
  processStateless,
  reply,
  replyStateless,
  proxy,
  proxyStateless,
  strictProxy,
} as const;
