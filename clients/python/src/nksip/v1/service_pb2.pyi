from nksip.v1 import decisions_pb2 as _decisions_pb2
from nksip.v1 import sip_pb2 as _sip_pb2
from nksip.v1 import uac_pb2 as _uac_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallbackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALLBACK_KIND_UNSPECIFIED: _ClassVar[CallbackKind]
    CALLBACK_KIND_ROUTE: _ClassVar[CallbackKind]
    CALLBACK_KIND_INVITE: _ClassVar[CallbackKind]
    CALLBACK_KIND_REINVITE: _ClassVar[CallbackKind]
    CALLBACK_KIND_ACK: _ClassVar[CallbackKind]
    CALLBACK_KIND_BYE: _ClassVar[CallbackKind]
    CALLBACK_KIND_CANCEL: _ClassVar[CallbackKind]
    CALLBACK_KIND_OPTIONS: _ClassVar[CallbackKind]
    CALLBACK_KIND_REGISTER: _ClassVar[CallbackKind]
    CALLBACK_KIND_INFO: _ClassVar[CallbackKind]
    CALLBACK_KIND_UPDATE: _ClassVar[CallbackKind]
    CALLBACK_KIND_SUBSCRIBE: _ClassVar[CallbackKind]
    CALLBACK_KIND_RESUBSCRIBE: _ClassVar[CallbackKind]
    CALLBACK_KIND_NOTIFY: _ClassVar[CallbackKind]
    CALLBACK_KIND_REFER: _ClassVar[CallbackKind]
    CALLBACK_KIND_PUBLISH: _ClassVar[CallbackKind]
    CALLBACK_KIND_MESSAGE: _ClassVar[CallbackKind]
    CALLBACK_KIND_PRACK: _ClassVar[CallbackKind]
    CALLBACK_KIND_AUTHORIZE: _ClassVar[CallbackKind]
    CALLBACK_KIND_GET_USER_PASS: _ClassVar[CallbackKind]
    CALLBACK_KIND_DIALOG_UPDATE: _ClassVar[CallbackKind]
    CALLBACK_KIND_SESSION_UPDATE: _ClassVar[CallbackKind]
    CALLBACK_KIND_BRANCH_FINAL: _ClassVar[CallbackKind]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_PROTOCOL: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_CONFIG: _ClassVar[ErrorCode]
    ERROR_CODE_CONFIG_MISMATCH: _ClassVar[ErrorCode]
    ERROR_CODE_LISTEN_FAILED: _ClassVar[ErrorCode]
    ERROR_CODE_UNKNOWN_CALLBACK: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_ANSWER: _ClassVar[ErrorCode]
    ERROR_CODE_UNKNOWN_REQUEST: _ClassVar[ErrorCode]
    ERROR_CODE_PENDING_PRACK: _ClassVar[ErrorCode]
CALLBACK_KIND_UNSPECIFIED: CallbackKind
CALLBACK_KIND_ROUTE: CallbackKind
CALLBACK_KIND_INVITE: CallbackKind
CALLBACK_KIND_REINVITE: CallbackKind
CALLBACK_KIND_ACK: CallbackKind
CALLBACK_KIND_BYE: CallbackKind
CALLBACK_KIND_CANCEL: CallbackKind
CALLBACK_KIND_OPTIONS: CallbackKind
CALLBACK_KIND_REGISTER: CallbackKind
CALLBACK_KIND_INFO: CallbackKind
CALLBACK_KIND_UPDATE: CallbackKind
CALLBACK_KIND_SUBSCRIBE: CallbackKind
CALLBACK_KIND_RESUBSCRIBE: CallbackKind
CALLBACK_KIND_NOTIFY: CallbackKind
CALLBACK_KIND_REFER: CallbackKind
CALLBACK_KIND_PUBLISH: CallbackKind
CALLBACK_KIND_MESSAGE: CallbackKind
CALLBACK_KIND_PRACK: CallbackKind
CALLBACK_KIND_AUTHORIZE: CallbackKind
CALLBACK_KIND_GET_USER_PASS: CallbackKind
CALLBACK_KIND_DIALOG_UPDATE: CallbackKind
CALLBACK_KIND_SESSION_UPDATE: CallbackKind
CALLBACK_KIND_BRANCH_FINAL: CallbackKind
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_PROTOCOL: ErrorCode
ERROR_CODE_INVALID_CONFIG: ErrorCode
ERROR_CODE_CONFIG_MISMATCH: ErrorCode
ERROR_CODE_LISTEN_FAILED: ErrorCode
ERROR_CODE_UNKNOWN_CALLBACK: ErrorCode
ERROR_CODE_INVALID_ANSWER: ErrorCode
ERROR_CODE_UNKNOWN_REQUEST: ErrorCode
ERROR_CODE_PENDING_PRACK: ErrorCode

