from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NamedReply(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NAMED_REPLY_UNSPECIFIED: _ClassVar[NamedReply]
    NAMED_REPLY_RINGING: _ClassVar[NamedReply]
    NAMED_REPLY_SESSION_PROGRESS: _ClassVar[NamedReply]
    NAMED_REPLY_REL_RINGING: _ClassVar[NamedReply]
    NAMED_REPLY_REL_SESSION_PROGRESS: _ClassVar[NamedReply]
    NAMED_REPLY_OK: _ClassVar[NamedReply]
    NAMED_REPLY_ANSWER: _ClassVar[NamedReply]
    NAMED_REPLY_ACCEPTED: _ClassVar[NamedReply]
    NAMED_REPLY_REDIRECT: _ClassVar[NamedReply]
    NAMED_REPLY_REDIRECT_PERMANENT: _ClassVar[NamedReply]
    NAMED_REPLY_REDIRECT_TEMPORARY: _ClassVar[NamedReply]
    NAMED_REPLY_INVALID_REQUEST: _ClassVar[NamedReply]
    NAMED_REPLY_AUTHENTICATE: _ClassVar[NamedReply]
    NAMED_REPLY_FORBIDDEN: _ClassVar[NamedReply]
    NAMED_REPLY_NOT_FOUND: _ClassVar[NamedReply]
    NAMED_REPLY_METHOD_NOT_ALLOWED: _ClassVar[NamedReply]
    NAMED_REPLY_PROXY_AUTHENTICATE: _ClassVar[NamedReply]
    NAMED_REPLY_TIMEOUT: _ClassVar[NamedReply]
    NAMED_REPLY_CONDITIONAL_REQUEST_FAILED: _ClassVar[NamedReply]
    NAMED_REPLY_REQUEST_TOO_LARGE: _ClassVar[NamedReply]
    NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE: _ClassVar[NamedReply]
    NAMED_REPLY_UNSUPPORTED_URI_SCHEME: _ClassVar[NamedReply]
    NAMED_REPLY_BAD_EXTENSION: _ClassVar[NamedReply]
    NAMED_REPLY_EXTENSION_REQUIRED: _ClassVar[NamedReply]
    NAMED_REPLY_SESSION_TOO_SMALL: _ClassVar[NamedReply]
    NAMED_REPLY_INTERVAL_TOO_BRIEF: _ClassVar[NamedReply]
    NAMED_REPLY_FLOW_FAILED: _ClassVar[NamedReply]
    NAMED_REPLY_FIRST_HOP_LACKS_OUTBOUND: _ClassVar[NamedReply]
    NAMED_REPLY_TEMPORARILY_UNAVAILABLE: _ClassVar[NamedReply]
    NAMED_REPLY_NO_TRANSACTION: _ClassVar[NamedReply]
    NAMED_REPLY_UNKNOWN_DIALOG: _ClassVar[NamedReply]
    NAMED_REPLY_LOOP_DETECTED: _ClassVar[NamedReply]
    NAMED_REPLY_TOO_MANY_HOPS: _ClassVar[NamedReply]
    NAMED_REPLY_AMBIGUOUS: _ClassVar[NamedReply]
    NAMED_REPLY_BUSY: _ClassVar[NamedReply]
    NAMED_REPLY_REQUEST_TERMINATED: _ClassVar[NamedReply]
    NAMED_REPLY_NOT_ACCEPTABLE: _ClassVar[NamedReply]
    NAMED_REPLY_BAD_EVENT: _ClassVar[NamedReply]
    NAMED_REPLY_REQUEST_PENDING: _ClassVar[NamedReply]
    NAMED_REPLY_INTERNAL_ERROR: _ClassVar[NamedReply]
    NAMED_REPLY_SERVICE_UNAVAILABLE: _ClassVar[NamedReply]
    NAMED_REPLY_BUSY_EVERYWHERE: _ClassVar[NamedReply]
    NAMED_REPLY_DECLINE: _ClassVar[NamedReply]
NAMED_REPLY_UNSPECIFIED: NamedReply
NAMED_REPLY_RINGING: NamedReply
NAMED_REPLY_SESSION_PROGRESS: NamedReply
NAMED_REPLY_REL_RINGING: NamedReply
NAMED_REPLY_REL_SESSION_PROGRESS: NamedReply
NAMED_REPLY_OK: NamedReply
NAMED_REPLY_ANSWER: NamedReply
NAMED_REPLY_ACCEPTED: NamedReply
NAMED_REPLY_REDIRECT: NamedReply
NAMED_REPLY_REDIRECT_PERMANENT: NamedReply
NAMED_REPLY_REDIRECT_TEMPORARY: NamedReply
NAMED_REPLY_INVALID_REQUEST: NamedReply
NAMED_REPLY_AUTHENTICATE: NamedReply
NAMED_REPLY_FORBIDDEN: NamedReply
NAMED_REPLY_NOT_FOUND: NamedReply
NAMED_REPLY_METHOD_NOT_ALLOWED: NamedReply
NAMED_REPLY_PROXY_AUTHENTICATE: NamedReply
NAMED_REPLY_TIMEOUT: NamedReply
NAMED_REPLY_CONDITIONAL_REQUEST_FAILED: NamedReply
NAMED_REPLY_REQUEST_TOO_LARGE: NamedReply
NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE: NamedReply
NAMED_REPLY_UNSUPPORTED_URI_SCHEME: NamedReply
NAMED_REPLY_BAD_EXTENSION: NamedReply
NAMED_REPLY_EXTENSION_REQUIRED: NamedReply
NAMED_REPLY_SESSION_TOO_SMALL: NamedReply
NAMED_REPLY_INTERVAL_TOO_BRIEF: NamedReply
NAMED_REPLY_FLOW_FAILED: NamedReply
NAMED_REPLY_FIRST_HOP_LACKS_OUTBOUND: NamedReply
NAMED_REPLY_TEMPORARILY_UNAVAILABLE: NamedReply
NAMED_REPLY_NO_TRANSACTION: NamedReply
NAMED_REPLY_UNKNOWN_DIALOG: NamedReply
NAMED_REPLY_LOOP_DETECTED: NamedReply
NAMED_REPLY_TOO_MANY_HOPS: NamedReply
NAMED_REPLY_AMBIGUOUS: NamedReply
NAMED_REPLY_BUSY: NamedReply
NAMED_REPLY_REQUEST_TERMINATED: NamedReply
NAMED_REPLY_NOT_ACCEPTABLE: NamedReply
NAMED_REPLY_BAD_EVENT: NamedReply
NAMED_REPLY_REQUEST_PENDING: NamedReply
NAMED_REPLY_INTERNAL_ERROR: NamedReply
NAMED_REPLY_SERVICE_UNAVAILABLE: NamedReply
NAMED_REPLY_BUSY_EVERYWHERE: NamedReply
NAMED_REPLY_DECLINE: NamedReply

class HeaderOp(_message.Message):
    __slots__ = ("kind", "name", "value")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[HeaderOp.Kind]
        KIND_ADD: _ClassVar[HeaderOp.Kind]
        KIND_REPLACE: _ClassVar[HeaderOp.Kind]
        KIND_REMOVE: _ClassVar[HeaderOp.Kind]
        KIND_INSERT: _ClassVar[HeaderOp.Kind]
    KIND_UNSPECIFIED: HeaderOp.Kind
    KIND_ADD: HeaderOp.Kind
    KIND_REPLACE: HeaderOp.Kind
    KIND_REMOVE: HeaderOp.Kind
    KIND_INSERT: HeaderOp.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    kind: HeaderOp.Kind
    name: str
    value: str
    def __init__(self, kind: _Optional[_Union[HeaderOp.Kind, str]] = ..., name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("code", "named", "reason", "headers", "body", "content_type", "contacts", "realm", "allow", "accept", "unsupported", "require", "warning", "min_value")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAMED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    UNSUPPORTED_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FIELD_NUMBER: _ClassVar[int]
    code: int
    named: NamedReply
    reason: str
    headers: _containers.RepeatedCompositeFieldContainer[HeaderOp]
    body: bytes
    content_type: str
    contacts: _containers.RepeatedScalarFieldContainer[str]
    realm: str
    allow: str
    accept: str
    unsupported: str
    require: str
    warning: str
    min_value: int
    def __init__(self, code: _Optional[int] = ..., named: _Optional[_Union[NamedReply, str]] = ..., reason: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[HeaderOp, _Mapping]]] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ..., contacts: _Optional[_Iterable[str]] = ..., realm: _Optional[str] = ..., allow: _Optional[str] = ..., accept: _Optional[str] = ..., unsupported: _Optional[str] = ..., require: _Optional[str] = ..., warning: _Optional[str] = ..., min_value: _Optional[int] = ...) -> None: ...

