"""A running SipApp: one bidirectional gRPC stream to nksip-server, callbacks dispatched to the
subclass's methods, UAC requests as awaitable calls, reconnect with backoff, a clean stop."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, Unpack

import grpc
import grpc.aio

from nksip.auto import AppAuto, AutoStatus
from nksip.backoff import Reconnect
from nksip.callbacks import (
    CALLBACK_KINDS,
    DialogUpdateEvent,
    SessionUpdateEvent,
    answer_on_failure,
    callback_name,
    implemented_callbacks,
    run_callback,
)
from nksip.dialogs import DialogInfo
from nksip.enums import enum_name
from nksip.registrar import AppRegistrar
from nksip.reply import Reply, to_proto_reply
from nksip.uac import (
    Passwords,
    UacCall,
    UacError,
    UacErrorKind,
    UacOptions,
    to_proto_pass,
    to_proto_uac_options,
)
from nksip.v1 import service_pb2 as pb
from nksip.v1 import uac_pb2 as upb

DEFAULT_SERVER = "127.0.0.1:50051"
_CONNECT = "/nksip.v1.SipAppService/Connect"

log = logging.getLogger("nksip")


class ServerErrorCode(enum.Enum):
    UNSPECIFIED = "unspecified"
    PROTOCOL = "protocol"
    INVALID_CONFIG = "invalid_config"
    CONFIG_MISMATCH = "config_mismatch"
    LISTEN_FAILED = "listen_failed"
    UNKNOWN_CALLBACK = "unknown_callback"
    INVALID_ANSWER = "invalid_answer"
    UNKNOWN_REQUEST = "unknown_request"
    #: A reliable 1xx was not sent: the previous one waits for its PRACK (NkSIP pending_prack).
    PENDING_PRACK = "pending_prack"
    #: The gRPC stream itself failed (status in ``grpc_code``).
    STREAM = "stream"

    @staticmethod
    def of(code: int) -> ServerErrorCode:
        # a code newer than this SDK's generated enum is UNSPECIFIED, not a broken stream
        name = enum_name(pb.ErrorCode, code, "ERROR_CODE_")
        return ServerErrorCode[name] if name in ServerErrorCode.__members__ else ServerErrorCode.UNSPECIFIED


class ServerError(Exception):
    """An Error message from the server, or the stream failing."""

    def __init__(
        self, code: ServerErrorCode, message: str, ref: int = 0, grpc_code: grpc.StatusCode | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: The callback or command id the error is about, 0 when none.
        self.ref = ref
        self.grpc_code = grpc_code

    @staticmethod
    def of(e: pb.Error) -> ServerError:
        code = ServerErrorCode.of(e.code)
        return ServerError(code, e.message or code.value, e.ref)


_FATAL_CODES = {
    ServerErrorCode.PROTOCOL,
    ServerErrorCode.INVALID_CONFIG,
    ServerErrorCode.CONFIG_MISMATCH,
    ServerErrorCode.LISTEN_FAILED,
}
_FATAL_STATUS = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INVALID_ARGUMENT,
}


def _is_fatal(e: ServerError) -> bool:
    return e.code in _FATAL_CODES or (e.grpc_code is not None and e.grpc_code in _FATAL_STATUS)


def _to_server_error(e: BaseException) -> ServerError:
    if isinstance(e, ServerError):
        return e
    if isinstance(e, grpc.aio.AioRpcError):
        return ServerError(ServerErrorCode.STREAM, e.details() or str(e.code()), 0, e.code())
    return ServerError(ServerErrorCode.STREAM, str(e) or type(e).__name__)


@dataclass(frozen=True)
class StartedInfo:
    """What the server said when the app (re)joined."""

    app: str
    instance_id: str
    #: The listeners serving the app, as ``udp:127.0.0.1:5060``.
    listeners: list[str]
    server_version: str
    #: Instances of the app now connected, this one included.
    instances: int
    #: True when this is a rejoin after a broken stream.
    reconnected: bool


@dataclass(frozen=True)
class CallbackExpiredEvent:
    """A callback's deadline passed (or its instance left) and the answer came from elsewhere."""

    id: int
    kind: str | None
    #: ``other_instance``, ``deadline_reply`` or ``default``.
    handled_by: str
    #: The status sent, 0 when none.
    code: int