class Timers(_message.Message):
    __slots__ = ("t1", "t2", "t4", "timer_c", "dialog_timeout")
    T1_FIELD_NUMBER: _ClassVar[int]
    T2_FIELD_NUMBER: _ClassVar[int]
    T4_FIELD_NUMBER: _ClassVar[int]
    TIMER_C_FIELD_NUMBER: _ClassVar[int]
    DIALOG_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    t1: int
    t2: int
    t4: int
    timer_c: int
    dialog_timeout: int
    def __init__(self, t1: _Optional[int] = ..., t2: _Optional[int] = ..., t4: _Optional[int] = ..., timer_c: _Optional[int] = ..., dialog_timeout: _Optional[int] = ...) -> None: ...

class Plugin(_message.Message):
    __slots__ = ("name", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    options: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppConfig(_message.Message):
    __slots__ = ("listen", "route", "local_host", "timers", "plugins", "allow", "supported", "accept", "events", "deadlines_ms", "default_deadline_ms", "deadline_replies", "grace_ms", "max_calls")
    class DeadlinesMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DeadlineRepliesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _decisions_pb2.Reply
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_decisions_pb2.Reply, _Mapping]] = ...) -> None: ...
    LISTEN_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_HOST_FIELD_NUMBER: _ClassVar[int]
    TIMERS_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DEADLINES_MS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_REPLIES_FIELD_NUMBER: _ClassVar[int]
    GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    PASS_FIELD_NUMBER: _ClassVar[int]
    MAX_CALLS_FIELD_NUMBER: _ClassVar[int]
    listen: _containers.RepeatedScalarFieldContainer[str]
    route: _containers.RepeatedScalarFieldContainer[str]
    local_host: str
    timers: Timers
    plugins: _containers.RepeatedCompositeFieldContainer[Plugin]
    allow: str
    supported: str
    accept: str
    events: str
    deadlines_ms: _containers.ScalarMap[str, int]
    default_deadline_ms: int
    deadline_replies: _containers.MessageMap[str, _decisions_pb2.Reply]
    grace_ms: int
    max_calls: int
    def __init__(self, listen: _Optional[_Iterable[str]] = ..., route: _Optional[_Iterable[str]] = ..., local_host: _Optional[str] = ..., timers: _Optional[_Union[Timers, _Mapping]] = ..., plugins: _Optional[_Iterable[_Union[Plugin, _Mapping]]] = ..., allow: _Optional[str] = ..., supported: _Optional[str] = ..., accept: _Optional[str] = ..., events: _Optional[str] = ..., deadlines_ms: _Optional[_Mapping[str, int]] = ..., default_deadline_ms: _Optional[int] = ..., deadline_replies: _Optional[_Mapping[str, _decisions_pb2.Reply]] = ..., grace_ms: _Optional[int] = ..., max_calls: _Optional[int] = ..., **kwargs) -> None: ...

