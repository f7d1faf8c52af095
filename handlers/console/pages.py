"""The staff console (工作台): server-rendered pages for station workers, district staff and admins
on a PC, on the same services and access checks as the API.

Every asset is served from the app itself (``static/``, pinned versions with their licences): the
intranet PCs of a civil-affairs office often have no internet. Pages carry a Content-Security-
Policy of ``default-src 'self'`` and may not be framed; the session cookie is HttpOnly, SameSite
and, in production, Secure; every state-changing request carries the session's CSRF token in a
header (htmx sends it from the page's ``<meta>``).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse, file, html, redirect
from sanic_ext import openapi

from server import sessions
from server.access import require_worker_station
from server.auth import authenticate_console
from server.clock import CHINA_TZ
from server.errors import Forbidden, Unauthenticated
from server.people import accounts
from server.reports import desk

HERE = Path(__file__).parent
STATIC = HERE / "static"
# The files the pages load, by the name they ask for, with their type: nothing else is served.
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "vendor/htmx-2.0.4.min.js": "text/javascript; charset=utf-8",
    "vendor/echarts-5.6.0.min.js": "text/javascript; charset=utf-8",
}
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))

bp = Blueprint("console", url_prefix="/console")


def _page(name: str, *, status: int = 200, **context) -> HTTPResponse:
    return html(templates.get_template(name).render(**context), status=status, headers=PAGE_HEADERS)


def _set_cookie(request: Request, response: HTTPResponse, session_id: str) -> None:
    response.add_cookie(sessions.COOKIE, session_id, path="/console", httponly=True, samesite="Strict",
                        secure=not request.app.ctx.settings.embedded, max_age=sessions.IDLE_SECONDS)


@bp.get("/dev-login")
@openapi.exclude()
async def dev_login(request: Request):
    """Embedded mode only: log in with a demo code (``?code=fake:demo-worker-1``) and go to the desk.
    Production has no such door: 404, as for any path that does not exist."""
    ctx = request.app.ctx
    code = request.args.get("code", "")
    if not ctx.settings.embedded or not code.startswith("fake:"):
        raise NotFound()
    found = await accounts.wechat_code_to_session(wechat=ctx.wechat, code=code)
    user = await accounts.login(session=found, cipher=ctx.cipher, admin_openids=ctx.settings.admin_openids)
    session_id, _ = await sessions.open_session(ctx.redis.aio, prefix=ctx.settings.redis_prefix, user_id=user.id,
                                                token_version=user.token_version)
    response = redirect("/console/")
    _set_cookie(request, response, session_id)
    return response


@bp.get("/")
@openapi.exclude()
async def home(request: Request):
    try:
        actor = await authenticate_console(request)
    except Unauthenticated:
        return _page("message.html", status=401, title="请登录", text="未登录或登录已过期,请重新登录。")
    try:
        station_id = require_worker_station(actor)
    except Forbidden:
        return _page("message.html", status=403, title="无权访问", text="工作台目前供驿站工作人员使用。")
    now = request.app.ctx.clock()
    counts = await desk.summary(station_id=station_id, now=now)
    return _page("desk.html", counts=counts, csrf=request.ctx.console_session.csrf,
                 today=now.astimezone(CHINA_TZ).strftime("%Y年%m月%d日"))


@bp.post("/logout")
@openapi.exclude()
async def logout(request: Request):
    ctx = request.app.ctx
    session_id = request.cookies.get(sessions.COOKIE)
    session = await sessions.find_session(ctx.redis.aio, prefix=ctx.settings.redis_prefix, session_id=session_id)
    if session is None:
        raise Unauthenticated()
    if not sessions.csrf_ok(session, request.headers.get("x-csrf-token")):
        raise Forbidden("请求已失效,请刷新页面后重试")
    await sessions.close_session(ctx.redis.aio, prefix=ctx.settings.redis_prefix, session_id=session_id)
    response = HTTPResponse(status=204, headers={"HX-Redirect": "/console/"})
    response.delete_cookie(sessions.COOKIE, path="/console")
    return response


@bp.get("/static/<name:path>")
@openapi.exclude()
async def static(request: Request, name: str):
    content_type = ASSETS.get(name)
    if content_type is None:
        raise NotFound()
    return await file(STATIC / name, mime_type=content_type, request_headers=request.headers,
                      headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
