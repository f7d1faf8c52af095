"""Purchased-service projects (the city's administrators, and each district's for its own): proposed, listed, moved through 立项/实施/验收 with their
targets, paid against the budget, and the 验收 ledger with the KPI evidence (server/care/projects.py)."""

from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.care.schemas import PaymentIn, ProjectIn, ProjectsQuery, ProjectStepIn
from server.access import access_project, project_district, require_admin
from server.auth import authenticate
from server.care import projects
from server.http import XLSX, XLSX_RESPONSE, body, query, respond, xlsx_headers
from server.reports import excel
from server.transactions import atomic

bp = Blueprint("projects", url_prefix="/api/v1/admin/projects")


async def _admin(request: Request):
    """A city administrator, or a district's for its own projects (server/access.py)."""
    actor = await authenticate(request)
    require_admin(actor)
    return actor


@bp.post("")
@openapi.summary("Propose a purchased-service project (admins)")
@openapi.secured("token")
@body(ProjectIn)
async def create(request: Request):
    actor = await _admin(request)
    ctx = request.app.ctx
    data = request.ctx.body.model_dump()
    data["district_id"] = await project_district(actor, asked=data["district_id"], organization_id=data["organization_id"],
                                                 station_ids=data["station_ids"])
    async with atomic():
        project = await projects.create(data=data, actor_id=actor.id, now=ctx.clock())
    return respond(await projects.present(project, grace_minutes=ctx.settings.checkin_grace_minutes), status=201)


@bp.get("")
@openapi.summary("Projects, the newest first, by status, organisation or station (admins)")
@openapi.secured("token")
@query(ProjectsQuery)
async def list_projects(request: Request):
    actor = await _admin(request)
    q = request.ctx.query
    rows = await projects.list_projects(offset=q.offset, limit=q.limit, status=q.status,
                                        organization_id=q.organization_id, station_id=q.station_id,
                                        district_id=require_admin(actor))
    return respond({"items": [projects.present_brief(p) for p in rows]})


@bp.get("/<project_id:int>")
@openapi.summary("A project with live KPIs and every lifecycle step")
@openapi.secured("token")
async def get(request: Request, project_id: int):
    project = await access_project(await _admin(request), project_id)
    return respond(await projects.present(project, grace_minutes=request.app.ctx.settings.checkin_grace_minutes))


@bp.post("/<project_id:int>/steps")
@openapi.summary("立项 / 实施 / 验收: move the project on, with a note and documents; KPIs recorded")
@openapi.secured("token")
@body(ProjectStepIn)
async def step(request: Request, project_id: int):
    actor = await _admin(request)
    await access_project(actor, project_id)
    b = request.ctx.body
    ctx = request.app.ctx
    async with atomic():
        project = await projects.step(project_id=project_id, to=b.to, actor_id=actor.id, note=b.note,
                                      documents=b.documents, grace_minutes=ctx.settings.checkin_grace_minutes,
                                      now=ctx.clock(), targets=b.targets)
    return respond(await projects.present(project, grace_minutes=ctx.settings.checkin_grace_minutes))


@bp.post("/<project_id:int>/payments")
@openapi.summary("拨付: a payment against the budget (advances before 验收, the final one after it passed)")
@openapi.secured("token")
@body(PaymentIn)
async def pay(request: Request, project_id: int):
    actor = await _admin(request)
    await access_project(actor, project_id)
    b = request.ctx.body
    async with atomic():
        payment = await projects.pay(project_id=project_id, kind=b.kind, amount_fen=b.amount_fen, note=b.note,
                                     actor_id=actor.id, now=request.app.ctx.clock())
    return respond(projects.present_payment(payment), status=201)


@bp.get("/<project_id:int>/acceptance")
@openapi.summary("验收台账 as Excel: KPIs against targets, each counted task, steps and payments")
@openapi.secured("token")
@openapi.response(200, XLSX_RESPONSE)
async def acceptance(request: Request, project_id: int):
    project = await access_project(await _admin(request), project_id)
    ctx = request.app.ctx
    data = await excel.acceptance(project=project, grace_minutes=ctx.settings.checkin_grace_minutes, now=ctx.clock())
    return raw(data, content_type=XLSX, headers=xlsx_headers(f"haibei-project-{project.id}-acceptance.xlsx"))
