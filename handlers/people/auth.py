from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.people.schemas import LoginIn, LoginOut
from server import ratelimit
from server.auth import issue_token, load_actor
from server.http import body, respond, returns
from server.people import accounts

bp = Blueprint("auth", url_prefix="/api/v1/auth")


@bp.post("/wechat-login")
@openapi.summary("Log in with a wx.login code")
@body(LoginIn)
@returns(LoginOut)
async def wechat_login(request: Request):
    ctx = request.app.ctx
    await ratelimit.hit(request, "login")
    session = await accounts.wechat_code_to_session(wechat=ctx.wechat, code=request.ctx.body.code)
    # No request transaction here: login is a chain of idempotent steps (see accounts.login).
    user = await accounts.login(session=session, cipher=ctx.cipher, admin_openids=ctx.settings.admin_openids)
    actor = await load_actor(user=user)
    token = issue_token(user=user, secret=ctx.settings.jwt_secret, ttl_seconds=ctx.settings.jwt_ttl_seconds)
    return respond({
        "token": token,
        "expires_in": ctx.settings.jwt_ttl_seconds,
        "user": accounts.present_user(user=user, roles=actor.roles),
    })
