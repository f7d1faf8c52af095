"""Complaints (投诉) and their answers (保障四, supervision): a household (or a worker for one
without a phone) or a volunteer complains about a service, a task, a volunteer or the station; the
station answers within a deadline (config/complaints.json, 3 days); the complainant accepts the
answer or reopens the complaint. Left unanswered past the deadline, or reopened twice, it goes up
to the district (the administrators), once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from config.data import COMPLAINTS
from models import Complaint, Need, ResidentProfile, Task, UserRole, VolunteerProfile
from server import audit
from server.errors import Conflict, Forbidden, ValidationFailed
from server.notifications import notify

ANSWER_WITHIN = timedelta(days=COMPLAINTS["answer_within_days"])
ESCALATE_AFTER_REOPENS = COMPLAINTS["escalate_after_reopens"]


class ComplaintState(Conflict):
    code = "COMPLAINT_STATE"
    message = "该投诉当前状态不能进行此操作"


async def _check_subject(subject: str, subject_id: int | None, station_id: int) -> None:
    """What a complaint names must be of the complaint's station (a need, a task, a volunteer)."""
    model = {"service": Need, "task": Task, "volunteer": VolunteerProfile}.get(subject)
    if model is None:
        return  # the station itself
    if subject_id is None or not await model.exists(id=subject_id, station_id=station_id):
        raise ValidationFailed("投诉对象不存在或不属于该驿站", details=[{"field": "subject_id", "type": "not_found"}])


async def file(*, actor, resident: ResidentProfile | None, volunteer: VolunteerProfile | None, subject: str,
               subject_id: int | None, text: str, now: datetime) -> Complaint:
    """A complaint of ``resident``'s household (its own, or filed for it by a worker) or of
    ``volunteer``, to the station concerned, with its answer due in ``ANSWER_WITHIN``."""
    station_id = resident.station_id if resident is not None else volunteer.station_id
    await _check_subject(subject, subject_id, station_id)
    if subject == "station":
        subject_id = None  # the station is the complaint's own: no other id is kept
    complaint = await Complaint.create(
        station_id=station_id, complainant_user_id=resident.user_id if resident is not None else volunteer.user_id,
        resident_id=resident.id if resident is not None else None, filed_by=actor.id, subject=subject,
        subject_id=subject_id, text=text, status="open", due_at=now + ANSWER_WITHIN, created_at=now)
    await notify.notify_station_workers(station_id=station_id, event="complaint_received", now=now,
                                        ctx={"complaint_id": complaint.id, "due": complaint.due_at})
    return complaint


async def _locked(complaint: Complaint) -> Complaint:
    return await Complaint.select_for_update().get(id=complaint.id)


async def answer(*, complaint: Complaint, actor, text: str, now: datetime) -> Complaint:
    locked = await _locked(complaint)
    if locked.status not in ("open", "escalated"):
        raise ComplaintState()
    await Complaint.filter(id=locked.id).update(status="answered", answer=text, answered_by=actor.id, answered_at=now)
    if locked.complainant_user_id is not None:
        await notify.notify(user_id=locked.complainant_user_id, event="complaint_answered", now=now,
                            ctx={"complaint_id": locked.id, "at": now})
    return await Complaint.get(id=locked.id)


async def accept(*, complaint: Complaint, actor, now: datetime) -> Complaint:
    locked = await _locked(complaint)
    if locked.status != "answered":
        raise ComplaintState()
    await Complaint.filter(id=locked.id).update(status="accepted", closed_at=now)
    return await Complaint.get(id=locked.id)


async def reopen(*, complaint: Complaint, actor, reason: str, now: datetime) -> Complaint:
    """Not satisfied with the answer: back to the station with a new deadline; the second time, up
    to the district."""
    locked = await _locked(complaint)
    if locked.status != "answered":
        raise ComplaintState()
    reopens = locked.reopen_count + 1
    await Complaint.filter(id=locked.id).update(status="open", reopen_count=reopens, reopen_reason=reason,
                                                due_at=now + ANSWER_WITHIN)
    if reopens >= ESCALATE_AFTER_REOPENS:
        await _escalate(locked.id, now=now, why="reopened")
    else:
        await notify.notify_station_workers(station_id=locked.station_id, event="complaint_received", now=now,
                                            ctx={"complaint_id": locked.id, "due": now + ANSWER_WITHIN})
    return await Complaint.get(id=locked.id)


async def _escalate(complaint_id: int, *, now: datetime, why: str) -> bool:
    """Up to the district (the administrators), once: the status moves only from open."""
    if not await Complaint.filter(id=complaint_id, status="open", escalated_at__isnull=True).update(
            status="escalated", escalated_at=now):
        return False
    complaint = await Complaint.get(id=complaint_id)
    admins = await UserRole.filter(role="admin").values_list("user_id", flat=True)
    await notify.notify_many([(user_id, "complaint_escalated", {"complaint_id": complaint.id, "at": now})
                              for user_id in admins], now=now)
    await audit.record(actor_id=None, action="complaint.escalate", subject_type="complaint", subject_id=complaint.id,
                       detail={"why": why})
    return True


async def escalate_overdue(*, now: datetime) -> int:
    """Complaints left unanswered past their deadline go up to the district, once each (a job)."""
    done = 0
    for complaint_id in await Complaint.filter(status="open", due_at__lt=now).values_list("id", flat=True):
        async with in_transaction():
            if await _escalate(complaint_id, now=now, why="overdue"):
                done += 1
    return done


def check_complainant(complaint: Complaint, actor) -> None:
    """Accepting or reopening is the complainant's (or the worker who filed it for a household)."""
    if actor.id not in (complaint.complainant_user_id, complaint.filed_by):
        raise Forbidden("仅投诉人可以确认或重新提出")


def present(c: Complaint) -> dict[str, Any]:
    return {"id": c.id, "station_id": c.station_id, "resident_id": c.resident_id, "subject": c.subject,
            "subject_id": c.subject_id, "text": c.text, "status": c.status, "due_at": c.due_at, "answer": c.answer,
            "answered_at": c.answered_at, "reopen_count": c.reopen_count, "reopen_reason": c.reopen_reason,
            "escalated_at": c.escalated_at, "created_at": c.created_at}


async def list_for(*, station_id: int | None, user_id: int | None, status: str | None) -> list[Complaint]:
    """A station's complaints (its workers) or one's own (a complainant), newest first."""
    qs = Complaint.filter(station_id=station_id) if station_id is not None else Complaint.filter(complainant_user_id=user_id)
    if status:
        qs = qs.filter(status=status)
    return await qs.order_by("-id").limit(200)


async def counts(*, station_ids: list[int] | None, now: datetime) -> dict[str, int]:
    """Complaints open, overdue (open past their deadline), escalated and resolved (accepted)."""
    qs = Complaint.all() if station_ids is None else Complaint.filter(station_id__in=station_ids or [0])
    rows = await qs.values_list("status", "due_at")
    return {"open": sum(1 for s, _ in rows if s == "open"),
            "overdue": sum(1 for s, due in rows if s == "open" and due < now),
            "escalated": sum(1 for s, _ in rows if s == "escalated"),
            "resolved": sum(1 for s, _ in rows if s == "accepted")}
