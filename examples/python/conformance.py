"""conformance: the NkSIP test peer (reference/nksip.md §7) as a Python SipApp, driven by
request headers. It mirrors examples/typescript/conformance.ts (the reference: its header
comment lists every x-nk-* header, the stdin control commands and the stdout event lines);
the cross-language suite in test/conformance drives both the same way.

    clients/python/.venv/bin/python examples/python/conformance.py

Environment: NKSIP_SERVER, NKSIP_APP, NKSIP_LISTEN, NKSIP_TOKEN, NKSIP_PASS, NKSIP_SIP_PASS,
NKSIP_MAX_CALLS, NKSIP_TIMERS, NKSIP_PLUGINS, NKSIP_ROUTE, as the TypeScript app reads them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from typing import Any

from nksip import (
    NOREPLY,
    AuthInfo,
    Authorize,
    AuthorizeDecision,
    Branch,
    BranchDecision,
    BranchEvent,
    CallbackExpiredEvent,
    Credential,
    DialogUpdateEvent,
    HeaderEdit,
    MethodAnswer,
    Plugin,
    Raw,
    Reply,
    Route,
    RouteDecision,
    ServerError,
    SessionUpdateEvent,
    SipApp,
    SipRequest,
    SipResponse,
    StartedInfo,
    UacCall,
    UacError,
    UacOptions,
    add_header,
    answer,
    busy,
    decline,
    invalid_request,
    ok,
    rel_ringing,
    rel_session_progress,
    remove_header,
    replace_header,
    ringing,
    session_progress,
    status,
)
from nksip.decisions import ProxyOptions
from nksip.sdp import Media, answer_sdp, new_sdp, sdp_version
from nksip.v1 import decisions_pb2, service_pb2

NAME = os.environ.get("NKSIP_APP") or "conformance"
PASSWORD = os.environ.get("NKSIP_PASS") or "1234"
PLUGINS = [p for p in os.environ.get("NKSIP_PLUGINS", "").split(",") if p]
ROUTE_MODE = os.environ.get("NKSIP_ROUTE", "")


def credential(text: str) -> Credential:
    """``[realm/]password`` or ``password;realm=R;user=U``."""
    first, *params = text.strip().split(";")
    realm, user, password = "", "", first
    if "/" in first:
        realm, password = first.split("/", 1)
    for p in params:
        k, _, v = p.partition("=")
        if k.strip() == "realm":
            realm = v.strip()
        if k.strip() == "user":
            user = v.strip()
    return Credential(password=password, realm=realm, user=user)


SIP_PASS = [credential(p) for p in os.environ.get("NKSIP_SIP_PASS", "").split(",") if p.strip()]


def emit(ev: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"ev": ev, "app": NAME, **fields}) + "\n")
    sys.stdout.flush()


def camel(s: str) -> str:
    first, *rest = s.split("_")
    return first + "".join(w.capitalize() for w in rest)


def id_headers(req: SipRequest) -> list[HeaderEdit]:
    """x-nk-id: the values received plus this app's name, as one line."""
    ids = [v.strip() for line in req.headers("x-nk-id") for v in line.split(",") if v.strip()]
    return [replace_header("x-nk-id", ",".join([*ids, NAME]))]


def request_text(req: SipRequest) -> str:
    lines = [f"{req.method} {req.ruri.raw} SIP/2.0", *(f"{n}: {v}" for n, v in req.all_headers)]
    return "\r\n".join(lines) + "\r\n\r\n" + req.text


def final_reply(op: str, req: SipRequest) -> Reply | None:
    headers = id_headers(req)
    if re.fullmatch(r"3\d\d", op):
        return status(int(op), headers=headers, contacts=req.headers("x-nk-contact"))
    if re.fullmatch(r"[1-6]\d\d", op):
        return status(int(op), headers=headers)
    if op in ("ok", "reply-stateless", "reply-stateful", "rel-answer", "rel-offer"):
        return ok(headers=headers)
    if op in ("busy", "prov-busy", "rel-prov-busy", "rel-prov-prov-busy", "rel-prov-pending"):
        return busy(headers=headers)
    if op == "decline":
        return decline(headers=headers)
    if op == "answer":
        return answer(req.body, headers=headers, content_type=req.content_type)
    if op == "reply-request":
        return ok(headers=headers, body=request_text(req), content_type="message/sip")
    if op in ("wait", "pending"):
        return None
    return invalid_request(f"Unknown x-nk-op {op}", headers=headers)