@dataclass(frozen=True)
class Timers:
    """RFC 3261 T1, T2, T4 in ms; timer C and the dialog timeout in seconds (0: the server's)."""

    t1: int = 0
    t2: int = 0
    t4: int = 0
    timer_c: int = 0
    dialog_timeout: int = 0


@dataclass(frozen=True)
class Plugin:
    """A plugin and its options (registrar, 100rel, timers, ...)."""

    name: str
    options: Mapping[str, str | int | bool] = field(default_factory=dict)


def _csv(v: str | Sequence[str]) -> str:
    return v if isinstance(v, str) else ", ".join(v)


class _State(enum.Enum):
    CONNECTING = "connecting"
    READY = "ready"
    RECONNECTING = "reconnecting"
    STOPPING = "stopping"
    CLOSED = "closed"


@dataclass(frozen=True)
class StunAddress:
    address: str
    port: int


@dataclass(frozen=True)
class StunInfo:
    """What a STUN Binding request found (NkSIP ``nksip_uac:stun``)."""

    #: The listener the request left from.
    local: StunAddress
    #: The address the STUN server saw: the public one when a NAT lies between.
    public: StunAddress


class _Stream:
    """One gRPC stream: its call, the queue that feeds its writes, its reader task."""

    def __init__(
        self,
        call: grpc.aio.StreamStreamCall[pb.ConnectRequest, pb.ConnectResponse],
        queue: asyncio.Queue[pb.ConnectRequest | None],
    ) -> None:
        self.call = call
        self.queue = queue
        self.ready = False
        self.done = False
        self.reader: asyncio.Task[None] | None = None


async def _drain(queue: asyncio.Queue[pb.ConnectRequest | None]) -> AsyncIterator[pb.ConnectRequest]:
    # what was queued while the previous write went out leaves as one RequestBatch: under load
    # that saves the per-message cost of the stream on both sides
    while True:
        m = await queue.get()
        if m is None:
            return
        batch = [m]
        end = False
        # Start goes alone: the server reads nothing else before it answers Started
        while m.WhichOneof("msg") != "start" and not queue.empty():
            more = queue.get_nowait()
            if more is None:
                end = True
                break
            batch.append(more)
        if len(batch) == 1:
            yield m
        else:
            yield pb.ConnectRequest(batch=pb.RequestBatch(messages=batch))
        if end:
            return


