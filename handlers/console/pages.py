"""The staff console (工作台): server-rendered pages for station workers, district staff and admins
on a PC, on the same services and access checks as the API.

Every asset is served from the app itself (``static/``, pinned versions with their licences): the
intranet PCs of a civil-affairs office often have no internet. Pages carry a Content-Security-
Policy of ``default-src 'self'`` and may not be framed; the session cookie is HttpOnly, SameSite
and, in production, Secure; every state-changing request carries the session's CSRF token in a
header (htmx sends it from the page's ``<meta>``). This module holds the desk, the session's doors
and the assets; each kind of work has its own module beside it.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.exceptions import NotFound
from sanic.response import HTTPResponse, file, redirect
from sanic_ext import openapi

from handlers.console.common import HERE, console, render
from server import sessions
from server.errors import Forbidden, Unauthenticated
from server.people import accounts
from server.reports import desk

STATIC = HERE / "static"
# The files the pages load, by the name they ask for, with their type: nothing else is served.
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "vendor/htmx-2.0.4.min.js": "text/javascript; charset=utf-8",
    "vendor/echarts-5.6.0.min.js": "text/javascript; charset=utf-8",
}

bp = Blueprint("console", url_prefix="/console")


def set_session_cookie(request: Request, response: HTTPResponse, session_id: str) -> None:
    response.add_cookie(sessions.COOKIE, session_id, path="/console", httponly=True, samesite="Strict",
                        secure=not request.app.ctx.settings.embedded, max_age=sessions.IDLE_SECONDS)


async def open_console_session(request: Request, response: HTTPResponse, *, user) -> None:
    """Start a console session for ``user`` and hand its cookie to the browser."""
    ctx = request.app.ctx
    session_id, _ = await sessions.open_session(ctx.redis.aio, prefix=ctx.settings.redis_prefix, user_id=user.id,
                                                token_version=user.token_version)
    set_session_cookie(request, response, session_id)


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
    response = redirect("/console/")
    await open_console_session(request, response, user=user)
    return response


@bp.get("/")
@openapi.exclude()
@console("staff")
async def home(request: Request, actor):
    if not actor.has("worker"):
        return redirect("/console/stats")  # administrators start from the statistics
    now = request.app.ctx.clock()
    counts = await desk.summary(station_id=actor.station_id, now=now)
    soon = await desk.starting_soon(station_id=actor.station_id, now=now) if counts["unclaimed_soon"] else []
    return render(request, "desk.html", counts=counts, soon=soon, now=now)


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
    response = HTTPResponse(status=204, headers={"HX-Redirect": "/console/login"})
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
