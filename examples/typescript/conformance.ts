// conformance: the NkSIP test peer (reference/nksip.md §7) as a SipApp, driven by request
// headers. Every SDK ships the same app; the cross-language suite in test/ drives it.
//
//   node examples/typescript/dist/conformance.js
//
// Environment: NKSIP_SERVER (default 127.0.0.1:50051), NKSIP_APP (default conformance; also
// the name appended to x-nk-id), NKSIP_LISTEN (comma-separated listen URIs; empty: the
// server's own listeners), NKSIP_TOKEN, NKSIP_PASS (digest password for every user,
// default 1234), NKSIP_MAX_CALLS (the app's limit on concurrent calls; unset: none),
// NKSIP_SIP_PASS (the app's own credentials for the requests it sends: comma-separated
// `[realm/]password`), NKSIP_TIMERS (`se,min_se`: the timers plugin, session
// timers; unset: off), NKSIP_PLUGINS (comma-separated plugin names, e.g. `registrar`),
// NKSIP_ROUTE (`registrar`: play NkSIP's test proxy — a request without x-nk-proxy whose
// Request-URI names a user goes to what the registrar finds for the whole Request-URI (the
// AOR's registered contacts grouped by q, or a GRUU's instance: qfind), with
// Record-Route when x-nk-rr is set, statelessly with x-nk-proxy-mode: stateless; 480 when
// nobody is registered; in-dialog requests follow their Route; `forward`: every request
// without x-nk-proxy is proxied to its Request-URI, with Record-Route (x-nk-rr) and Path
// (x-nk-path) as asked: a plain outbound proxy; `strict`: the same as an RFC 2543 strict router,
// NkSIP's strict_proxy: stateless, Record-Route without lr, a request strict-routed to it goes
// to its top Route).
//
// Headers of a request to this app:
//   x-nk-op: <op>     what to answer (default ok); x-nk-op-<app name>: <op> wins over it in
//                     that app, and x-nk-op-<Request-URI user> over both (each UA of a fork
//                     answering its own way):
//       ok | busy | decline | answer (200 echoing the request's SDP) | <code> (any 3-digit code)
//       reply-request      200 whose body is the request as received (message/sip)
//       reply-stateless    answered 200 from route, without a transaction
//       reply-stateful     answered 200 from route, with a transaction
//       reply-invalid      an invalid answer on purpose (the server answers 500)
//       route-invalid      the same from route
//       prov-busy          183 then 486;  rel-prov-busy: reliable 183 then 486
//       rel-prov-prov-busy reliable 180, reliable 183 once the 180 is PRACKed, 486 once the
//                          183 is (NkSIP t17 basic)
//       rel-prov-pending   reliable 180 and at once a reliable 183 (refused: pending_prack,
//                          reported as {"ev":"error"}), 486 once the 180 is PRACKed
//       rel-answer         reliable 183 answering the INVITE's offer, 200 with the same
//                          answer once PRACKed (and x-nk-sleep ms later)
//       rel-offer          (INVITE without SDP) reliable 183 with an offer, 200 with it once
//                          PRACKed (the PRACK carries the answer)
//       pending            180 and no final answer (wait for CANCEL or a timeout)
//       wait               noreply and no answer at all
//       ignore             never answer the callback (the server's deadline applies)
//   x-nk-prov: true|<code> send a provisional first (180, or that code), then the answer
//   x-nk-sleep: <ms>       wait before answering (inside the callback unless x-nk-prov is set);
//                          x-nk-sleep-<app name> for that app only
//   x-nk-proxy: <uris>     proxy instead of processing: one line per hop, this app takes the
//                          first line and forwards the rest; `,` separates parallel URIs and
//                          `|` serial groups. x-nk-proxy-mode: stateless | strict (default
//                          stateful).
//   x-nk-rr                with x-nk-proxy: Record-Route
//   x-nk-redirect          with x-nk-proxy: follow redirects
//   x-nk-auth: [realm|proxy[:realm]][;nodialog]  challenge unless the request carries a valid
//                          credential, comes from a peer authorised in its dialog (not with
//                          ;nodialog) or from a registered contact; a wrong one gets 403
//   x-nk-path              with x-nk-proxy: add Path to a REGISTER (RFC 3327)
//   x-nk-contact: <uri>    Contacts of a 3xx answer (x-nk-op 3xx)
//   x-nk-route: <uri>, x-nk-add: `Name: value`, x-nk-remove: <name>, x-nk-clear-route
//                          in NKSIP_ROUTE modes: Route inserted, headers added or removed, the
//                          request's own Route headers removed, by the first proxy only (they
//                          are removed from what it forwards); x-nk-rr, x-nk-path,
//                          x-nk-redirect and x-nk-branch apply there too, at every proxy
//   x-nk-branch: <what>    with x-nk-proxy or NKSIP_ROUTE: be told of each branch's final
//                          (printed as {"ev":"branch",...}) and answer `continue` (default),
//                          `fork <uri>[,<uri>...]` (a new parallel group) or `reply <code>`
//   x-nk-reg: <op> [<aor> [<contact>]]  (on MESSAGE) ask this app's registrar: find, qfind,
//                          delete or clear; answered 200 with x-nk-reg-result: <JSON result>,
//                          or 500 with x-nk-reg-error: <message>
//   x-nk-id                this app appends its name to x-nk-id in its answers and in the
//                          requests it forwards
//   x-nk-uac: <METHOD> <uri>   (on MESSAGE) send that request from the app, then answer the
//                          MESSAGE 200 with x-nk-uac-status: <final code> (or `error` and
//                          x-nk-uac-error: <kind>); an INVITE offers SDP, is ACKed and hung up
//                          (x-nk-uac-bye-status). x-nk-uac-header: `Name: value` lines are
//                          added to the request sent. x-nk-uac-pass: `password[;realm=R][;user=U]`
//                          lines are its credentials; x-nk-uac-max-tries: N bounds the answers
//                          to challenges. x-nk-uac-dialog: <handle> sends it in that dialog;
//                          x-nk-uac-keep: the INVITE's dialog stays up (no BYE) and its handle
//                          comes back as x-nk-uac-dialog. The answer carries x-nk-uac-cseq.
//                          With the uri `dialog` (on a MESSAGE in a dialog) the request goes
//                          in the MESSAGE's dialog: UPDATE and INVITE offer SDP, `REFRESH`
//                          (mode in x-nk-uac-refresh) re-INVITEs with the session's SDP,
//                          PRACK is a manual PRACK. x-nk-uac-no-sdp: the INVITE goes without
//                          an offer; x-nk-uac-prack-body: the PRACKs of the INVITE carry an SDP.
//   x-nk-authlist: <dialog>   (on MESSAGE) answer 200 with x-nk-authlist: the dialog's
//                          authorised sources; x-nk-authclear: <dialog> empties it first.
//
// Control (stdin): a test drives the app as NkSIP's tests drive nksip_uac, one JSON command per
// line; what happens comes back as events on stdout:
//   {"id":"c1","cmd":"request","method":"INVITE","uri":"sip:…","opts":{…}}   out of a dialog
//   {"id":"c2","cmd":"request","method":"BYE","dialog":"D_…","opts":{…}}      in a dialog
//   {"id":"c3","cmd":"cancel","call":"c1","reason":"…"}                        CANCEL request c1
//   {"id":"c4","cmd":"dialog","dialog":"D_…"} → result with `info` (DialogInfo, or null)
//   {"id":"c5","cmd":"dialogs","callId":"…"}  → result with `infos`
//   {"id":"c6","cmd":"stop-dialog","dialog":"D_…"} → result with `stopped` (no BYE is sent)
//   {"id":"c7","cmd":"leave"} → the app stops (leaves the server) and the process stays to
//      read commands: a request now is NkSIP's service_not_started (result `left: true`)
//   {"id":"c8","cmd":"stun","uri":"sip:host:port"} → result with `local` and `public`
//      ({address, port}: NkSIP's nksip_uac:stun), or `error` and `message`
//   → {"ev":"provisional","id":"c1","code":180,"reason":…,"dialog":"D_…"} for each 1xx
//   → {"ev":"result","id":"c1","code":200,"reason":"OK","dialog":…,"callId":…,"cseq":…,
//      "headers":[[name,value]…],"body":"…"}   or   {"ev":"result","id":"c1","error":"<kind>",
//      "message":"…"}
// `opts` is UacOptions as JSON: headers as [[name, value]…] (added), body as text, and the
// rest as they are (pass, expires, auto2xxAck, noAutoExpire, reason, cseq, contact, ...).
//
// Output: one JSON line per event on stdout ({"ev":"ready",...}, {"ev":"callback",...}: the
// route one names the transport the request came by, `transport`: `udp 127.0.0.1:5060 127.0.0.1:40000`,
// {"ev":"dialog",...}, {"ev":"session","kind":...,"local":<o= version>,"remote":...,"via":
// "callback"|"notification"}, ...), so a test can wait for readiness and check what the app saw.
import {
  Authorize,
  addHeader,
  answer,
  answerSdp,
  Branch,
  type BranchAnswer,
  busy,
  type Credential,
  type DialogInfo,
  decline,
  type HeaderEdit,
  invalidRequest,
  type MethodAnswer,
  newSdp,
  noreply,
  ok,
  type ProxyOptions,
  type RawAnswer,
  type RefreshMode,
  type Reply,
  Route,
  raw,
  relRinging,
  relSessionProgress,
  removeHeader,
  replaceHeader,
  ringing,
  type SessionUpdateEvent,
  SipApp,
  type SipAppCallbacks,
  type SipRequest,
  type SipResponse,
  sessionProgress,
  status,
  type UacCall,
  UacError,
  type UacOptions,
} from '@nksip/sipapp';

