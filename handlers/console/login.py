"""Logging in to the console: scan the page's mini-program code and approve on the phone, or
follow a one-time link from scripts/create_admin (server/people/console_tickets.py).

The page makes a ticket and binds it to this browser: a random nonce in an HttpOnly, SameSite=Strict
cookie, of which Redis keeps only the digest. htmx asks for the ticket's status every 2 s (204 while
it waits, so nothing is swapped and the code stays); the poll that finds it approved opens the
session and sends the browser to the desk (``HX-Redirect``), and an expired ticket is swapped for a
notice and a button for a new code, which ends the polling. Without JavaScript the page's link
asks for the status once.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw, redirect
from sanic_ext import openapi

from handlers.console.common import is_htmx, render
from handlers.console.pages import open_console_session
from server import ratelimit
from server.people import console_tickets

LOGIN_COOKIE = "haibei_console_login"
# The embedded mode's demo worker (server/ops/demo.py), for the hint under the code.
DEMO_LOGIN = "/console/dev-login?code=fake:demo-worker-1"

bp = Blueprint("console_login", url_prefix="/console")


def _store(request: Request) -> dict:
    ctx = request.app.ctx
    return {"redis": ctx.redis.aio, "prefix": ctx.settings.redis_prefix, "now": ctx.clock()}


def _page(request: Request, **context) -> HTTPResponse:
    return render(request, "login.html", title="登录", **context)


def _gone(request: Request) -> HTTPResponse:
    """An expired, used, unknown or foreign ticket, all alike: the notice and a new code's button."""
    if is_htmx(request):
        return _page(request, status=404, fragment=True, state="expired")
    return render(request, "message.html", status=404, title="二维码已过期", text="二维码已过期,请重新获取二维码后扫码登录。",
                  link=("/console/login", "重新获取二维码"))


@bp.get("/login")
@openapi.exclude()
async def login(request: Request):
    settings = request.app.ctx.settings
    try:
        await ratelimit.hit(request, "login")
    except ratelimit.RateLimited as exc:
        return render(request, "message.html", status=429, title="操作太频繁", text=exc.message,
                      headers=exc.headers, link=("/console/login", "重新获取二维码"))
    ticket = await console_tickets.create_ticket(**_store(request), browser=request.cookies.get(LOGIN_COOKIE))
    response = _page(request, state="pending", ticket=ticket.token, minutes=console_tickets.TICKET_SECONDS // 60,
                     demo_login=DEMO_LOGIN if settings.embedded else None)
    response.add_cookie(LOGIN_COOKIE, ticket.browser, path="/console", httponly=True, samesite="Strict",
                        secure=not settings.embedded,
                        max_age=console_tickets.TICKET_SECONDS + console_tickets.COLLECT_SECONDS)
    return response


@bp.get("/login/code.png")
@openapi.exclude()
async def login_code(request: Request):
    png = await console_tickets.code_image(**_store(request), wechat=request.app.ctx.wechat,
                                           token=request.args.get("t"), browser=request.cookies.get(LOGIN_COOKIE))
    return raw(png, content_type="image/png",
               headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@bp.get("/login/status")
@openapi.exclude()
async def login_status(request: Request):
    token = request.args.get("t")
    found = await console_tickets.poll(**_store(request), token=token, browser=request.cookies.get(LOGIN_COOKIE))
    if found.state == "pending":
        if is_htmx(request):
            return HTTPResponse(status=204, headers={"Cache-Control": "no-store"})
        return render(request, "message.html", title="等待确认", text="请用海贝小程序扫码,并在手机上确认登录。",
                      link=(f"/console/login/status?t={token}", "已在手机上确认,进入工作台"))
    if found.state == "gone":
        return _gone(request)
    if is_htmx(request):
        response = _page(request, fragment=True, state="approved", headers={"HX-Redirect": "/console/"})
    else:
        response = redirect("/console/", status=303)
    await open_console_session(request, response, user=found.user)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


def _link_gone(request: Request) -> HTTPResponse:
    return render(request, "message.html", status=410, title="链接已失效",
                  text="该登录链接已使用或已过期。请联系系统运维人员重新生成,或用海贝小程序扫码登录。",
                  link=("/console/login", "扫码登录"))


# The link shows a button, and only the button's POST uses it up: chat apps and mail scanners
# fetch the links they carry (WeChat's link preview among them), which would spend a link that
# opened the session on its GET before the person ever clicked it.
@bp.get("/login/link")
@openapi.exclude()
async def login_link(request: Request):
    token = request.args.get("token")
    if not await console_tickets.link_is_live(**_store(request), token=token):
        return _link_gone(request)
    return _page(request, state="link", token=token)


@bp.post("/login/link")
@openapi.exclude()
async def login_by_link(request: Request):
    user = await console_tickets.use_link(**_store(request), token=request.args.get("token"))
    if user is None:
        return _link_gone(request)
    response = redirect("/console/", status=303)
    await open_console_session(request, response, user=user)
    return response
