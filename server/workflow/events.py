"""State transitions decided by the database, each leaving a row in the timeline.

``move`` locks the row by primary key (``SELECT … FOR UPDATE``), checks the state and updates it
by primary key: two requests racing for the same transition queue on that one row lock, the
second sees the first's result and learns the state it lost to.

Why not ``UPDATE … WHERE id = ? AND status IN (…)``: MariaDB may scan such a statement through
the (status, …) index, taking gap locks there, while changing ``status`` needs an insert-intention
lock in the same index; 200 concurrent claims turned that into deadlocks. Locking statements on
these tables therefore go through the primary key only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.models import Model

from models import Task, TaskClaim, WorkflowEvent
from server import feed, labels, sql
from server.errors import Conflict


class InvalidState(Conflict):
    code = "INVALID_STATE"
    message = "当前状态下不能进行此操作"


_VOCABULARY = {"Need": "need_status", "Task": "task_status", "TaskClaim": "claim_status", "Project": "project_status"}


def invalid_state(obj: Model, wanted: str) -> InvalidState:
    """Refused for the state ``obj`` is in: said by its label (the code stays in the details)."""
    vocabulary = _VOCABULARY.get(type(obj).__name__)
    shown = labels.label(vocabulary, obj.status) if vocabulary else obj.status
    return InvalidState(
        f"当前状态为「{shown}」,不能{wanted}",
        details={"current_status": obj.status, "current_status_label": shown, "action": wanted},
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
    locked: Model | None = None,
) -> None:
    """Move ``obj`` (a Need, Task or TaskClaim) to ``to`` if it is in ``allowed_from``. ``locked``:
    the row as the caller read it with ``select_for_update`` in this transaction, if it did."""
    model = type(obj)
    current = locked if locked is not None else await model.select_for_update().get(id=obj.id)
    if current.status not in allowed_from:
        obj.status = current.status
        raise invalid_state(obj, wanted)
    previous = current.status
    await model.filter(id=obj.id).update(status=to, **(extra or {}))
    # Browsing caches open tasks by cell and each volunteer's active claims (server/workflow/browse.py).
    if isinstance(current, Task):
        feed.changed("cell", current.cell)
    elif isinstance(current, TaskClaim):
        feed.changed("claims", current.volunteer_id)
    obj.status = to
    for key, value in (extra or {}).items():
        setattr(obj, key, value)
    await record(obj, need_id=need_id, actor_id=actor_id, actor_role=actor_role, from_status=previous,
                 to_status=to, now=now, reason=reason)


async def record(obj: Model, *, need_id: int, actor_id: int | None, actor_role: str, from_status: str | None,
                 to_status: str, now: datetime, reason: str | None = None) -> None:
    """Write one timeline row for ``obj``."""
    await row(obj, need_id=need_id, actor_id=actor_id, actor_role=actor_role, from_status=from_status,
              to_status=to_status, now=now, reason=reason).save()


def row(obj: Model, *, need_id: int, actor_id: int | None, actor_role: str, from_status: str | None,
        to_status: str, now: datetime, reason: str | None = None) -> WorkflowEvent:
    """The timeline row for ``obj``, unsaved (``record`` saves one; batches insert many at once)."""
    subject = {"Need": "need", "Task": "task", "TaskClaim": "claim"}[type(obj).__name__]
    return sql.new(
        WorkflowEvent,
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