const NAME = process.env.NKSIP_APP ?? 'conformance';
const PASSWORD = process.env.NKSIP_PASS ?? '1234';
const PLUGINS = (process.env.NKSIP_PLUGINS ?? '').split(',').filter(Boolean);
const ROUTE_MODE = process.env.NKSIP_ROUTE ?? '';
// set once started: the registrar commands need the app's stream
let app: SipApp | undefined;
function started(): SipApp {
  if (!app) throw new Error('not started');
  return app;
}

// `[realm/]password` or `password;realm=R;user=U` → a credential
function credential(text: string): Credential {
  const [first = '', ...params] = text.trim().split(';');
  const c: { realm?: string; user?: string; password: string } = { password: first };
  const slash = first.indexOf('/');
  if (slash >= 0) {
    c.realm = first.slice(0, slash);
    c.password = first.slice(slash + 1);
  }
  for (const p of params) {
    const [k, v = ''] = p.split('=');
    if (k?.trim() === 'realm') c.realm = v.trim();
    if (k?.trim() === 'user') c.user = v.trim();
  }
  return c;
}

const SIP_PASS = (process.env.NKSIP_SIP_PASS ?? '')
  .split(',')
  .filter((p) => p.trim() !== '')
  .map(credential);

const emit = (ev: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ ev, app: NAME, ...fields })}\n`);
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// x-nk-id: the values received plus this app's name, as one line.
function idHeaders(req: SipRequest): HeaderEdit[] {
  const ids = req
    .headers('x-nk-id')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return [replaceHeader('x-nk-id', [...ids, NAME].join(','))];
}

// The request as received, for reply-request.
function requestText(req: SipRequest): string {
  const lines = [
    `${req.method} ${req.ruri.raw} SIP/2.0`,
    ...req.allHeaders.map((h) => `${h.name}: ${h.value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${req.text}`;
}

function finalReply(op: string, req: SipRequest): Reply | 'none' {
  const headers = idHeaders(req);
  if (/^3\d\d$/.test(op)) return status(Number(op), { headers, contacts: req.headers('x-nk-contact') });
  if (/^[1-6]\d\d$/.test(op)) return status(Number(op), { headers });
  switch (op) {
    case 'ok':
    case 'reply-stateless':
    case 'reply-stateful':
      return ok({ headers });
    case 'busy':
    case 'prov-busy':
    case 'rel-prov-busy':
    case 'rel-prov-prov-busy':
    case 'rel-prov-pending':
      return busy({ headers });
    case 'rel-answer':
    case 'rel-offer':
      return ok({ headers });
    case 'decline':
      return decline({ headers });
    case 'answer':
      return answer(req.body, { headers, contentType: req.contentType || undefined });
    case 'reply-request':
      return ok({ headers, body: requestText(req), contentType: 'message/sip' });
    case 'wait':
    case 'pending':
      return 'none';
    default:
      return invalidRequest(`Unknown x-nk-op ${op}`, { headers });
  }
}

function provisionalReply(op: string, req: SipRequest): Reply | undefined {
  if (op === 'prov-busy') return sessionProgress();
  if (op === 'rel-prov-busy') return relSessionProgress();
  if (op === 'pending') return ringing();
  const prov = req.header('x-nk-prov');
  if (prov === undefined) return undefined;
  return /^1\d\d$/.test(prov) ? status(Number(prov)) : ringing();
}

// Every method callback: answer as the headers say.
const handle = (req: SipRequest) => handleAs(req, req.method.toLowerCase());

// `kind`: the callback's name (reinvite, resubscribe differ from the method)
async function handleAs(req: SipRequest, kind: string): Promise<MethodAnswer | RawAnswer> {
  emit('callback', {
    kind,
    method: req.method,
    callId: req.callId,
    dialog: req.dialogHandle,
  });
  if (req.method === 'MESSAGE' && req.hasHeader('x-nk-uac')) {
    void runUac(req);
    return noreply();
  }
  if (req.method === 'MESSAGE' && (req.hasHeader('x-nk-authlist') || req.hasHeader('x-nk-authclear'))) {
    const clear = req.header('x-nk-authclear');
    const handle = (clear ?? req.header('x-nk-authlist') ?? '').trim();
    const list =
      clear !== undefined
        ? await started().clearAuthorizedList(handle)
        : await started().authorizedList(handle);
    return ok({ headers: { 'x-nk-authlist': list === undefined ? 'unknown' : list.join(',') } });
  }
  if (req.method === 'PRACK') prackSeen(req.callId);
  if (req.method === 'MESSAGE' && req.hasHeader('x-nk-reg')) return registrarOp(req);
  const user = req.ruri.user;
  const op = (
    (user !== '' ? req.header(`x-nk-op-${user}`) : undefined) ??
    req.header(`x-nk-op-${NAME}`) ??
    req.header('x-nk-op') ??
    'ok'
  )
    .trim()
    .toLowerCase();
  if (req.method === 'INVITE' && REL_FLOWS.has(op)) {
    void relFlow(req, op);
    return noreply();
  }
  if (op === 'ignore') return new Promise<never>(() => undefined);
  if (op === 'reply-invalid')
    return raw({ $case: 'route', value: { decision: { $case: 'process', value: {} } } });
  const delay = Number(req.header(`x-nk-sleep-${NAME}`) ?? req.header('x-nk-sleep') ?? 0) || 0;
  const provisional = provisionalReply(op, req);
  const final = finalReply(op, req);
  if (provisional === undefined) {
    if (delay > 0) await sleep(delay);
    return final === 'none' ? noreply() : final;
  }
  // A provisional first: answer later through the request handle.
  req.reply(provisional);
  if (final !== 'none') {
    void sleep(delay).then(() => {
      try {
        req.reply(final);
      } catch (e) {
        emit('error', { where: 'late reply', message: String(e) });
      }
    });
  }
  return noreply();
}

// PRACKs seen per Call-ID, and who waits for them.
const pracks = new Map<string, number>();
const prackWaiters: (() => void)[] = [];

function prackSeen(callId: string): void {
  pracks.set(callId, (pracks.get(callId) ?? 0) + 1);
  for (const w of prackWaiters.splice(0)) w();
}

/** Resolves once `n` PRACKs of `callId` arrived (false after `ms`). */
async function waitPracks(callId: string, n: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while ((pracks.get(callId) ?? 0) < n) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      prackWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
  return true;
}

const REL_FLOWS = new Set(['rel-prov-prov-busy', 'rel-prov-pending', 'rel-answer', 'rel-offer']);

// The reliable provisional flows (NkSIP t17): each step waits for the PRACK of the last.
async function relFlow(req: SipRequest, op: string): Promise<void> {
  const headers = idHeaders(req);
  const delay = Number(req.header('x-nk-sleep') ?? 0) || 0;
  const send = (r: Reply) => {
    try {
      req.reply(r);
    } catch (e) {
      emit('error', { where: 'late reply', message: String(e) });
    }
  };
  switch (op) {
    case 'rel-prov-prov-busy':
      send(relRinging());
      await waitPracks(req.callId, 1);
      send(relSessionProgress());
      await waitPracks(req.callId, 2);
      send(busy({ headers }));
      return;
    case 'rel-prov-pending':
      send(relRinging());
      send(relSessionProgress());
      await waitPracks(req.callId, 1);
      send(busy({ headers }));
      return;
    case 'rel-answer': {
      const sdp = answerSdp(req.text, { port: 40004, user: NAME });
      send(relSessionProgress(sdp));
      await waitPracks(req.callId, 1);
      if (delay > 0) await sleep(delay);
      send(answer(sdp, { headers }));
      return;
    }
    default: {
      const sdp = newSdp({ user: NAME, media: [{ port: 40006, formats: [0] }] });
      send(relSessionProgress(sdp));
      await waitPracks(req.callId, 1);
      send(answer(sdp, { headers }));
    }
  }
}

/** The o= version of an SDP body ('' when none). */
function sdpVersion(b: Buffer): string {
  return /^o=\S+ \S+ (\d+)/m.exec(b.toString('latin1'))?.[1] ?? '';
}

// x-nk-reg: the registrar commands (find, qfind, delete, clear) on this app's registrar.
async function registrarOp(req: SipRequest): Promise<MethodAnswer> {
  const [op = '', aor = '', contact = ''] = (req.header('x-nk-reg') ?? '').trim().split(/\s+/);
  const headers = idHeaders(req);
  try {
    const reg = started().registrar;
    let result: unknown;
    if (op === 'find') result = await reg.find(aor);
    else if (op === 'qfind') result = await reg.qfind(aor);
    else if (op === 'delete') result = await reg.delete(aor, contact);
    else if (op === 'clear') result = await reg.clear().then(() => true);
    else throw new Error(`unknown x-nk-reg op ${op}`);
    return ok({ headers: [...headers, replaceHeader('x-nk-reg-result', JSON.stringify(result))] });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return status(500, { headers: [...headers, replaceHeader('x-nk-reg-error', message)] });
  }
}

// NKSIP_ROUTE=registrar: NkSIP's test proxy, routing to the registered contacts of the R-URI.
async function registrarRoute(req: SipRequest, options: ProxyOptions) {
  if (req.to.tag !== '') return Route.proxy([], options);
  const u = req.ruri;
  const set = app ? await app.registrar.qfind(u.raw) : [];
  if (set.length === 0) return Route.reply(status(480, { headers: idHeaders(req) }));
  return (req.header('x-nk-proxy-mode') ?? '').trim().toLowerCase() === 'stateless'
    ? Route.proxyStateless(set, options)
    : Route.proxy(set, options);
}

// The proxy options of NKSIP_ROUTE modes, from the request's x-nk-* headers.
function modeOptions(req: SipRequest): ProxyOptions {
  const edits = req.headers('x-nk-add').map((line) => {
    const i = line.indexOf(':');
    return addHeader(line.slice(0, i).trim(), line.slice(i + 1).trim());
  });
  return {
    recordRoute: req.hasHeader('x-nk-rr'),
    path: req.hasHeader('x-nk-path'),
    followRedirects: req.hasHeader('x-nk-redirect'),
    branchEvents: req.hasHeader('x-nk-branch'),
    route: req.headers('x-nk-route'),
    headers: [
      ...idHeaders(req),
      ...edits,
      ...req.headers('x-nk-remove').map((n) => removeHeader(n.trim())),
      ...(req.hasHeader('x-nk-clear-route') ? [removeHeader('route')] : []),
      // consumed here: the next proxy does not apply them again
      ...['x-nk-route', 'x-nk-add', 'x-nk-remove', 'x-nk-clear-route']
        .filter((h) => req.hasHeader(h))
        .map((h) => removeHeader(h)),
    ],
  };
}

// x-nk-branch: what to answer to each branch's final response.
function branchAnswer(req: SipRequest): BranchAnswer {
  const [what = 'continue', arg = ''] = (req.header('x-nk-branch') ?? '').trim().split(/\s+/);
  if (what === 'fork') {
    const uris = arg
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    return Branch.fork([uris], { recordRoute: req.hasHeader('x-nk-rr') });
  }
  if (what === 'reply') return Branch.reply(status(Number(arg) || 500, { headers: idHeaders(req) }));
  return Branch.continue();
}

// x-nk-uac: send a request from the app and report its outcome in the MESSAGE's answer.
async function runUac(req: SipRequest): Promise<void> {
  const [method = 'OPTIONS', uri = ''] = (req.header('x-nk-uac') ?? '').trim().split(/\s+/);
  const headers = req.headers('x-nk-uac-header').map((line) => {
    const i = line.indexOf(':');
    return addHeader(line.slice(0, i).trim(), line.slice(i + 1).trim());
  });
  const result: Record<string, string> = {};
  const m = method.toUpperCase();
  const inDialog = req.header('x-nk-uac-dialog')?.trim();
  const pass = req.headers('x-nk-uac-pass').map(credential);
  const maxTries = req.header('x-nk-uac-max-tries');
  const auth: UacOptions = {
    ...(pass.length > 0 ? { pass } : {}),
    ...(maxTries !== undefined ? { authMaxTries: Number(maxTries) } : {}),
  };
  try {
    if (uri === 'dialog') {
      // in the MESSAGE's dialog: the outcome is reported, the dialog left as it is
      const dialog = req.dialogHandle;
      const res =
        m === 'REFRESH'
          ? await started().refresh(dialog, (req.header('x-nk-uac-refresh') ?? 'keep') as RefreshMode, {
              headers,
              auto2xxAck: true,
              ...auth,
            })
          : await started().request(
              m,
              { dialog },
              {
                headers,
                ...(m === 'UPDATE' || m === 'INVITE' ? { body: sdpOffer() } : {}),
                ...(m === 'INVITE' ? { auto2xxAck: true } : {}),
                ...auth,
              },
            );
      result['x-nk-uac-status'] = String(res.code);
      result['x-nk-uac-reason'] = res.reason;
      result['x-nk-uac-sdp-version'] = sdpVersion(res.body);
      throw DONE;
    }
    const isInvite = m === 'INVITE';
    const withSdp = isInvite && !req.hasHeader('x-nk-uac-no-sdp');
    const res = await started().request(method, inDialog ? { dialog: inDialog } : uri, {
      headers,
      ...(withSdp ? { body: sdpOffer(), contentType: 'application/sdp' } : {}),
      ...(isInvite ? { auto2xxAck: true } : {}),
      ...(isInvite && req.hasHeader('x-nk-uac-prack-body') ? { prackBody: sdpOffer() } : {}),
      ...auth,
    });
    result['x-nk-uac-status'] = String(res.code);
    result['x-nk-uac-reason'] = res.reason;
    result['x-nk-uac-cseq'] = String(res.cseq);
    if (isInvite && res.ok && res.dialogHandle && !inDialog) {
      if (req.hasHeader('x-nk-uac-keep')) {
        result['x-nk-uac-dialog'] = res.dialogHandle;
      } else {
        const bye = await started().bye(res.dialogHandle);
        result['x-nk-uac-bye-status'] = String(bye.code);
      }
    }
  } catch (e) {
    if (e !== DONE) {
      result['x-nk-uac-status'] = 'error';
      result['x-nk-uac-error'] = e instanceof UacError ? e.kind : String(e);
    }
  }
  emit('uac', { method, uri, ...result });
  try {
    req.reply(ok({ headers: { ...result } }));
  } catch (e) {
    emit('error', { where: 'uac late reply', message: String(e) });
  }
}

const DONE = Symbol('done');

function sdpOffer(): string {
  const id = Date.now();
  return `v=0\r\no=${NAME} ${id} ${id} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
}

