from sanic import Blueprint, Request
from sanic.response import text
from sanic_ext import openapi

from handlers.points.credit_schemas import ConsentIn, ConsentOut, EnvelopeOut, TransferIn
from handlers.points.schemas import CreditBatchOut
from server.auth import authenticate
from server.errors import NotFound
from server.http import body, respond, returns
from server.points import consent, credit
from server.reports import credit_handoff
from server.transactions import atomic

bp = Blueprint("credit_admin", url_prefix="/api/v1/admin/credit-exports")
consent_bp = Blueprint("credit_consent", url_prefix="/api/v1/me/credit-consent")


@bp.post("")
@openapi.summary("Export new 海贝分 credit increments of consenting volunteers as the next numbered batch (idempotent)")
@openapi.secured("token")
@returns(CreditBatchOut, status=201)
async def create_batch(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        batch = await credit.export(actor_id=actor.id, now=request.app.ctx.clock())
    if batch is None:
        return respond({"batch_id": None, "count": 0, "increments": []}, status=200)
    return respond({"batch_id": batch.id, "count": batch.count, "increments": await credit.rows(batch_id=batch.id)}, status=201)


@bp.get("/<batch_id:int>")
@openapi.summary("A batch as JSON, or CSV with ?format=csv (ID numbers masked)")
@openapi.secured("token")
@returns(CreditBatchOut)
async def get_batch(request: Request, batch_id: int):
    actor = await authenticate(request)
    actor.require("admin")
    data = await credit.rows(batch_id=batch_id)
    if not data:
        raise NotFound("批次不存在")
    if request.args.get("format") == "csv":
        return text(credit.to_csv(data), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="haibei-credit-{batch_id}.csv"'})
    return respond({"batch_id": batch_id, "count": len(data), "increments": data})


@bp.post("/<batch_id:int>/transfer")
@openapi.summary("The batch for 信用威海 (names, full ID numbers) of volunteers whose consent is in force, encrypted "
                 "with 信用威海's RSA public key or a password; audited")
@openapi.secured("token")
@body(TransferIn)
@returns(EnvelopeOut)
async def transfer_batch(request: Request, batch_id: int):
    actor = await authenticate(request)
    actor.require("admin")
    b, ctx = request.ctx.body, request.app.ctx
    to = credit_handoff.recipient(public_key_pem=b.public_key_pem, password=b.password,
                                  configured_key_file=ctx.settings.credit_receiver_key_file)
    async with atomic():
        envelope = await credit_handoff.transfer(batch_id=batch_id, to=to, cipher=ctx.cipher, actor_id=actor.id)
    return respond(envelope, headers={"Cache-Control": "no-store",
                                      "Content-Disposition": f'attachment; filename="haibei-credit-{batch_id}.enc.json"'})


@consent_bp.get("")
@openapi.summary("The consent text for the 海贝分 link to 信用威海, its version, and where the caller stands")
@openapi.secured("token")
@returns(ConsentOut)
async def get_consent(request: Request):
    actor = await authenticate(request)
    return respond(await consent.state_of(user_id=actor.id, volunteer=actor.volunteer))


@consent_bp.post("")
@openapi.summary("Consent to the text of the given version (approved volunteers); an outdated version is refused")
@openapi.secured("token")
@body(ConsentIn)
@returns(ConsentOut)
async def give_consent(request: Request):
    actor = await authenticate(request)
    consent.check_consent(volunteer=actor.volunteer, version=request.ctx.body.version)
    async with atomic():
        await consent.consent(user_id=actor.id, now=request.app.ctx.clock())
    return respond(await consent.state_of(user_id=actor.id, volunteer=actor.volunteer))


@consent_bp.delete("")
@openapi.summary("Withdraw consent: nothing more of the caller's goes to 信用威海")
@openapi.secured("token")
@returns(ConsentOut)
async def withdraw_consent(request: Request):
    actor = await authenticate(request)
    async with atomic():
        await consent.withdraw(user_id=actor.id, now=request.app.ctx.clock())
    return respond(await consent.state_of(user_id=actor.id, volunteer=actor.volunteer))
