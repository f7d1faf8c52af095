from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import RejectIn
from handlers.people.schemas import VolunteerListQuery, VolunteerOut, VolunteerPage
from server.access import access_volunteer_for_review, require_worker_station
from server.auth import authenticate
from server.http import body, query, respond, returns
from server.people import volunteers
from server.transactions import atomic

bp = Blueprint("volunteers", url_prefix="/api/v1/volunteers")


@bp.get("")
@openapi.summary("My station's volunteers and applications (workers)")
@openapi.secured("token")
@query(VolunteerListQuery)
@returns(VolunteerPage)
async def list_volunteers(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    q = request.ctx.query
    rows, total = await volunteers.list_for_station(station_id=station_id, status=q.status, limit=q.limit, offset=q.offset)
    return respond({"items": [volunteers.present(v) for v in rows], "total": total})


@bp.post("/<volunteer_id:int>/approve")
@openapi.summary("Approve a volunteer application (workers of its station)")
@openapi.secured("token")
@returns(VolunteerOut)
async def approve(request: Request, volunteer_id: int):
    actor = await authenticate(request)
    async with atomic():
        volunteer = await access_volunteer_for_review(actor, volunteer_id)
        volunteer = await volunteers.approve(volunteer=volunteer, reviewer_id=actor.id, now=request.app.ctx.clock())
    return respond(volunteers.present(volunteer))


@bp.post("/<volunteer_id:int>/reject")
@openapi.summary("Reject a volunteer application with a reason")
@openapi.secured("token")
@body(RejectIn)
@returns(VolunteerOut)
async def reject(request: Request, volunteer_id: int):
    actor = await authenticate(request)
    async with atomic():
        volunteer = await access_volunteer_for_review(actor, volunteer_id)
        volunteer = await volunteers.reject(volunteer=volunteer, reviewer_id=actor.id, reason=request.ctx.body.reason,
                                            now=request.app.ctx.clock())
    return respond(volunteers.present(volunteer))