const callbacks: SipAppCallbacks = {
  route: (req) => {
    const t = req.transport;
    emit('callback', {
      kind: 'route',
      method: req.method,
      callId: req.callId,
      ruri: req.ruri.raw,
      transport: `${t.transport} ${t.localIp}:${t.localPort} ${t.remoteIp}:${t.remotePort}`,
    });
    const op = (req.header('x-nk-op') ?? '').trim().toLowerCase();
    if (op === 'reply-stateless') return Route.replyStateless(ok({ headers: idHeaders(req) }));
    if (op === 'reply-stateful') return Route.reply(ok({ headers: idHeaders(req) }));
    if (op === 'route-invalid')
      return raw({ $case: 'method', value: { decision: { $case: 'noreply', value: {} } } });
    const [hop, ...next] = req.headers('x-nk-proxy');
    if (hop === undefined) {
      if (ROUTE_MODE === 'forward') return Route.proxy([], modeOptions(req));
      if (ROUTE_MODE === 'strict') return Route.strictProxy([], modeOptions(req));
      const inDialog = req.to.tag !== '';
      if (ROUTE_MODE === 'registrar' && req.method !== 'REGISTER' && (inDialog || req.ruri.user !== '')) {
        return registrarRoute(req, modeOptions(req));
      }
      return Route.process();
    }
    const uriSet = hop
      .split('|')
      .map((group) => group.split(',').map((u) => u.trim().replace(/^<(.*)>$/, '$1')))
      .map((group) => group.filter(Boolean))
      .filter((group) => group.length > 0);
    const options = {
      recordRoute: req.hasHeader('x-nk-rr'),
      followRedirects: req.hasHeader('x-nk-redirect'),
      path: req.hasHeader('x-nk-path'),
      branchEvents: req.hasHeader('x-nk-branch'),
      headers: [
        removeHeader('x-nk-proxy'),
        ...next.map((h) => addHeader('x-nk-proxy', h)),
        ...idHeaders(req),
      ],
    };
    switch ((req.header('x-nk-proxy-mode') ?? '').trim().toLowerCase()) {
      case 'stateless':
        return Route.proxyStateless(uriSet, options);
      case 'strict':
        return Route.strictProxy(uriSet, options);
      default:
        return Route.proxy(uriSet, options);
    }
  },

  invite: handle,
  reinvite: (req) => handleAs(req, 'reinvite'),
  bye: handle,
  options: handle,
  info: handle,
  update: handle,
  message: handle,
  subscribe: handle,
  resubscribe: (req) => handleAs(req, 'resubscribe'),
  notify: handle,
  refer: handle,
  publish: handle,
  prack: handle,

  // x-nk-auth: challenge until the request carries a credential that checks out.
  authorize: (auth, req) => {
    const header = req.header('x-nk-auth');
    if (header === undefined) return Authorize.ok();
    const [want = '', ...flags] = header.trim().split(';');
    emit('callback', {
      kind: 'authorize',
      method: req.method,
      callId: req.callId,
      dialog: auth.dialog,
      register: auth.register,
      digests: auth.digests.map((d) => `${d.user}@${d.realm}:${d.ok}`),
    });
    if (auth.dialog && !flags.includes('nodialog')) return Authorize.ok();
    if (auth.register) return Authorize.ok();
    if (auth.digests.some((d) => d.ok)) return Authorize.ok();
    if (auth.digests.length > 0) return Authorize.forbidden();
    const [kind, realm] = want.split(':');
    if (kind === 'proxy') return Authorize.proxyAuthenticate(realm || undefined);
    return Authorize.authenticate(want && want !== 'true' ? want : undefined);
  },
  getUserPass: (user) => (user === 'anonymous' ? '' : PASSWORD),

  ack: (req) => emit('callback', { kind: 'ack', callId: req.callId, dialog: req.dialogHandle }),
  cancel: (invite) => emit('callback', { kind: 'cancel', callId: invite.callId }),
  dialogUpdate: (u) =>
    emit('dialog', {
      dialog: u.dialogHandle,
      status: u.status,
      inviteStatus: u.inviteStatus,
      stopReason: u.stopReason,
      refreshSdp: sdpVersion(u.sdp),
      via: 'callback',
    }),
  sessionUpdate: (u) => emitSession(u, 'callback'),
  branchFinal: (b, req) => {
    emit('branch', { callId: req.callId, uri: b.uri, code: b.response.code, pending: b.pending });
    return branchAnswer(req);
  },
};

