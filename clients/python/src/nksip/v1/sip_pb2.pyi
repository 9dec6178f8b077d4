from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Param(_message.Message):
    __slots__ = ("name", "value", "flag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    flag: bool
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., flag: _Optional[bool] = ...) -> None: ...

class Uri(_message.Message):
    __slots__ = ("raw", "scheme", "user", "host", "port", "params", "headers")
    RAW_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    raw: str
    scheme: str
    user: str
    host: str
    port: int
    params: _containers.RepeatedCompositeFieldContainer[Param]
    headers: _containers.RepeatedCompositeFieldContainer[Param]
    def __init__(self, raw: _Optional[str] = ..., scheme: _Optional[str] = ..., user: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ..., headers: _Optional[_Iterable[_Union[Param, _Mapping]]] = ...) -> None: ...

class NameAddr(_message.Message):
    __slots__ = ("raw", "display_name", "uri", "params")
    RAW_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    raw: str
    display_name: str
    uri: Uri
    params: _containers.RepeatedCompositeFieldContainer[Param]
    def __init__(self, raw: _Optional[str] = ..., display_name: _Optional[str] = ..., uri: _Optional[_Union[Uri, _Mapping]] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ...) -> None: ...

class Via(_message.Message):
    __slots__ = ("transport", "host", "port", "params")
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    transport: str
    host: str
    port: int
    params: _containers.RepeatedCompositeFieldContainer[Param]
    def __init__(self, transport: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class TransportInfo(_message.Message):
    __slots__ = ("transport", "local_ip", "local_port", "remote_ip", "remote_port")
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    LOCAL_IP_FIELD_NUMBER: _ClassVar[int]
    LOCAL_PORT_FIELD_NUMBER: _ClassVar[int]
    REMOTE_IP_FIELD_NUMBER: _ClassVar[int]
    REMOTE_PORT_FIELD_NUMBER: _ClassVar[int]
    transport: str
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    def __init__(self, transport: _Optional[str] = ..., local_ip: _Optional[str] = ..., local_port: _Optional[int] = ..., remote_ip: _Optional[str] = ..., remote_port: _Optional[int] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("method", "ruri", "to", "call_id", "cseq", "cseq_method", "vias", "contacts", "contact_star", "routes", "max_forwards", "headers", "body", "content_type", "transport")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    RURI_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CSEQ_FIELD_NUMBER: _ClassVar[int]
    CSEQ_METHOD_FIELD_NUMBER: _ClassVar[int]
    VIAS_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    CONTACT_STAR_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    MAX_FORWARDS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    method: str
    ruri: Uri
    to: NameAddr
    call_id: str
    cseq: int
    cseq_method: str
    vias: _containers.RepeatedCompositeFieldContainer[Via]
    contacts: _containers.RepeatedCompositeFieldContainer[NameAddr]
    contact_star: bool
    routes: _containers.RepeatedCompositeFieldContainer[NameAddr]
    max_forwards: int
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    content_type: str
    transport: TransportInfo
    def __init__(self, method: _Optional[str] = ..., ruri: _Optional[_Union[Uri, _Mapping]] = ..., to: _Optional[_Union[NameAddr, _Mapping]] = ..., call_id: _Optional[str] = ..., cseq: _Optional[int] = ..., cseq_method: _Optional[str] = ..., vias: _Optional[_Iterable[_Union[Via, _Mapping]]] = ..., contacts: _Optional[_Iterable[_Union[NameAddr, _Mapping]]] = ..., contact_star: _Optional[bool] = ..., routes: _Optional[_Iterable[_Union[NameAddr, _Mapping]]] = ..., max_forwards: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ..., transport: _Optional[_Union[TransportInfo, _Mapping]] = ..., **kwargs) -> None: ...

class Response(_message.Message):
    __slots__ = ("code", "reason", "to", "call_id", "cseq", "cseq_method", "vias", "contacts", "headers", "body", "content_type", "transport")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CSEQ_FIELD_NUMBER: _ClassVar[int]
    CSEQ_METHOD_FIELD_NUMBER: _ClassVar[int]
    VIAS_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    code: int
    reason: str
    to: NameAddr
    call_id: str
    cseq: int
    cseq_method: str
    vias: _containers.RepeatedCompositeFieldContainer[Via]
    contacts: _containers.RepeatedCompositeFieldContainer[NameAddr]
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    content_type: str
    transport: TransportInfo
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., to: _Optional[_Union[NameAddr, _Mapping]] = ..., call_id: _Optional[str] = ..., cseq: _Optional[int] = ..., cseq_method: _Optional[str] = ..., vias: _Optional[_Iterable[_Union[Via, _Mapping]]] = ..., contacts: _Optional[_Iterable[_Union[NameAddr, _Mapping]]] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ..., transport: _Optional[_Union[TransportInfo, _Mapping]] = ..., **kwargs) -> None: ...