class SipApp:
    """A SipApp. Subclass it and define the callbacks you need, sync or ``async def``:

    ``route(req)`` → ``Route.*``; ``invite``, ``reinvite``, ``bye``, ``options``, ``register``,
    ``info``, ``update``, ``subscribe``, ``resubscribe``, ``notify``, ``refer``, ``publish``,
    ``message``, ``prack`` (req) → a ``Reply`` or ``NOREPLY``; ``ack(req)``,
    ``cancel(invite, cancel)``, ``dialog_update(ev)``, ``session_update(ev)`` → None;
    ``authorize(auth, req)`` → ``Authorize.*``; ``get_user_pass(user, realm, req)`` → str | bool;
    ``branch_final(branch, req)`` → ``Branch.*``. The server answers the others itself with
    NkSIP's default and never sends them. Override the ``on_*`` hooks to hear about the stream.
    """

    def __init__(
        self,
        app: str,
        *,
        server: str = DEFAULT_SERVER,
        token: str = "",
        listen: str | Sequence[str] = (),
        sip_from: str = "",
        route: Sequence[str] = (),
        local_host: str = "",
        timers: Timers | None = None,
        plugins: Sequence[str | Plugin] = (),
        allow: str | Sequence[str] = "",
        supported: str | Sequence[str] = "",
        accept: str | Sequence[str] = "",
        events: str | Sequence[str] = "",
        deadlines_ms: Mapping[str, int] | None = None,
        default_deadline_ms: int = 0,
        deadline_replies: Mapping[str, Reply] | None = None,
        grace_ms: int = 0,
        sip_pass: Passwords | None = None,
        max_calls: int | None = None,
        reconnect: Reconnect | bool = True,
        credentials: grpc.ChannelCredentials | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 2.0,
    ) -> None:
        if not app:
            raise ValueError("SipApp: the app name is required")
        self.name = app
        self.server = server
        self._token = token
        self._reconnect = reconnect if isinstance(reconnect, Reconnect) else Reconnect(enabled=reconnect)
        self._credentials = credentials
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self.config = pb.AppConfig(
            listen=[listen] if isinstance(listen, str) else list(listen),
            route=list(route),
            local_host=local_host,
            plugins=[
                pb.Plugin(name=p, options={})
                if isinstance(p, str)
                else pb.Plugin(name=p.name, options={k: _str(v) for k, v in p.options.items()})
                for p in plugins
            ],
            allow=_csv(allow),
            supported=_csv(supported),
            accept=_csv(accept),
            events=_csv(events),
            deadlines_ms=dict(deadlines_ms or {}),
            default_deadline_ms=default_deadline_ms,
            deadline_replies={k: to_proto_reply(r) for k, r in (deadline_replies or {}).items()},
            grace_ms=grace_ms,
            max_calls=max_calls,
        )
        self.config.__setattr__("from", sip_from)
        getattr(self.config, "pass").extend(to_proto_pass(sip_pass))
        if timers is not None:
            self.config.timers.CopyFrom(
                pb.Timers(
                    t1=timers.t1,
                    t2=timers.t2,
                    t4=timers.t4,
                    timer_c=timers.timer_c,
                    dialog_timeout=timers.dialog_timeout,
                )
            )
        #: The callbacks this app implements, sent in Start.
        self.callback_names = implemented_callbacks(self)
        self._state = _State.CONNECTING
        self._channel: grpc.aio.Channel | None = None
        self._stream: _Stream | None = None
        self._started: StartedInfo | None = None
        self._next_id = 1
        self._pending: dict[int, UacCall] = {}
        self._queries: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        #: The app's registrar (registrar plugin): find, qfind, delete, clear.
        self.registrar = AppRegistrar(self._send)
        #: Automatic registrations and pings kept by the server for this instance.
        self.auto = AppAuto(self._send, lambda s: self.on_auto_status(s))
        #: NkSIP's nksip_uac: the requests the app sends.
        self.uac = Uac(self)

    # ---- hooks: override to hear about the stream ----

    def on_started(self, info: StartedInfo) -> None:
        """Joined (or rejoined) the server."""

    def on_disconnected(self, error: ServerError | None) -> None:
        """The stream broke; pending requests failed. A reconnect follows unless disabled."""

    def on_reconnecting(self, attempt: int, delay: float) -> None:
        """Waiting ``delay`` seconds before reconnect attempt ``attempt``."""

    def on_error(self, error: ServerError) -> None:
        """A server Error message or a stream failure (logged by default)."""
        log.error("%s: %s", error.code.value, error.message)

    def on_callback_error(self, name: str, error: BaseException) -> None:
        """A callback raised or returned an invalid answer; the SDK answered for it (500)."""
        log.error("callback %s failed: %r", name, error)

    def on_callback_expired(self, event: CallbackExpiredEvent) -> None:
        """A callback's deadline passed and the server answered it another way."""

    def on_dialog_update(self, event: DialogUpdateEvent) -> None:
        """A dialog change sent as a notification (not as the ``dialog_update`` callback; the
        server sends none today: the app's own dialogs are reported by the callback too)."""

    def on_session_update(self, event: SessionUpdateEvent) -> None:
        """A session change sent as a notification."""

    def on_registration(self, id: str, ok: bool, code: int) -> None:
        """A RegistrationStatus notification (registrar plugin)."""

    def on_auto_status(self, status: AutoStatus) -> None:
        """An automatic registration or ping changed state (failed, or works again)."""

    def on_uac_event(self, event: upb.UacEvent) -> None:
        """A UAC event for no pending request (e.g. an extra 2xx of a forked INVITE)."""

    def on_closed(self) -> None:
        """The app stopped (after ``stop()``, or when it gave up reconnecting)."""

    # ---- life cycle ----

    @property
    def started_info(self) -> StartedInfo | None:
        """What the server said in the latest Started (listeners, instance id, ...)."""
        return self._started

    @property
    def instance_id(self) -> str:
        return self._started.instance_id if self._started else ""

    @property
    def connected(self) -> bool:
        return self._state is _State.READY

    async def start(self) -> Self:
        """Connects, sends Start and returns once the server answers Started. Raises
        ServerError when the server refuses the app (or is unreachable and reconnect is off)."""
        self._closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._channel = (
            grpc.aio.secure_channel(self.server, self._credentials)
            if self._credentials is not None
            else grpc.aio.insecure_channel(self.server)
        )
        try:
            await self._open_stream()
        except Exception as e:
            err = _to_server_error(e)
            if not self._reconnect.enabled or _is_fatal(err):
                await self._close()
                raise err from None
            log.warning("cannot join the server yet: %s", err.message)
            await self._reconnect_loop(first=True)
        return self

    async def stop(self) -> None:
        """Sends Stop, ends the stream and returns once it is closed. Pending requests fail."""
        if self._state is _State.CLOSED:
            return
        if self._state is _State.STOPPING:
            await self.wait_closed()
            return
        self._state = _State.STOPPING
        if self._wake is not None:
            self._wake.set()
        self._fail_pending("app stopped")
        st = self._stream
        if st is not None and not st.done:
            st.queue.put_nowait(pb.ConnectRequest(stop=pb.Stop()))
            st.queue.put_nowait(None)
            if st.reader is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(st.reader), self._stop_timeout)
                except TimeoutError:
                    log.warning("server did not close the stream after Stop; cancelling it")
                    st.call.cancel()
        await self._close()

    async def wait_closed(self) -> None:
        """Returns when the app has closed."""
        if self._closed is not None:
            await self._closed.wait()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- late replies, dialogs, authorised lists ----

    def reply(self, request_handle: str, reply: Reply) -> None:
        """Answers a request whose callback returned NOREPLY (same as ``request.reply``)."""
        late = pb.LateReply(request_handle=request_handle, reply=to_proto_reply(reply))
        if not self._send(pb.ConnectRequest(late_reply=late)):
            raise RuntimeError("SipApp is not connected: the late reply was not sent")

    async def dialog(self, handle: str) -> DialogInfo | None:
        """The dialog as the server keeps it (NkSIP get_meta); None when unknown."""
        r = await self._dialog_command(pb.DialogCommand(get=handle))
        return DialogInfo.of(r.dialogs[0]) if r.dialogs else None

    async def dialogs(self, call_id: str) -> list[DialogInfo]:
        """Every dialog of a Call-ID (NkSIP get_all/2)."""
        r = await self._dialog_command(pb.DialogCommand(list=call_id))
        return [DialogInfo.of(d) for d in r.dialogs]

    async def stop_dialog(self, handle: str) -> None:
        """Stops a dialog at once, without a BYE; raises for an unknown dialog."""
        r = await self._dialog_command(pb.DialogCommand(stop=handle))
        if r.error:
            raise RuntimeError(r.error)

    async def stun(self, uri: str) -> StunInfo:
        """Sends a STUN Binding request (NkSIP ``nksip_uac:stun``) from one of the app's UDP
        listeners (the server's when it has none) to ``uri`` (``sip:host:port``, ``host:port``
        or ``host``, port 3478; every nksip-server UDP listener answers STUN on its SIP port).
        Returns the local and the public address; raises UacError (``INVALID_URI``,
        ``SERVICE_UNAVAILABLE`` when nothing answers)."""
        id_ = self._new_id()
        f: asyncio.Future[pb.StunResult] = asyncio.get_running_loop().create_future()
        self._queries[id_] = f
        if not self._send(pb.ConnectRequest(stun=pb.StunCommand(id=id_, uri=uri))):
            self._queries.pop(id_, None)
            raise UacError(UacErrorKind.NOT_CONNECTED, "SipApp is not connected")
        r = await f
        if r.error:
            invalid = r.error_kind == upb.UAC_ERROR_KIND_INVALID_URI
            raise UacError(UacErrorKind.INVALID_URI if invalid else UacErrorKind.SERVICE_UNAVAILABLE, r.error)
        return StunInfo(
            local=StunAddress(r.local_address, r.local_port),
            public=StunAddress(r.public_address, r.public_port),
        )

    async def authorized_list(self, dialog: str, clear: bool = False) -> list[str] | None:
        """The sources authorised in a dialog (``udp:127.0.0.1:5070``), emptied first with
        ``clear`` (the answer is then what it held); None for an unknown dialog."""
        id_ = self._new_id()
        f: asyncio.Future[pb.AuthorizedList] = asyncio.get_running_loop().create_future()
        self._queries[id_] = f
        req = pb.AuthorizedListRequest(id=id_, dialog_handle=dialog, clear=clear)
        if not self._send(pb.ConnectRequest(authorized_list=req)):
            self._queries.pop(id_, None)
            raise UacError(UacErrorKind.NOT_CONNECTED, "SipApp is not connected")
        r = await f
        return list(r.sources) if r.found else None

    async def _dialog_command(self, cmd: pb.DialogCommand) -> pb.DialogResult:
        id_ = self._new_id()
        cmd.id = id_
        f: asyncio.Future[pb.DialogResult] = asyncio.get_running_loop().create_future()
        self._queries[id_] = f
        if self._state is not _State.READY or not self._send(pb.ConnectRequest(dialog_command=cmd)):
            self._queries.pop(id_, None)
            raise UacError(UacErrorKind.NOT_CONNECTED, "SipApp is not connected: dialog command not sent")
        return await f

    # ---- internals ----

    def _new_id(self) -> int:
        id_ = self._next_id
        self._next_id += 1
        return id_

    def _send(self, msg: pb.ConnectRequest) -> bool:
        st = self._stream
        if st is None or not st.ready or st.done:
            return False
        st.queue.put_nowait(msg)
        return True

    def _send_command(self, call: UacCall) -> None:
        if self._state is not _State.READY:
            call.fail(
                UacError(UacErrorKind.NOT_CONNECTED, f"SipApp is not connected: {call.method} not sent")
            )
            return
        self._pending[call.id] = call
        if not self._send(pb.ConnectRequest(command=call.command)):
            self._pending.pop(call.id, None)
            call.fail(
                UacError(UacErrorKind.NOT_CONNECTED, f"SipApp is not connected: {call.method} not sent")
            )

    def _start_message(self) -> pb.Start:
        return pb.Start(
            app=self.name,
            config=self.config,
            callbacks=[CALLBACK_KINDS[n] for n in self.callback_names],  # type: ignore[misc]
            token=self._token,
            instance_id=self.instance_id,
            batching=True,
        )

    async def _open_stream(self) -> None:
        """Opens a stream and sends Start; returns on Started, raises on anything else first."""
        assert self._channel is not None
        queue: asyncio.Queue[pb.ConnectRequest | None] = asyncio.Queue()
        queue.put_nowait(pb.ConnectRequest(start=self._start_message()))
        method = self._channel.stream_stream(
            _CONNECT,
            request_serializer=pb.ConnectRequest.SerializeToString,
            response_deserializer=pb.ConnectResponse.FromString,
        )
        call: grpc.aio.StreamStreamCall[pb.ConnectRequest, pb.ConnectResponse] = method(_drain(queue))
        st = _Stream(call, queue)
        self._stream = st
        try:
            started = await asyncio.wait_for(self._read_started(st), self._start_timeout)
        except TimeoutError:
            st.done = True
            call.cancel()
            raise ServerError(ServerErrorCode.STREAM, "timed out waiting for Started") from None
        except BaseException:
            st.done = True
            call.cancel()
            raise
        st.ready = True
        st.reader = asyncio.create_task(self._read_loop(st))
        self._on_started(started)

    async def _read_started(self, st: _Stream) -> pb.Started:
        start_error: ServerError | None = None
        while True:
            m = await st.call.read()
            if not isinstance(m, pb.ConnectResponse):  # grpc.aio.EOF
                raise start_error or ServerError(ServerErrorCode.STREAM, "stream closed before Started")
            which = m.WhichOneof("msg")
            if which == "started":
                return m.started
            if which == "error":
                start_error = ServerError.of(m.error)
            else:
                log.warning("unexpected %s message before Started", which)

    async def _read_loop(self, st: _Stream) -> None:
        err: ServerError | None = None
        try:
            while True:
                m = await st.call.read()
                if not isinstance(m, pb.ConnectResponse):  # grpc.aio.EOF
                    break
                self._on_message(st, m)
        except asyncio.CancelledError:
            st.done = True
            return
        except Exception as e:
            err = _to_server_error(e)
        st.done = True
        st.ready = False
        if self._stream is st:
            self._on_broken(err)

    def _on_started(self, s: pb.Started) -> None:
        reconnected = self._started is not None
        self._started = StartedInfo(
            app=s.app,
            instance_id=s.instance_id,
            listeners=list(s.listeners),
            server_version=s.server_version,
            instances=s.instances,
            reconnected=reconnected,
        )
        self._state = _State.READY
        log.info("%s the server as %s (%s)", "rejoined" if reconnected else "joined", s.app, s.instance_id)
        self.on_started(self._started)

    def _on_broken(self, err: ServerError | None) -> None:
        if self._state in (_State.STOPPING, _State.CLOSED):
            return
        log.warning("stream to the server broke: %s", err.message if err else "closed by the server")
        self._fail_pending("the stream to the server broke")
        self._state = _State.RECONNECTING
        self.on_disconnected(err)
        if err is not None:
            self.on_error(err)
        if not self._reconnect.enabled:
            self._spawn(self._close())
            return
        self._spawn(self._reconnect_loop(first=False))

    async def _reconnect_loop(self, first: bool) -> None:
        self._state = _State.CONNECTING if first else _State.RECONNECTING
        attempt = 0
        while True:
            attempt += 1
            if self._stopping():
                raise ServerError(ServerErrorCode.STREAM, "SipApp stopped")
            limit = self._reconnect.max_attempts
            if limit is not None and attempt > limit:
                err = ServerError(ServerErrorCode.STREAM, f"gave up after {attempt - 1} reconnect attempts")
                self.on_error(err)
                await self._close()
                raise err
            delay = self._reconnect.delay(attempt)
            self.on_reconnecting(attempt, delay)
            assert self._wake is not None
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            if self._stopping():
                raise ServerError(ServerErrorCode.STREAM, "SipApp stopped")
            try:
                await self._open_stream()
                return
            except Exception as e:
                err = _to_server_error(e)
                log.warning("reconnect attempt %d failed: %s", attempt, err.message)
                if first and _is_fatal(err):
                    await self._close()
                    raise err from None
                if err.code is not ServerErrorCode.STREAM:
                    self.on_error(err)

    def _stopping(self) -> bool:
        return self._state in (_State.STOPPING, _State.CLOSED)

    async def _close(self) -> None:
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        self._fail_pending("app stopped")
        st = self._stream
        if st is not None and st.reader is not None and not st.reader.done():
            st.reader.cancel()
        if self._channel is not None:
            await self._channel.close(None)
        if self._closed is not None:
            self._closed.set()
        self.on_closed()

    def _fail_pending(self, why: str) -> None:
        self.registrar.fail_all(why)
        self.auto.fail_all(why)
        calls = list(self._pending.values())
        self._pending.clear()
        for c in calls:
            c.fail(UacError(UacErrorKind.DISCONNECTED, f"{c.method} not completed: {why}"))
        queries = list(self._queries.values())
        self._queries.clear()
        for q in queries:
            if not q.done():
                q.set_exception(UacError(UacErrorKind.DISCONNECTED, f"command not completed: {why}"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("background task ended: %r", task.exception())

    def _on_message(self, st: _Stream, m: pb.ConnectResponse) -> None:
        which = m.WhichOneof("msg")
        if which == "batch":
            for inner in m.batch.messages:
                if inner.WhichOneof("msg") != "batch":
                    self._on_message(st, inner)
        elif which == "callback":
            self._spawn(self._on_callback(st, m.callback))
        elif which == "uac_event":
            ev = m.uac_event
            call = self._pending.get(ev.id)
            if call is None:
                self.on_uac_event(ev)
            elif call.event(ev):
                self._pending.pop(ev.id, None)
        elif which in ("dialog_result", "authorized_list", "stun_result"):
            r = (
                m.dialog_result
                if which == "dialog_result"
                else m.authorized_list
                if which == "authorized_list"
                else m.stun_result
            )
            f = self._queries.pop(r.id, None)
            if f is not None and not f.done():
                f.set_result(r)
        elif which == "registrar_result":
            self.registrar.result(m.registrar_result)
        elif which == "auto_result":
            self.auto.result(m.auto_result)
        elif which == "notification":
            self._on_notification(m.notification)
        elif which == "error":
            self.on_error(ServerError.of(m.error))
        elif which == "started":
            log.warning("Started received twice; ignored")

    def _on_notification(self, n: pb.Notification) -> None:
        which = n.WhichOneof("event")
        if which == "dialog_update":
            self.on_dialog_update(DialogUpdateEvent.of(n.dialog_update))
        elif which == "session_update":
            self.on_session_update(SessionUpdateEvent.of(n.session_update))
        elif which == "callback_expired":
            e = n.callback_expired
            self.on_callback_expired(CallbackExpiredEvent(e.id, callback_name(e.kind), e.handled_by, e.code))
        elif which == "registration":
            r = n.registration
            self.on_registration(r.id, r.ok, r.code)

    async def _on_callback(self, st: _Stream, cb: pb.Callback) -> None:
        name = callback_name(cb.kind) or "route"
        try:
            result = await run_callback(self, cb, self.reply)
        except Exception as e:
            self.on_callback_error(name, e)
            result = (name, answer_on_failure(name))
        if result is None:
            log.warning("callback of kind %d not implemented; not answered", cb.kind)
            return
        if st is not self._stream or st.done:
            log.debug("stream changed before callback %d finished; answer dropped", cb.id)
            return
        answer = pb.CallbackAnswer()
        answer.CopyFrom(result[1])
        answer.id = cb.id
        st.queue.put_nowait(pb.ConnectRequest(answer=answer))


def _str(v: str | int | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class Uac:
    """The requests an app sends (NkSIP's nksip_uac): ``await app.uac.options(uri)``. Each
    method returns a UacCall: await it for the final response, iterate it for provisionals.
    Out of a dialog give the URI; in one give ``dialog=`` (or ``subscription=``)."""

    def __init__(self, app: SipApp) -> None:
        self._app = app

    def request(
        self,
        method: str,
        uri: str = "",
        *,
        dialog: str = "",
        subscription: str = "",
        **opts: Unpack[UacOptions],
    ) -> UacCall:
        """Any request: OPTIONS, ..., PRACK or any other token."""
        m = method.upper()
        provisionals = m == "INVITE" or opts.get("provisionals", False) or "on_provisional" in opts
        cmd = upb.UacCommand(
            id=self._app._new_id(),
            method=m,
            uri=uri,
            dialog_handle=dialog,
            subscription_handle=subscription,
            options=to_proto_uac_options(opts, provisionals),
        )
        call = UacCall(cmd, opts.get("on_provisional"), self._cancel_handle)
        self._app._send_command(call)
        return call

    def options(self, uri: str = "", *, dialog: str = "", **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("OPTIONS", uri, dialog=dialog, **opts)

    def register(self, uri: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("REGISTER", uri, **opts)

    def invite(self, uri: str = "", *, dialog: str = "", **opts: Unpack[UacOptions]) -> UacCall:
        """INVITE to a URI, or a re-INVITE in a dialog. ACK a 2xx with ``ack()`` unless ``auto_2xx_ack``."""
        return self.request("INVITE", uri, dialog=dialog, **opts)

    def ack(self, dialog: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("ACK", dialog=dialog, **opts)

    def bye(self, dialog: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("BYE", dialog=dialog, **opts)

    def info(self, dialog: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("INFO", dialog=dialog, **opts)

    def update(self, dialog: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("UPDATE", dialog=dialog, **opts)

    def prack(self, dialog: str, **opts: Unpack[UacOptions]) -> UacCall:
        """PRACK a reliable provisional response (after ``manual_prack``); the RAck is added."""
        return self.request("PRACK", dialog=dialog, **opts)

    def refresh(self, dialog: str, mode: str = "keep", **opts: Unpack[UacOptions]) -> UacCall:
        """NkSIP refresh/2: a re-INVITE with the dialog's last local SDP, version incremented."""
        opts["refresh"] = mode
        return self.request("INVITE", dialog=dialog, **opts)

    def message(self, uri: str = "", *, dialog: str = "", **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("MESSAGE", uri, dialog=dialog, **opts)

    def subscribe(
        self, uri: str = "", *, dialog: str = "", subscription: str = "", **opts: Unpack[UacOptions]
    ) -> UacCall:
        return self.request("SUBSCRIBE", uri, dialog=dialog, subscription=subscription, **opts)

    def notify(self, subscription: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("NOTIFY", subscription=subscription, **opts)

    def refer(self, uri: str = "", *, dialog: str = "", **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("REFER", uri, dialog=dialog, **opts)

    def publish(self, uri: str, **opts: Unpack[UacOptions]) -> UacCall:
        return self.request("PUBLISH", uri, **opts)

    def cancel(self, invite: UacCall | str, reason: str = "") -> UacCall:
        """CANCELs an INVITE the app sent (its UacCall or request handle)."""
        if isinstance(invite, str):
            return self._cancel_handle(invite, reason)
        call = self._new_cancel(reason)

        async def when_known() -> None:
            handle = await invite.handle()
            self._send_cancel(call, handle)

        self._app._spawn(when_known())
        return call

    def _new_cancel(self, reason: str) -> UacCall:
        cmd = upb.UacCommand(id=self._app._new_id(), method="CANCEL", options=upb.UacOptions(reason=reason))
        return UacCall(cmd, None, self._cancel_handle)

    def _send_cancel(self, call: UacCall, handle: str) -> None:
        if not handle:
            call.fail(UacError(UacErrorKind.UNKNOWN_REQUEST, "CANCEL: the INVITE has no request handle"))
            return
        call.command.request_handle = handle
        self._app._send_command(call)

    def _cancel_handle(self, handle: str, reason: str) -> UacCall:
        call = self._new_cancel(reason)
        self._send_cancel(call, handle)
        return call