def provisional_reply(op: str, req: SipRequest) -> Reply | None:
    if op == "prov-busy":
        return session_progress()
    if op == "rel-prov-busy":
        return rel_session_progress()
    if op == "pending":
        return ringing()
    prov = req.header("x-nk-prov")
    if prov is None:
        return None
    return status(int(prov)) if re.fullmatch(r"1\d\d", prov) else ringing()


REL_FLOWS = {"rel-prov-prov-busy", "rel-prov-pending", "rel-answer", "rel-offer"}


def sdp_offer() -> str:
    i = int(time.time() * 1000)
    return (
        f"v=0\r\no={NAME} {i} {i} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def response_fields(r: SipResponse) -> dict[str, Any]:
    return {
        "code": r.code,
        "reason": r.reason,
        "dialog": r.dialog_handle,
        "subscription": r.subscription_handle,
        "callId": r.call_id,
        "cseq": r.cseq,
        "headers": [[n, v] for n, v in r.all_headers],
        "body": r.body.decode("utf-8", errors="replace"),
    }


# UacOptions keys as the tests write them (camelCase JSON) → the SDK's names
_OPT_NAMES = {"from": "from_", "pass": "sip_pass", "auto2xxAck": "auto_2xx_ack"}


def uac_options(opts: dict[str, Any]) -> UacOptions:
    out: dict[str, Any] = {"provisionals": True}
    for k, v in opts.items():
        if k == "headers":
            out["headers"] = [add_header(n, val) for n, val in v]
        elif k == "pass":
            out["sip_pass"] = (
                v
                if isinstance(v, str)
                else [Credential(c["password"], c.get("realm", ""), c.get("user", "")) for c in v]
            )
        else:
            key = _OPT_NAMES.get(k) or re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), k)
            out[key] = v
    return out  # type: ignore[return-value]


def mode_options(req: SipRequest) -> ProxyOptions:
    """The proxy options of NKSIP_ROUTE modes, from the request's x-nk-* headers."""
    edits = []
    for line in req.headers("x-nk-add"):
        n, _, v = line.partition(":")
        edits.append(add_header(n.strip(), v.strip()))
    return {
        "record_route": req.has_header("x-nk-rr"),
        "path": req.has_header("x-nk-path"),
        "follow_redirects": req.has_header("x-nk-redirect"),
        "branch_events": req.has_header("x-nk-branch"),
        "route": req.headers("x-nk-route"),
        "headers": [
            *id_headers(req),
            *edits,
            *(remove_header(n.strip()) for n in req.headers("x-nk-remove")),
            *([remove_header("route")] if req.has_header("x-nk-clear-route") else []),
            # consumed here: the next proxy does not apply them again
            *(
                remove_header(h)
                for h in ("x-nk-route", "x-nk-add", "x-nk-remove", "x-nk-clear-route")
                if req.has_header(h)
            ),
        ],
    }


