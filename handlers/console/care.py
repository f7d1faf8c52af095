"""Console pages for complaints (投诉, 保障四 supervision): the station's list and the city's
escalated ones, a complaint with its history and the answer form, and a complaint filed for a
household from its page (代为投诉).

Each action is the API's (handlers/care/complaints.py): the same access check
(``access_complaint``: another station's complaint is a 404; answering is the station's, or the
administrators' once escalated), the same schema for what is typed, the same service call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from handlers.care.complaints import AnswerIn, ComplaintIn, ReopenIn
from handlers.console.common import Form, FormInvalid, Refused, attempt, console, form_values, go, read_form, render
from models import ResidentProfile
from server import labels
from server.access import access_complaint, district_station_ids, access_need_household, access_resident, is_worker_of
from server.care import complaints
from server.errors import Forbidden
from server.transactions import atomic
from server.workflow import content

bp = Blueprint("console_care", url_prefix="/console")

# What a finished action says on the page it leads to (``?ok=``): fixed texts, never echoed input.
DONE = {
    "filed": "已代为提交投诉,请在答复期限前答复。",
    "answered": "已答复。投诉人认可后即为已解决,不满意可重新提出。",
    "accepted": "已代居民确认认可答复,投诉已解决。",
    "reopened": "已代居民重新提出,驿站需再次答复。",
}
# The list's status filter: a status, or all of them ("all": those awaiting an answer first).
ALL = "all"


def _shown(actor, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each complaint with whether its need, volunteer and household pages are the caller's to open
    (the console's worker pages: their own station's)."""
    return [{**item, "linked": is_worker_of(actor, item["station_id"])} for item in items]


# --- the list -----------------------------------------------------------------------------------


@bp.get("/complaints")
@openapi.exclude()
@console("staff")
async def complaint_list(request: Request, actor):
    """A worker: the station's complaints, those awaiting an answer first. An administrator: the
    city's (a district's: the district's), by default those escalated (theirs to answer)."""
    city = actor.has("admin") or actor.has("district_admin")
    asked = request.args.get("status")
    chosen = asked if asked == ALL or asked in labels.COMPLAINT_STATUS else ("escalated" if city else ALL)
    now = request.app.ctx.clock()
    stations = await district_station_ids(actor) if city else [actor.station_id]
    rows = await complaints.for_staff(stations=stations, status=None if chosen == ALL else chosen)
    return render(request, "complaints.html", title="投诉", city=city, chosen=chosen, all=ALL,
                  statuses=labels.COMPLAINT_STATUS,
                  items=_shown(actor, await complaints.present_for_staff(rows, now=now)))


# --- one complaint ------------------------------------------------------------------------------


