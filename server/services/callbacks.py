"""Effects of WeChat push events on subscriptions, each applied once however often WeChat retries.

- subscribe_msg_popup_event: the user answered a subscription popup: each ``accept`` is one more
  send for that template (the same the mini-program reports to POST /subscriptions; if both arrive
  the count may run high, and the first 43101 from WeChat sets it right).
- subscribe_msg_change_event: the user turned a template off in settings: its quota drops to 0.
- subscribe_msg_sent_event: delivery results; failures are kept for the record.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from models import CallbackEvent, SubscriptionQuota, User
from server.services import notify

log = logging.getLogger("haibei.callbacks")


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
