from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.care.schemas import ProjectIn, ProjectStepIn
from server.auth import authenticate
from server.care import projects
from server.http import body, respond
from server.transactions import atomic

bp = Blueprint("projects", url_prefix="/api/v1/admin/projects")


async def _admin(request: Request):
    actor = await authenticate(request)
    actor.require("admin")
    return actor


@bp.post("")
@openapi.summary("Propose a purchased-service project (admins)")
@openapi.secured("token")
@body(ProjectIn)
async def create(request: Request):
    actor = await _admin(request)
    ctx = request.app.ctx
    async with atomic():
        project = await projects.create(data=request.ctx.body.model_dump(), actor_id=actor.id, now=ctx.clock())
    return respond(await projects.present(project, grace_minutes=ctx.settings.checkin_grace_minutes), status=201)


@bp.get("/<project_id:int>")
@openapi.summary("A project with live KPIs and every lifecycle step")
@openapi.secured("token")
async def get(request: Request, project_id: int):
    await _admin(request)
    project = await projects.get(project_id=project_id)
    return respond(await projects.present(project, grace_minutes=request.app.ctx.settings.checkin_grace_minutes))


@bp.post("/<project_id:int>/steps")
@openapi.summary("立项 / 实施 / 验收: move the project on, with a note and documents; KPIs recorded")
@openapi.secured("token")
@body(ProjectStepIn)
async def step(request: Request, project_id: int):
    actor = await _admin(request)
    b = request.ctx.body
    ctx = request.app.ctx
    async with atomic():
        project = await projects.step(project_id=project_id, to=b.to, actor_id=actor.id, note=b.note,
                                      documents=b.documents, grace_minutes=ctx.settings.checkin_grace_minutes,
                                      now=ctx.clock())
    return respond(await projects.present(project, grace_minutes=ctx.settings.checkin_grace_minutes))
