from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.care.schemas import PolicyIn, ReferralIn
from server.access import access_resident
from server.auth import authenticate
from server.care import policies
from server.http import body, respond
from server.transactions import atomic

bp = Blueprint("policies", url_prefix="/api/v1")


@bp.get("/policies")
@openapi.summary("The policy and charity-project catalogue in force (任务三); administrators also see those not yet begun or over")
@openapi.secured("token")
async def list_policies(request: Request):
    actor = await authenticate(request)
    found = await policies.listed(now=request.app.ctx.clock(), everything=actor.has("admin"))
    return respond([policies.present(p) for p in found])


@bp.post("/admin/policies")
@openapi.summary("Add a policy; eligibility rules that do not parse are refused")
@openapi.secured("token")
@body(PolicyIn)
async def create_policy(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        policy = await policies.save(policy_id=None, data=request.ctx.body.model_dump(), actor_id=actor.id)
    return respond(policies.present(policy), status=201)


@bp.put("/admin/policies/<policy_id:int>")
@openapi.summary("Edit a policy: a new version, the old one kept as a revision")
@openapi.secured("token")
@body(PolicyIn)
async def update_policy(request: Request, policy_id: int):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        policy = await policies.save(policy_id=policy_id, data=request.ctx.body.model_dump(), actor_id=actor.id)
    return respond(policies.present(policy))


@bp.get("/residents/<resident_id:int>/eligible-policies")
@openapi.summary("Policies a household appears to qualify for, each with the conditions that matched")
@openapi.secured("token")
async def eligible(request: Request, resident_id: int):
    actor = await authenticate(request)
    resident = await access_resident(actor, resident_id, purpose="edit")
    return respond(await policies.eligible(resident=resident, now=request.app.ctx.clock()))


@bp.post("/residents/<resident_id:int>/policy-referrals")
@openapi.summary("Record a referral of the household to a policy and its outcome")
@openapi.secured("token")
@body(ReferralIn)
async def refer(request: Request, resident_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="edit")
        row = await policies.refer(resident=resident, policy_id=b.policy_id, outcome=b.outcome, note=b.note,
                                   worker_id=actor.id)
    return respond({"id": row.id, "policy_id": row.policy_id, "policy_version": row.policy_version,
                    "outcome": row.outcome, "note": row.note}, status=201)
