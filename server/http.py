"""HTTP helpers shared by every blueprint: the request-body decorator and response schemas.

``@body(Model)`` does both jobs a route needs from its payload schema: it documents the body in
OpenAPI and it parses the JSON into the pydantic model, turning every failure into a 400 in the
house error shape with one entry per bad field. The parsed model lands on ``request.ctx.body``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import HTTPResponse, Request
from sanic.response import json as sanic_json
from sanic_ext import openapi

from server.encoding import dumps
from server.errors import DomainError, ValidationFailed


class BodyTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "提交的内容过大"

M = TypeVar("M", bound=BaseModel)


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        out.append({"field": loc, "type": err["type"], "reason": err["msg"]})
    return out


def parse(model: type[M], raw: bytes | str | None) -> M:
    """Parse a JSON body into ``model`` or raise ``ValidationFailed`` naming each bad field."""
    if not raw:
        raw = b"{}"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed("请求内容不是有效的 JSON", details=[{"field": "", "type": "json_invalid"}]) from None
    if not isinstance(data, dict):
        raise ValidationFailed("请求内容必须是 JSON 对象", details=[{"field": "", "type": "object_expected"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(details=_field_errors(exc)) from None


def body(model: type[BaseModel]) -> Callable:
    def decorator(handler: Callable) -> Callable:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
            if len(request.body or b"") > request.app.ctx.settings.max_body_bytes:
                raise BodyTooLarge()
            request.ctx.body = parse(model, request.body)
            return await handler(request, *args, **kwargs)

        return openapi.body({"application/json": {"schema": schema_of(model, "validation")}}, required=True)(wrapper)

    return decorator


def query(model: type[BaseModel]) -> Callable:
    """Parse query-string parameters (first value of each) into ``model``; lands on ``request.ctx.query``."""

    def decorator(handler: Callable) -> Callable:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
            data = {k: v[0] for k, v in request.args.items()}
            try:
                request.ctx.query = model.model_validate(data)
            except ValidationError as exc:
                raise ValidationFailed(details=_field_errors(exc)) from None
            return await handler(request, *args, **kwargs)

        for name, field in model.model_fields.items():
            wrapper = openapi.parameter(field.alias or name, str, location="query", required=field.is_required())(wrapper)
        return wrapper

    return decorator


def returns(model: type[BaseModel], status: int = 200) -> Callable:
    return openapi.response(status, {"application/json": {"schema": schema_of(model, "serialization")}})


def schema_of(model: type[BaseModel], mode: str) -> dict[str, Any]:
    """pydantic's own JSON Schema of ``model`` (required fields, bounds, no extra fields), which
    server.openapi turns into OpenAPI 3.0 when the document is served."""
    return model.model_json_schema(mode=mode)


def respond(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    """A JSON response; datetimes as ISO 8601, Chinese left readable."""
    return sanic_json(data, status=status, headers=headers, dumps=dumps)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_RESPONSE = {XLSX: {"type": "string", "format": "binary"}}


def xlsx_headers(filename: str) -> dict[str, str]:
    """An Excel download: saved under ``filename``, never cached (it may hold personal data)."""
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
