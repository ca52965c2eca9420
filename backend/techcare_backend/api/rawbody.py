"""JSON request bodies validated straight from the raw bytes, for the hot paths (ingest, validate).

FastAPI parses a body with ``json.loads`` and then validates the Python objects; pydantic validates the bytes in one
pass (``model_validate_json``), which is several times cheaper for a metrics sample. Routes that do this declare
their body with :func:`json_body` so the OpenAPI document (``/docs``, schemathesis) still shows it, and raise the
same 422 as FastAPI for invalid input (:func:`parse`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = ["install_schemas", "json_body", "parse"]

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


def install_schemas(app: FastAPI) -> None:
    """Add the models of :func:`json_body` routes (and their nested models) to the app's OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, model in _MODELS.items():
            body = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
            for def_name, definition in body.pop("$defs", {}).items():
                schemas.setdefault(def_name, definition)
            schemas[name] = body
        if "HTTPBearer" not in components.get("securitySchemes", {}):
            components.setdefault("securitySchemes", {})["HTTPBearer"] = {"type": "http", "scheme": "bearer"}
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


def parse(body: bytes, validator: type[BaseModel] | TypeAdapter[Any]) -> Any:
    """``body`` validated as ``validator`` (a model or a TypeAdapter), or the 422 of FastAPI."""
    try:
        if isinstance(validator, TypeAdapter):
            return validator.validate_json(body)
        return validator.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc) from None
