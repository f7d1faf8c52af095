from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import RejectIn
from handlers.workflow.schemas import PairingIn, PairingListQuery
from server.access import access_need, access_pairing, pairing_ties, pairing_viewer
from server.auth import authenticate
from server.http import body, query, respond
from server.transactions import atomic
from server.workflow import pairings

bp = Blueprint("pairings", url_prefix="/api/v1/pairings")


@bp.post("")
@openapi.summary("结对帮扶: pair an accepted need's household with a volunteer or an organisation on a weekly schedule (workers of the station)")
@openapi.secured("token")
@body(PairingIn)
async def create(request: Request):
    actor = await authenticate(request)
    b = request.ctx.body
    ctx = request.app.ctx
    now = ctx.clock()
    async with atomic():
        need = await access_need(actor, b.need_id, purpose="manage")
        pairing = await pairings.create(actor=actor, need=need, data=b.model_dump(), now=now)
    # The first week's tasks at once; later ones come from the jobs runner.
    await pairings.generate(now=now, cipher=ctx.cipher, sla_hours=ctx.settings.referral_sla_hours,
                            pairing_id=pairing.id)
    return respond(await pairings.present(pairing, viewer="worker", now=now), status=201)


@bp.get("")
@openapi.summary("My pairings: of my station (workers), mine (volunteers), my organisation's (org staff), my household's")
@openapi.secured("token")
@query(PairingListQuery)
async def list_pairings(request: Request):
    actor = await authenticate(request)
    now = request.app.ctx.clock()
    ties = await pairing_ties(actor)
    rows = await pairings.list_for(actor=actor, volunteer_ids=ties.volunteer_ids, resident_ids=ties.resident_ids,
                                   status=request.ctx.query.status)
    return respond([await pairings.present(p, viewer=pairing_viewer(actor, p, ties), now=now) for p in rows])


@bp.get("/<pairing_id:int>")
@openapi.summary("One pairing with its next generated tasks")
@openapi.secured("token")
async def get(request: Request, pairing_id: int):
    actor = await authenticate(request)
    pairing, viewer = await access_pairing(actor, pairing_id)
    return respond(await pairings.present(pairing, viewer=viewer, now=request.app.ctx.clock()))


@bp.post("/<pairing_id:int>/end")
@openapi.summary("End a pairing (the station, the volunteer or the organisation): future tasks not under way are cancelled")
@openapi.secured("token")
@body(RejectIn)
async def end(request: Request, pairing_id: int):
    actor = await authenticate(request)
    now = request.app.ctx.clock()
    async with atomic():
        pairing, viewer = await access_pairing(actor, pairing_id, purpose="end")
        pairing = await pairings.end(pairing=pairing, actor_id=actor.id, role=viewer, reason=request.ctx.body.reason,
                                     now=now)
    return respond(await pairings.present(pairing, viewer=viewer, now=now))
