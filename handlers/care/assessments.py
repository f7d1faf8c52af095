from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.care.schemas import (
    AssessmentIn, AssessmentOut, QuestionnaireIn, RankingQuery, RecommendedNeedIn, ScopeRankingQuery, WorksheetQuery,
)
from handlers.common import NeedOut
from server.access import ADMINS, access_district, access_resident, access_station_ranking, sees_visit_notes
from server.auth import authenticate
from server.care import assessments, reassessment
from server.http import XLSX, XLSX_RESPONSE, body, query, respond, returns, xlsx_headers
from server.reports import worksheets
from server.transactions import atomic
from server.workflow import content, needs

bp = Blueprint("assessments", url_prefix="/api/v1")


@bp.get("/assessment/questionnaire")
@openapi.summary("The questionnaire in force (workers and admins)")
@openapi.secured("token")
async def questionnaire(request: Request):
    actor = await authenticate(request)
    actor.require("worker", *ADMINS)
    return respond(await assessments.current())


@bp.put("/admin/questionnaire")
@openapi.summary("Publish a new questionnaire version (admins)")
@openapi.secured("token")
@body(QuestionnaireIn)
async def publish(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    async with atomic():
        row = await assessments.publish(spec=request.ctx.body.model_dump(exclude_none=True), actor_id=actor.id)
    return respond(row.spec, status=201)


@bp.post("/residents/<resident_id:int>/assessments")
@openapi.summary("Record a home visit (入户调查) and score it (workers of the station)")
@openapi.secured("token")
@body(AssessmentIn)
@returns(AssessmentOut, status=201)
async def create(request: Request, resident_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    cipher = request.app.ctx.cipher
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="edit")
        row = await assessments.record(resident=resident, answers=b.answers, visited_at=b.visited_at,
                                       visit_notes=b.visit_notes, assessor_id=actor.id, cipher=cipher,
                                       now=request.app.ctx.clock())
    return respond(assessments.present(row, cipher=cipher), status=201)


@bp.get("/residents/<resident_id:int>/assessments")
@openapi.summary("A household's assessments, newest first (workers of the station; admins without notes)")
@openapi.secured("token")
@openapi.response(200, {"application/json": list[AssessmentOut]})
async def history(request: Request, resident_id: int):
    actor = await authenticate(request)
    actor.require("worker", *ADMINS)
    async with atomic():
        resident = await access_resident(actor, resident_id)
        rows = await assessments.history_read(resident=resident, with_notes=sees_visit_notes(actor, resident),
                                              actor_id=actor.id, cipher=request.app.ctx.cipher)
    return respond(rows, headers={"Cache-Control": "no-store"})


@bp.get("/stations/<station_id:int>/reassessments")
@openapi.summary("动态管理: the station's households due for re-assessment (overdue, or due within the week) and "
                 "those never assessed (its workers, administrators)")
@openapi.secured("token")
async def reassessments_due(request: Request, station_id: int):
    actor = await authenticate(request)
    await access_station_ranking(actor, station_id)
    return respond(await reassessment.due_list(station_id=station_id, now=request.app.ctx.clock()))


@bp.get("/stations/<station_id:int>/ranking")
@openapi.summary("困难指标分类排名: households by latest assessment, overall or within one dimension")
@openapi.secured("token")
@query(RankingQuery)
async def ranking(request: Request, station_id: int):
    actor = await authenticate(request)
    await access_station_ranking(actor, station_id)
    return respond(await assessments.ranking(station_id=station_id, dimension=request.ctx.query.dimension,
                                             now=request.app.ctx.clock()))


@bp.get("/residents/<resident_id:int>/visit-worksheet")
@openapi.summary("Printable 入户调查表 (A4 Excel): the questionnaire in force with the household's details and previous answers (workers of the station; ?unmasked=true audited)")
@openapi.secured("token")
@query(WorksheetQuery)
@openapi.response(200, XLSX_RESPONSE)
async def visit_worksheet(request: Request, resident_id: int):
    actor = await authenticate(request)
    resident = await access_resident(actor, resident_id, purpose="edit")
    unmasked = request.ctx.query.unmasked
    ctx = request.app.ctx
    data = await worksheets.visit_worksheet(resident=resident, unmasked=unmasked, cipher=ctx.cipher, now=ctx.clock(),
                                            actor_id=actor.id)
    return raw(data, content_type=XLSX, headers=xlsx_headers(f"visit-{resident.id}.xlsx"))


@bp.get("/districts/<district_id:int>/ranking")
@openapi.summary("困难指标分类排名 for a district (the city's administrators, the district's own): its stations compared, and its most difficult households")
@openapi.secured("token")
@query(ScopeRankingQuery)
async def district_ranking(request: Request, district_id: int):
    await access_district(await authenticate(request), district_id)
    q = request.ctx.query
    return respond(await assessments.ranking_across(district_id=district_id, dimension=q.dimension, limit=q.limit))


@bp.get("/ranking")
@openapi.summary("困难指标分类排名 for the whole city (admins): every station compared, and the most difficult households")
@openapi.secured("token")
@query(ScopeRankingQuery)
async def city_ranking(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    q = request.ctx.query
    return respond(await assessments.ranking_across(district_id=None, dimension=q.dimension, limit=q.limit))


@bp.get("/residents/<resident_id:int>/recommendations")
@openapi.summary("Services the rules recommend for a household, with the rules that fired")
@openapi.secured("token")
async def recommendations(request: Request, resident_id: int):
    actor = await authenticate(request)
    resident = await access_resident(actor, resident_id, purpose="edit")
    return respond(await assessments.recommendations(resident=resident))


@bp.post("/residents/<resident_id:int>/recommendations/needs")
@openapi.summary("Create a need from a recommendation in one step (主动发现, source=assessment)")
@openapi.secured("token")
@body(RecommendedNeedIn)
@returns(NeedOut, status=201)
async def need_from_recommendation(request: Request, resident_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    ctx = request.app.ctx
    screened = await content.screen(wechat=ctx.wechat, author=actor.user, text=b.description, now=ctx.clock(),
                                    field="description")
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="edit")
        need = await assessments.need_from_recommendation(actor=actor, resident=resident, rule=b.rule,
                                                          service_code=b.service_code, description=b.description,
                                                          cipher=ctx.cipher, now=ctx.clock(), screened=screened)
    need = await needs.load(need_id=need.id)
    return respond(needs.present(need, cipher=ctx.cipher), status=201)