// ---- control from stdin

interface Command {
  id: string;
  cmd: string;
  method?: string;
  uri?: string;
  dialog?: string;
  subscription?: string;
  call?: string;
  reason?: string;
  opts?: Record<string, unknown> & { headers?: [string, string][]; body?: string };
}

const calls = new Map<string, UacCall>();

function responseFields(r: SipResponse): Record<string, unknown> {
  return {
    code: r.code,
    reason: r.reason,
    dialog: r.dialogHandle,
    subscription: r.subscriptionHandle,
    callId: r.callId,
    cseq: r.cseq,
    headers: r.allHeaders.map((h) => [h.name, h.value]),
    body: r.body.toString('utf8'),
  };
}

function uacOptions(c: Command): UacOptions {
  const { headers, body, ...rest } = c.opts ?? {};
  const opts: UacOptions = { ...(rest as UacOptions), provisionals: true };
  if (headers) opts.headers = headers.map(([n, v]) => addHeader(n, v));
  if (body !== undefined) opts.body = body;
  return opts;
}

function runCommand(c: Command): void {
  let call: UacCall;
  try {
    if (c.cmd === 'request') {
      const target = c.dialog
        ? { dialog: c.dialog }
        : c.subscription
          ? { subscription: c.subscription }
          : (c.uri ?? '');
      call = started().request(c.method ?? 'OPTIONS', target, uacOptions(c));
    } else if (c.cmd === 'dialog' || c.cmd === 'dialogs' || c.cmd === 'stop-dialog') {
      runDialogCommand(c);
      return;
    } else if (c.cmd === 'leave') {
      void started()
        .stop()
        .then(() => emit('result', { id: c.id, left: true }));
      return;
    } else if (c.cmd === 'stun') {
      started()
        .stun(c.uri ?? '')
        .then(
          (r) => emit('result', { id: c.id, local: r.local, public: r.public }),
          (e: unknown) =>
            emit('result', {
              id: c.id,
              error: e instanceof UacError ? e.kind : 'exception',
              message: e instanceof Error ? e.message : String(e),
            }),
        );
      return;
    } else if (c.cmd === 'cancel') {
      const invite = calls.get(c.call ?? '');
      if (!invite) throw new Error(`no call ${c.call}`);
      call = started().cancel(invite, c.reason !== undefined ? { reason: c.reason } : {});
    } else {
      throw new Error(`unknown command ${c.cmd}`);
    }
  } catch (e) {
    emit('result', { id: c.id, error: 'command', message: String(e) });
    return;
  }
  calls.set(c.id, call);
  void (async () => {
    // every provisional is printed before the result, even when they arrived together
    for await (const p of call) emit('provisional', { id: c.id, ...responseFields(p) });
    await call.final.then(
      (r) => emit('result', { id: c.id, ...responseFields(r) }),
      (e: unknown) =>
        emit('result', {
          id: c.id,
          error: e instanceof UacError ? e.kind : 'exception',
          message: e instanceof Error ? e.message : String(e),
        }),
    );
  })();
}