class UriGroup(_message.Message):
    __slots__ = ("uris",)
    URIS_FIELD_NUMBER: _ClassVar[int]
    uris: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, uris: _Optional[_Iterable[str]] = ...) -> None: ...

class ProxyOptions(_message.Message):
    __slots__ = ("record_route", "path", "follow_redirects", "headers", "route", "branch_events")
    RECORD_ROUTE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_REDIRECTS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    BRANCH_EVENTS_FIELD_NUMBER: _ClassVar[int]
    record_route: bool
    path: bool
    follow_redirects: bool
    headers: _containers.RepeatedCompositeFieldContainer[HeaderOp]
    route: _containers.RepeatedScalarFieldContainer[str]
    branch_events: bool
    def __init__(self, record_route: _Optional[bool] = ..., path: _Optional[bool] = ..., follow_redirects: _Optional[bool] = ..., headers: _Optional[_Iterable[_Union[HeaderOp, _Mapping]]] = ..., route: _Optional[_Iterable[str]] = ..., branch_events: _Optional[bool] = ...) -> None: ...

class Proxy(_message.Message):
    __slots__ = ("uri_set", "options")
    URI_SET_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    uri_set: _containers.RepeatedCompositeFieldContainer[UriGroup]
    options: ProxyOptions
    def __init__(self, uri_set: _Optional[_Iterable[_Union[UriGroup, _Mapping]]] = ..., options: _Optional[_Union[ProxyOptions, _Mapping]] = ...) -> None: ...