class Start(_message.Message):
    __slots__ = ("app", "config", "callbacks", "token", "instance_id", "batching")
    APP_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CALLBACKS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    app: str
    config: AppConfig
    callbacks: _containers.RepeatedScalarFieldContainer[CallbackKind]
    token: str
    instance_id: str
    batching: bool
    def __init__(self, app: _Optional[str] = ..., config: _Optional[_Union[AppConfig, _Mapping]] = ..., callbacks: _Optional[_Iterable[_Union[CallbackKind, str]]] = ..., token: _Optional[str] = ..., instance_id: _Optional[str] = ..., batching: _Optional[bool] = ...) -> None: ...

class ResponseBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ConnectResponse]
    def __init__(self, messages: _Optional[_Iterable[_Union[ConnectResponse, _Mapping]]] = ...) -> None: ...

class RequestBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ConnectRequest]
    def __init__(self, messages: _Optional[_Iterable[_Union[ConnectRequest, _Mapping]]] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("app", "instance_id", "listeners", "server_version", "instances")
    APP_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    LISTENERS_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    app: str
    instance_id: str
    listeners: _containers.RepeatedScalarFieldContainer[str]
    server_version: str
    instances: int
    def __init__(self, app: _Optional[str] = ..., instance_id: _Optional[str] = ..., listeners: _Optional[_Iterable[str]] = ..., server_version: _Optional[str] = ..., instances: _Optional[int] = ...) -> None: ...

class AuthInfo(_message.Message):
    __slots__ = ("digests", "dialog", "register")
    class Digest(_message.Message):
        __slots__ = ("realm", "user", "ok")
        REALM_FIELD_NUMBER: _ClassVar[int]
        USER_FIELD_NUMBER: _ClassVar[int]
        OK_FIELD_NUMBER: _ClassVar[int]
        realm: str
        user: str
        ok: bool
        def __init__(self, realm: _Optional[str] = ..., user: _Optional[str] = ..., ok: _Optional[bool] = ...) -> None: ...
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    DIALOG_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    digests: _containers.RepeatedCompositeFieldContainer[AuthInfo.Digest]
    dialog: bool
    register: bool
    def __init__(self, digests: _Optional[_Iterable[_Union[AuthInfo.Digest, _Mapping]]] = ..., dialog: _Optional[bool] = ..., register: _Optional[bool] = ...) -> None: ...

class UserPassInfo(_message.Message):
    __slots__ = ("user", "realm")
    USER_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    user: str
    realm: str
    def __init__(self, user: _Optional[str] = ..., realm: _Optional[str] = ...) -> None: ...

class BranchInfo(_message.Message):
    __slots__ = ("uri", "response", "pending")
    URI_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    uri: str
    response: _sip_pb2.Response
    pending: int
    def __init__(self, uri: _Optional[str] = ..., response: _Optional[_Union[_sip_pb2.Response, _Mapping]] = ..., pending: _Optional[int] = ...) -> None: ...

class BranchDecision(_message.Message):
    __slots__ = ("fork", "reply")
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    FORK_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    fork: _decisions_pb2.Proxy
    reply: _decisions_pb2.Reply
    def __init__(self, fork: _Optional[_Union[_decisions_pb2.Proxy, _Mapping]] = ..., reply: _Optional[_Union[_decisions_pb2.Reply, _Mapping]] = ..., **kwargs) -> None: ...

class Callback(_message.Message):
    __slots__ = ("id", "kind", "request", "request_handle", "dialog_handle", "deadline_ms", "auth", "user_pass", "cancel", "dialog_update", "session_update", "branch")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HANDLE_FIELD_NUMBER: _ClassVar[int]
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    USER_PASS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DIALOG_UPDATE_FIELD_NUMBER: _ClassVar[int]
    SESSION_UPDATE_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: CallbackKind
    request: _sip_pb2.Request
    request_handle: str
    dialog_handle: str
    deadline_ms: int
    auth: AuthInfo
    user_pass: UserPassInfo
    cancel: _sip_pb2.Request
    dialog_update: DialogUpdate
    session_update: SessionUpdate
    branch: BranchInfo
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[_Union[CallbackKind, str]] = ..., request: _Optional[_Union[_sip_pb2.Request, _Mapping]] = ..., request_handle: _Optional[str] = ..., dialog_handle: _Optional[str] = ..., deadline_ms: _Optional[int] = ..., auth: _Optional[_Union[AuthInfo, _Mapping]] = ..., user_pass: _Optional[_Union[UserPassInfo, _Mapping]] = ..., cancel: _Optional[_Union[_sip_pb2.Request, _Mapping]] = ..., dialog_update: _Optional[_Union[DialogUpdate, _Mapping]] = ..., session_update: _Optional[_Union[SessionUpdate, _Mapping]] = ..., branch: _Optional[_Union[BranchInfo, _Mapping]] = ...) -> None: ...

