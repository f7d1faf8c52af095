"""部门联动 and 邻里互助 (任务五): departments kept by administrators, tasks referred to them and their
answers recorded by the station; neighbour helpers registered for a household and tasks handed to
them (server/workflow/departments.py, neighbours.py)."""

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.workflow.schemas import (
    DepartmentAnswerIn,
    DepartmentIn,
    DepartmentListQuery,
    DepartmentPatch,
    DepartmentReferIn,
    DepartmentReferralQuery,
    NeighbourDispatchIn,
    NeighbourTieIn,
)
from server import labels
from server.access import (
    access_department,
    access_department_referral,
    access_neighbour_household,
    access_task,
    is_worker_of,
    own_district,
    require_admin,
    require_worker_station,
)
from server.auth import authenticate
from server.http import body, query, respond
from server.reference import catalogue
from server.transactions import atomic
from server.workflow import departments, neighbours

bp = Blueprint("linkage", url_prefix="/api/v1")


# --- departments (administrators) ------------------------------------------------------------------


@bp.get("/admin/departments")
@openapi.summary("部门联动: the departments tasks can be referred to, with contact and SLA (administrators: a district its own and the city's)")
@openapi.secured("token")
@query(DepartmentListQuery)
async def list_departments(request: Request):
    actor = await authenticate(request)
    names = await catalogue.service_names()
    rows = await departments.list_departments(active=request.ctx.query.active, district_id=require_admin(actor))
    return respond([departments.present_department(d, service_names=names) for d in rows])


@bp.post("/admin/departments")
@openapi.summary("Add a department: name, district (none: the city), contact, SLA hours, services it handles (admins)")
@openapi.secured("token")
@body(DepartmentIn)
async def create_department(request: Request):
    actor = await authenticate(request)
    data = request.ctx.body.model_dump()
    # A district keeps its own departments; the municipal ones are the city's.
    data["district_id"] = await own_district(actor, data.get("district_id"))
    async with atomic():
        department = await departments.create_department(data=data, now=request.app.ctx.clock())
    return respond(departments.present_department(department, service_names=await catalogue.service_names()),
                   status=201)


@bp.patch("/admin/departments/<department_id:int>")
@openapi.summary("Change a department's details, services, SLA or whether it takes referrals (admins)")
@openapi.secured("token")
@body(DepartmentPatch)
async def update_department(request: Request, department_id: int):
    actor = await authenticate(request)
    await access_department(actor, department_id, purpose="edit")
    changes = request.ctx.body.model_dump(exclude_unset=True)
    if "district_id" in changes:
        changes["district_id"] = await own_district(actor, changes["district_id"])
    async with atomic():
        department = await departments.update_department(
            department_id=department_id, changes=changes, now=request.app.ctx.clock())
    return respond(departments.present_department(department, service_names=await catalogue.service_names()))


# --- referring to a department and recording its answer ----------------------------------------------


@bp.post("/tasks/<task_id:int>/department-referral")
@openapi.summary("部门联动: refer an open, unclaimed task to a department that handles its service (workers of the station)")
@openapi.secured("token")
@body(DepartmentReferIn)
async def refer(request: Request, task_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        referral = await departments.refer(task=task, department_id=b.department_id, actor_id=actor.id, note=b.note,
                                           now=request.app.ctx.clock())
    return respond(departments.present(await departments.load(referral_id=referral.id), now=request.app.ctx.clock()),
                   status=201)


@bp.post("/department-referrals/<referral_id:int>/outcome")
@openapi.summary("Record the department's answer: served (when; the task is done without a volunteer) or returned (the task is open again)")
@openapi.secured("token")
@body(DepartmentAnswerIn)
async def answer(request: Request, referral_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        referral = await access_department_referral(actor, referral_id, purpose="answer")
        await departments.record_answer(referral_id=referral.id, outcome=b.outcome, note=b.note,
                                        served_at=b.served_at, actor_id=actor.id, now=request.app.ctx.clock())
    return respond(departments.present(await departments.load(referral_id=referral_id), now=request.app.ctx.clock()))


@bp.get("/department-referrals")
@openapi.summary("My station's department referrals, newest first: department, contact, due time, status (workers)")
@openapi.secured("token")
@query(DepartmentReferralQuery)
async def list_referrals(request: Request):
    actor = await authenticate(request)
    station_id = require_worker_station(actor)
    now = request.app.ctx.clock()
    rows = await departments.for_station(station_id=station_id, status=request.ctx.query.status)
    return respond([departments.present(r, now=now) for r in rows])


# --- neighbour helpers -------------------------------------------------------------------------------


@bp.get("/residents/<resident_id:int>/neighbour-helpers")
@openapi.summary("邻里互助: a household's neighbour helpers (the household, its station's workers, admins)")
@openapi.secured("token")
async def list_helpers(request: Request, resident_id: int):
    actor = await authenticate(request)
    resident = await access_neighbour_household(actor, resident_id)
    worker = is_worker_of(actor, resident.station_id)
    return respond([neighbours.present(t, full_names=worker) for t in await neighbours.helpers_of(resident_id=resident.id)])


@bp.post("/residents/<resident_id:int>/neighbour-helpers")
@openapi.summary("Register an approved volunteer of the station as the household's neighbour helper (workers of the station)")
@openapi.secured("token")
@body(NeighbourTieIn)
async def register_helper(request: Request, resident_id: int):
    actor = await authenticate(request)
    b = request.ctx.body
    async with atomic():
        resident = await access_neighbour_household(actor, resident_id, purpose="register")
        tie = await neighbours.register(resident=resident, volunteer_id=b.volunteer_id, note=b.note, actor_id=actor.id,
                                        now=request.app.ctx.clock())
    await tie.fetch_related("volunteer")
    return respond(neighbours.present(tie, full_names=True), status=201)


@bp.delete("/residents/<resident_id:int>/neighbour-helpers/<volunteer_id:int>")
@openapi.summary("End a neighbour helper's tie to the household; claims already made stay (workers of the station)")
@openapi.secured("token")
async def end_helper(request: Request, resident_id: int, volunteer_id: int):
    actor = await authenticate(request)
    async with atomic():
        resident = await access_neighbour_household(actor, resident_id, purpose="end")
        tie = await neighbours.end(resident=resident, volunteer_id=volunteer_id, actor_id=actor.id,
                                   now=request.app.ctx.clock())
    await tie.fetch_related("volunteer")
    return respond(neighbours.present(tie, full_names=True))


@bp.post("/tasks/<task_id:int>/neighbour")
@openapi.summary("邻里互助: hand a slot of the household's open task to one of its neighbour helpers, as an assigned claim (workers of the station)")
@openapi.secured("token")
@body(NeighbourDispatchIn)
async def dispatch_to_neighbour(request: Request, task_id: int):
    actor = await authenticate(request)
    async with atomic():
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        claim = await neighbours.dispatch(task=task, volunteer_id=request.ctx.body.volunteer_id, actor_id=actor.id,
                                          now=request.app.ctx.clock())
    return respond({"task_id": task.id, "claim_id": claim.id, "volunteer_id": claim.volunteer_id,
                    "task_status": task.status, "task_status_label": labels.label("task_status", task.status),
                    "delivery_way": task.delivery_way,
                    "delivery_way_label": labels.label("delivery_way", task.delivery_way)}, status=201)
