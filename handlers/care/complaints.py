"""Complaints (投诉): filed by a household (or a worker for one) or a volunteer, answered by the
station, accepted or reopened by the complainant, escalated to the district when overdue or
reopened twice (server/care/complaints.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Id, Strict
from server.access import access_complaint, access_need_household
from server.auth import authenticate
from server.care import complaints
from server.errors import Forbidden
from server.people import residents
from server.http import body, query, respond
from server.transactions import atomic
from server.workflow import content

bp = Blueprint("complaints", url_prefix="/api/v1/complaints")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ComplaintIn(Strict):
    subject: Literal["service", "task", "volunteer", "station"] = Field(
        description="what it is about: a service (a need's id), a task, a volunteer, or the station itself")
    subject_id: Id | None = None
    text: Text
    resident_id: Id | None = Field(None, description="workers: the household complained for (代为投诉)")


class AnswerIn(Strict):
    text: Text


class ReopenIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ComplaintQuery(Strict):
    status: Literal["open", "answered", "accepted", "escalated"] | None = None


@bp.post("")
@openapi.summary("File a complaint: a household's (its own, or a worker's for it) or a volunteer's")
@openapi.secured("token")
@body(ComplaintIn)
async def file_complaint(request: Request):
    actor = await authenticate(request)
    b = request.ctx.body
    ctx = request.app.ctx
    await content.screen(wechat=ctx.wechat, author=actor.user, text=b.text, now=ctx.clock(), field="text")
    async with atomic():
        resident = volunteer = None
        if b.resident_id is not None:  # a worker, for a household of the station (代为投诉)
            resident, _ = await access_need_household(actor, b.resident_id)
        else:
            resident = await residents.get_own(user_id=actor.id)
            if resident is None:
                volunteer = actor.volunteer
                if volunteer is None or volunteer.status != "approved":
                    raise Forbidden("仅居民或志愿者可以投诉")
        complaint = await complaints.file(actor=actor, resident=resident, volunteer=volunteer, subject=b.subject,
                                          subject_id=b.subject_id, text=b.text, now=ctx.clock())
    return respond(complaints.present(complaint), status=201)


@bp.get("")
@openapi.summary("Complaints: my station's (workers), or my own")
@openapi.secured("token")
@query(ComplaintQuery)
async def list_complaints(request: Request):
    actor = await authenticate(request)
    rows = await complaints.list_for(station_id=actor.station_id, user_id=actor.id, status=request.ctx.query.status)
    return respond({"items": [complaints.present(c) for c in rows]})


@bp.get("/<complaint_id:int>")
@openapi.secured("token")
async def get_complaint(request: Request, complaint_id: int):
    actor = await authenticate(request)
    return respond(complaints.present(await access_complaint(actor, complaint_id)))


@bp.post("/<complaint_id:int>/answer")
@openapi.summary("Answer a complaint (workers of its station; administrators once escalated)")
@openapi.secured("token")
@body(AnswerIn)
async def answer(request: Request, complaint_id: int):
    actor = await authenticate(request)
    async with atomic():
        complaint = await access_complaint(actor, complaint_id, purpose="answer")
        complaint = await complaints.answer(complaint=complaint, actor=actor, text=request.ctx.body.text,
                                            now=request.app.ctx.clock())
    return respond(complaints.present(complaint))


@bp.post("/<complaint_id:int>/accept")
@openapi.summary("Accept the answer, which closes the complaint (the complainant)")
@openapi.secured("token")
async def accept(request: Request, complaint_id: int):
    actor = await authenticate(request)
    async with atomic():
        complaint = await access_complaint(actor, complaint_id)
        complaints.check_complainant(complaint, actor)
        complaint = await complaints.accept(complaint=complaint, actor=actor, now=request.app.ctx.clock())
    return respond(complaints.present(complaint))


@bp.post("/<complaint_id:int>/reopen")
@openapi.summary("Not satisfied: back to the station, the second time up to the district (the complainant)")
@openapi.secured("token")
@body(ReopenIn)
async def reopen(request: Request, complaint_id: int):
    actor = await authenticate(request)
    async with atomic():
        complaint = await access_complaint(actor, complaint_id)
        complaints.check_complainant(complaint, actor)
        complaint = await complaints.reopen(complaint=complaint, actor=actor, reason=request.ctx.body.reason,
                                            now=request.app.ctx.clock())
    return respond(complaints.present(complaint))
