"""Cascades that cross the workflow's parts: a need rejected or cancelled ends the pairings,
referrals (to organisations and to departments), tasks and claims that hang off it.

These sit above needs, tasks, referrals and pairings (each of which knows only what is below it),
so none of them has to reach back up to the others.
"""

from __future__ import annotations

from datetime import datetime

from models import Need, Task
from server.actors import Actor
from server.workflow import departments, events, needs, pairings, referrals, tasks


async def reject_need(*, need: Need, actor: Actor, reason: str, now: datetime) -> Need:
    """The station declines the need, saying why (the household reads the reason)."""
    await needs.check_not_own(need=need, actor=actor)
    await events.move(need, to="rejected", allowed_from=("submitted", "accepted"), wanted="驳回", need_id=need.id,
                      actor_id=actor.id, actor_role="worker", now=now, reason=reason,
                      extra={"status_reason": reason, "open_key": None, "closed_at": now})
    # A pairing may hang off an accepted need; left active it would keep asking for tasks the
    # rejected need cannot have.
    await pairings.end_for_need(need_id=need.id, actor_id=actor.id, reason="需求未受理", now=now)
    await needs.tell_household(need, "need_rejected", now=now, reason=reason)
    return need


async def cancel_need(*, need: Need, actor: Actor, role: str, reason: str | None, now: datetime) -> Need:
    """The household withdraws before service starts; its open tasks and claims end with it."""
    # The need's tasks first (by primary key, in id order), then the need: a check-in or a
    # confirmation holds its task and then needs the need (its timeline row, following its tasks),
    # so taking the need first deadlocked with a volunteer checking in at that moment.
    task_ids = await Task.filter(need_id=need.id).order_by("id").values_list("id", flat=True)
    if task_ids:
        await Task.select_for_update().filter(id__in=list(task_ids)).order_by("id")
    await events.move(need, to="cancelled", allowed_from=("submitted", "accepted", "dispatched"), wanted="取消",
                      need_id=need.id, actor_id=actor.id, actor_role=role, now=now, reason=reason,
                      extra={"status_reason": reason, "open_key": None, "closed_at": now})
    paired = await pairings.end_for_need(need_id=need.id, actor_id=actor.id, reason="需求已取消", now=now)

    for task in await Task.filter(need_id=need.id, status="referred"):
        # Waiting on a department (部门联动) or on an organisation: either is told nothing more
        # here (a department has no account), the referral ends and the task is cancelled below.
        if not await departments.withdraw(task=task, actor_id=actor.id, reason="need cancelled", now=now):
            await referrals.withdraw(task=task, actor_id=actor.id, reason="need cancelled", now=now)
    # The need's tasks are locked (in id order, as claims lock them) before their claims are read:
    # a claim committed after this transaction's first read is then seen, and cancelled too.
    for task in await Task.select_for_update().filter(need_id=need.id).order_by("id"):
        if task.status in ("open", "claimed"):
            await tasks.cancel(task=task, actor_id=actor.id, reason="need cancelled", now=now, role=role, locked=task,
                               told="服务对象已取消需求", quiet=paired)
    if role == "worker":
        # The station withdrew it for the household: a household with an account hears why, as
        # of a rejection (withdrawing it oneself needs no message).
        await needs.tell_household(need, "need_cancelled", now=now, reason=reason or "未注明原因")
    return need