// dialog (handle in `dialog`), dialogs (Call-ID in `callId`), stop-dialog (handle in `dialog`)
// A DialogInfo as printed: SDP bodies as text, as every conformance app prints them.
function dialogJson(d: DialogInfo): Record<string, unknown> {
  return {
    ...d,
    inviteLocalSdp: d.inviteLocalSdp?.toString('utf8'),
    inviteRemoteSdp: d.inviteRemoteSdp?.toString('utf8'),
  };
}

function runDialogCommand(c: Command & { callId?: string }): void {
  const done = (fields: Record<string, unknown>) => emit('result', { id: c.id, ...fields });
  const failed = (e: unknown) =>
    done({ error: 'dialog', message: e instanceof Error ? e.message : String(e) });
  const handle = c.dialog ?? '';
  if (c.cmd === 'dialog')
    started()
      .dialog(handle)
      .then((d) => done({ info: d ? dialogJson(d) : null }), failed);
  else if (c.cmd === 'dialogs')
    started()
      .dialogs(c.callId ?? '')
      .then((ds) => done({ infos: ds.map(dialogJson) }), failed);
  else
    started()
      .stopDialog(handle)
      .then(() => done({ stopped: handle }), failed);
}

function readCommands(): void {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        runCommand(JSON.parse(line) as Command);
      } catch (e) {
        emit('error', { where: 'command', message: String(e), line });
      }
    }
  });
}

