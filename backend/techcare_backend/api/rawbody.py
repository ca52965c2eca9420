"""Request bodies: validated from the raw bytes on the hot paths, limited in size, and documented as enforced.

* FastAPI parses a body with ``json.loads`` and then validates the Python objects; pydantic validates the bytes in
  one pass (``model_validate_json``), which is several times cheaper for a metrics sample. Routes that do this
  declare their body with :func:`json_body` so the OpenAPI document (``/docs``, schemathesis) still shows it, and
  raise the same 422 as FastAPI for invalid input (:func:`parse`).
* Every request body has a limit (:data:`BODY_LIMITS`, :class:`BodyLimitMiddleware`): more is a 413 naming it.
* :func:`install_schemas` completes the OpenAPI document with what the app enforces everywhere: the error answers
  of every operation, no NUL in request text, free-form values as :data:`JSON_VALUE`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

__all__ = ["BATCH_BODY_LIMIT", "BODY_LIMITS", "CASE_BODY_LIMIT", "CHANGELOG_BODY_LIMIT", "DEFAULT_BODY_LIMIT",
           "SAMPLE_BODY_LIMIT", "VALIDATE_BODY_LIMIT", "BodyLimitMiddleware", "body_limit", "install_schemas",
           "json_body", "parse", "python_json", "too_large"]

# Request body limits in bytes, per route (:data:`BODY_LIMITS`, by path) and for every other one. More is a 413
# naming the limit: before the body is read when Content-Length says so, else as soon as the streamed bytes pass it.
DEFAULT_BODY_LIMIT = 1024 * 1024
SAMPLE_BODY_LIMIT = 1024 * 1024  # one metrics sample (the largest valid one is ~300 kB)
BATCH_BODY_LIMIT = 16 * 1024 * 1024  # up to 1,000 samples
VALIDATE_BODY_LIMIT = 16 * 1024  # a license check
CASE_BODY_LIMIT = 256 * 1024  # a case (symptom up to 4,000 characters, findings up to 64 kB)
CHANGELOG_BODY_LIMIT = 16 * 1024 * 1024  # up to 1,000 changelog entries
BODY_LIMITS: dict[str, int] = {
    "/api/monitoring/metrics": SAMPLE_BODY_LIMIT,
    "/api/monitoring/metrics/batch": BATCH_BODY_LIMIT,
    "/api/licenses/validate": VALIDATE_BODY_LIMIT,
    "/api/cases": CASE_BODY_LIMIT,
    "/api/changelogs": CHANGELOG_BODY_LIMIT,
}


def body_limit(path: str) -> int:
    """The request body limit of ``path`` in bytes."""
    return BODY_LIMITS.get(path, DEFAULT_BODY_LIMIT)


def too_large(limit: int, method: str, path: str, lang: str) -> JSONResponse:
    from techcare.i18n import tr

    return JSONResponse({"code": "PAYLOAD_TOO_LARGE", "detail": tr(
        "Anfrage zu groß: höchstens {n} Bytes für {m} {p}.", "Request body too large: at most {n} bytes for {m} {p}.",
        lang, n=limit, m=method, p=path)}, status_code=413)


class BodyTooLarge(HTTPException):
    """Raised by the limited ``receive`` when a streamed body passes its limit (FastAPI passes HTTPExceptions of
    the body read on to the app's handler, which answers :func:`too_large`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    """Enforces :func:`body_limit` for every HTTP request, before routing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = BODY_LIMITS.get(scope["path"], DEFAULT_BODY_LIMIT)
        length, lang = None, "de"
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"accept-language" and value.strip().lower().startswith(b"en"):
                lang = "en"
        if length is not None:  # the server delivers no more than Content-Length bytes
            if length > limit:
                await too_large(limit, scope["method"], scope["path"], lang)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


_MODELS: dict[str, type[BaseModel]] = {}
BEARER = [{"HTTPBearer": []}]


def json_body(model: type[BaseModel], *, bearer: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body is ``model`` (and, with ``bearer``, that needs the API key)."""
    _MODELS[model.__name__] = model
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}
    if bearer:
        extra["security"] = BEARER
    return extra


def _add_schema(schemas: dict[str, Any], name: str, model: type[BaseModel]) -> None:
    body = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    for def_name, definition in body.pop("$defs", {}).items():
        schemas.setdefault(def_name, definition)
    schemas[name] = body


JSON_VALUE: dict[str, Any] = {
    "description": "any JSON value; text (also object keys) without NUL characters",
    "anyOf": [{"type": "string", "pattern": "^[^\\x00]*$"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
              {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
              {"type": "object", "propertyNames": {"pattern": "^[^\\x00]*$"},
               "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}]}


def declare_text_rules(node: Any) -> Any:
    """Declare in the OpenAPI document what the app enforces on all text (``schemas.Strict``/``NoNul``, the NUL
    check of URLs): no NUL in any string without a stricter pattern of its own, and free-form values (``Any``,
    ``dict[str, Any]``) as :data:`JSON_VALUE`. Changes ``node`` in place."""
    no_nul = "^[^\\x00]*$"
    if isinstance(node, list):
        for item in node:
            declare_text_rules(item)
        return node
    if not isinstance(node, dict):
        return node
    if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(node):
        node["pattern"] = no_nul
    if node.get("type") == "object" and node.get("additionalProperties") is True:
        node["additionalProperties"] = {"$ref": "#/components/schemas/JsonValue"}
        node.setdefault("propertyNames", {"pattern": no_nul})
    for key, value in node.items():
        if key in ("items", "additionalProperties") and value == {}:
            node[key] = {"$ref": "#/components/schemas/JsonValue"}
        elif key == "properties" and isinstance(value, dict):
            for name, prop in value.items():
                if isinstance(prop, dict) and "title" in prop and not (
                        {"type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"} & set(prop)):
                    # pydantic's schema of an ``Any`` field (it has a title; a hand-written free-form schema, e.g. of
                    # a value that is cleaned and never refused, has none and stays as it is)
                    prop["$ref"] = "#/components/schemas/JsonValue"
                declare_text_rules(prop)
        elif key not in ("examples", "example", "default", "const", "enum"):
            declare_text_rules(value)
    return node


def _request_components(schema: dict[str, Any]) -> set[str]:
    """The component schemas that requests use (bodies and parameters, and what those refer to)."""
    prefix = "#/components/schemas/"
    components = schema.get("components", {}).get("schemas", {})
    found: set[str] = set()

    def refs(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix):] not in found:
                found.add(ref[len(prefix):])
                refs(components.get(ref[len(prefix):]))
            for value in node.values():
                refs(value)
        elif isinstance(node, list):
            for value in node:
                refs(value)

    for item in schema.get("paths", {}).values():
        for operation in item.values():
            refs(operation.get("parameters"))
            refs(operation.get("requestBody"))
    found.discard("JsonValue")
    return found


def install_schemas(app: FastAPI) -> None:
    """Complete the app's OpenAPI document: the models of :func:`json_body` routes (and their nested models), and
    on every operation the errors the app answers besides the declared ones: 422 in the shape of
    ``schemas.ValidationErrorPublic`` (not FastAPI's default), 413 with the route's body limit, 401/403 where an API
    key or the admin token is needed (see ``api.deps.ROUTE_ROLES``)."""
    from ..schemas import ErrorPublic, ValidationErrorPublic
    from .deps import PUBLIC, roles_for

    build = app.openapi

    def error(description: str, model: str = "ErrorPublic") -> dict[str, Any]:
        return {"description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, model in _MODELS.items():
            _add_schema(schemas, name, model)
        _add_schema(schemas, "ErrorPublic", ErrorPublic)
        _add_schema(schemas, "ValidationErrorPublic", ValidationErrorPublic)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["JsonValue"] = JSON_VALUE
        for operation in (op for item in schema.get("paths", {}).values() for op in item.values()):
            declare_text_rules(operation.get("parameters", []))
            declare_text_rules(operation.get("requestBody", {}))
        for name in sorted(_request_components(schema)):
            declare_text_rules(schemas[name])
        if "HTTPBearer" not in components.get("securitySchemes", {}):
            components.setdefault("securitySchemes", {})["HTTPBearer"] = {"type": "http", "scheme": "bearer"}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                responses["422"] = error("invalid request: the fields and what is allowed are named",
                                         "ValidationErrorPublic")
                if "requestBody" in operation:
                    responses.setdefault("413", error(f"request body larger than {body_limit(path)} bytes"))
                if "{" in path:
                    responses.setdefault("404", error("no such resource in the caller's organisation"))
                responses.setdefault("503", error("the database is unreachable for the moment (Retry-After)"))
                roles = roles_for(method.upper(), path)
                if roles != PUBLIC:
                    responses.setdefault("401", error("API key (or admin token) missing or invalid"))
                    responses.setdefault("403", error("the key's role or the organisation's license does not "
                                                      "allow this"))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def invalid(exc: ValidationError) -> RequestValidationError:
    """The 422 FastAPI would answer (locations under ``body``)."""
    errors = []
    for err in exc.errors(include_url=False):
        err = {**err, "loc": ("body", *err["loc"])}
        if isinstance(err.get("input"), (bytes, bytearray)):  # not JSON at all: do not echo the raw body back
            err["input"] = None
        errors.append(err)
    return RequestValidationError(errors)


_NOT_PARSED = object()


def python_json(body: bytes) -> Any:
    """``body`` parsed by Python's ``json`` (which, unlike pydantic's parser, reads a lone surrogate escape such as
    ``"\\ud800"``, so the error can name the field instead of the whole body); a sentinel if that fails too."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_PARSED


def parse(body: bytes, validator: type[BaseModel] | TypeAdapter[Any]) -> Any:
    """``body`` validated as ``validator`` (a model or a TypeAdapter), or the 422 of FastAPI."""
    try:
        if isinstance(validator, TypeAdapter):
            return validator.validate_json(body)
        return validator.model_validate_json(body)
    except ValidationError as exc:
        if all(e["type"] == "json_invalid" for e in exc.errors()):  # valid for Python's json? Then name the field
            data = python_json(body)
            if data is not _NOT_PARSED:
                try:
                    if isinstance(validator, TypeAdapter):
                        return validator.validate_python(data)
                    return validator.model_validate(data)
                except ValidationError as again:
                    raise invalid(again) from None
        raise invalid(exc) from None
