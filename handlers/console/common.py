"""What every console page shares: the templates, the session check, the role a page is for, CSRF,
forms validated by the API's own schemas with a Chinese message per field, the one way a posted
form is acted on or sent back (``attempt``), and the pages that say "log in", "not yours" or "not
allowed".

A page handler is ``@console("worker")`` (or "admin" for the city's administrators, "district" for
theirs and the districts', or "staff" for any of them) and receives the request and the caller. The checks are the API's (server/access.py): a record of another station
is a 404 here as it is there, and a volunteer or resident session gets 403 on every page.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sanic import Request
from sanic.response import HTTPResponse, html

from server import labels, sessions
from server.access import ADMINS, require_admin, require_worker_station
from server.auth import authenticate_console
from server.clock import CHINA_TZ
from server.errors import DomainError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from server.http import field_message
from server.transactions import atomic

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
    "district_admin": [("/console/stats", "统计"), ("/console/ledgers", "台账"), ("/console/complaints", "投诉"),
                       ("/console/deadlines", "督办"), ("/console/admin/stations", "驿站"),
                       ("/console/admin/staff", "工作人员"), ("/console/admin/district-services", "本区服务标准"),
                       ("/console/admin/organizations", "社会组织"), ("/console/admin/departments", "联动部门"),
                       ("/console/admin/projects", "购买服务"), ("/console/admin/audit", "审计日志")],
    "admin": [("/console/stats", "统计"), ("/console/ledgers", "台账"), ("/console/complaints", "投诉"),
              ("/console/deadlines", "督办"), ("/console/admin/stations", "驿站"), ("/console/admin/staff", "工作人员"),
              ("/console/admin/services", "服务目录"), ("/console/admin/district-services", "区市服务标准"),
              ("/console/admin/rewards", "奖品"),
              ("/console/admin/organizations", "社会组织"), ("/console/admin/departments", "联动部门"),
              ("/console/admin/projects", "购买服务"),
              ("/console/admin/policies", "政策"),
              ("/console/admin/points-rules", "积分规则"), ("/console/admin/questionnaire", "问卷"),
              ("/console/admin/dead-letters", "消息补发"), ("/console/admin/audit", "审计日志"),
              ("/console/admin/credit", "信用威海对接")],
}


def nav_for(actor) -> list[tuple[str, str]]:
    if actor is None:
        return []
    items: list[tuple[str, str]] = []
    for role in ("worker", "admin", "district_admin"):
        if actor.has(role) and not (role == "district_admin" and actor.has("admin")):
            hrefs = {href for href, _ in items}
            items += [item for item in NAV[role] if item[0] not in hrefs]
    return items


def render(request: Request, name: str, *, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTTPResponse:
    actor = getattr(request.ctx, "actor", None)
    session = getattr(request.ctx, "console_session", None)
    page = templates.get_template(name).render(
        actor=actor, csrf=session.csrf if session else None, nav=nav_for(actor) if session else [],
        path=request.path, **context)
    return html(page, status=status, headers={**PAGE_HEADERS, **(headers or {})})


def go(location: str) -> HTTPResponse:
    """After an htmx action: load ``location`` (which shows the outcome)."""
    return HTTPResponse(status=204, headers={"HX-Redirect": location})


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def page_or_part(request: Request, page: str, part: str, *, status: int = 200, **context: Any) -> HTTPResponse:
    """The whole page, or for htmx only the part a form or a button replaces."""
    if is_htmx(request):
        return render(request, part, status=status, part=True, **context)
    return render(request, page, status=status, **context)


def message(request: Request, *, status: int, title: str, text: str, link: tuple[str, str] | None = None) -> HTTPResponse:
    """A page that says what happened, or, for an htmx request, the same as a notice at the top."""
    if is_htmx(request):
        return render(request, "_flash.html", status=status, level="error", text=text,
                      headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    return render(request, "message.html", status=status, title=title, text=text, link=link)


WHO = {
    "worker": ("工作台供驿站工作人员使用。", lambda actor: require_worker_station(actor)),
    # The city's own pages (districts, the catalogue, points rules, rewards, 信用威海 ...).
    "admin": ("此页面仅供管理员使用(限市级管理员)。", lambda actor: actor.require("admin")),
    # Pages the city's and each district's administrators share, each seeing its own (server/access.py).
    "district": ("此页面仅供管理员使用。", lambda actor: require_admin(actor)),
    "staff": ("工作台供驿站工作人员和管理员使用。", lambda actor: actor.require("worker", *ADMINS)),
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


def errors_of(exc: DomainError, fields: type[BaseModel] | Iterable[str] = (), *,
              field_of: Mapping[type[DomainError], str] | None = None) -> dict[str, str]:
    """A domain error as the messages of a form with ``fields`` (a schema's, or named): at the field
    ``field_of`` gives for its kind (an error that is about one field without naming it), else as
    ``domain_field_errors`` places it."""
    name = (field_of or {}).get(type(exc))
    if name:
        return {name: exc.message}
    return domain_field_errors(exc, fields.model_fields if isinstance(fields, type) else fields)


# --- acting on a posted form ------------------------------------------------------------------


@dataclass
class Form:
    """A form as the templates draw it: what was typed and each field's message ("" for the form's)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """A form sent back: what was typed with its messages, and the status to answer with."""

    form: Form
    status: int


