"""The outbox's dead letters: messages the worker gave up on, and an administrator's retry.
(Sending is the worker process's: server/worker.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import Notification, OutboxMessage
from server.notifications import notify

# Answers that will never succeed on retry: the message itself is wrong.
DEAD_ERRCODES = {40003, 40037, 41030, 47003}


async def dead_letters(*, limit: int = 200) -> list[OutboxMessage]:
    """The latest messages given up on, newest first."""
    return await OutboxMessage.filter(status="dead").order_by("-id").limit(limit)


def _refused(last_error: str | None) -> bool:
    """Whether a dead letter died of WeChat refusing it (its consent was given back)."""
    code = (last_error or "").split(" ", 1)[0]
    return code.lstrip("-").isdigit() and int(code) in DEAD_ERRCODES


async def retry_dead(*, ids: list[int], now: datetime) -> int:
    """An administrator sends dead letters again. One WeChat refused gave its consent back (see
    ``send``); sending it again spends one, if the user has one left.

    Each is rendered again from its inbox row's event and values first: a letter that died of a
    value WeChat refuses (47003: "志愿者4号" in a name, fitted by older rules) would only die
    again as it was, and one whose template id or page was wrong goes with the ones configured
    now. A letter without its inbox row (written by hand, or by an event no longer in the
    template file) goes as it was."""
    rows = await OutboxMessage.filter(id__in=ids, status="dead").values_list(
        "id", "notification_id", "user_id", "template_id", "last_error")
    sources = {n["id"]: n for n in await Notification.filter(id__in=sorted({row[1] for row in rows})).values(
        "id", "event", "data")}
    requeued = 0
    for row_id, notification_id, user_id, template_id, last_error in rows:
        again: dict[str, Any] = {}
        source = sources.get(notification_id)
        if source is not None and source["event"] in notify.TEMPLATES:
            msg = notify.render(source["event"], source["data"] or {})
            again = {"template_id": msg["template_id"], "page": msg["page"], "data": msg["fields"]}
        if not await OutboxMessage.filter(id=row_id, status="dead").update(status="pending", next_attempt_at=now,
                                                                            attempts=0, **again):
            continue
        requeued += 1
        if _refused(last_error):
            await notify.take_back(user_id=user_id, template_id=again.get("template_id", template_id))
    return requeued
