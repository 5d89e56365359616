"""The OpenAPI 3 document, built from what each handler declares with `@operation`.

Handlers name their pydantic models for the JSON body, multipart form, query and responses;
the same models validate requests (`json_body`, `query_params`), so the document cannot drift
from the code. Routes without a declaration (pages, static files) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from api.body_reader import read_post
from api.errors import ApiError
from api.json_comments import without_line_comments

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Callable[..., Any])
ATTR = "__openapi_operation__"
REF = "#/components/schemas/{model}"

# Tags of seed API_INTEGRATION_GUIDE §4, in its order, plus the real-time and root surfaces.
TAGS = (
    "Authentication", "Client Management", "Face Enrollment", "Face Authentication", "System",
    "Analytics", "Webhooks", "Legacy Recognition", "Streaming", "Face API",
)
Security = Literal["ApiKey", "Bearer", "SessionToken"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    timestamp: str
    request_id: str


class ErrorBody(BaseModel):
    """Every `/api/` error: `{"error": {...}}` with a seed error code."""

    error: ErrorDetail


class DetailError(BaseModel):
    """Every root face API error (and every error outside `/api/`): `{"detail": "..."}`."""

    detail: str


# The errors any operation may answer besides its own: a malformed body or parameter, missing or
# bad credentials, a locked-out or inactive client, a missing resource, a body over the upload
# limit, a media type it does not take, a rate limit, a dependency that is down.
COMMON_ERRORS = {400: "Invalid request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
                 405: "Method not allowed", 413: "Request body too large", 415: "Unsupported media type",
                 422: "Unprocessable input", 429: "Too many requests", 503: "A dependency is unavailable"}


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused by name rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=dict)
    security: tuple[Security, ...] = ("ApiKey", "Bearer")
    deprecated: bool = False
    description: str = ""
    media: str = "application/json"  # of the success responses (e.g. text/plain for /metrics)


def operation(
    summary: str,
    *,
    tags: tuple[str, ...] | str,
    body: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: Mapping[int, type[BaseModel] | None] | None = None,
    security: tuple[Security, ...] = ("ApiKey", "Bearer"),
    deprecated: bool = False,
    media: str = "application/json",
) -> Callable[[H], H]:
    """Declare a handler's contract; put it *below* the route decorator."""
    tag_tuple = (tags,) if isinstance(tags, str) else tags
    unknown = [t for t in tag_tuple if t not in TAGS]
    if unknown:
        raise ValueError(f"unknown OpenAPI tag(s) {unknown}; add them to api.openapi.TAGS")

    def mark(handler: H) -> H:
        setattr(handler, ATTR, Operation(
            summary=summary, tags=tag_tuple, body=body, form=form, query=query,
            responses=dict(responses or {}), security=security, deprecated=deprecated,
            description=(handler.__doc__ or "").strip(), media=media,
        ))
        return handler

    return mark


def validation_error(exc: ValidationError) -> ApiError:
    """pydantic errors as the seed's VALIDATION_ERROR, details keyed by field path."""
    details: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        details.setdefault(where, []).append(err["msg"])
    first = next(iter(details.items()))
    return ApiError(400, f"{first[0]}: {first[1][0]}", "VALIDATION_ERROR", details)


async def json_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON object body; an empty body counts as `{}`. Form fields are read
    as the same object (the documents' PHP client posts a cURL field array), values as text."""
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await read_post(request)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            raise validation_error(exc) from exc
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            uncommented = without_line_comments(raw)  # the documents' bodies carry `// comments`
            if uncommented is not None:
                return _validated(model, uncommented)
            raise ApiError(400, "Request body must be JSON", "VALIDATION_ERROR") from exc
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise ApiError(400, "Request body must be a JSON object", "VALIDATION_ERROR") from exc
        raise validation_error(exc) from exc


def _validated(model: type[M], raw: bytes) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "Request body must be JSON (// line comments are ignored)",
                           "VALIDATION_ERROR") from exc
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise ApiError(400, "Request body must be a JSON object", "VALIDATION_ERROR") from exc
        raise validation_error(exc) from exc


def query_params(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_error(exc) from exc


def _path_template(path: str) -> tuple[str, list[str]]:
    """aiohttp `{name:regex}` → OpenAPI `{name}`, with the parameter names."""
    names: list[str] = []

    def strip(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "{" + match.group(1) + "}"

    return re.sub(r"\{(\w+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}", strip, path), names


class _Schemas:
    """Collects component schemas so every model is defined once and referenced. Two different
    schemas under one component name would make every response of one of them fail validation
    (issue 24: two `Statistics` models), so that is an error when the document is built."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def _add(self, name: str, schema: dict[str, Any]) -> None:
        known = self.components.setdefault(name, schema)
        if known != schema:
            raise ValueError(f"OpenAPI component {name!r} is defined by two different models; rename one")

    def ref(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            self._add(name, sub)
        self._add(model.__name__, schema)
        return {"$ref": REF.format(model=model.__name__)}


def _operation_object(op: Operation, params: list[str], schemas: _Schemas, platform: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "tags": list(op.tags)}
    if op.description:
        out["description"] = op.description
    if op.deprecated:
        out["deprecated"] = True
    parameters: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
    ]
    if op.query is not None:
        query = op.query.model_json_schema(mode="validation")
        required = set(query.get("required", []))
        for name, prop in query.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if parameters:
        out["parameters"] = parameters
    content: dict[str, Any] = {}
    if op.body is not None:
        content["application/json"] = {"schema": schemas.ref(op.body, "validation")}
    if op.form is not None:
        content["multipart/form-data"] = {"schema": schemas.ref(op.form, "validation")}
    if content:
        out["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": "OK" if status < 300 else "Error"}
        media = op.media if status < 300 else "application/json"
        if model is not None:
            entry["content"] = {media: {"schema": schemas.ref(model, "serialization")}}
        elif status < 300 and status != 204 and media != "application/json":
            entry["content"] = {media: {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    # every status the server can answer is listed: the surface's error format for each
    error_model = ErrorBody if platform else DetailError
    errors = {"content": {"application/json": {"schema": schemas.ref(error_model, "serialization")}}}
    for status, text in COMMON_ERRORS.items():
        responses.setdefault(str(status), {"description": text, **errors})
    responses["default"] = {"description": "Unexpected error", **errors}
    out["responses"] = dict(sorted(responses.items(), key=lambda kv: (kv[0] == "default", kv[0])))
    out["security"] = [{name: []} for name in op.security] if op.security else []
    return out


def build_document(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        op: Operation | None = getattr(route.handler, ATTR, None)
        if op is None or route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        raw = info.get("formatter") or info.get("path")
        if raw is None:
            continue
        path, params = _path_template(raw)
        paths.setdefault(path, {})[route.method.lower()] = _operation_object(op, params, schemas,
                                                                             path.startswith("/api/"))
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        # Only tags with operations: an empty section in Swagger UI reads as a broken document.
        "tags": [{"name": t} for t in TAGS if any(t in op["tags"] for item in paths.values() for op in item.values())],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "`ApiKey <key>:<secret>`"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "SessionToken": {"type": "apiKey", "in": "header", "name": "X-Session-Token"},
            },
        },
    }