# Which of the service's refusals a form shows beside its fields; the others are the page's.
Refusal = Callable[[DomainError], bool]


def not_access(exc: DomainError) -> bool:
    """A refusal of what was typed, not of the caller (401, 403, or 404 from an access check on the
    record in the address) nor a failure (5xx)."""
    return exc.status not in (401, 403, 404) and exc.status < 500


def any_refusal(exc: DomainError) -> bool:
    """Every refusal is the form's: the ids the service looks up were typed in it, none is in the
    address."""
    return True


def all_but(*kinds: type[DomainError]) -> Refusal:
    """Every refusal but those of ``kinds`` (``NotFound``: the record in the address is gone)."""
    return lambda exc: not isinstance(exc, kinds)


def only(*kinds: type[DomainError]) -> Refusal:
    """Only refusals of ``kinds``; ``only()``: none, the form is refused only for what was typed."""
    return lambda exc: isinstance(exc, kinds)


D = TypeVar("D")
T = TypeVar("T")


async def attempt(values: dict[str, Any], read: type[D] | Callable[[dict[str, Any]], D | Awaitable[D]],
                  act: Callable[[D], Awaitable[T]], *, local_times: tuple[str, ...] = (),
                  refusal: Refusal = not_access, fields: type[BaseModel] | Iterable[str] | None = None,
                  field_of: Mapping[type[DomainError], str] | None = None,
                  messages: Callable[[DomainError], dict[str, str]] | None = None) -> T | Refused:
    """Read ``values`` and do ``act`` with what was read, in one transaction: what ``act`` returns,
    or ``Refused`` holding ``values`` as typed.

    ``read`` is a schema (read by ``read_form`` with ``local_times``) or a reader raising
    ``FormInvalid``; an async reader may call out (a rate limit, WeChat's screening) before the
    transaction opens. A form that fails to read is refused with 422. A ``DomainError`` that
    ``refusal`` says is the form's is refused with its status, its message placed by ``messages``,
    else by ``errors_of`` among ``fields`` (the schema's by default) and ``field_of``; any other
    propagates to the page, as does every other exception.
    """
    schema = read if isinstance(read, type) and issubclass(read, BaseModel) else None
    try:
        data = read_form(schema, values, local_times=local_times) if schema else read(values)
        if inspect.isawaitable(data):
            data = await data
        async with atomic():
            return await act(data)
    except FormInvalid as exc:
        return Refused(Form(values, exc.errors), 422)
    except DomainError as exc:
        if not refusal(exc):
            raise
        if messages is None:
            said = errors_of(exc, fields if fields is not None else schema or (), field_of=field_of)
        else:
            said = messages(exc)
        return Refused(Form(values, said), exc.status)