class CallbackAnswer(_message.Message):
    __slots__ = ("id", "route", "method", "authorize", "user_pass", "ack", "branch")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_FIELD_NUMBER: _ClassVar[int]
    USER_PASS_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    id: int
    route: _decisions_pb2.RouteDecision
    method: _decisions_pb2.MethodDecision
    authorize: _decisions_pb2.AuthorizeDecision
    user_pass: _decisions_pb2.UserPassDecision
    ack: _decisions_pb2.Ack
    branch: BranchDecision
    def __init__(self, id: _Optional[int] = ..., route: _Optional[_Union[_decisions_pb2.RouteDecision, _Mapping]] = ..., method: _Optional[_Union[_decisions_pb2.MethodDecision, _Mapping]] = ..., authorize: _Optional[_Union[_decisions_pb2.AuthorizeDecision, _Mapping]] = ..., user_pass: _Optional[_Union[_decisions_pb2.UserPassDecision, _Mapping]] = ..., ack: _Optional[_Union[_decisions_pb2.Ack, _Mapping]] = ..., branch: _Optional[_Union[BranchDecision, _Mapping]] = ...) -> None: ...

class LateReply(_message.Message):
    __slots__ = ("request_handle", "reply")
    REQUEST_HANDLE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    request_handle: str
    reply: _decisions_pb2.Reply
    def __init__(self, request_handle: _Optional[str] = ..., reply: _Optional[_Union[_decisions_pb2.Reply, _Mapping]] = ...) -> None: ...

class DialogUpdate(_message.Message):
    __slots__ = ("dialog_handle", "status", "invite_status", "stop_reason", "sdp", "subscription_handle", "retry_after")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[DialogUpdate.Status]
        STATUS_START: _ClassVar[DialogUpdate.Status]
        STATUS_TARGET_UPDATE: _ClassVar[DialogUpdate.Status]
        STATUS_STOP: _ClassVar[DialogUpdate.Status]
        STATUS_INVITE_STATUS: _ClassVar[DialogUpdate.Status]
        STATUS_INVITE_REFRESH: _ClassVar[DialogUpdate.Status]
        STATUS_INVITE_TIMEOUT: _ClassVar[DialogUpdate.Status]
        STATUS_SUBSCRIPTION_STATUS: _ClassVar[DialogUpdate.Status]
    STATUS_UNSPECIFIED: DialogUpdate.Status
    STATUS_START: DialogUpdate.Status
    STATUS_TARGET_UPDATE: DialogUpdate.Status
    STATUS_STOP: DialogUpdate.Status
    STATUS_INVITE_STATUS: DialogUpdate.Status
    STATUS_INVITE_REFRESH: DialogUpdate.Status
    STATUS_INVITE_TIMEOUT: DialogUpdate.Status
    STATUS_SUBSCRIPTION_STATUS: DialogUpdate.Status
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INVITE_STATUS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_HANDLE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_FIELD_NUMBER: _ClassVar[int]
    dialog_handle: str
    status: DialogUpdate.Status
    invite_status: str
    stop_reason: str
    sdp: bytes
    subscription_handle: str
    retry_after: int
    def __init__(self, dialog_handle: _Optional[str] = ..., status: _Optional[_Union[DialogUpdate.Status, str]] = ..., invite_status: _Optional[str] = ..., stop_reason: _Optional[str] = ..., sdp: _Optional[bytes] = ..., subscription_handle: _Optional[str] = ..., retry_after: _Optional[int] = ...) -> None: ...

