import logging

from redis.exceptions import RedisError
from sanic import Blueprint, Request
from sanic.response import text
from sanic_ext import openapi
from tortoise.transactions import in_transaction

from server.errors import Forbidden
from server.services import callbacks
from server.wechat import BadCallback, CallbackCodec
from server.wechat.callback import MAX_SKEW_S

log = logging.getLogger("haibei.callback")

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
    # A signed (timestamp, nonce) is taken once: a replay within the freshness window is answered
    # as WeChat expects and applies nothing. Marked only once applied, so that WeChat's retry of a
    # delivery that failed here still lands. Redis down: the window and the deduplication of
    # events (services/callbacks.py) still hold; the push is not lost.
    redis = request.app.ctx.redis.aio
    seen = f"{request.app.ctx.settings.redis_prefix}wechat:callback:{args.get('timestamp', '')}:{args.get('nonce', '')[:64]}"
    try:
        if await redis.exists(seen):
            return text("success")
    except (RedisError, OSError):
        log.warning("callback nonce check skipped: Redis unreachable")
    async with in_transaction():
        await callbacks.handle(message=message, now=request.app.ctx.clock())
    try:
        await redis.set(seen, "1", ex=2 * MAX_SKEW_S)
    except (RedisError, OSError):
        log.warning("callback nonce not kept: Redis unreachable")
    # WeChat wants "success" (or an empty body) within 5 s, else it retries.
    return text("success")