class Conformance(SipApp):
    def __init__(self, **kw: Any) -> None:
        super().__init__(NAME, **kw)
        self.pracks: dict[str, int] = {}
        self.prack_seen = asyncio.Condition()
        self.calls: dict[str, UacCall] = {}
        self.bg: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self.bg.add(t)
        t.add_done_callback(self.bg.discard)

    # ---- hooks

    def on_started(self, info: StartedInfo) -> None:
        emit(
            "started",
            app=info.app,
            instanceId=info.instance_id,
            listeners=info.listeners,
            serverVersion=info.server_version,
            instances=info.instances,
            reconnected=info.reconnected,
        )

    def on_disconnected(self, error: ServerError | None) -> None:
        emit("disconnected", message=error.message if error else None)

    def on_callback_expired(self, event: CallbackExpiredEvent) -> None:
        emit(
            "expired",
            id=event.id,
            kind=camel(event.kind) if event.kind else None,
            handledBy=event.handled_by,
            code=event.code,
        )

    def on_callback_error(self, name: str, error: BaseException) -> None:
        emit("callback-error", name=camel(name), message=repr(error))

    def on_error(self, error: ServerError) -> None:
        emit("error", code=error.code.value, message=error.message, ref=error.ref)

    def on_dialog_update(self, u: DialogUpdateEvent) -> None:
        emit(
            "dialog",
            dialog=u.dialog_handle,
            status=camel(u.status.value),
            inviteStatus=u.invite_status,
            stopReason=u.stop_reason,
            via="notification",
        )

    def on_session_update(self, u: SessionUpdateEvent) -> None:
        self.emit_session(u, "notification")

    def emit_session(self, u: SessionUpdateEvent, via: str) -> None:
        emit(
            "session",
            dialog=u.dialog_handle,
            kind=u.kind,
            local=sdp_version(u.local_sdp),
            remote=sdp_version(u.remote_sdp),
            via=via,
        )

    # ---- callbacks

    def route(self, req: SipRequest) -> RouteDecision | Raw:
        t = req.transport
        emit(
            "callback",
            kind="route",
            method=req.method,
            callId=req.call_id,
            ruri=req.ruri.raw,
            transport=f"{t.transport} {t.local_ip}:{t.local_port} {t.remote_ip}:{t.remote_port}",
        )
        op = (req.header("x-nk-op") or "").strip().lower()
        if op == "reply-stateless":
            return Route.reply_stateless(ok(headers=id_headers(req)))
        if op == "reply-stateful":
            return Route.reply(ok(headers=id_headers(req)))
        if op == "route-invalid":
            return Raw(
                service_pb2.CallbackAnswer(
                    method=decisions_pb2.MethodDecision(noreply=decisions_pb2.NoReply())
                )
            )
        hops = req.headers("x-nk-proxy")
        if not hops:
            if ROUTE_MODE == "forward":
                return Route.proxy([], **mode_options(req))
            if ROUTE_MODE == "strict":
                return Route.strict_proxy([], **mode_options(req))
            in_dialog = req.to.tag != ""
            if ROUTE_MODE == "registrar" and req.method != "REGISTER" and (in_dialog or req.ruri.user):
                return self.registrar_route(req)  # type: ignore[return-value]
            return Route.process()
        hop, nxt = hops[0], hops[1:]
        uri_set = [
            g
            for g in (
                [re.sub(r"^<(.*)>$", r"\1", u.strip()) for u in group.split(",") if u.strip()]
                for group in hop.split("|")
            )
            if g
        ]
        options: ProxyOptions = {
            "record_route": req.has_header("x-nk-rr"),
            "follow_redirects": req.has_header("x-nk-redirect"),
            "path": req.has_header("x-nk-path"),
            "branch_events": req.has_header("x-nk-branch"),
            "headers": [
                remove_header("x-nk-proxy"),
                *(add_header("x-nk-proxy", h) for h in nxt),
                *id_headers(req),
            ],
        }
        mode = (req.header("x-nk-proxy-mode") or "").strip().lower()
        if mode == "stateless":
            return Route.proxy_stateless(uri_set, **options)
        if mode == "strict":
            return Route.strict_proxy(uri_set, **options)
        return Route.proxy(uri_set, **options)

    async def registrar_route(self, req: SipRequest) -> RouteDecision:
        """NKSIP_ROUTE=registrar: NkSIP's test proxy, to the registered contacts of the R-URI."""
        options = mode_options(req)
        if req.to.tag != "":
            return Route.proxy([], **options)
        u = req.ruri
        uri_set = await self.registrar.qfind(u.raw)
        if not uri_set:
            return Route.reply(status(480, headers=id_headers(req)))
        if (req.header("x-nk-proxy-mode") or "").strip().lower() == "stateless":
            return Route.proxy_stateless(uri_set, **options)
        return Route.proxy(uri_set, **options)

    async def handle(self, req: SipRequest) -> MethodAnswer | Raw:
        """Every method callback: answer as the headers say."""
        return await self.handle_as(req, req.method.lower())

    async def reinvite(self, req: SipRequest) -> MethodAnswer | Raw:
        return await self.handle_as(req, "reinvite")

    async def resubscribe(self, req: SipRequest) -> MethodAnswer | Raw:
        return await self.handle_as(req, "resubscribe")

    async def handle_as(self, req: SipRequest, kind: str) -> MethodAnswer | Raw:
        """``kind``: the callback's name (reinvite, resubscribe differ from the method)."""
        emit(
            "callback",
            kind=kind,
            method=req.method,
            callId=req.call_id,
            dialog=req.dialog_handle,
        )
        if req.method == "MESSAGE" and req.has_header("x-nk-uac"):
            self.spawn(self.run_uac(req))
            return NOREPLY
        if req.method == "MESSAGE" and (req.has_header("x-nk-authlist") or req.has_header("x-nk-authclear")):
            clear = req.header("x-nk-authclear")
            handle = (clear if clear is not None else req.header("x-nk-authlist") or "").strip()
            lst = await self.authorized_list(handle, clear=clear is not None)
            return ok(headers={"x-nk-authlist": "unknown" if lst is None else ",".join(lst)})
        if req.method == "PRACK":
            async with self.prack_seen:
                self.pracks[req.call_id] = self.pracks.get(req.call_id, 0) + 1
                self.prack_seen.notify_all()
        if req.method == "MESSAGE" and req.has_header("x-nk-reg"):
            return await self.registrar_op(req)
        user = req.ruri.user
        op = (
            (
                (req.header(f"x-nk-op-{user}") if user else None)
                or req.header(f"x-nk-op-{NAME}")
                or req.header("x-nk-op")
                or "ok"
            )
            .strip()
            .lower()
        )
        if req.method == "INVITE" and op in REL_FLOWS:
            self.spawn(self.rel_flow(req, op))
            return NOREPLY
        if op == "ignore":
            await asyncio.get_running_loop().create_future()
        if op == "reply-invalid":
            return Raw(
                service_pb2.CallbackAnswer(route=decisions_pb2.RouteDecision(process=decisions_pb2.Process()))
            )
        try:
            delay = int(req.header(f"x-nk-sleep-{NAME}") or req.header("x-nk-sleep") or 0)
        except ValueError:
            delay = 0
        provisional = provisional_reply(op, req)
        final = final_reply(op, req)
        if provisional is None:
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            return NOREPLY if final is None else final
        req.reply(provisional)
        if final is not None:
            self.spawn(self.later(req, final, delay))
        return NOREPLY

    async def later(self, req: SipRequest, reply: Reply, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        self.send_late(req, reply)

    def send_late(self, req: SipRequest, reply: Reply) -> None:
        try:
            req.reply(reply)
        except Exception as e:
            emit("error", where="late reply", message=str(e))

    invite = handle
    bye = handle
    options = handle
    info = handle
    update = handle
    message = handle
    subscribe = handle
    notify = handle
    refer = handle
    publish = handle
    prack = handle

    async def wait_pracks(self, call_id: str, n: int, timeout: float = 5.0) -> bool:
        try:
            async with self.prack_seen:
                await asyncio.wait_for(
                    self.prack_seen.wait_for(lambda: self.pracks.get(call_id, 0) >= n), timeout
                )
            return True
        except TimeoutError:
            return False

    async def rel_flow(self, req: SipRequest, op: str) -> None:
        """The reliable provisional flows (NkSIP t17): each step waits for the PRACK of the last."""
        headers = id_headers(req)
        delay = int(req.header("x-nk-sleep") or 0) if (req.header("x-nk-sleep") or "0").isdigit() else 0
        if op == "rel-prov-prov-busy":
            self.send_late(req, rel_ringing())
            await self.wait_pracks(req.call_id, 1)
            self.send_late(req, rel_session_progress())
            await self.wait_pracks(req.call_id, 2)
            self.send_late(req, busy(headers=headers))
        elif op == "rel-prov-pending":
            self.send_late(req, rel_ringing())
            self.send_late(req, rel_session_progress())
            await self.wait_pracks(req.call_id, 1)
            self.send_late(req, busy(headers=headers))
        elif op == "rel-answer":
            sdp = answer_sdp(req.text, port=40004, user=NAME)
            self.send_late(req, rel_session_progress(sdp))
            await self.wait_pracks(req.call_id, 1)
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            self.send_late(req, answer(sdp, headers=headers))
        else:
            sdp = new_sdp(user=NAME, media=[Media(40006, (0,))])
            self.send_late(req, rel_session_progress(sdp))
            await self.wait_pracks(req.call_id, 1)
            self.send_late(req, answer(sdp, headers=headers))

    async def registrar_op(self, req: SipRequest) -> Reply:
        """x-nk-reg: find, qfind, delete, clear on this app's registrar."""
        parts = (req.header("x-nk-reg") or "").split()
        op, aor, contact = (parts + ["", "", ""])[:3]
        headers = id_headers(req)
        try:
            result: Any
            if op == "find":
                result = await self.registrar.find(aor)
            elif op == "qfind":
                result = await self.registrar.qfind(aor)
            elif op == "delete":
                result = await self.registrar.delete(aor, contact)
            elif op == "clear":
                await self.registrar.clear()
                result = True
            else:
                raise ValueError(f"unknown x-nk-reg op {op}")
            return ok(
                headers=[
                    *headers,
                    replace_header("x-nk-reg-result", json.dumps(result, separators=(",", ":"))),
                ]
            )
        except Exception as e:
            return status(500, headers=[*headers, replace_header("x-nk-reg-error", str(e))])

    async def run_uac(self, req: SipRequest) -> None:
        """x-nk-uac: send a request from the app and report its outcome in the MESSAGE's answer."""
        parts = (req.header("x-nk-uac") or "").split()
        method = parts[0] if parts else "OPTIONS"
        uri = parts[1] if len(parts) > 1 else ""
        headers = []
        for line in req.headers("x-nk-uac-header"):
            n, _, v = line.partition(":")
            headers.append(add_header(n.strip(), v.strip()))
        result: dict[str, str] = {}
        m = method.upper()
        in_dialog = (req.header("x-nk-uac-dialog") or "").strip()
        auth: UacOptions = {}
        passes = [credential(p) for p in req.headers("x-nk-uac-pass")]
        if passes:
            auth["sip_pass"] = passes
        max_tries = req.header("x-nk-uac-max-tries")
        if max_tries is not None:
            auth["auth_max_tries"] = int(max_tries)
        try:
            if uri == "dialog":
                dialog = req.dialog_handle
                if m == "REFRESH":
                    ropts: UacOptions = {"headers": headers, "auto_2xx_ack": True, **auth}
                    res = await self.uac.refresh(dialog, req.header("x-nk-uac-refresh") or "keep", **ropts)
                else:
                    extra: UacOptions = {"headers": headers, **auth}
                    if m in ("UPDATE", "INVITE"):
                        extra["body"] = sdp_offer()
                    if m == "INVITE":
                        extra["auto_2xx_ack"] = True
                    res = await self.uac.request(m, dialog=dialog, **extra)
                result["x-nk-uac-status"] = str(res.code)
                result["x-nk-uac-reason"] = res.reason
                result["x-nk-uac-sdp-version"] = sdp_version(res.body)
            else:
                is_invite = m == "INVITE"
                opts: UacOptions = {"headers": headers, **auth}
                if is_invite and not req.has_header("x-nk-uac-no-sdp"):
                    opts["body"] = sdp_offer()
                    opts["content_type"] = "application/sdp"
                if is_invite:
                    opts["auto_2xx_ack"] = True
                if is_invite and req.has_header("x-nk-uac-prack-body"):
                    opts["prack_body"] = sdp_offer()
                if in_dialog:
                    res = await self.uac.request(method, dialog=in_dialog, **opts)
                else:
                    res = await self.uac.request(method, uri, **opts)
                result["x-nk-uac-status"] = str(res.code)
                result["x-nk-uac-reason"] = res.reason
                result["x-nk-uac-cseq"] = str(res.cseq)
                if is_invite and res.ok and res.dialog_handle and not in_dialog:
                    if req.has_header("x-nk-uac-keep"):
                        result["x-nk-uac-dialog"] = res.dialog_handle
                    else:
                        bye = await self.uac.bye(res.dialog_handle)
                        result["x-nk-uac-bye-status"] = str(bye.code)
        except UacError as e:
            result["x-nk-uac-status"] = "error"
            result["x-nk-uac-error"] = e.kind.camel
        except Exception as e:
            result["x-nk-uac-status"] = "error"
            result["x-nk-uac-error"] = str(e)
        emit("uac", method=method, uri=uri, **result)
        try:
            req.reply(ok(headers=result))
        except Exception as e:
            emit("error", where="uac late reply", message=str(e))

    def authorize(self, auth: AuthInfo, req: SipRequest) -> AuthorizeDecision:
        """x-nk-auth: challenge until the request carries a credential that checks out."""
        header = req.header("x-nk-auth")
        if header is None:
            return Authorize.ok()
        want, *flags = header.strip().split(";")
        emit(
            "callback",
            kind="authorize",
            method=req.method,
            callId=req.call_id,
            dialog=auth.dialog,
            register=auth.register,
            digests=[f"{d.user}@{d.realm}:{'true' if d.ok else 'false'}" for d in auth.digests],
        )
        if auth.dialog and "nodialog" not in flags:
            return Authorize.ok()
        if auth.register:
            return Authorize.ok()
        if any(d.ok for d in auth.digests):
            return Authorize.ok()
        if len(auth.digests) > 0:
            return Authorize.forbidden()
        kind, _, realm = want.partition(":")
        if kind == "proxy":
            return Authorize.proxy_authenticate(realm)
        return Authorize.authenticate(want if want and want != "true" else "")

    def get_user_pass(self, user: str, realm: str, req: SipRequest) -> str:
        return "" if user == "anonymous" else PASSWORD

    def ack(self, req: SipRequest) -> None:
        emit("callback", kind="ack", callId=req.call_id, dialog=req.dialog_handle)

    def cancel(self, invite: SipRequest, cancel: SipRequest) -> None:
        emit("callback", kind="cancel", callId=invite.call_id)

    def dialog_update(self, u: DialogUpdateEvent) -> None:
        emit(
            "dialog",
            dialog=u.dialog_handle,
            status=camel(u.status.value),
            inviteStatus=u.invite_status,
            stopReason=u.stop_reason,
            refreshSdp=sdp_version(u.sdp),
            via="callback",
        )

    def session_update(self, u: SessionUpdateEvent) -> None:
        self.emit_session(u, "callback")

    def branch_final(self, b: BranchEvent, req: SipRequest) -> BranchDecision:
        emit("branch", callId=req.call_id, uri=b.uri, code=b.response.code, pending=b.pending)
        what, _, arg = (req.header("x-nk-branch") or "").strip().partition(" ")
        what = what or "continue"
        if what == "fork":
            uris = [u.strip() for u in arg.split(",") if u.strip()]
            return Branch.fork([uris], record_route=req.has_header("x-nk-rr"))
        if what == "reply":
            code = int(arg) if arg.strip().isdigit() else 500
            return Branch.reply(status(code, headers=id_headers(req)))
        return Branch.continue_()

    # ---- control from stdin

    def run_command(self, c: dict[str, Any]) -> None:
        cid = c.get("id")
        cmd = c.get("cmd")
        try:
            if cmd == "request":
                opts = uac_options(c.get("opts") or {})
                call = self.uac.request(
                    c.get("method") or "OPTIONS",
                    c.get("uri") or "",
                    dialog=c.get("dialog") or "",
                    subscription=c.get("subscription") or "",
                    **opts,
                )
            elif cmd in ("dialog", "dialogs", "stop-dialog"):
                self.spawn(self.dialog_command(c))
                return
            elif cmd == "leave":
                self.spawn(self.leave(str(cid)))
                return
            elif cmd == "stun":
                self.spawn(self.stun_command(str(cid), c.get("uri") or ""))
                return
            elif cmd == "cancel":
                invite = self.calls.get(c.get("call") or "")
                if invite is None:
                    raise ValueError(f"no call {c.get('call')}")
                call = self.uac.cancel(invite, c.get("reason") or "")
            else:
                raise ValueError(f"unknown command {cmd}")
        except Exception as e:
            emit("result", id=cid, error="command", message=str(e))
            return
        self.calls[str(cid)] = call
        self.spawn(self.follow(str(cid), call))

    async def follow(self, cid: str, call: UacCall) -> None:
        async def provisionals() -> None:
            async for p in call:
                emit("provisional", id=cid, **response_fields(p))

        watcher = asyncio.ensure_future(provisionals())
        try:
            r = await call
            await watcher
            emit("result", id=cid, **response_fields(r))
        except UacError as e:
            emit("result", id=cid, error=e.kind.camel, message=e.message)
        except Exception as e:
            emit("result", id=cid, error="exception", message=str(e))

    async def stun_command(self, cid: str, uri: str) -> None:
        try:
            r = await self.stun(uri)
            emit(
                "result",
                id=cid,
                local={"address": r.local.address, "port": r.local.port},
                public={"address": r.public.address, "port": r.public.port},
            )
        except UacError as e:
            emit("result", id=cid, error=e.kind.camel, message=e.message)

    async def leave(self, cid: str) -> None:
        # the app stops and the process stays: a request now is NkSIP's service_not_started
        await self.stop()
        emit("result", id=cid, left=True)

    async def dialog_command(self, c: dict[str, Any]) -> None:
        cid = c.get("id")
        try:
            if c["cmd"] == "dialog":
                d = await self.dialog(c.get("dialog") or "")
                emit("result", id=cid, info=d.to_json() if d else None)
            elif c["cmd"] == "dialogs":
                ds = await self.dialogs(c.get("callId") or "")
                emit("result", id=cid, infos=[d.to_json() for d in ds])
            else:
                await self.stop_dialog(c.get("dialog") or "")
                emit("result", id=cid, stopped=c.get("dialog"))
        except Exception as e:
            emit("result", id=cid, error="dialog", message=str(e))


async def read_commands(app: Conformance) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        text = line.decode().strip()
        if not text:
            continue
        try:
            app.run_command(json.loads(text))
        except Exception as e:
            emit("error", where="command", message=str(e), line=text)


async def main() -> None:
    timers = [t for t in os.environ.get("NKSIP_TIMERS", "").split(",") if t]
    plugins: list[str | Plugin] = [*PLUGINS]
    if len(timers) == 2:
        plugins.append(Plugin("timers", {"se": timers[0], "min_se": timers[1]}))
    app = Conformance(
        server=os.environ.get("NKSIP_SERVER") or "127.0.0.1:50051",
        listen=[u for u in os.environ.get("NKSIP_LISTEN", "").split(",") if u],
        token=os.environ.get("NKSIP_TOKEN", ""),
        sip_pass=SIP_PASS,
        max_calls=int(os.environ["NKSIP_MAX_CALLS"]) if os.environ.get("NKSIP_MAX_CALLS") else None,
        plugins=plugins,
    )
    await app.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    commands = asyncio.ensure_future(read_commands(app))
    info = app.started_info
    assert info is not None
    emit(
        "ready",
        app=info.app,
        instanceId=info.instance_id,
        listeners=info.listeners,
        serverVersion=info.server_version,
        instances=info.instances,
        reconnected=info.reconnected,
    )
    await stop.wait()
    commands.cancel()
    await app.stop()


if __name__ == "__main__":
    asyncio.run(main())
