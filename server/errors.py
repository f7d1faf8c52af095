"""Domain errors and the one handler that renders every failure as
``{"error": {"code", "message", "details"}}``.

Each error carries its HTTP status and a stable code the mini-program can branch on; the
message is Chinese because it is shown to the person holding the phone.
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
from tortoise.exceptions import DBConnectionError, OperationalError

_dumps = partial(jsonlib.dumps, ensure_ascii=False, separators=(",", ":"))

log = logging.getLogger("haibei.errors")


class DomainError(Exception):
    status = 400
    code = "BAD_REQUEST"
    message = "请求有误"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or type(self).message
        self.details = details
        super().__init__(self.message)


class ValidationFailed(DomainError):
    status = 400
    code = "VALIDATION_ERROR"
    message = "提交的内容有误,请检查后重试"


class Unauthenticated(DomainError):
    status = 401
    code = "UNAUTHENTICATED"
    message = "请先登录"


class TokenInvalid(Unauthenticated):
    code = "TOKEN_INVALID"
    message = "登录已失效,请重新登录"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"
    message = "您没有权限进行此操作"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"
    message = "内容不存在或无权查看"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"
    message = "操作与当前状态冲突"


class WeChatUnavailableError(DomainError):
    status = 503
    code = "WECHAT_UNAVAILABLE"
    message = "微信服务暂时不可用,请稍后再试"


class DependencyUnavailable(DomainError):
    """The database or Redis did not answer: nothing was done, the caller may retry."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    message = "服务暂时不可用,请稍后再试"


class QueryTimeout(DomainError):
    """A statement ran past the database's per-statement limit and was stopped."""

    status = 503
    code = "DB_TIMEOUT"
    message = "查询超时,请缩小范围后重试"


class DatabaseUnavailable(DependencyUnavailable):
    code = "DB_UNAVAILABLE"
    message = "数据库暂时不可用,请稍后再试"


# MySQL client errors that mean "no usable connection": can't connect, gone away, lost, ...
_CONNECTION_ERRNOS = {2002, 2003, 2006, 2013, 2055}


def db_errno(exc: BaseException | None) -> int | None:
    """The MySQL/MariaDB error number behind ``exc``, through Tortoise's wrapping, if any."""
    seen = 0
    while exc is not None and seen < 5:
        args = getattr(exc, "args", ())
        if args and isinstance(args[0], int):
            return args[0]
        if args and isinstance(args[0], BaseException):
            exc = args[0]  # tortoise wraps the driver's error as its first argument
        else:
            exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def is_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means there is no usable database connection (can't connect, gone away, lost)."""
    return isinstance(exc, DBConnectionError) or db_errno(exc) in _CONNECTION_ERRNOS


def is_statement_timeout(exc: Exception) -> bool:
    """Whether ``exc`` is the server stopping a statement at the per-statement time limit."""
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("max_statement_time" in text or "execution time exceeded" in text)


class WeChatRejected(DomainError):
    status = 400
    code = "WECHAT_CODE_INVALID"
    message = "微信授权已失效,请重新授权"


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
