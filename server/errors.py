"""Domain errors, which every layer raises and server/error_responses.py renders as
``{"error": {"code", "message", "details"}}``.

Each error carries its HTTP status and a stable code the mini-program can branch on; the
message is Chinese because it is shown to the person holding the phone.
"""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import DBConnectionError, OperationalError




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
