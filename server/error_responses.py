"""The one handler that renders every failure of a request as
``{"error": {"code", "message", "details"}}``: domain errors as they say, lost dependencies as 503,
Sanic's own refusals in the same shape, and anything else as a 500 that reveals only the request id.
"""

from __future__ import annotations

import json as jsonlib
import logging
from functools import partial
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import JSONResponse, json

from server.errors import (
    DatabaseUnavailable, DependencyUnavailable, DomainError, QueryTimeout, is_connection_lost, is_statement_timeout,
)

_dumps = partial(jsonlib.dumps, ensure_ascii=False, separators=(",", ":"))

log = logging.getLogger("haibei.errors")

# Sanic's own exceptions (routing, body size, method) mapped into the same shape.
_SANIC_CODES = {
    400: ("BAD_REQUEST", "请求格式有误"),
    404: ("NOT_FOUND", "请求的地址不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方式"),
    408: ("REQUEST_TIMEOUT", "请求超时,请重试"),
    413: ("PAYLOAD_TOO_LARGE", "提交的内容过大"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "不支持的内容格式"),
    416: ("RANGE_NOT_SATISFIABLE", "请求范围无效"),
    429: ("TOO_MANY_REQUESTS", "请求过于频繁,请稍后再试"),
    503: ("SERVICE_UNAVAILABLE", "服务暂时不可用,请稍后再试"),
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def render_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.ctx, "request_id", None) if request else None
    if not isinstance(exc, DomainError) and is_connection_lost(exc):
        log.error("database unavailable: %s", type(exc).__name__, extra={"request_id": request_id})
        exc = DatabaseUnavailable(details={"request_id": request_id})
    elif isinstance(exc, (RedisConnectionError, RedisTimeoutError, ConnectionError)):
        log.error("dependency unavailable: %s", type(exc).__name__, extra={"request_id": request_id})
        exc = DependencyUnavailable(details={"request_id": request_id})
    elif is_statement_timeout(exc):
        log.error("statement timeout", extra={"request_id": request_id})
        exc = QueryTimeout(details={"request_id": request_id})
    if isinstance(exc, DomainError):
        return json(error_body(exc.code, exc.message, exc.details), status=exc.status, dumps=_dumps,
                    headers=getattr(exc, "headers", None))
    if isinstance(exc, SanicException) and exc.status_code in _SANIC_CODES:
        code, message = _SANIC_CODES[exc.status_code]
        return json(error_body(code, message), status=exc.status_code, dumps=_dumps)
    # Anything else is our bug: log it with the request id, reveal nothing but the id.
    log.exception("unhandled error", extra={"request_id": request_id})
    return json(
        error_body("INTERNAL_ERROR", "服务器开小差了,请稍后再试", {"request_id": request_id}),
        status=500,
        dumps=_dumps,
    )


def install(app: Sanic) -> None:
    app.error_handler.add(Exception, render_error)
