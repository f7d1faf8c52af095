"""WeChat server API access: the async gateway (wechatpy in a thread pool) and its errors."""

from server.wechat.callback import BadCallback, CallbackCodec
from server.wechat.gateway import WeChatError, WeChatGateway, WeChatUnavailable
from server.wechat.tokens import RedisTokenStorage

__all__ = ["BadCallback", "CallbackCodec", "RedisTokenStorage", "WeChatError", "WeChatGateway", "WeChatUnavailable"]
