from sanic import Blueprint, Request
from sanic.response import text
from sanic_ext import openapi

from server.errors import Forbidden
from server.notifications import callbacks
from server.transactions import atomic
from server.wechat import BadCallback, CallbackCodec

bp = Blueprint("wechat_callback", url_prefix="/api/v1/wechat")


def _codec(request: Request) -> CallbackCodec:
    s = request.app.ctx.settings
    if not s.wechat_callback_token:
        raise Forbidden("未配置消息推送")
    return CallbackCodec(token=s.wechat_callback_token, aes_key=s.wechat_aes_key, appid=s.wechat_appid)


@bp.get("/callback")
@openapi.summary("WeChat push: server URL verification (echo echostr when the signature is right)")
@openapi.response(200, {"text/plain": str})
async def verify(request: Request):
    args = {k: v[0] for k, v in request.args.items()}
    try:
        _codec(request).verify_url(signature=args.get("signature", ""), timestamp=args.get("timestamp", ""),
                                   nonce=args.get("nonce", ""), now=request.app.ctx.clock().timestamp())
    except BadCallback:
        raise Forbidden("签名校验失败") from None
    return text(args.get("echostr", ""))


@bp.post("/callback")
@openapi.summary("WeChat push messages (plain or 安全模式 encrypted): subscription popups, changes, deliveries")
@openapi.body({"application/xml": {"type": "string"}})
@openapi.response(200, {"text/plain": str})
async def receive(request: Request):
    args = {k: v[0] for k, v in request.args.items()}
    try:
        message = _codec(request).open(body=request.body or b"", args=args, now=request.app.ctx.clock().timestamp())
    except BadCallback:
        raise Forbidden("签名校验失败") from None
    redis = request.app.ctx.redis.aio
    signed = callbacks.signature_key(prefix=request.app.ctx.settings.redis_prefix, timestamp=args.get("timestamp", ""),
                                     nonce=args.get("nonce", ""))
    if await callbacks.replayed(redis=redis, key=signed):
        return text("success")  # applied before: what WeChat expects, nothing done (server/notifications/callbacks.py)
    async with atomic():
        await callbacks.handle(message=message, now=request.app.ctx.clock())
    await callbacks.remember_signature(redis=redis, key=signed)
    # WeChat wants "success" (or an empty body) within 5 s, else it retries.
    return text("success")
