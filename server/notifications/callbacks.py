"""Effects of WeChat push events on subscriptions, each applied once however often WeChat retries.

- subscribe_msg_popup_event: the user answered a subscription popup: each ``accept`` is one more
  send for that template (the same the mini-program reports to POST /subscriptions; if both arrive
  the count may run high, and the first 43101 from WeChat sets it right).
- subscribe_msg_change_event: the user turned a template off in settings: its quota drops to 0.
- subscribe_msg_sent_event: delivery results; failures are kept for the record.

A signed (timestamp, nonce) is taken once (``replayed`` / ``remember_signature``): a replay within
the freshness window (server/wechat/callback.py) is answered as WeChat expects and applies nothing.
It is remembered only once applied, so that WeChat's retry of a delivery that failed here still
lands. Redis down: the window and the deduplication of events still hold; no push is lost.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from tortoise.exceptions import IntegrityError

from models import CallbackEvent, SubscriptionQuota, User
from server.notifications import notify
from server.wechat.callback import MAX_SKEW_S

log = logging.getLogger("haibei.callbacks")


def signature_key(*, prefix: str, timestamp: str, nonce: str) -> str:
    return f"{prefix}wechat:callback:{timestamp}:{nonce[:64]}"


async def replayed(*, redis: Any, key: str) -> bool:
    """Whether the signature ``key`` names was applied already (False when Redis can't say)."""
    try:
        return bool(await redis.exists(key))
    except (RedisError, OSError):
        log.warning("callback nonce check skipped: Redis unreachable")
        return False


async def remember_signature(*, redis: Any, key: str) -> None:
    """Remember an applied signature for as long as its timestamp is fresh (both sides of now)."""
    try:
        await redis.set(key, "1", ex=2 * MAX_SKEW_S)
    except (RedisError, OSError):
        log.warning("callback nonce not kept: Redis unreachable")


def _items(message: dict[str, Any], key: str) -> list[dict[str, Any]]:
    block = message.get(key) or {}
    items = block.get("List") if isinstance(block, dict) else None
    if items is None:
        return []
    return items if isinstance(items, list) else [items]


async def handle(*, message: dict[str, Any], now: datetime) -> str:
    """Apply one push message; returns what was done (for the log and tests)."""
    if message.get("MsgType") != "event":
        return "ignored"
    event = message.get("Event", "")
    openid = message.get("FromUserName", "")
    # WeChat's advice for events: FromUserName + CreateTime identifies a delivery's retries.
    key = f"{openid}:{message.get('CreateTime', '')}:{event}"[:120]
    try:
        await CallbackEvent.create(dedupe_key=key, event=event[:40], openid=openid[:64], payload=message, created_at=now)
    except IntegrityError:
        return "duplicate"
    user = await User.get_or_none(openid=openid)
    if user is None:
        return "unknown user"
    if event == "subscribe_msg_popup_event":
        accepted = [i.get("TemplateId") for i in _items(message, "SubscribeMsgPopupEvent")
                    if i.get("SubscribeStatusString") == "accept" and i.get("TemplateId") in notify.TEMPLATE_IDS]
        await notify.grant(user_id=user.id, accepted=accepted, rejected=[])
        return f"granted {len(accepted)}"
    if event == "subscribe_msg_change_event":
        off = [i.get("TemplateId") for i in _items(message, "SubscribeMsgChangeEvent")
               if i.get("SubscribeStatusString") == "reject"]
        await SubscriptionQuota.filter(user_id=user.id, template_id__in=off).update(remaining=0)
        return f"revoked {len(off)}"
    if event == "subscribe_msg_sent_event":
        failed = [i for i in _items(message, "SubscribeMsgSentEvent") if str(i.get("ErrorCode", "0")) != "0"]
        if failed:
            log.warning("subscribe message delivery failed", extra={"user_id": user.id, "count": len(failed)})
        return f"delivery failures {len(failed)}"
    return "ignored"
