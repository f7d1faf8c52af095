from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import RejectIn
from handlers.workflow.schemas import OrganizationPatch, ReferIn, ReferralAcceptIn
from server.access import access_organization, access_task, check_stations_overseen
from server.auth import authenticate
from server.http import body, respond
from server.transactions import atomic
from server.workflow import referrals

bp = Blueprint("referrals", url_prefix="/api/v1")


@bp.post("/tasks/<task_id:int>/refer")
@openapi.summary("Refer an open task to a qualified provider organisation (workers of the station)")
@openapi.secured("token")
@body(ReferIn)
async def refer(request: Request, task_id: int):
    actor = await authenticate(request)
    ctx = request.app.ctx
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        referral = await referrals.refer(task=task, organization_id=request.ctx.body.organization_id, actor_id=actor.id,
                                         sla_hours=ctx.settings.referral_sla_hours, now=ctx.clock())
    return respond(referrals.present(referral), status=201)


@bp.get("/referrals")
@openapi.summary("Referrals to my organisation (org staff) or from my station (workers)")
@openapi.secured("token")
async def list_referrals(request: Request):
    actor = await authenticate(request)
    actor.require("org_staff", "worker")
    rows = await referrals.list_for(organization_id=actor.organization_id if actor.has("org_staff") else None,
                                    station_id=actor.station_id)
    return respond([referrals.present(r, task=r.task) for r in rows])


@bp.post("/referrals/<referral_id:int>/accept")
@openapi.summary("Accept a referral, naming one of the organisation's approved volunteers for each slot")
@openapi.secured("token")
@body(ReferralAcceptIn)
async def accept(request: Request, referral_id: int):
    actor = await authenticate(request)
    actor.require("org_staff")
    async with atomic():
        referral = await referrals.accept(referral_id=referral_id, organization_id=actor.organization_id,
                                          actor_id=actor.id, assignee_user_ids=request.ctx.body.assignee_user_ids,
                                          now=request.app.ctx.clock())
    return respond(referrals.present(referral))


@bp.post("/referrals/<referral_id:int>/decline")
@openapi.summary("Decline a referral with a reason; the task goes back to the station")
@openapi.secured("token")
@body(RejectIn)
async def decline(request: Request, referral_id: int):
    actor = await authenticate(request)
    actor.require("org_staff")
    async with atomic():
        referral = await referrals.decline(referral_id=referral_id, organization_id=actor.organization_id,
                                           actor_id=actor.id, reason=request.ctx.body.reason, now=request.app.ctx.clock())
    return respond(referrals.present(referral))


@bp.patch("/admin/organizations/<organization_id:int>")
@openapi.summary("Set an organisation's services, stations covered and qualification documents (administrators: a district its own)")
@openapi.secured("token")
@body(OrganizationPatch)
async def update_org(request: Request, organization_id: int):
    actor = await authenticate(request)
    await access_organization(actor, organization_id, purpose="edit")
    await check_stations_overseen(actor, request.ctx.body.station_ids or [])
    async with atomic():
        org = await referrals.update_organization(organization_id=organization_id,
                                                  changes=request.ctx.body.model_dump(exclude_none=True))
    return respond({"id": org.id, "name": org.name, "services": org.services, "station_ids": org.station_ids,
                    "qualifications": org.qualifications})