class SessionUpdate(_message.Message):
    __slots__ = ("dialog_handle", "kind", "local_sdp", "remote_sdp")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[SessionUpdate.Kind]
        KIND_START: _ClassVar[SessionUpdate.Kind]
        KIND_UPDATE: _ClassVar[SessionUpdate.Kind]
        KIND_STOP: _ClassVar[SessionUpdate.Kind]
    KIND_UNSPECIFIED: SessionUpdate.Kind
    KIND_START: SessionUpdate.Kind
    KIND_UPDATE: SessionUpdate.Kind
    KIND_STOP: SessionUpdate.Kind
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LOCAL_SDP_FIELD_NUMBER: _ClassVar[int]
    REMOTE_SDP_FIELD_NUMBER: _ClassVar[int]
    dialog_handle: str
    kind: SessionUpdate.Kind
    local_sdp: bytes
    remote_sdp: bytes
    def __init__(self, dialog_handle: _Optional[str] = ..., kind: _Optional[_Union[SessionUpdate.Kind, str]] = ..., local_sdp: _Optional[bytes] = ..., remote_sdp: _Optional[bytes] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("dialog_update", "session_update", "callback_expired", "registration", "connection_lost")
    DIALOG_UPDATE_FIELD_NUMBER: _ClassVar[int]
    SESSION_UPDATE_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_LOST_FIELD_NUMBER: _ClassVar[int]
    dialog_update: DialogUpdate
    session_update: SessionUpdate
    callback_expired: CallbackExpired
    registration: RegistrationStatus
    connection_lost: ConnectionLost
    def __init__(self, dialog_update: _Optional[_Union[DialogUpdate, _Mapping]] = ..., session_update: _Optional[_Union[SessionUpdate, _Mapping]] = ..., callback_expired: _Optional[_Union[CallbackExpired, _Mapping]] = ..., registration: _Optional[_Union[RegistrationStatus, _Mapping]] = ..., connection_lost: _Optional[_Union[ConnectionLost, _Mapping]] = ...) -> None: ...

class ConnectionLost(_message.Message):
    __slots__ = ("transport", "remote_address", "remote_port", "local_address", "local_port", "reason", "dialogs")
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REMOTE_PORT_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PORT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DIALOGS_FIELD_NUMBER: _ClassVar[int]
    transport: str
    remote_address: str
    remote_port: int
    local_address: str
    local_port: int
    reason: str
    dialogs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, transport: _Optional[str] = ..., remote_address: _Optional[str] = ..., remote_port: _Optional[int] = ..., local_address: _Optional[str] = ..., local_port: _Optional[int] = ..., reason: _Optional[str] = ..., dialogs: _Optional[_Iterable[str]] = ...) -> None: ...

class CallbackExpired(_message.Message):
    __slots__ = ("id", "kind", "handled_by", "code")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HANDLED_BY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: CallbackKind
    handled_by: str
    code: int
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[_Union[CallbackKind, str]] = ..., handled_by: _Optional[str] = ..., code: _Optional[int] = ...) -> None: ...

class RegistrationStatus(_message.Message):
    __slots__ = ("id", "ok", "code")
    ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    id: str
    ok: bool
    code: int
    def __init__(self, id: _Optional[str] = ..., ok: _Optional[bool] = ..., code: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "ref")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    ref: int
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., ref: _Optional[int] = ...) -> None: ...