def _history(c: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened to the complaint, in order. Only the latest answer and reopening reason are
    kept (models/complaints.py): a reopening came after the latest answer while the complaint
    waits again, before it once answered again."""
    filed = "提出投诉" + ("(工作人员代为提出)" if c["filed_for"] else "")
    steps: list[dict[str, Any]] = [{"at": c["created_at"], "what": filed}]
    reopened = {"at": None, "what": f"投诉人不满意答复,重新提出 {c['reopen_count']} 次", "text": c["reopen_reason"]} \
        if c["reopen_count"] else None
    if reopened and c["status"] in ("answered", "accepted"):
        steps.append(reopened)
        reopened = None
    if c["answered_at"]:
        steps.append({"at": c["answered_at"], "what": "最近一次答复" if c["reopen_count"] else "答复",
                      "text": c["answer"]})
    if reopened:
        steps.append(reopened)
    if c["escalated_at"]:
        steps.append({"at": c["escalated_at"], "what": "已上报区县(由管理员督办答复)"})
    if c["closed_at"]:
        steps.append({"at": c["closed_at"], "what": "投诉人认可答复,已解决"})
    return steps


async def _may_answer(actor, complaint_id: int, status: str) -> bool:
    """Whether the answer form is the caller's: the API's own check for answering, and a state the
    service answers from."""
    try:
        await access_complaint(actor, complaint_id, purpose="answer")
    except Forbidden:
        return False
    return status in complaints.AWAITING_ANSWER


def _speaks_for(actor, complaint) -> bool:
    """Whether the caller accepts or reopens for the complainant: the worker who filed it for a
    household (one without a phone answers through them), as the API's ``check_complainant``."""
    try:
        complaints.check_complainant(complaint, actor)
    except Forbidden:
        return False
    return complaint.filed_by == actor.id and complaint.complainant_user_id != actor.id


async def _complaint_page(request: Request, actor, complaint_id: int, *, status: int = 200,
                          answer: Form | None = None, notice: str | None = None,
                          reopen: Form | None = None) -> HTTPResponse:
    complaint = await access_complaint(actor, complaint_id)
    now = request.app.ctx.clock()
    shown = _shown(actor, await complaints.present_for_staff([complaint], now=now))[0]
    return render(request, "complaint.html", status=status, title=f"投诉 {complaint.id}", c=shown,
                  history=_history(shown), city=actor.has("admin") or actor.has("district_admin"),
                  may_answer=await _may_answer(actor, complaint.id, complaint.status),
                  answer=answer or Form(), done=DONE.get(request.args.get("ok", "")),
                  notice=notice, speaks_for=complaint.status == "answered" and _speaks_for(actor, complaint),
                  reopen=reopen or Form())


async def _act(request: Request, actor, complaint_id: int, done: str,
               action: Callable[[Any, datetime], Awaitable[Any]], *, purpose: str = "view",
               complainant: bool = False) -> HTTPResponse:
    """Do ``action`` on the complaint as the API's route does (its access check, and for accepting
    or reopening its complainant check); one done meanwhile (another tab, a colleague) leaves the
    page as it now is, with the service's reason."""
    try:
        async with atomic():
            complaint = await access_complaint(actor, complaint_id, purpose=purpose)
            if complainant:
                complaints.check_complainant(complaint, actor)
            await action(complaint, request.app.ctx.clock())
    except complaints.ComplaintState as exc:
        return await _complaint_page(request, actor, complaint_id, status=exc.status, notice=exc.message)
    return go(f"/console/complaints/{complaint_id}?ok={done}")


@bp.get("/complaints/<complaint_id:int>")
@openapi.exclude()
@console("staff")
async def complaint_page(request: Request, actor, complaint_id: int):
    return await _complaint_page(request, actor, complaint_id)


@bp.post("/complaints/<complaint_id:int>/answer")
@openapi.exclude()
@console("staff")
async def complaint_answer(request: Request, actor, complaint_id: int):
    """Answer it, as ``POST /api/v1/complaints/<id>/answer``: the complainant is notified."""
    values = form_values(request)
    try:
        form = read_form(AnswerIn, values)
    except FormInvalid as exc:
        return await _complaint_page(request, actor, complaint_id, status=422, answer=Form(exc.values, exc.errors))
    return await _act(request, actor, complaint_id, "answered", lambda complaint, now: complaints.answer(
        complaint=complaint, actor=actor, text=form.text, now=now), purpose="answer")


@bp.post("/complaints/<complaint_id:int>/accept")
@openapi.exclude()
@console("worker")
async def complaint_accept(request: Request, actor, complaint_id: int):
    """The household is content with the answer, told to the worker who filed for it: as
    ``POST /api/v1/complaints/<id>/accept``."""
    return await _act(request, actor, complaint_id, "accepted", lambda complaint, now: complaints.accept(
        complaint=complaint, actor=actor, now=now), complainant=True)


@bp.post("/complaints/<complaint_id:int>/reopen")
@openapi.exclude()
@console("worker")
async def complaint_reopen(request: Request, actor, complaint_id: int):
    """The household is not content, told to the worker who filed for it: as
    ``POST /api/v1/complaints/<id>/reopen`` (the second time it goes up to the district)."""
    values = form_values(request)
    try:
        form = read_form(ReopenIn, values)
    except FormInvalid as exc:
        return await _complaint_page(request, actor, complaint_id, status=422, reopen=Form(exc.values, exc.errors))
    return await _act(request, actor, complaint_id, "reopened", lambda complaint, now: complaints.reopen(
        complaint=complaint, actor=actor, reason=form.reason, now=now), complainant=True)


# --- filed for a household (代为投诉), from its page ---------------------------------------------------


async def household_complaints(*, resident: ResidentProfile, now, fields: dict | None = None,
                               errors: dict | None = None) -> dict[str, Any]:
    """The household page's complaints panel: its complaints and the form to file one for it."""
    rows = await complaints.of_household(resident=resident)
    return {"resident_id": resident.id, "exited": resident.status == "exited",
            # The household page is its station's workers': every page the rows link to is theirs.
            "items": [{**item, "linked": True} for item in await complaints.present_for_staff(rows, now=now)],
            "subjects": labels.COMPLAINT_SUBJECT,
            "answer_days": complaints.ANSWER_WITHIN.days, "fields": fields or {"subject": "station"},
            "errors": errors or {}}


async def _panel(request: Request, actor, resident_id: int, refused: Refused) -> HTTPResponse:
    """The panel again, in place, with what was typed and why it was refused."""
    resident = await access_resident(actor, resident_id)
    panel = await household_complaints(resident=resident, now=request.app.ctx.clock(), fields=refused.form.values,
                                       errors=refused.form.errors)
    return render(request, "_household_complaints.html", status=refused.status, complaints_panel=panel)


@bp.post("/households/<resident_id:int>/complaints")
@openapi.exclude()
@console("worker")
async def household_complain(request: Request, actor, resident_id: int):
    """A complaint of a household filed by a worker of its station (代为投诉), as ``POST
    /api/v1/complaints`` with ``resident_id``: same schema, same screening, same service."""
    ctx = request.app.ctx

    async def read(values: dict[str, Any]) -> ComplaintIn:
        # WeChat's screening is called before the transaction opens, not inside it.
        form = read_form(ComplaintIn, {**values, "resident_id": resident_id})
        await content.screen(wechat=ctx.wechat, author=actor.user, text=form.text, now=ctx.clock(), field="text")
        return form

    async def file(form: ComplaintIn):
        resident, _ = await access_need_household(actor, resident_id)
        return await complaints.file(actor=actor, resident=resident, volunteer=None, subject=form.subject,
                                     subject_id=form.subject_id, text=form.text, now=ctx.clock())

    complaint = await attempt(form_values(request), read, file, fields=ComplaintIn)
    if isinstance(complaint, Refused):
        return await _panel(request, actor, resident_id, complaint)
    return go(f"/console/complaints/{complaint.id}?ok=filed")
