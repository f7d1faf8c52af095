"""Complaints (投诉) and their answers (保障四, supervision): a household (or a worker for one
without a phone) or a volunteer complains about a service, a task, a volunteer or the station; the
station answers within a deadline (config/complaints.json, 3 days); the complainant accepts the
answer or reopens the complaint. Left unanswered past the deadline, or reopened twice, it goes up
to the district (the administrators), once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from config.data import COMPLAINTS
from models import Complaint, Need, ResidentProfile, Station, Task, VolunteerProfile
from server import audit
from server.errors import Conflict, Forbidden, ValidationFailed
from server.notifications import notify
from server.people import staff
from server.pii import mask_name
from server.reference import places

ANSWER_WITHIN = timedelta(days=COMPLAINTS["answer_within_days"])
ESCALATE_AFTER_REOPENS = COMPLAINTS["escalate_after_reopens"]
# The states in which a complaint waits for an answer: the station's (open, also after a reopening)
# or, once escalated, the district's as well.
AWAITING_ANSWER = ("open", "escalated")


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
    if locked.status not in AWAITING_ANSWER:
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
    """Up to the district (its administrators, or the city's while it has none), once: the status
    moves only from open."""
    if not await Complaint.filter(id=complaint_id, status="open", escalated_at__isnull=True).update(
            status="escalated", escalated_at=now):
        return False
    complaint = await Complaint.get(id=complaint_id)
    district_id = await places.district_of(station_id=complaint.station_id)
    await notify.notify_many([(user_id, "complaint_escalated", {"complaint_id": complaint.id, "at": now})
                              for user_id in await staff.supervisors_of(district_id=district_id)], now=now)
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


def overdue(*, status: str, due_at: datetime, now: datetime) -> bool:
    """Open past its deadline (an escalated one has gone up already and is counted as such)."""
    return status == "open" and due_at < now


async def for_staff(*, stations: list[int] | None, status: str | None, limit: int = 200) -> list[Complaint]:
    """Complaints as staff work through them: a station's (its workers), a district's or the city's
    (``stations`` None, the city's administrators). Without ``status``, those waiting for an answer
    first, then the rest; newest first within each."""
    qs = Complaint.all() if stations is None else Complaint.filter(station_id__in=stations)
    if status:
        return await qs.filter(status=status).order_by("-id").limit(limit)
    waiting = await qs.filter(status__in=AWAITING_ANSWER).order_by("-id").limit(limit)
    rest = await qs.exclude(status__in=AWAITING_ANSWER).order_by("-id").limit(max(limit - len(waiting), 0)) \
        if len(waiting) < limit else []
    return [*waiting, *rest]


async def of_household(*, resident: ResidentProfile) -> list[Complaint]:
    """A household's complaints to its station (its own and those a worker filed for it), newest
    first. The station narrows the read to its index, and to what the station's workers may open."""
    return await Complaint.filter(station_id=resident.station_id, resident_id=resident.id).order_by("-id").limit(200)


async def present_for_staff(rows: list[Complaint], *, now: datetime) -> list[dict[str, Any]]:
    """Complaints as the console shows them to staff: each with its household's masked name (None
    for a volunteer's), its station's name, whether a worker filed it for the household, whether it
    is overdue, and the need it concerns (a service's own, a task's need), whose page tells more."""
    resident_ids = {c.resident_id for c in rows if c.resident_id is not None}
    task_ids = {c.subject_id for c in rows if c.subject == "task" and c.subject_id is not None}
    names = dict(await ResidentProfile.filter(id__in=resident_ids).values_list("id", "name")) if resident_ids else {}
    task_needs = dict(await Task.filter(id__in=task_ids).values_list("id", "need_id")) if task_ids else {}
    stations = dict(await Station.filter(id__in={c.station_id for c in rows}).values_list("id", "name")) if rows else {}
    out = []
    for c in rows:
        need_id = {"service": c.subject_id, "task": task_needs.get(c.subject_id)}.get(c.subject)
        out.append({**present(c), "household_name": mask_name(names.get(c.resident_id)),
                    "station_name": stations.get(c.station_id, ""), "need_id": need_id,
                    "filed_for": c.filed_by != c.complainant_user_id, "closed_at": c.closed_at,
                    "overdue": overdue(status=c.status, due_at=c.due_at, now=now)})
    return out


async def counts(*, station_ids: list[int] | None, now: datetime) -> dict[str, int]:
    """Complaints open, overdue (open past their deadline), escalated and resolved (accepted), as
    of ``now``, across stations (None: all): two aggregates, no rows."""
    qs = _scoped(Complaint.all(), station_ids)
    by_status = dict(await qs.annotate(n=Count("id")).group_by("status").values_list("status", "n"))
    return {"open": by_status.get("open", 0),
            "overdue": await qs.filter(status="open", due_at__lt=now).count(),
            "escalated": by_status.get("escalated", 0),
            "resolved": by_status.get("accepted", 0)}


def _scoped(qs, station_ids: list[int] | None):
    return qs if station_ids is None else qs.filter(station_id__in=station_ids or [0])


async def count_filed(*, station_ids: list[int] | None, start: datetime, end: datetime) -> int:
    """Complaints filed in [start, end) across stations (None: all)."""
    return await _scoped(Complaint.filter(created_at__gte=start, created_at__lt=end), station_ids).count()


def filed_in(*, stations: list[int] | None, start: datetime, end: datetime):
    """The query of the complaints filed in [start, end) at ``stations`` (None: all), for the ledger."""
    qs = Complaint.filter(created_at__gte=start, created_at__lt=end)
    return qs if stations is None else qs.filter(station_id__in=stations)


async def count_about(*, task_ids: list[int], need_ids: list[int]) -> int:
    """Complaints about any of ``task_ids`` (subject "task") or of ``need_ids`` (subject "service":
    its subject_id is the need, see ``_check_subject``), in one COUNT."""
    if not task_ids and not need_ids:
        return 0
    return await Complaint.filter(Q(subject="task", subject_id__in=task_ids or [0])
                                  | Q(subject="service", subject_id__in=need_ids or [0])).count()


async def by_station(*, station_ids: list[int] | None, start: datetime, end: datetime,
                     now: datetime) -> dict[int, dict[str, int]]:
    """Per station: complaints filed in [start, end), and open, overdue and resolved as of ``now``
    (stations without any are absent)."""
    qs = _scoped(Complaint.all(), station_ids)
    out: dict[int, dict[str, int]] = {}

    def row(station_id: int) -> dict[str, int]:
        return out.setdefault(station_id, {"filed": 0, "open": 0, "overdue": 0, "escalated": 0, "resolved": 0})

    for station_id, n in await qs.filter(created_at__gte=start, created_at__lt=end).annotate(n=Count("id")) \
            .group_by("station_id").values_list("station_id", "n"):
        row(station_id)["filed"] = n
    for station_id, status, n in await qs.filter(status__in=("open", "escalated", "accepted")).annotate(n=Count("id")) \
            .group_by("station_id", "status").values_list("station_id", "status", "n"):
        row(station_id)[{"open": "open", "escalated": "escalated", "accepted": "resolved"}[status]] = n
    for station_id, n in await qs.filter(status="open", due_at__lt=now).annotate(n=Count("id")) \
            .group_by("station_id").values_list("station_id", "n"):
        row(station_id)["overdue"] = n
    return out