class Stop(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DialogCommand(_message.Message):
    __slots__ = ("id", "get", "list", "stop")
    ID_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    id: int
    get: str
    list: str
    stop: str
    def __init__(self, id: _Optional[int] = ..., get: _Optional[str] = ..., list: _Optional[str] = ..., stop: _Optional[str] = ...) -> None: ...

class DialogInfo(_message.Message):
    __slots__ = ("handle", "call_id", "local_tag", "remote_tag", "role", "created", "updated", "local_seq", "remote_seq", "local_uri", "remote_uri", "local_target", "remote_target", "route_set", "early", "secure", "invite_status", "invite_answered", "invite_local_sdp", "invite_remote_sdp", "subscriptions")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TAG_FIELD_NUMBER: _ClassVar[int]
    REMOTE_TAG_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    LOCAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    REMOTE_SEQ_FIELD_NUMBER: _ClassVar[int]
    LOCAL_URI_FIELD_NUMBER: _ClassVar[int]
    REMOTE_URI_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TARGET_FIELD_NUMBER: _ClassVar[int]
    REMOTE_TARGET_FIELD_NUMBER: _ClassVar[int]
    ROUTE_SET_FIELD_NUMBER: _ClassVar[int]
    EARLY_FIELD_NUMBER: _ClassVar[int]
    SECURE_FIELD_NUMBER: _ClassVar[int]
    INVITE_STATUS_FIELD_NUMBER: _ClassVar[int]
    INVITE_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    INVITE_LOCAL_SDP_FIELD_NUMBER: _ClassVar[int]
    INVITE_REMOTE_SDP_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    handle: str
    call_id: str
    local_tag: str
    remote_tag: str
    role: str
    created: int
    updated: int
    local_seq: int
    remote_seq: int
    local_uri: str
    remote_uri: str
    local_target: str
    remote_target: str
    route_set: _containers.RepeatedScalarFieldContainer[str]
    early: bool
    secure: bool
    invite_status: str
    invite_answered: int
    invite_local_sdp: bytes
    invite_remote_sdp: bytes
    subscriptions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, handle: _Optional[str] = ..., call_id: _Optional[str] = ..., local_tag: _Optional[str] = ..., remote_tag: _Optional[str] = ..., role: _Optional[str] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ..., local_seq: _Optional[int] = ..., remote_seq: _Optional[int] = ..., local_uri: _Optional[str] = ..., remote_uri: _Optional[str] = ..., local_target: _Optional[str] = ..., remote_target: _Optional[str] = ..., route_set: _Optional[_Iterable[str]] = ..., early: _Optional[bool] = ..., secure: _Optional[bool] = ..., invite_status: _Optional[str] = ..., invite_answered: _Optional[int] = ..., invite_local_sdp: _Optional[bytes] = ..., invite_remote_sdp: _Optional[bytes] = ..., subscriptions: _Optional[_Iterable[str]] = ...) -> None: ...

