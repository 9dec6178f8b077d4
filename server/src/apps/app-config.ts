// A SipApp's Start message checked and normalised: every field a clear error when wrong,
// defaults filled in, and one canonical text so that instances of an app can be compared.
import { createHash } from 'node:crypto';
import { type ListenSpec, parseListen } from '../config.js';
import { DEFAULT_TIMERS, type TimerSettings } from '../core/timers.js';
import { NamedReply, type Reply as PbReply, Reply as PbReplyCodec } from '../gen/nksip/v1/decisions.js';
import { AppConfig, CallbackKind, type Start } from '../gen/nksip/v1/service.js';
import type { Credential } from '../gen/nksip/v1/uac.js';
import { parseNameAddr } from '../sip/headers.js';
import { fromText } from '../sip/message.js';
import { parseUri } from '../sip/uri.js';

export class InvalidConfig extends Error {
  override name = 'InvalidConfig';
}

export const DEFAULT_DEADLINE_MS = 5000;
export const DEFAULT_GRACE_MS = 10_000;
const MAX_DEADLINE_MS = 600_000;
const MAX_GRACE_MS = 3_600_000;

/** `route`, `invite`, `get_user_pass`... the lowercase CallbackKind names apps use in config. */
export function callbackName(kind: CallbackKind): string {
  const n = CallbackKind[kind] as string | undefined;
  return n === undefined ? `unknown_${kind}` : n.replace(/^CALLBACK_KIND_/, '').toLowerCase();
}

const NAMES = new Map<string, CallbackKind>();
for (const v of Object.values(CallbackKind)) {
  if (typeof v === 'number' && v !== CallbackKind.CALLBACK_KIND_UNSPECIFIED && v > 0) {
    NAMES.set(callbackName(v), v);
  }
}

/** Callbacks that answer with a Reply: a configured deadline reply makes sense for them. */
const REPLY_CALLBACKS = new Set<CallbackKind>([
  CallbackKind.CALLBACK_KIND_ROUTE,
  CallbackKind.CALLBACK_KIND_INVITE,
  CallbackKind.CALLBACK_KIND_REINVITE,
  CallbackKind.CALLBACK_KIND_BYE,
  CallbackKind.CALLBACK_KIND_OPTIONS,
  CallbackKind.CALLBACK_KIND_REGISTER,
  CallbackKind.CALLBACK_KIND_INFO,
  CallbackKind.CALLBACK_KIND_UPDATE,
  CallbackKind.CALLBACK_KIND_SUBSCRIBE,
  CallbackKind.CALLBACK_KIND_RESUBSCRIBE,
  CallbackKind.CALLBACK_KIND_NOTIFY,
  CallbackKind.CALLBACK_KIND_REFER,
  CallbackKind.CALLBACK_KIND_PUBLISH,
  CallbackKind.CALLBACK_KIND_MESSAGE,
  CallbackKind.CALLBACK_KIND_PRACK,
]);

/** Plugins the server offers today (100rel, timers... come with their issues). */
export const KNOWN_PLUGINS = new Set<string>(['registrar', 'timers']);

/**
 * The timers plugin (NkSIP nksip_timers): the app asks for session timers on the INVITEs it
 * sends, and its Min-SE is what 422 enforces. Options `se` (1800) and `min_se` (90), seconds;
 * RFC 4028 wants 90 at least, lower values are allowed for tests.
 */
function timerSettings(i: number, options: Record<string, string>): TimerSettings {
  const out: TimerSettings = { ...DEFAULT_TIMERS };
  for (const [key, value] of Object.entries(options)) {
    const where = `config.plugins[${i}].options.${key}`;
    if (key !== 'se' && key !== 'min_se')
      throw new InvalidConfig(`${where}: unknown timers option (known: se, min_se)`);
    const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= 1 && n <= 86_400)) {
      throw new InvalidConfig(`${where}: an integer from 1 to 86400 seconds, got ${JSON.stringify(value)}`);
    }
    if (key === 'se') out.se = n;
    else out.minSe = n;
  }
  if (out.se < out.minSe) throw new InvalidConfig(`config.plugins[${i}]: se below min_se`);
  return out;
}

/** The registrar plugin's options (NkSIP's sip_registrar_*_time), seconds. */
export interface RegistrarSettings {
  defaultTime: number;
  minTime: number;
  maxTime: number;
}

const REGISTRAR_OPTIONS: Record<string, [keyof RegistrarSettings, number, number, number]> = {
  // option: [field, default, lowest allowed (NkSIP), highest]
  default_time: ['defaultTime', 3600, 5, 86_400 * 365],
  min_time: ['minTime', 60, 1, 86_400 * 365],
  max_time: ['maxTime', 86_400, 60, 86_400 * 365],
};

