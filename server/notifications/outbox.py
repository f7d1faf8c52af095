"""The outbox's dead letters: messages the worker gave up on, and an administrator's retry.
(Sending is the worker process's: server/worker.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import Notification, OutboxMessage, User
from server.notifications import notify

# Answers that will never succeed on retry: the message itself is wrong.
DEAD_ERRCODES = {40003, 40037, 41030, 47003}


async def dead_letters(*, limit: int = 200, offset: int = 0) -> list[OutboxMessage]:
    """The latest messages given up on, newest first."""
    return await OutboxMessage.filter(status="dead").order_by("-id").offset(offset).limit(limit)


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter as an administrator reads it: what it was about and whom it was for."""

    message: OutboxMessage
    title: str  # the event's title, as the recipient's inbox shows it
    phone_masked: str | None

    @property
    def reason(self) -> str:
        """Why it was given up on, in words (the raw error stays beside it for whoever debugs)."""
        error = self.message.last_error or ""
        code = _errcode(error)
        if code in REASONS:
            return REASONS[code]
        if error.startswith("lease ran out"):
            return "发送进程多次中断,已停止重试"
        return "多次发送失败,已停止重试"


# What the errcodes a letter dies of mean (DEAD_ERRCODES: WeChat refused the message itself).
REASONS = {40003: "收件人的微信标识无效", 40037: "消息模板编号无效", 41030: "消息跳转的页面无效",
           47003: "消息内容不符合微信的格式要求"}


async def count_dead() -> int:
    """How many messages have been given up on and wait for an administrator."""
    return await OutboxMessage.filter(status="dead").count()


async def dead_letter_page(*, offset: int, limit: int) -> list[DeadLetter]:
    """One page of the dead letters, newest first, each with its event's title and its recipient's
    masked phone."""
    rows = await dead_letters(limit=limit, offset=offset)
    events = dict(await Notification.filter(id__in=sorted({r.notification_id for r in rows})).values_list(
        "id", "event"))
    phones = dict(await User.filter(id__in=sorted({r.user_id for r in rows})).values_list("id", "phone_masked"))
    return [DeadLetter(message=r, title=_title(events.get(r.notification_id)), phone_masked=phones.get(r.user_id))
            for r in rows]


def _title(event: str | None) -> str:
    # A letter without its inbox row (written by hand, or by an event no longer configured) still
    # says what it is.
    spec = notify.TEMPLATES.get(event or "")
    return spec["title"] if spec else "微信订阅消息"


def _errcode(last_error: str | None) -> int | None:
    code = (last_error or "").split(" ", 1)[0]
    return int(code) if code.lstrip("-").isdigit() else None


def _refused(last_error: str | None) -> bool:
    """Whether a dead letter died of WeChat refusing it (its consent was given back)."""
    return _errcode(last_error) in DEAD_ERRCODES


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