class DialogResult(_message.Message):
    __slots__ = ("id", "dialogs", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIALOGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    dialogs: _containers.RepeatedCompositeFieldContainer[DialogInfo]
    error: str
    def __init__(self, id: _Optional[int] = ..., dialogs: _Optional[_Iterable[_Union[DialogInfo, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class AuthorizedListRequest(_message.Message):
    __slots__ = ("id", "dialog_handle", "clear")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    id: int
    dialog_handle: str
    clear: bool
    def __init__(self, id: _Optional[int] = ..., dialog_handle: _Optional[str] = ..., clear: _Optional[bool] = ...) -> None: ...

class AuthorizedList(_message.Message):
    __slots__ = ("id", "dialog_handle", "found", "sources")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    id: int
    dialog_handle: str
    found: bool
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[int] = ..., dialog_handle: _Optional[str] = ..., found: _Optional[bool] = ..., sources: _Optional[_Iterable[str]] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("start", "answer", "late_reply", "command", "stop", "dialog_command", "authorized_list", "registrar", "auto", "batch", "stun")
    START_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    LATE_REPLY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    DIALOG_COMMAND_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZED_LIST_FIELD_NUMBER: _ClassVar[int]
    REGISTRAR_FIELD_NUMBER: _ClassVar[int]
    AUTO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    STUN_FIELD_NUMBER: _ClassVar[int]
    start: Start
    answer: CallbackAnswer
    late_reply: LateReply
    command: _uac_pb2.UacCommand
    stop: Stop
    dialog_command: DialogCommand
    authorized_list: AuthorizedListRequest
    registrar: RegistrarCommand
    auto: AutoCommand
    batch: RequestBatch
    stun: StunCommand
    def __init__(self, start: _Optional[_Union[Start, _Mapping]] = ..., answer: _Optional[_Union[CallbackAnswer, _Mapping]] = ..., late_reply: _Optional[_Union[LateReply, _Mapping]] = ..., command: _Optional[_Union[_uac_pb2.UacCommand, _Mapping]] = ..., stop: _Optional[_Union[Stop, _Mapping]] = ..., dialog_command: _Optional[_Union[DialogCommand, _Mapping]] = ..., authorized_list: _Optional[_Union[AuthorizedListRequest, _Mapping]] = ..., registrar: _Optional[_Union[RegistrarCommand, _Mapping]] = ..., auto: _Optional[_Union[AutoCommand, _Mapping]] = ..., batch: _Optional[_Union[RequestBatch, _Mapping]] = ..., stun: _Optional[_Union[StunCommand, _Mapping]] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("started", "callback", "uac_event", "notification", "error", "dialog_result", "authorized_list", "registrar_result", "auto_result", "batch", "stun_result")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_FIELD_NUMBER: _ClassVar[int]
    UAC_EVENT_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DIALOG_RESULT_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZED_LIST_FIELD_NUMBER: _ClassVar[int]
    REGISTRAR_RESULT_FIELD_NUMBER: _ClassVar[int]
    AUTO_RESULT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    STUN_RESULT_FIELD_NUMBER: _ClassVar[int]
    started: Started
    callback: Callback
    uac_event: _uac_pb2.UacEvent
    notification: Notification
    error: Error
    dialog_result: DialogResult
    authorized_list: AuthorizedList
    registrar_result: RegistrarResult
    auto_result: AutoResult
    batch: ResponseBatch
    stun_result: StunResult
    def __init__(self, started: _Optional[_Union[Started, _Mapping]] = ..., callback: _Optional[_Union[Callback, _Mapping]] = ..., uac_event: _Optional[_Union[_uac_pb2.UacEvent, _Mapping]] = ..., notification: _Optional[_Union[Notification, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., dialog_result: _Optional[_Union[DialogResult, _Mapping]] = ..., authorized_list: _Optional[_Union[AuthorizedList, _Mapping]] = ..., registrar_result: _Optional[_Union[RegistrarResult, _Mapping]] = ..., auto_result: _Optional[_Union[AutoResult, _Mapping]] = ..., batch: _Optional[_Union[ResponseBatch, _Mapping]] = ..., stun_result: _Optional[_Union[StunResult, _Mapping]] = ...) -> None: ...

class StunCommand(_message.Message):
    __slots__ = ("id", "uri")
    ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    id: int
    uri: str
    def __init__(self, id: _Optional[int] = ..., uri: _Optional[str] = ...) -> None: ...

class StunResult(_message.Message):
    __slots__ = ("id", "local_address", "local_port", "public_address", "public_port", "error", "error_kind")
    ID_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PORT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_PORT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    id: int
    local_address: str
    local_port: int
    public_address: str
    public_port: int
    error: str
    error_kind: _uac_pb2.UacErrorKind
    def __init__(self, id: _Optional[int] = ..., local_address: _Optional[str] = ..., local_port: _Optional[int] = ..., public_address: _Optional[str] = ..., public_port: _Optional[int] = ..., error: _Optional[str] = ..., error_kind: _Optional[_Union[_uac_pb2.UacErrorKind, str]] = ...) -> None: ...

class AutoCommand(_message.Message):
    __slots__ = ("id", "kind", "op", "name", "uri", "interval", "options")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[AutoCommand.Kind]
        KIND_REGISTER: _ClassVar[AutoCommand.Kind]
        KIND_PING: _ClassVar[AutoCommand.Kind]
    KIND_UNSPECIFIED: AutoCommand.Kind
    KIND_REGISTER: AutoCommand.Kind
    KIND_PING: AutoCommand.Kind
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[AutoCommand.Op]
        OP_START: _ClassVar[AutoCommand.Op]
        OP_STOP: _ClassVar[AutoCommand.Op]
        OP_STATUS: _ClassVar[AutoCommand.Op]
    OP_UNSPECIFIED: AutoCommand.Op
    OP_START: AutoCommand.Op
    OP_STOP: AutoCommand.Op
    OP_STATUS: AutoCommand.Op
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: AutoCommand.Kind
    op: AutoCommand.Op
    name: str
    uri: str
    interval: int
    options: _uac_pb2.UacOptions
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[_Union[AutoCommand.Kind, str]] = ..., op: _Optional[_Union[AutoCommand.Op, str]] = ..., name: _Optional[str] = ..., uri: _Optional[str] = ..., interval: _Optional[int] = ..., options: _Optional[_Union[_uac_pb2.UacOptions, _Mapping]] = ...) -> None: ...

class AutoStatus(_message.Message):
    __slots__ = ("kind", "name", "ok", "code", "next_in")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    NEXT_IN_FIELD_NUMBER: _ClassVar[int]
    kind: AutoCommand.Kind
    name: str
    ok: bool
    code: int
    next_in: int
    def __init__(self, kind: _Optional[_Union[AutoCommand.Kind, str]] = ..., name: _Optional[str] = ..., ok: _Optional[bool] = ..., code: _Optional[int] = ..., next_in: _Optional[int] = ...) -> None: ...

class AutoResult(_message.Message):
    __slots__ = ("id", "entries", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    entries: _containers.RepeatedCompositeFieldContainer[AutoStatus]
    error: str
    def __init__(self, id: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[AutoStatus, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class RegistrarCommand(_message.Message):
    __slots__ = ("id", "op", "aor", "contact")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[RegistrarCommand.Op]
        OP_FIND: _ClassVar[RegistrarCommand.Op]
        OP_QFIND: _ClassVar[RegistrarCommand.Op]
        OP_DELETE: _ClassVar[RegistrarCommand.Op]
        OP_CLEAR: _ClassVar[RegistrarCommand.Op]
    OP_UNSPECIFIED: RegistrarCommand.Op
    OP_FIND: RegistrarCommand.Op
    OP_QFIND: RegistrarCommand.Op
    OP_DELETE: RegistrarCommand.Op
    OP_CLEAR: RegistrarCommand.Op
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    AOR_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    id: int
    op: RegistrarCommand.Op
    aor: str
    contact: str
    def __init__(self, id: _Optional[int] = ..., op: _Optional[_Union[RegistrarCommand.Op, str]] = ..., aor: _Optional[str] = ..., contact: _Optional[str] = ...) -> None: ...

class RegistrarResult(_message.Message):
    __slots__ = ("id", "uris", "uri_set", "deleted", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    URIS_FIELD_NUMBER: _ClassVar[int]
    URI_SET_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    uris: _containers.RepeatedScalarFieldContainer[str]
    uri_set: _containers.RepeatedCompositeFieldContainer[_decisions_pb2.UriGroup]
    deleted: bool
    error: str
    def __init__(self, id: _Optional[int] = ..., uris: _Optional[_Iterable[str]] = ..., uri_set: _Optional[_Iterable[_Union[_decisions_pb2.UriGroup, _Mapping]]] = ..., deleted: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...
