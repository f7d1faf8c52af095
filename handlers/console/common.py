"""What every console page shares: the templates, the session check, the role a page is for, CSRF,
forms validated by the API's own schemas with a Chinese message per field, and the pages that
say "log in", "not yours" or "not allowed".

A page handler is ``@console("worker")`` (or "admin", or "staff" for either) and receives the
request and the caller. The checks are the API's (server/access.py): a record of another station
is a 404 here as it is there, and a volunteer or resident session gets 403 on every page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.response import HTTPResponse, html

from server import labels, sessions
from server.access import require_worker_station
from server.auth import authenticate_console
from server.clock import CHINA_TZ
from server.errors import DomainError, Forbidden, NotFound, Unauthenticated, ValidationFailed

HERE = Path(__file__).parent
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
PAGE_SIZE = 20


def local(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as a person in Weihai reads it: ``2026-12-06 14:30``, Asia/Shanghai."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).strftime(fmt)
    return value.strftime("%Y-%m-%d")


def local_input(value: datetime | None) -> str:
    """A moment as a ``datetime-local`` input holds it (Asia/Shanghai, to the minute)."""
    return local(value, "%Y-%m-%dT%H:%M")


templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
templates.filters["local"] = local
templates.filters["local_input"] = local_input
templates.filters["label"] = lambda code, vocabulary: labels.label(vocabulary, code)
templates.filters["event_reason"] = labels.event_reason
templates.filters["urlquote"] = lambda value: quote(str(value), safe="")

# The pages each kind of staff works in, in the order the bar shows them.
NAV = {
    "worker": [("/console/", "工作台"), ("/console/needs", "需求"), ("/console/records", "待确认记录"),
               ("/console/households", "居民台账"), ("/console/reassessments", "待复评"), ("/console/volunteers", "志愿者"), ("/console/pairings", "结对帮扶"),
               ("/console/referrals", "转介"), ("/console/complaints", "投诉"), ("/console/deadlines", "督办"),
               ("/console/rewards", "奖品领取"),
               ("/console/stats", "统计"), ("/console/ledgers", "台账")],
    "admin": [("/console/stats", "统计"), ("/console/ledgers", "台账"), ("/console/complaints", "投诉"),
              ("/console/deadlines", "督办"), ("/console/admin/stations", "驿站"), ("/console/admin/staff", "工作人员"),
              ("/console/admin/services", "服务目录"), ("/console/admin/rewards", "奖品"),
              ("/console/admin/organizations", "社会组织"), ("/console/admin/projects", "购买服务"),
              ("/console/admin/policies", "政策"),
              ("/console/admin/points-rules", "积分规则"), ("/console/admin/questionnaire", "问卷"),
              ("/console/admin/dead-letters", "消息补发")],
}


def nav_for(actor) -> list[tuple[str, str]]:
    if actor is None:
        return []
    items: list[tuple[str, str]] = []
    for role in ("worker", "admin"):
        if actor.has(role):
            items += [item for item in NAV[role] if item not in items]
    return items


def render(request: Request, name: str, *, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTTPResponse:
    actor = getattr(request.ctx, "actor", None)
    session = getattr(request.ctx, "console_session", None)
    page = templates.get_template(name).render(
        actor=actor, csrf=session.csrf if session else None, nav=nav_for(actor) if session else [],
        path=request.path, **context)
    return html(page, status=status, headers={**PAGE_HEADERS, **(headers or {})})


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def message(request: Request, *, status: int, title: str, text: str, link: tuple[str, str] | None = None) -> HTTPResponse:
    """A page that says what happened, or, for an htmx request, the same as a notice at the top."""
    if is_htmx(request):
        return render(request, "_flash.html", status=status, level="error", text=text,
                      headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    return render(request, "message.html", status=status, title=title, text=text, link=link)


WHO = {
    "worker": ("工作台供驿站工作人员使用。", lambda actor: require_worker_station(actor)),
    "admin": ("此页面仅供管理员使用。", lambda actor: actor.require("admin")),
    "staff": ("工作台供驿站工作人员和管理员使用。", lambda actor: actor.require("worker", "admin")),
}

H = TypeVar("H", bound=Callable[..., Any])


def console(who: str) -> Callable[[H], H]:
    """A console page for ``who``: the caller from the session cookie, CSRF on every state change,
    and failures as pages (401 log in, 403, 404 as the API answers them)."""
    refusal, check = WHO[who]

    def decorator(handler: H) -> H:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            try:
                actor = await authenticate_console(request)
            except Unauthenticated:
                response = message(request, status=401, title="请登录", text="未登录或登录已过期,请重新登录。",
                                   link=("/console/login", "去登录"))
                if is_htmx(request):
                    response.headers["HX-Redirect"] = "/console/login"
                return response
            if request.method not in ("GET", "HEAD") and not sessions.csrf_ok(
                    request.ctx.console_session, request.headers.get("x-csrf-token")):
                return message(request, status=403, title="请求已失效", text="请求已失效,请刷新页面后重试。")
            try:
                check(actor)
            except Forbidden:
                return message(request, status=403, title="无权访问", text=refusal)
            try:
                return await handler(request, actor, *args, **kwargs)
            except NotFound as exc:
                return message(request, status=404, title="未找到", text=exc.message)
            except DomainError as exc:
                return message(request, status=exc.status, title="无法完成", text=exc.message)

        # Console pages post forms (urlencoded, validated by ``read_form``): the request guard
        # (server.http) lets their bodies through.
        wrapper.reads_form = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


# --- forms ------------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
_LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")

# pydantic's error types as a person reads them, with the limits from the error's context.
_MESSAGES = {
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
    "float_parsing": "请填写数字",
    "bool_parsing": "请选择是或否",
    "datetime_parsing": "请填写正确的日期和时间",
    "datetime_from_date_parsing": "请填写正确的日期和时间",
    "date_parsing": "请填写正确的日期",
    "date_from_datetime_parsing": "请填写正确的日期",
    "literal_error": "请从选项中选择",
    "enum": "请从选项中选择",
    "string_pattern_mismatch": "格式不正确",
}


def field_message(error: dict[str, Any]) -> str:
    if error["type"] == "value_error":
        # A schema's own rule (a validator raising ValueError): its message is already Chinese.
        return str(error.get("msg", "")).removeprefix("Value error, ") or "填写有误"
    template = _MESSAGES.get(error["type"])
    if template is None:
        return "填写有误"
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return "填写有误"


class FormInvalid(Exception):
    """A form's fields that failed, each with its Chinese message, and what was typed."""

    def __init__(self, errors: dict[str, str], values: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors
        self.values = values


def posted(request: Request):
    """The posted form, or 400 if it cannot be read as one (not UTF-8, broken escapes)."""
    try:
        return request.form or {}
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed("提交的内容格式有误,请刷新页面后重试") from None


def form_values(request: Request, *, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """The posted form as the API's JSON would carry it: empty fields absent, ``lists`` as lists."""
    out: dict[str, Any] = {}
    for key, values in posted(request).items():
        if key in lists:
            out[key] = [v.strip() for v in values if v.strip()]
        elif values and values[0].strip():
            out[key] = values[0].strip()
    return out


def read_form(schema: type[M], values: dict[str, Any], *, local_times: tuple[str, ...] = ()) -> M:
    """``values`` validated by the API's schema; a ``datetime-local`` field (``local_times``) is a
    moment in Asia/Shanghai. Raises ``FormInvalid`` naming each field that failed."""
    data = dict(values)
    for key in local_times:
        if isinstance(data.get(key), str) and _LOCAL_MINUTE.match(data[key]):
            data[key] += "+08:00"
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.setdefault(field, field_message(error))
        raise FormInvalid(errors, values) from None


def domain_field_errors(exc: DomainError, fields: Iterable[str] = ()) -> dict[str, str]:
    """A domain error as form messages: beside each field of the form it names (``fields``), else
    at the top of the form."""
    details = exc.details if isinstance(exc.details, list) else []
    named = {str(d.get("field")).split(".")[0] for d in details if isinstance(d, dict) and d.get("field")}
    shown = {field: exc.message for field in named if field in set(fields)}
    return shown or {"": exc.message}