class Process(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RouteDecision(_message.Message):
    __slots__ = ("process", "process_stateless", "reply", "reply_stateless", "proxy", "proxy_stateless", "strict_proxy")
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_STATELESS_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    REPLY_STATELESS_FIELD_NUMBER: _ClassVar[int]
    PROXY_FIELD_NUMBER: _ClassVar[int]
    PROXY_STATELESS_FIELD_NUMBER: _ClassVar[int]
    STRICT_PROXY_FIELD_NUMBER: _ClassVar[int]
    process: Process
    process_stateless: Process
    reply: Reply
    reply_stateless: Reply
    proxy: Proxy
    proxy_stateless: Proxy
    strict_proxy: Proxy
    def __init__(self, process: _Optional[_Union[Process, _Mapping]] = ..., process_stateless: _Optional[_Union[Process, _Mapping]] = ..., reply: _Optional[_Union[Reply, _Mapping]] = ..., reply_stateless: _Optional[_Union[Reply, _Mapping]] = ..., proxy: _Optional[_Union[Proxy, _Mapping]] = ..., proxy_stateless: _Optional[_Union[Proxy, _Mapping]] = ..., strict_proxy: _Optional[_Union[Proxy, _Mapping]] = ...) -> None: ...

class MethodDecision(_message.Message):
    __slots__ = ("reply", "noreply")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    NOREPLY_FIELD_NUMBER: _ClassVar[int]
    reply: Reply
    noreply: NoReply
    def __init__(self, reply: _Optional[_Union[Reply, _Mapping]] = ..., noreply: _Optional[_Union[NoReply, _Mapping]] = ...) -> None: ...

class NoReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuthorizeDecision(_message.Message):
    __slots__ = ("kind", "realm")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[AuthorizeDecision.Kind]
        KIND_OK: _ClassVar[AuthorizeDecision.Kind]
        KIND_FORBIDDEN: _ClassVar[AuthorizeDecision.Kind]
        KIND_AUTHENTICATE: _ClassVar[AuthorizeDecision.Kind]
        KIND_PROXY_AUTHENTICATE: _ClassVar[AuthorizeDecision.Kind]
    KIND_UNSPECIFIED: AuthorizeDecision.Kind
    KIND_OK: AuthorizeDecision.Kind
    KIND_FORBIDDEN: AuthorizeDecision.Kind
    KIND_AUTHENTICATE: AuthorizeDecision.Kind
    KIND_PROXY_AUTHENTICATE: AuthorizeDecision.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    kind: AuthorizeDecision.Kind
    realm: str
    def __init__(self, kind: _Optional[_Union[AuthorizeDecision.Kind, str]] = ..., realm: _Optional[str] = ...) -> None: ...

class UserPassDecision(_message.Message):
    __slots__ = ("password", "accept")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    password: str
    accept: bool
    def __init__(self, password: _Optional[str] = ..., accept: _Optional[bool] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
