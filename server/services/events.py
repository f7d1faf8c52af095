"""State transitions decided by the database, each leaving a row in the timeline.

``move`` is a conditional UPDATE (``WHERE id = ? AND status IN (...)``) that must touch exactly
one row: two requests racing for the same transition cannot both win, and the loser learns the
state it lost to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.models import Model

from models import WorkflowEvent
from server.errors import Conflict


class InvalidState(Conflict):
    code = "INVALID_STATE"
    message = "当前状态下不能进行此操作"


def invalid_state(obj: Model, wanted: str) -> InvalidState:
    return InvalidState(
        f"当前状态为「{obj.status}」,不能{wanted}",
        details={"current_status": obj.status, "action": wanted},
    )


async def move(
    obj: Model,
    *,
    to: str,
    allowed_from: tuple[str, ...],
    wanted: str,
    need_id: int,
    actor_id: int | None,
    actor_role: str,
    now: datetime,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Move ``obj`` (a Need, Task or TaskClaim) to ``to`` if it is in ``allowed_from``."""
    model = type(obj)
    updated = await model.filter(id=obj.id, status__in=allowed_from).update(status=to, **(extra or {}))
    if updated != 1:
        await obj.refresh_from_db()
        raise invalid_state(obj, wanted)
    previous = obj.status
    obj.status = to
    for key, value in (extra or {}).items():
        setattr(obj, key, value)
    await record(obj, need_id=need_id, actor_id=actor_id, actor_role=actor_role, from_status=previous,
                 to_status=to, now=now, reason=reason)


async def record(obj: Model, *, need_id: int, actor_id: int | None, actor_role: str, from_status: str | None,
                 to_status: str, now: datetime, reason: str | None = None) -> None:
    """Write one timeline row for ``obj``."""
    subject = {"Need": "need", "Task": "task", "TaskClaim": "claim"}[type(obj).__name__]
    await WorkflowEvent.create(
        need_id=need_id,
        task_id=getattr(obj, "task_id", None) if subject == "claim" else (obj.id if subject == "task" else None),
        claim_id=obj.id if subject == "claim" else None,
        subject=subject,
        actor_id=actor_id,
        actor_role=actor_role,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        created_at=now,
    )