function registrarSettings(i: number, options: Record<string, string>): RegistrarSettings {
  const out: RegistrarSettings = { defaultTime: 3600, minTime: 60, maxTime: 86_400 };
  for (const [key, value] of Object.entries(options)) {
    const spec = REGISTRAR_OPTIONS[key];
    const where = `config.plugins[${i}].options.${key}`;
    if (!spec) {
      throw new InvalidConfig(
        `${where}: unknown registrar option (known: ${Object.keys(REGISTRAR_OPTIONS).join(', ')})`,
      );
    }
    const [field, , min, max] = spec;
    const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
    if (!(n >= min && n <= max))
      throw new InvalidConfig(
        `${where}: an integer from ${min} to ${max} seconds, got ${JSON.stringify(value)}`,
      );
    out[field] = n;
  }
  if (out.minTime > out.maxTime) throw new InvalidConfig(`config.plugins[${i}]: min_time above max_time`);
  return out;
}

export interface AppSettings {
  name: string;
  listen: string[];
  /** The sockets the listen URIs ask for. */
  listenSpecs: ListenSpec[][];
  /** Latin1 header text, as the core wants it. */
  from?: string;
  route: string[];
  localHost?: string;
  allow?: string;
  supported?: string[];
  callbacks: Set<CallbackKind>;
  deadlinesMs: Map<CallbackKind, number>;
  defaultDeadlineMs: number;
  deadlineReplies: Map<CallbackKind, PbReply>;
  graceMs: number;
  /** Set when the app enabled the registrar plugin. */
  registrar?: RegistrarSettings;
  /** NkSIP `sip_pass`: credentials for every request the app sends, after the request's own. */
  pass: Credential[];
  /** Set when the app enabled the timers plugin (session timers, RFC 4028). */
  timers?: TimerSettings;
  /** NkSIP `sip_max_calls`: the app's own limit on concurrent calls, when it set one. */
  maxCalls?: number;
  /** Equal for two Starts that may share an app. */
  canonical: string;
}

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, sortDeep(o[k])]),
    );
  }
  return v;
}

function checkRange(field: string, v: number, min: number, max: number): void {
  if (v !== 0 && (v < min || v > max)) {
    throw new InvalidConfig(`${field} must be 0 (the server's) or from ${min} to ${max}, got ${v}`);
  }
}

