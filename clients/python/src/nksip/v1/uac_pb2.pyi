from nksip.v1 import decisions_pb2 as _decisions_pb2
from nksip.v1 import sip_pb2 as _sip_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UacErrorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UAC_ERROR_KIND_UNSPECIFIED: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_URI: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_FROM: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_TO: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_ROUTE: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_CONTACT: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_OPTION: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_UNKNOWN_DIALOG: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_UNKNOWN_REQUEST: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_REQUEST_PENDING: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_SERVICE_UNAVAILABLE: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_TOO_MANY_CALLS: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_EVENT: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_INVALID_REFER_TO: _ClassVar[UacErrorKind]
    UAC_ERROR_KIND_NOT_IMPLEMENTED: _ClassVar[UacErrorKind]
UAC_ERROR_KIND_UNSPECIFIED: UacErrorKind
UAC_ERROR_KIND_INVALID_URI: UacErrorKind
UAC_ERROR_KIND_INVALID_FROM: UacErrorKind
UAC_ERROR_KIND_INVALID_TO: UacErrorKind
UAC_ERROR_KIND_INVALID_ROUTE: UacErrorKind
UAC_ERROR_KIND_INVALID_CONTACT: UacErrorKind
UAC_ERROR_KIND_INVALID_OPTION: UacErrorKind
UAC_ERROR_KIND_UNKNOWN_DIALOG: UacErrorKind
UAC_ERROR_KIND_UNKNOWN_REQUEST: UacErrorKind
UAC_ERROR_KIND_REQUEST_PENDING: UacErrorKind
UAC_ERROR_KIND_SERVICE_UNAVAILABLE: UacErrorKind
UAC_ERROR_KIND_TOO_MANY_CALLS: UacErrorKind
UAC_ERROR_KIND_INVALID_EVENT: UacErrorKind
UAC_ERROR_KIND_INVALID_REFER_TO: UacErrorKind
UAC_ERROR_KIND_NOT_IMPLEMENTED: UacErrorKind

class Credential(_message.Message):
    __slots__ = ("realm", "user", "password")
    REALM_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    realm: str
    user: str
    password: str
    def __init__(self, realm: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class UacOptions(_message.Message):
    __slots__ = ("headers", "body", "content_type", "contact", "make_contact", "to", "route", "call_id", "cseq", "expires", "provisionals", "event", "refer_to", "unregister", "unregister_all", "to_as_from", "auto_2xx_ack", "no_auto_expire", "reason", "subscription_state", "sip_if_match", "local_host", "auth_max_tries", "prack_body", "manual_prack", "session_expires", "min_se", "refresh")
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    MAKE_CONTACT_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CSEQ_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    PROVISIONALS_FIELD_NUMBER: _ClassVar[int]
    PASS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REFER_TO_FIELD_NUMBER: _ClassVar[int]
    UNREGISTER_FIELD_NUMBER: _ClassVar[int]
    UNREGISTER_ALL_FIELD_NUMBER: _ClassVar[int]
    TO_AS_FROM_FIELD_NUMBER: _ClassVar[int]
    AUTO_2XX_ACK_FIELD_NUMBER: _ClassVar[int]
    NO_AUTO_EXPIRE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_STATE_FIELD_NUMBER: _ClassVar[int]
    SIP_IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    LOCAL_HOST_FIELD_NUMBER: _ClassVar[int]
    AUTH_MAX_TRIES_FIELD_NUMBER: _ClassVar[int]
    PRACK_BODY_FIELD_NUMBER: _ClassVar[int]
    MANUAL_PRACK_FIELD_NUMBER: _ClassVar[int]
    SESSION_EXPIRES_FIELD_NUMBER: _ClassVar[int]
    MIN_SE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    headers: _containers.RepeatedCompositeFieldContainer[_decisions_pb2.HeaderOp]
    body: bytes
    content_type: str
    contact: str
    make_contact: bool
    to: str
    route: _containers.RepeatedScalarFieldContainer[str]
    call_id: str
    cseq: int
    expires: int
    provisionals: bool
    event: str
    refer_to: str
    unregister: bool
    unregister_all: bool
    to_as_from: bool
    auto_2xx_ack: bool
    no_auto_expire: bool
    reason: str
    subscription_state: str
    sip_if_match: str
    local_host: str
    auth_max_tries: int
    prack_body: bytes
    manual_prack: bool
    session_expires: int
    min_se: int
    refresh: str
    def __init__(self, headers: _Optional[_Iterable[_Union[_decisions_pb2.HeaderOp, _Mapping]]] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ..., contact: _Optional[str] = ..., make_contact: _Optional[bool] = ..., to: _Optional[str] = ..., route: _Optional[_Iterable[str]] = ..., call_id: _Optional[str] = ..., cseq: _Optional[int] = ..., expires: _Optional[int] = ..., provisionals: _Optional[bool] = ..., event: _Optional[str] = ..., refer_to: _Optional[str] = ..., unregister: _Optional[bool] = ..., unregister_all: _Optional[bool] = ..., to_as_from: _Optional[bool] = ..., auto_2xx_ack: _Optional[bool] = ..., no_auto_expire: _Optional[bool] = ..., reason: _Optional[str] = ..., subscription_state: _Optional[str] = ..., sip_if_match: _Optional[str] = ..., local_host: _Optional[str] = ..., auth_max_tries: _Optional[int] = ..., prack_body: _Optional[bytes] = ..., manual_prack: _Optional[bool] = ..., session_expires: _Optional[int] = ..., min_se: _Optional[int] = ..., refresh: _Optional[str] = ..., **kwargs) -> None: ...

class UacCommand(_message.Message):
    __slots__ = ("id", "method", "uri", "dialog_handle", "subscription_handle", "request_handle", "options")
    ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_HANDLE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HANDLE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    id: int
    method: str
    uri: str
    dialog_handle: str
    subscription_handle: str
    request_handle: str
    options: UacOptions
    def __init__(self, id: _Optional[int] = ..., method: _Optional[str] = ..., uri: _Optional[str] = ..., dialog_handle: _Optional[str] = ..., subscription_handle: _Optional[str] = ..., request_handle: _Optional[str] = ..., options: _Optional[_Union[UacOptions, _Mapping]] = ...) -> None: ...

class UacError(_message.Message):
    __slots__ = ("kind", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: UacErrorKind
    message: str
    def __init__(self, kind: _Optional[_Union[UacErrorKind, str]] = ..., message: _Optional[str] = ...) -> None: ...

class UacEvent(_message.Message):
    __slots__ = ("id", "provisional", "final", "error", "request_handle", "dialog_handle", "subscription_handle", "call_id", "rseq")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HANDLE_FIELD_NUMBER: _ClassVar[int]
    DIALOG_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_HANDLE_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    RSEQ_FIELD_NUMBER: _ClassVar[int]
    id: int
    provisional: _sip_pb2.Response
    final: _sip_pb2.Response
    error: UacError
    request_handle: str
    dialog_handle: str
    subscription_handle: str
    call_id: str
    rseq: int
    def __init__(self, id: _Optional[int] = ..., provisional: _Optional[_Union[_sip_pb2.Response, _Mapping]] = ..., final: _Optional[_Union[_sip_pb2.Response, _Mapping]] = ..., error: _Optional[_Union[UacError, _Mapping]] = ..., request_handle: _Optional[str] = ..., dialog_handle: _Optional[str] = ..., subscription_handle: _Optional[str] = ..., call_id: _Optional[str] = ..., rseq: _Optional[int] = ...) -> None: ...
