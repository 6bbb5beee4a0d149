"""The OpenAPI document served at ``GET /docs.json``, made true to what the service answers.

BentoML generates the document from the API signatures. It does not know what this service adds
around them, so :func:`patch_spec` corrects it (the ``AlignGuard`` middleware applies it):

* ``POST /align`` answers 200 in the requested format (JSON, or text for lrc/elrc/srt/vtt/ass/textgrid)
  and refuses with ``{"error": message}`` and 400, 408, 409, 413, 415, 422, 501 or 503 (+ ``Retry-After``);
  its form takes no field besides the documented ones (``additionalProperties: false``);
* ``GET /info`` (a mounted route, invisible to BentoML) is documented;
* BentoML's own error bodies carry ``detail`` as pydantic's list of errors (a string elsewhere),
  documented as either;
* the internal batching endpoint also answers 415 (the guard's media-type check).

``tests/test_schemathesis.py`` checks every response against this document (status codes and schemas).
"""

from __future__ import annotations

import copy
from typing import Any

from lyricalign.formats import JSON, REGISTRY

ERROR_SCHEMA = "AlignError"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
#: The media types of the text formats (``lyricalign.formats.REGISTRY``), without their charset.
TEXT_MEDIA_TYPES = tuple(dict.fromkeys(f.media_type.split(";")[0] for f in REGISTRY.values() if f is not JSON))

#: Status -> description of the refusals of ``POST /align`` (all with an ``{"error": ...}`` body).
ALIGN_ERRORS = {
    "400": "Malformed request: bad multipart body, missing, repeated or unknown field, "
           "unknown method/format/language",
    "408": "The request body stalled or arrived too slowly",
    "409": "method ctc while the served CTC model is untrained (a placeholder)",
    "413": "Request body or lyrics over the limit",
    "415": "Not multipart/form-data, or an audio part of a non-audio type",
    "422": "Audio or lyrics unusable: undecodable, silent, too long, empty lyrics, not alignable",
    "501": "The requested method needs a component this server does not have",
    "503": "Busy: too many requests in flight or the engine queue is full; retry after Retry-After seconds",
}

_WORD = {"type": "object", "required": ["text", "start", "end", "confidence", "line", "interpolated"],
         "properties": {"text": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"},
                        "confidence": {"type": "number", "nullable": True}, "line": {"type": "integer"},
                        "interpolated": {"type": "boolean"}, "marker": {"type": "boolean"}}}
_LINE = {"type": "object", "required": ["text", "start", "end", "paragraph"],
         "properties": {"text": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"},
                        "paragraph": {"type": "integer"}}}
RESULT_SCHEMA = {"type": "object", "required": ["words", "lines", "duration", "model", "language", "method"],
                 "properties": {"words": {"type": "array", "items": _WORD}, "lines": {"type": "array", "items": _LINE},
                                "duration": {"type": "number"}, "model": {"type": "string"},
                                "language": {"type": "string"}, "method": {"type": "string"}}}
INFO_SCHEMA = {"type": "object",
               "required": ["version", "model_tag", "model", "methods", "default_method", "languages", "formats",
                            "limits", "batching"],
               "properties": {"version": {"type": "string"}, "model_tag": {"type": "string"},
                              "model": {"type": "object"}, "methods": {"type": "array", "items": {"type": "string"}},
                              "default_method": {"type": "string"},
                              "languages": {"type": "array", "items": {"type": "string"}},
                              "formats": {"type": "array", "items": {"type": "string"}},
                              "limits": {"type": "object"}, "batching": {"type": "object"}}}
_DETAIL = {"title": "Error Detail", "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}


def _error_response(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
    if retry_after:
        response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                               "schema": {"type": "integer"}}}
    return response


def patch_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """BentoML's generated document -> the document of what this service does (a new dict)."""
    spec = copy.deepcopy(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = {"type": "object", "title": ERROR_SCHEMA, "required": ["error"],
                             "properties": {"error": {"type": "string", "description": "what to fix"}}}
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        if "detail" in schemas.get(name, {}).get("properties", {}):
            schemas[name]["properties"]["detail"] = dict(_DETAIL)
    paths = spec.setdefault("paths", {})
    align = paths.get("/align", {}).get("post")
    if align is not None:
        _patch_align(align)
    for internal in ("/infer_windows", "/score_frames"):
        batch = paths.get(internal, {}).get("post")
        if batch is not None:
            batch["responses"]["415"] = _error_response("Not application/json")
    paths["/info"] = {"get": {
        "tags": ["Service APIs"], "operationId": "lyricalign__info",
        "description": "Model tag and metadata, languages, methods, formats and limits.",
        "responses": {"200": {"description": "Successful Response",
                              "content": {"application/json": {"schema": INFO_SCHEMA}}},
                      "503": _error_response("The service is still starting")},
    }}
    return spec


def _patch_align(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    ok = {"application/json": {"schema": RESULT_SCHEMA}}
    ok.update({media: {"schema": {"type": "string"}} for media in TEXT_MEDIA_TYPES})
    responses["200"] = {"description": "The alignment, in the requested format", "content": ok}
    for status, description in ALIGN_ERRORS.items():
        responses[status] = _error_response(description, retry_after=status == "503")
    for media in operation.get("requestBody", {}).get("content", {}).values():
        media.get("encoding", {}).pop("rejection", None)
        media.get("encoding", {}).pop("payload", None)
        if "properties" in media.get("schema", {}):
            media["schema"]["additionalProperties"] = False  # a form with an unknown field is refused (400)