/** Checks a Start and turns it into settings; throws InvalidConfig naming the field. */
export function appSettings(start: Start, defaultDeadlineMs = DEFAULT_DEADLINE_MS): AppSettings {
  if (!APP_NAME.test(start.app)) {
    throw new InvalidConfig(
      `app: a name of letters, digits, '.', '_' or '-' (1–128, starting with a letter or digit) is required, got ${JSON.stringify(start.app)}`,
    );
  }
  const c: AppConfig = start.config ?? AppConfig.fromPartial({});
  const listenSpecs = c.listen.map((u, i) => {
    try {
      return parseListen(u);
    } catch (e) {
      throw new InvalidConfig(`config.listen[${i}]: ${(e as Error).message}`);
    }
  });
  const out: AppSettings = {
    name: start.app,
    listen: c.listen.map((u) => u.trim()),
    listenSpecs,
    route: [],
    callbacks: new Set(),
    deadlinesMs: new Map(),
    defaultDeadlineMs: c.defaultDeadlineMs === 0 ? defaultDeadlineMs : c.defaultDeadlineMs,
    deadlineReplies: new Map(),
    graceMs: c.graceMs === 0 ? DEFAULT_GRACE_MS : c.graceMs,
    pass: c.pass.map((p, i) => {
      if (/[\r\n]/.test(p.realm) || /[\r\n]/.test(p.user))
        throw new InvalidConfig(`config.pass[${i}]: realm and user are single-line text`);
      return { realm: p.realm, user: p.user, password: p.password };
    }),
    canonical: '',
  };
  if (c.from !== '') {
    try {
      parseNameAddr(fromText(c.from));
    } catch (e) {
      throw new InvalidConfig(`config.from: not a SIP address (${(e as Error).message}): ${c.from}`);
    }
    out.from = fromText(c.from);
  }
  out.route = c.route.map((r, i) => {
    const t = r.trim().replace(/^<(.*)>$/, '$1');
    try {
      parseUri(t);
    } catch (e) {
      throw new InvalidConfig(`config.route[${i}]: bad URI ${JSON.stringify(r)}: ${(e as Error).message}`);
    }
    return `<${fromText(t)}>`;
  });
  if (c.localHost !== '') {
    if (/[\s;,<>]/.test(c.localHost)) throw new InvalidConfig(`config.local_host: bad host ${c.localHost}`);
    out.localHost = c.localHost;
  }
  if (c.maxCalls !== undefined) out.maxCalls = c.maxCalls;
  if (c.allow !== '') out.allow = fromText(c.allow);
  if (c.supported !== '') {
    out.supported = c.supported
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== '');
  }
  if (c.timers) {
    checkRange('config.timers.t1', c.timers.t1, 10, 2500);
    checkRange('config.timers.t2', c.timers.t2, 100, 16000);
    checkRange('config.timers.t4', c.timers.t4, 100, 25000);
    checkRange('config.timers.timer_c', c.timers.timerC, 1, 86400);
    checkRange('config.timers.dialog_timeout', c.timers.dialogTimeout, 1, 86400);
  }
  c.plugins.forEach((p, i) => {
    if (!KNOWN_PLUGINS.has(p.name)) {
      throw new InvalidConfig(
        `config.plugins: plugin ${JSON.stringify(p.name)} is not available in this server (known: ${[...KNOWN_PLUGINS].join(', ')})`,
      );
    }
    if (p.name === 'registrar') out.registrar = registrarSettings(i, p.options);
    if (p.name === 'timers') out.timers = timerSettings(i, p.options);
  });
  checkRange('config.default_deadline_ms', c.defaultDeadlineMs, 1, MAX_DEADLINE_MS);
  checkRange('config.grace_ms', c.graceMs, 1, MAX_GRACE_MS);
  for (const [name, ms] of Object.entries(c.deadlinesMs)) {
    const kind = NAMES.get(name);
    if (kind === undefined)
      throw new InvalidConfig(`config.deadlines_ms: unknown callback name ${JSON.stringify(name)}`);
    checkRange(`config.deadlines_ms.${name}`, ms, 1, MAX_DEADLINE_MS);
    if (ms !== 0) out.deadlinesMs.set(kind, ms);
  }
  for (const [name, reply] of Object.entries(c.deadlineReplies)) {
    const kind = NAMES.get(name);
    if (kind === undefined)
      throw new InvalidConfig(`config.deadline_replies: unknown callback name ${JSON.stringify(name)}`);
    if (!REPLY_CALLBACKS.has(kind))
      throw new InvalidConfig(`config.deadline_replies.${name}: this callback is not answered with a reply`);
    const hasCode = reply.code !== 0;
    const hasNamed = reply.named !== NamedReply.NAMED_REPLY_UNSPECIFIED;
    if (hasCode === hasNamed)
      throw new InvalidConfig(`config.deadline_replies.${name}: give either a code or a named reply`);
    if (hasCode && (reply.code < 200 || reply.code > 699))
      throw new InvalidConfig(`config.deadline_replies.${name}: code must be a final one (200–699)`);
    out.deadlineReplies.set(kind, reply);
  }
  start.callbacks.forEach((k, i) => {
    if (k === CallbackKind.CALLBACK_KIND_UNSPECIFIED || CallbackKind[k] === undefined || k < 0) {
      throw new InvalidConfig(`callbacks[${i}]: unknown callback kind ${k}`);
    }
    out.callbacks.add(k);
  });
  const canon = {
    config: {
      listen: out.listen,
      from: c.from,
      route: c.route,
      localHost: c.localHost,
      timers: c.timers ?? null,
      plugins: c.plugins.map((p) => ({ name: p.name, options: p.options })),
      allow: c.allow,
      supported: c.supported,
      accept: c.accept,
      events: c.events,
      deadlinesMs: c.deadlinesMs,
      defaultDeadlineMs: c.defaultDeadlineMs,
      deadlineReplies: Object.fromEntries(
        Object.entries(c.deadlineReplies).map(([k, v]) => [k, PbReplyCodec.toJSON(v)]),
      ),
      graceMs: c.graceMs,
      maxCalls: c.maxCalls ?? null,
      // compared, never shown: a digest stands for the passwords
      pass: createHash('sha256').update(JSON.stringify(c.pass)).digest('hex'),
    },
    callbacks: [...out.callbacks].sort((a, b) => a - b).map(callbackName),
  };
  out.canonical = JSON.stringify(sortDeep(canon));
  return out;
}

/** What differs between two canonical forms, for the mismatch message. */
export function configDiff(a: string, b: string): string[] {
  const x = JSON.parse(a) as { config: Record<string, unknown>; callbacks: string[] };
  const y = JSON.parse(b) as { config: Record<string, unknown>; callbacks: string[] };
  const out: string[] = [];
  for (const k of Object.keys(x.config)) {
    if (JSON.stringify(x.config[k]) !== JSON.stringify(y.config[k])) out.push(`config.${k}`);
  }
  if (JSON.stringify(x.callbacks) !== JSON.stringify(y.callbacks)) out.push('callbacks');
  return out;
}
