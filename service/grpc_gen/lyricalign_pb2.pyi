from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlignRequest(_message.Message):
    __slots__ = ("audio", "lyrics", "language", "method", "format", "media_type", "adaptation", "keep_markers")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    LYRICS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADAPTATION_FIELD_NUMBER: _ClassVar[int]
    KEEP_MARKERS_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    lyrics: str
    language: str
    method: str
    format: str
    media_type: str
    adaptation: int
    keep_markers: bool
    def __init__(self, audio: _Optional[bytes] = ..., lyrics: _Optional[str] = ..., language: _Optional[str] = ..., method: _Optional[str] = ..., format: _Optional[str] = ..., media_type: _Optional[str] = ..., adaptation: _Optional[int] = ..., keep_markers: _Optional[bool] = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("text", "start", "end", "confidence", "line", "interpolated", "marker")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    INTERPOLATED_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: float
    end: float
    confidence: float
    line: int
    interpolated: bool
    marker: bool
    def __init__(self, text: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., confidence: _Optional[float] = ..., line: _Optional[int] = ..., interpolated: _Optional[bool] = ..., marker: _Optional[bool] = ...) -> None: ...

class Line(_message.Message):
    __slots__ = ("text", "start", "end", "paragraph", "marker")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PARAGRAPH_FIELD_NUMBER: _ClassVar[int]
    MARKER_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: float
    end: float
    paragraph: int
    marker: bool
    def __init__(self, text: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., paragraph: _Optional[int] = ..., marker: _Optional[bool] = ...) -> None: ...

class AlignResponse(_message.Message):
    __slots__ = ("words", "lines", "duration", "model", "language", "method", "rendered", "extras")
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    RENDERED_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    words: _containers.RepeatedCompositeFieldContainer[Word]
    lines: _containers.RepeatedCompositeFieldContainer[Line]
    duration: float
    model: str
    language: str
    method: str
    rendered: str
    extras: str
    def __init__(self, words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ..., lines: _Optional[_Iterable[_Union[Line, _Mapping]]] = ..., duration: _Optional[float] = ..., model: _Optional[str] = ..., language: _Optional[str] = ..., method: _Optional[str] = ..., rendered: _Optional[str] = ..., extras: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...
