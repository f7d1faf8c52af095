"""Scheduled housekeeping of the workflow, run by ``scripts/run_jobs`` (later the worker process).

Each job takes ``now`` so tests drive it with a controlled clock; each item is handled in its own
transaction so one bad row cannot block the rest.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from config import Settings
from models import Redemption, Task, TaskClaim, VolunteerProfile
from server.care import complaints, deadlines, reassessment
from server.notifications import notify
from server.pii import FieldCipher, install_cipher
from server.points import rewards
from server.storage import LocalStorage
from server.workflow import pairings, referrals, tasks, uploads

log = logging.getLogger("haibei.jobs")


async def release_stale_claims(*, settings: Settings, now: datetime) -> int:
    """Claims not checked in within the grace period go back to the pool. The period runs from
    the start, or from the claim if it came later: a task may be claimed until its end, and a
    late claim gets the same time to arrive as an early one."""
    deadline = now - timedelta(minutes=settings.claim_grace_minutes)
    # max(start, claimed_at) < deadline, i.e. both are.
    stale = await TaskClaim.filter(status="claimed", claimed_at__lt=deadline,
                                   task__scheduled_start__lt=deadline).values_list("id", flat=True)
    released = 0
    for claim_id in stale:
        async with in_transaction():
            task, claim = await tasks.lock_claim(claim_id=claim_id)
            if claim.status != "claimed":
                continue
            await tasks.release(claim=claim, task=task, actor_id=None, actor_role="system", now=now,
                                reason="not checked in in time", to="expired")
            volunteer = await VolunteerProfile.get(id=claim.volunteer_id)
            await notify.notify(user_id=volunteer.user_id, event="claim_released", now=now,
                                ctx={"task_id": task.id, "title": task.title, "volunteer_name": volunteer.name, "at": now})
            released += 1
    if released:
        log.info("released stale claims", extra={"count": released})
    return released


async def expire_unclaimed(*, now: datetime) -> int:
    """Open tasks whose window has passed are closed (tasks.close_window): expired, or moved on
    with the volunteers who served them. Returns how many expired."""
    expired = 0
    for task_id in await Task.filter(status="open", scheduled_end__lt=now).values_list("id", flat=True):
        async with in_transaction():
            task = await Task.select_for_update().get(id=task_id)
            if task.status == "open" and task.scheduled_end < now:
                expired += await tasks.close_window(task=task, now=now)
    return expired


async def warn_unclaimed(*, now: datetime, ahead: timedelta = timedelta(hours=2)) -> int:
    """Tell the station, once, about tasks starting soon that still lack volunteers: open ones, and
    referred ones the organisation has not answered (its SLA may run past the start)."""
    warned = 0
    due = Task.filter(status__in=("open", "referred"), expiry_warned_at__isnull=True, scheduled_start__lte=now + ahead,
                      scheduled_end__gt=now)
    for task in await due:
        async with in_transaction():
            # Locked, so a claim committed since the list was read counts (claims take this lock).
            current = await Task.select_for_update().get(id=task.id)
            if current.status not in ("open", "referred") or current.expiry_warned_at is not None:
                continue
            await Task.filter(id=task.id).update(expiry_warned_at=now)
            await notify.notify_station_workers(station_id=task.station_id, event="task_expiring", now=now,
                                                ctx={"task_id": task.id, "title": task.title, "start": task.scheduled_start,
                                                     "missing": current.volunteers_needed - current.claimed_count})
            warned += 1
    return warned


async def remind_redemptions(*, now: datetime, ahead: timedelta = timedelta(hours=24)) -> int:
    """Remind volunteers, once, of rewards waiting for pick-up that expire within a day."""
    reminded = 0
    for redemption in await Redemption.filter(status="pending", reminded_at__isnull=True, expires_at__lte=now + ahead,
                                              expires_at__gt=now).select_related("reward", "account"):
        async with in_transaction():
            # Still pending when marked: one picked up or cancelled since the list was read is not reminded.
            if not await Redemption.filter(id=redemption.id, status="pending", reminded_at__isnull=True).update(
                    reminded_at=now):
                continue
            await notify.notify(user_id=redemption.account.user_id, event="redemption_expiring", now=now,
                                ctx={"redemption_id": redemption.id, "reward_name": redemption.reward.name,
                                     "pickup_code": redemption.pickup_code, "expires": redemption.expires_at})
            reminded += 1
    return reminded


async def run_all(*, settings: Settings, now: datetime, cipher: FieldCipher | None = None) -> dict[str, int | None]:
    """Run every scheduled job once; how many things each did. Each job commits its own work, so
    one that fails (logged, None) does not hold back the others, which would otherwise wait for the
    next round behind it, every round, while it keeps failing."""
    cipher = cipher or install_cipher(settings)
    runs = {
        "released_claims": lambda: release_stale_claims(settings=settings, now=now),
        "expired_tasks": lambda: expire_unclaimed(now=now),
        "expired_redemptions": lambda: rewards.expire_unclaimed(now=now),
        "warned_unclaimed": lambda: warn_unclaimed(now=now),
        "reminded_redemptions": lambda: remind_redemptions(now=now),
        "escalated_referrals": lambda: referrals.escalate_overdue(now=now),
        "reminded_reassessments": lambda: reassessment.remind(now=now),
        "escalated_complaints": lambda: complaints.escalate_overdue(now=now),
        "deadline_notices": lambda: deadlines.run(now=now),
        "pairing_tasks": lambda: pairings.generate(now=now, cipher=cipher, sla_hours=settings.referral_sla_hours),
        "swept_uploads": lambda: uploads.sweep_unattached(now=now, storage=LocalStorage(settings.upload_dir)),
    }
    done: dict[str, int | None] = {}
    for name, run in runs.items():
        try:
            done[name] = await run()
        except Exception:  # noqa: BLE001 - logged; the job is tried again next round
            log.exception("scheduled job failed", extra={"job": name})
            done[name] = None
    return done
