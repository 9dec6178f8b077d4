// SipApp options → the Start message's AppConfig.
import type { CallbackName } from './callbacks.js';
import { wireName } from './callbacks.js';
import type { AppConfig, Reply as PbReply } from './pb.js';
import { type Reply, toProtoReply } from './reply.js';
import { type Credential, toProtoPass } from './uac.js';

/** A plugin and its options (registrar, 100rel, timers, ...). */
export type PluginSpec =
  | string
  | { readonly name: string; readonly options?: Readonly<Record<string, string | number | boolean>> };

export interface TimersOptions {
  /** RFC 3261 T1, T2, T4 in ms. */
  t1?: number;
  t2?: number;
  t4?: number;
  /** Timer C in seconds. */
  timerC?: number;
  /** Dialog timeout in seconds. */
  dialogTimeout?: number;
}

/** The app's configuration (proto AppConfig). Instances sharing a name must give equal ones. */
export interface AppConfigOptions {
  /** Listen URIs; absent or empty: take over the server's own listeners while connected. */
  listen?: string | readonly string[];
  /** Default From of the requests the app sends. */
  from?: string;
  /** Route URIs added to every request the app sends (outbound proxy). */
  route?: readonly string[];
  /** Host for Via, Contact and Record-Route. */
  localHost?: string;
  timers?: TimersOptions;
  plugins?: readonly PluginSpec[];
  /** Allow, Supported, Accept and accepted event packages; absent: the server's defaults. */
  allow?: string | readonly string[];
  supported?: string | readonly string[];
  accept?: string | readonly string[];
  events?: string | readonly string[];
  /** Callback deadlines in ms, per callback, plus `default` for the others (server default 5000). */
  deadlines?: Partial<Record<CallbackName | 'default', number>>;
  /** What to answer when a callback's deadline passes and no other instance can take it. */
  deadlineReplies?: Partial<Record<CallbackName, Reply>>;
  /** How long the listeners stay open after the last instance leaves, ms (server default 10000). */
  graceMs?: number;
  /**
   * Credentials for every request the app sends (NkSIP `sip_pass`): the server answers
   * 401/407 with them after the request's own `pass`. A bare string: the password for any realm.
   */
  pass?: string | readonly Credential[];
  /**
   * Concurrent calls of the app (NkSIP `sip_max_calls`): beyond it the server answers new
   * calls 503 and the app's own new requests fail with `tooManyCalls`. Absent: the server's limit.
   */
  maxCalls?: number;
}

const list = (v: string | readonly string[] | undefined): string =>
  v === undefined ? '' : typeof v === 'string' ? v : v.join(', ');

export function toAppConfig(o: AppConfigOptions): AppConfig {
  const deadlinesMs: Record<string, number> = {};
  let defaultDeadlineMs = 0;
  for (const [name, ms] of Object.entries(o.deadlines ?? {})) {
    if (ms === undefined) continue;
    if (name === 'default') defaultDeadlineMs = ms;
    else deadlinesMs[wireName(name)] = ms;
  }
  const deadlineReplies: Record<string, PbReply> = {};
  for (const [name, r] of Object.entries(o.deadlineReplies ?? {})) {
    if (r !== undefined) deadlineReplies[wireName(name)] = toProtoReply(r);
  }
  const t = o.timers;
  return {
    listen: o.listen === undefined ? [] : typeof o.listen === 'string' ? [o.listen] : [...o.listen],
    from: o.from ?? '',
    route: [...(o.route ?? [])],
    localHost: o.localHost ?? '',
    timers: t && {
      t1: t.t1 ?? 0,
      t2: t.t2 ?? 0,
      t4: t.t4 ?? 0,
      timerC: t.timerC ?? 0,
      dialogTimeout: t.dialogTimeout ?? 0,
    },
    plugins: (o.plugins ?? []).map((p) =>
      typeof p === 'string'
        ? { name: p, options: {} }
        : {
            name: p.name,
            options: Object.fromEntries(Object.entries(p.options ?? {}).map(([k, v]) => [k, String(v)])),
          },
    ),
    allow: list(o.allow),
    supported: list(o.supported),
    accept: list(o.accept),
    events: list(o.events),
    deadlinesMs,
    defaultDeadlineMs,
    deadlineReplies,
    graceMs: o.graceMs ?? 0,
    pass: toProtoPass(o.pass),
    maxCalls: o.maxCalls,
  };
}
