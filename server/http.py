"""HTTP helpers shared by every blueprint: the request-body decorator and response schemas.

``@body(Model)`` does both jobs a route needs from its payload schema: it documents the body in
OpenAPI and it parses the JSON into the pydantic model, turning every failure into a 400 in the
house error shape with one entry per bad field. The parsed model lands on ``request.ctx.body``.

``guard_request`` (a request middleware, server/app.py) refuses what no handler should see: an id
in the path that no row can have (404), and a body sent to a route that declared none (400).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from functools import wraps
from itertools import accumulate
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import HTTPResponse, Request, Sanic
from sanic.response import json as sanic_json
from sanic_ext import openapi

from server.encoding import dumps
from server.errors import DomainError, NotFound, ValidationFailed


class BodyTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "提交的内容过大"


class BodyNotAllowed(DomainError):
    status = 400
    code = "BODY_NOT_ALLOWED"
    message = "该接口不接受请求内容"


M = TypeVar("M", bound=BaseModel)

# The largest id a row can have: the database's signed 64-bit integer (BIGINT on MariaDB, INTEGER
# on SQLite), and ids start at 1. A larger number is no row's id, and the drivers raise
# OverflowError turning it into SQL, so it is answered before any query (handlers.common.Id).
MAX_ID = 2**63 - 1

# Deeper JSON than any of our schemas nests (a few levels) is refused before it is parsed: the
# decoder recurses once per level, and a body of 100 000 ``[`` ran it out of stack (RecursionError).
MAX_JSON_DEPTH = 64
# A JSON string, escapes and all; one left open runs to the end. It always matches where it starts
# and never backtracks (possessive), so stripping strings stays linear on any input.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


# pydantic's error types as a person reads them, with the limits from the error's context: the
# API's details and the console's forms say the same.
FIELD_MESSAGES = {
    "missing": "请填写此项",
    "string_too_short": "请填写此项",
    "string_too_long": "最多 {max_length} 个字",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "须大于 {gt}",
    "less_than": "须小于 {lt}",
    "int_parsing": "请填写整数",
    "int_from_float": "请填写整数",
    "int_type": "请填写整数",
    "float_parsing": "请填写数字",
    "float_type": "请填写数字",
    "bool_parsing": "请选择是或否",
    "bool_type": "请选择是或否",
    "string_type": "请填写文字",
    "list_type": "须为列表",
    "dict_type": "须为对象",
    "model_type": "须为对象",
    "datetime_parsing": "请填写正确的日期和时间",
    "datetime_type": "请填写正确的日期和时间",
    "datetime_from_date_parsing": "请填写正确的日期和时间",
    "timezone_aware": "请填写带时区的时间,如 2026-12-01T09:00:00+08:00",
    "date_parsing": "请填写正确的日期",
    "date_from_datetime_parsing": "请填写正确的日期",
    "literal_error": "请从选项中选择",
    "enum": "请从选项中选择",
    "string_pattern_mismatch": "格式不正确",
    "extra_forbidden": "不认识的字段",
    "json_invalid": "不是有效的 JSON",
    "url_parsing": "请填写正确的网址",
}


def field_message(error: dict[str, Any]) -> str:
    """One pydantic error as a person reads it (Chinese); a schema's own rule (a validator raising
    ValueError) already speaks Chinese and is kept."""
    if error["type"] == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ") or "填写有误"
    template = FIELD_MESSAGES.get(error["type"])
    if template is None:
        return "填写有误"
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return "填写有误"


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        out.append({"field": loc, "type": err["type"], "reason": field_message(err)})
    return out


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of the JSON ``text`` nest (0 for a scalar), counted without
    parsing; strings are skipped, so brackets inside them do not count. On malformed JSON the count
    may be off past the first error, where a parser stops anyway."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # too few brackets to nest too deep: the usual body costs two counts
    brackets = _BRACKETS.findall(_JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python's extension, not JSON


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large")  # 1e999: Infinity by another name
    return value


def parse(model: type[M], raw: bytes | str | None) -> M:
    """Parse a JSON body into ``model`` or raise ``ValidationFailed`` naming each bad field."""
    if not raw:
        raw = b"{}"
    try:
        # Decoded as json.loads decodes bytes (UTF-8, or UTF-16/32 told by their pattern), so that
        # the depth is counted on the very characters the parser reads.
        text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ValidationFailed(f"请求内容嵌套过深,最多 {MAX_JSON_DEPTH} 层",
                                   details=[{"field": "", "type": "json_too_deep"}])
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ValueError:
        # Not UTF-8/16/32, not JSON, NaN or Infinity (or 1e999), or an integer of more than 4 300
        # digits (Python's limit on converting one, a plain ValueError).
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

        # Read by guard_request; the decorators above this one copy it along (functools.wraps).
        wrapper.takes_json_body = True
        return openapi.body({"application/json": {"schema": schema_of(model, "validation")}}, required=True)(wrapper)

    return decorator


def takes_json_body(handler: Callable) -> bool:
    """Whether the route handler parses a JSON body (``@body``)."""
    return getattr(handler, "takes_json_body", False)


def reads_body(handler: Callable) -> bool:
    """Whether the route handler reads a body: JSON (``@body``) or a console form (``reads_form``)."""
    return takes_json_body(handler) or getattr(handler, "reads_form", False)


# What a route that takes no body accepts: nothing, or an empty JSON object. A mini-program's
# request helper usually passes ``data: {}`` to every POST, which wx.request sends as ``{}`` (as the
# README's curl calls send ``-d '{}'`` to confirm); it carries nothing, so refusing it would only
# break callers. Anything else is refused: a field sent where none is read was silently ignored.
_EMPTY_BODIES = (b"", b"{}")


def _is_empty(raw: bytes) -> bool:
    return len(raw) <= 64 and b"".join(raw.split()) in _EMPTY_BODIES


def install_guards(app: Sanic, *, raw_body_routes: Iterable[tuple[str, str]]) -> None:
    """Install ``guard_request``. ``raw_body_routes``: (method, path) of the routes that read a body
    that is not JSON (an upload, WeChat's XML), which the guard leaves to them; each must exist."""
    raw = {(method, "/" + path.lstrip("/")) for method, path in raw_body_routes}
    served = {(m, "/" + r.path.lstrip("/")) for r in app.router.routes for m in r.methods}
    if raw - served:
        raise RuntimeError(f"raw-body routes that the app does not serve: {sorted(raw - served)}")

    def rules(route: Any) -> tuple[tuple[str, ...], bool]:
        """The route's id parameters (every ``<name:int>`` of ours is a row's id), and whether it
        refuses a body; worked out on its first request, when the router has its parameters."""
        cached = getattr(route.ctx, "haibei_guard", None)
        if cached is None:
            ids = tuple(p.name for p in route.params.values() if p.cast is int)
            takes_raw = any((m, "/" + route.path.lstrip("/")) in raw for m in route.methods)
            cached = route.ctx.haibei_guard = (ids, not (reads_body(route.handler) or takes_raw))
        return cached

    @app.on_request(priority=90)  # after the request id is assigned (priority 100), before any handler
    async def guard_request(request: Request) -> None:
        if request.route is None:
            return
        ids, refuses_body = rules(request.route)
        for name in ids:
            if not 1 <= request.match_info[name] <= MAX_ID:
                raise NotFound()  # as for a row that does not exist: no row has this id
        if not refuses_body:
            return
        if request.stream is not None and request.stream.request_body and not request.body:
            # GET and HEAD routes leave the body unread (Sanic's ignore_body): read it to judge it.
            await request.receive_body()
        if request.body and not _is_empty(request.body):
            raise BodyNotAllowed()


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
