import json

from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.people.schemas import (
    CategoriesIn, IdentityCaseList, IdentityCaseOut, IdentityCaseQuery, ResidentIn, ResidentListQuery, ResidentOut,
    ResidentPage, SettleCaseIn, ImportQuery, ImportReport, ExitIn, ExitOut,
)
from server import idempotency
from server.access import access_household_for_plate, access_identity_case, access_resident, require_worker_station
from server.auth import authenticate
from server.http import XLSX, XLSX_RESPONSE, body, dumps, query, respond, returns, xlsx_headers
from server.errors import ValidationFailed
from server.lifecycle import exits
from server.people import accounts, imports, residents
from server.transactions import atomic
from server.workflow import plates

bp = Blueprint("residents", url_prefix="/api/v1/residents")


@bp.get("")
@openapi.summary("My station's households (workers), masked")
@openapi.secured("token")
@query(ResidentListQuery)
@returns(ResidentPage)
async def list_residents(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    q = request.ctx.query
    rows, total = await residents.list_for_station(
        station_id=station_id, category=q.category, name=q.name, limit=q.limit, offset=q.offset, declared=q.declared
    )
    cipher = request.app.ctx.cipher
    return respond({"items": [residents.present(r, cipher=cipher) for r in rows], "total": total})


@bp.post("")
@openapi.summary("Register a household on someone's behalf (workers). With an Idempotency-Key header, "
                 "a retry (a save sent again on a weak signal) replays the answer instead of a second household")
@openapi.secured("token")
@openapi.parameter("Idempotency-Key", str, location="header", required=False)
@body(ResidentIn)
@returns(ResidentOut, status=201)
async def create_resident(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    cipher = request.app.ctx.cipher
    sent = request.headers.get("idempotency-key")
    key = None if sent is None else idempotency.check_key(sent)
    digest = idempotency.request_hash(method="POST", path=request.path, body=request.body)
    async with atomic():
        if key is not None:
            await idempotency.hold(user_id=actor.id)
            previous = await idempotency.replay(user_id=actor.id, key=key, digest=digest)
            if previous is not None:
                return respond(previous.response, status=previous.status_code, headers={"Idempotent-Replayed": "true"})
        resident = await residents.create_on_behalf(
            worker_id=actor.id, station_id=station_id, data=request.ctx.body.model_dump(), cipher=cipher,
            now=request.app.ctx.clock(),
        )
        out = json.loads(dumps(residents.present(resident, cipher=cipher)))
        if key is not None:
            await idempotency.remember(user_id=actor.id, key=key, digest=digest, status=201, response=out)
    return respond(out, status=201)


@bp.get("/imports/template")
@openapi.summary("The roster template (xlsx) for taking in a station's households (台账导入)")
@openapi.secured("token")
@openapi.response(200, XLSX_RESPONSE)
async def import_template(request: Request):
    actor = await authenticate(request)
    actor.require("worker", "admin")
    return raw(imports.template(), content_type=XLSX, headers=xlsx_headers("居民台账导入模板.xlsx"))


@bp.post("/imports")
@openapi.summary("Take in households from a roster (xlsx, multipart field 'file'): ?dry_run=true checks every row "
                 "and changes nothing; a real run imports all rows in one transaction, or nothing while any row is "
                 "wrong (422 IMPORT_ROWS_INVALID with the report). Workers: their station's rows; admins: any")
@openapi.secured("token")
@openapi.body({"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}})
@query(ImportQuery)
@returns(ImportReport)
async def import_residents(request: Request):
    actor = await authenticate(request)
    actor.require("worker", "admin")
    station_id = None if actor.has("admin") else actor.station_id
    file = request.files.get("file") if request.files else None
    if file is None or not file.body:
        raise ValidationFailed("请上传 Excel 文件", details=[{"field": "file", "type": "missing"}])
    ctx = request.app.ctx
    report = await imports.run(data=file.body, actor_id=actor.id, station_id=station_id, cipher=ctx.cipher,
                               now=ctx.clock(), dry_run=request.ctx.query.dry_run)
    return respond(report)


@bp.get("/identity-cases")
@openapi.summary("ID numbers named by two profiles, for my station to settle or follow (workers): the "
                 "holder's and the newcomer's profiles side by side, masked")
@openapi.secured("token")
@query(IdentityCaseQuery)
@returns(IdentityCaseList)
async def list_identity_cases(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    cases = await residents.cases_for_station(station_id=station_id, status=request.ctx.query.status)
    cipher = request.app.ctx.cipher
    return respond({"items": [residents.present_case(c, holder, cipher=cipher) for c, holder in cases]})


@bp.post("/identity-cases/<case_id:int>/settle")
@openapi.summary("Say whose ID number it is (workers of the holder's station); audited")
@openapi.secured("token")
@body(SettleCaseIn)
@returns(IdentityCaseOut)
async def settle_identity_case(request: Request, case_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    cipher = request.app.ctx.cipher
    async with atomic():
        case, holder = await access_identity_case(actor, case_id, purpose="settle")
        case, holder = await residents.settle_case(case=case, holder=holder, worker_id=actor.id, outcome=b.outcome,
                                                   note=b.note, cipher=cipher, now=request.app.ctx.clock())
    return respond(residents.present_case(case, holder, cipher=cipher))


@bp.get("/<resident_id:int>")
@openapi.summary("A household profile, masked")
@openapi.secured("token")
@returns(ResidentOut)
async def get_resident(request: Request, resident_id: int):
    actor = await authenticate(request)
    resident = await access_resident(actor, resident_id)
    return respond(residents.present(resident, cipher=request.app.ctx.cipher))


@bp.put("/<resident_id:int>")
@openapi.summary("Edit a household profile of my station (workers)")
@openapi.secured("token")
@body(ResidentIn)
@returns(ResidentOut)
async def update_resident(request: Request, resident_id: int):
    actor = await authenticate(request)
    cipher = request.app.ctx.cipher
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="edit")
        resident = await residents.update_on_behalf(
            worker_id=actor.id, station_id=actor.station_id, resident=resident,
            data=request.ctx.body.model_dump(), cipher=cipher, now=request.app.ctx.clock(),
        )
    return respond(residents.present(resident, cipher=cipher))


@bp.put("/<resident_id:int>/categories")
@openapi.summary("Set a household's assistance categories as checked (workers of its station); settles "
                 "what the household declared; audited")
@openapi.secured("token")
@body(CategoriesIn)
@returns(ResidentOut)
async def check_categories(request: Request, resident_id: int):
    actor = await authenticate(request)
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="edit")
        resident = await residents.check_categories(worker_id=actor.id, resident=resident,
                                                    categories=request.ctx.body.categories)
    return respond(residents.present(resident, cipher=request.app.ctx.cipher))


def _exit_out(resident) -> dict:
    return {"id": resident.id, "status": resident.status, "exit_reason": resident.exit_reason,
            "exit_note": resident.exit_note, "exited_at": resident.exited_at}


@bp.post("/<resident_id:int>/exit")
@openapi.summary("End a household's assistance (退出) with a reason: what it had going ends, everyone told; its "
                 "history stays and it leaves the station's queues, rankings and recommendations (workers of the station)")
@openapi.secured("token")
@body(ExitIn)
@returns(ExitOut)
async def exit_household(request: Request, resident_id: int):
    actor = await authenticate(request)
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="edit")
        resident = await exits.exit_household(resident=resident, actor=actor, reason=request.ctx.body.reason,
                                              note=request.ctx.body.note, now=request.app.ctx.clock())
    return respond(_exit_out(resident))


@bp.post("/<resident_id:int>/reinstate")
@openapi.summary("Bring an exited household back (恢复救助); its re-assessment is due at once (workers of the station)")
@openapi.secured("token")
@returns(ExitOut)
async def reinstate(request: Request, resident_id: int):
    actor = await authenticate(request)
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="reinstate")
        resident = await exits.reinstate(resident=resident, actor=actor, now=request.app.ctx.clock())
    return respond(_exit_out(resident))


@bp.get("/<resident_id:int>/unmasked")
@openapi.summary("Full personal data: the person or their station's workers; audited")
@openapi.secured("token")
@returns(ResidentOut)
async def get_resident_unmasked(request: Request, resident_id: int):
    actor = await authenticate(request)
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="unmask")
        out = await residents.read_unmasked(actor_id=actor.id, resident=resident, cipher=request.app.ctx.cipher)
    return respond(out, headers={"Cache-Control": "no-store"})


@bp.get("/<resident_id:int>/qr-plate")
@openapi.summary("The household's QR plate (wxacode PNG) for check-in, to print by the door (workers)")
@openapi.secured("token")
@openapi.response(200, {"image/png": {"type": "string", "format": "binary"}})
async def qr_plate(request: Request, resident_id: int):
    actor = await authenticate(request)
    resident = await access_household_for_plate(actor, resident_id)
    ctx = request.app.ctx
    scene = plates.scene_for(resident_id=resident.id, key=ctx.cipher.derived_key("plate"))
    png = await accounts.wxacode(wechat=ctx.wechat, scene=scene)
    return raw(png, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"})
