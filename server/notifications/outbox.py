"""The outbox's dead letters: messages the worker gave up on, and an administrator's retry.
(Sending is the worker process's: server/worker.py.)"""

from __future__ import annotations

from datetime import datetime

from models import OutboxMessage
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
    ``send``); sending it again spends one, if the user has one left."""
    rows = await OutboxMessage.filter(id__in=ids, status="dead").values_list("id", "user_id", "template_id", "last_error")
    requeued = 0
    for row_id, user_id, template_id, last_error in rows:
        if not await OutboxMessage.filter(id=row_id, status="dead").update(status="pending", next_attempt_at=now,
                                                                            attempts=0):
            continue
        requeued += 1
        if _refused(last_error):
            await notify.take_back(user_id=user_id, template_id=template_id)
    return requeued