function emitSession(u: SessionUpdateEvent, via: string): void {
  emit('session', {
    dialog: u.dialogHandle,
    kind: u.kind,
    local: sdpVersion(u.localSdp),
    remote: sdpVersion(u.remoteSdp),
    via,
  });
}

const timers = (process.env.NKSIP_TIMERS ?? '').split(',').filter(Boolean);
app = await SipApp.start(
  {
    app: NAME,
    server: process.env.NKSIP_SERVER,
    listen: process.env.NKSIP_LISTEN?.split(',').filter(Boolean),
    token: process.env.NKSIP_TOKEN,
    pass: SIP_PASS,
    maxCalls: process.env.NKSIP_MAX_CALLS ? Number(process.env.NKSIP_MAX_CALLS) : undefined,
    plugins: [
      ...PLUGINS,
      ...(timers.length === 2
        ? [{ name: 'timers', options: { se: timers[0] ?? '', min_se: timers[1] ?? '' } }]
        : []),
    ],
  },
  callbacks,
);

app.on('started', (info) => emit('started', { ...info }));
app.on('disconnected', (e) => emit('disconnected', { message: e?.message }));
app.on('callbackExpired', (e) => emit('expired', { ...e }));
app.on('connectionLost', (e) => emit('connection-lost', { ...e }));
app.on('callbackError', (name, e) => emit('callback-error', { name, message: String(e) }));
app.on('error', (e) => emit('error', { code: e.code, message: e.message, ref: e.ref }));
readCommands();
// dialog and session changes sent as notifications rather than callbacks (none today: the
// app's own requests report theirs by callback too); printed should a server send them
app.on('sessionUpdate', (u) => emitSession(u, 'notification'));
app.on('dialogUpdate', (u) =>
  emit('dialog', {
    dialog: u.dialogHandle,
    status: u.status,
    inviteStatus: u.inviteStatus,
    stopReason: u.stopReason,
    via: 'notification',
  }),
);
emit('ready', { ...app.startedInfo });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.stop().then(() => process.exit(0));
  });
}
