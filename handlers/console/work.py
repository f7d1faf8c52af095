"""Console pages for a station's daily work: needs (accept, reject, dispatch, report on behalf) and
the service records waiting to be confirmed, one by one or in batch.

Each action is the API's: the same access check (``server.access``: another station's need or
record is a 404), the same service in the same transaction, the same schema for what is typed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic_ext import openapi

from handlers.common import RejectIn
from handlers.console.common import (
    Form, FormInvalid, Refused, all_but, attempt, console, form_values, go, local, local_input, message, only, read_form,
    render,
)
from handlers.points.schemas import FulfilIn
from handlers.workflow.schemas import (
    ConfirmIn, DeliveryWayIn, DepartmentAnswerIn, DepartmentReferIn, FollowUpIn, NeedIn, NeedListQuery, NeighbourDispatchIn,
    PairingIn, TaskIn,
)
from handlers.workflow.tasks import confirm_records
from server import labels, ratelimit
from server.access import (
    access_department_referral, access_need, access_need_household, access_pairing, access_resident, access_task,
    access_upload,
)
from server.errors import DomainError, NotFound, ValidationFailed
from server.people import volunteers
from server.points import rewards
from server.reference import catalogue
from server.transactions import atomic
from server.workflow import content, departments, flows, needs, neighbours, pairings, records, referrals, tasks

bp = Blueprint("console_work", url_prefix="/console")

# What a finished action says on the page it leads to (``?ok=``): fixed texts, never echoed input.
DONE = {
    "accepted": "已受理。下一步:派发服务任务。",
    "rejected": "已驳回,居民会收到通知。",
    "dispatched": "任务已派发,附近的志愿者会收到通知。",
    "reported": "已代报需求,下一步:受理并派发。",
    "confirmed": "服务记录已确认,志愿者的海贝分已入账。",
    "record_rejected": "已退回服务记录,志愿者会收到通知。",
    "paired": "已建立结对帮扶,本周的服务任务已生成。",
    "followed_up": "回访已记录。",
    "pairing_ended": "已结束结对帮扶,未开始的服务任务已取消。",
    "delivery": "服务方式已修改,已记入需求动态。",
    "department_referred": "已转介部门,请联系部门并在其反馈后记录结果;超过部门承诺时限未反馈会提醒驿站。",
    "department_served": "已记录部门服务,任务完成。",
    "department_returned": "部门已退回,任务重新开放,可派给志愿者或另行转介。",
    "neighbour_assigned": "已指派邻里互助人,对方会收到通知。",
}


def _done(request: Request) -> str | None:
    return DONE.get(request.args.get("ok", ""))


# --- needs --------------------------------------------------------------------------------------

NEED_FILTERS = ("status", "urgency", "follow_up")


@bp.get("/needs")
@openapi.exclude()
@console("worker")
async def need_list(request: Request, actor):
    values = {k: request.args.get(k) for k in (*NEED_FILTERS, "cursor") if request.args.get(k)}
    try:
        q = read_form(NeedListQuery, values)
    except FormInvalid:
        q = NeedListQuery()
    rows, cursor = await needs.list_needs(actor=actor, status=q.status, service_code=None, urgency=q.urgency,
                                          created_from=None, created_to=None, follow_up=q.follow_up,
                                          cursor=q.cursor, limit=20)
    shown = [needs.present(n, cipher=request.app.ctx.cipher) for n in rows]
    filters = {k: v for k, v in values.items() if k != "cursor"}
    return render(request, "needs.html", title="需求", items=shown, cursor=cursor, filters=filters,
                  statuses=labels.NEED_STATUS, done=_done(request))


async def _need_page(request: Request, actor, need_id: int, *, status: int = 200, dispatch: Form | None = None,
                     reject: Form | None = None, pairing: Form | None = None,
                     follow: Form | None = None, linkage: dict[str, Form] | None = None) -> HTTPResponse:
    need = await access_need(actor, need_id)
    ctx = request.app.ctx
    now = ctx.clock()
    task_rows = await tasks.of_need(need=need)
    # 部门联动 and 邻里互助: what each task can still be handed to, and the answers still awaited.
    unclaimed = [t for t in task_rows if t["status"] == "open" and t["claimed_count"] == 0]
    free = [t for t in task_rows if t["status"] == "open" and t["claimed_count"] < t["volunteers_needed"]]
    suitable = {code: await departments.suitable(service_id=code, station_id=need.station_id)
                for code in {t["service_code"] for t in unclaimed}}
    start = need.window_start if need.window_start and need.window_start > now else now + timedelta(hours=2)
    end = need.window_end if need.window_end and need.window_end > start else start + timedelta(hours=1)
    defaults = {"title": need.service.name, "scheduled_start": local_input(start), "scheduled_end": local_input(end),
                "volunteers_needed": 1, "delivery_way": "volunteer"}
    return render(request, "need.html", status=status, title=f"需求 {need.id}",
                  need=needs.present(need, cipher=ctx.cipher), resident_name=need.resident.name,
                  events=await needs.timeline(need=need), tasks=task_rows, done=_done(request),
                  dispatch=dispatch or Form(defaults), reject=reject or Form(), pairing=pairing or Form(
                      {"starts_on": local(now, "%Y-%m-%d"), "minutes": "60", "start_time": "09:00"}),
                  volunteers=await volunteers.approved_at(station_id=need.station_id), weekdays=labels.WEEKDAYS,
                  follow=follow or Form(), follow_up_note=need.follow_up_note,
                  delivery_ways=list(labels.DELIVERY_WAY.items()),
                  unclaimed=unclaimed, free=free, departments=suitable,
                  awaited=[departments.present(r, now=now) for r in await departments.pending_of_need(need_id=need.id)],
                  helpers=await neighbours.helpers_of(resident_id=need.resident_id) if free else [],
                  linkage=linkage or {}, now_input=local_input(now))


@bp.get("/needs/<need_id:int>")
@openapi.exclude()
@console("worker")
async def need_page(request: Request, actor, need_id: int):
    return await _need_page(request, actor, need_id)


@bp.post("/needs/<need_id:int>/accept")
@openapi.exclude()
@console("worker")
async def need_accept(request: Request, actor, need_id: int):
    async with atomic():
        need = await access_need(actor, need_id, purpose="manage")
        await needs.accept(need=need, actor=actor, now=request.app.ctx.clock())
    return go(f"/console/needs/{need_id}?ok=accepted")


@bp.post("/needs/<need_id:int>/reject")
@openapi.exclude()
@console("worker")
async def need_reject(request: Request, actor, need_id: int):
    async def reject(form: RejectIn) -> None:
        need = await access_need(actor, need_id, purpose="manage")
        await flows.reject_need(need=need, actor=actor, reason=form.reason, now=request.app.ctx.clock())

    refused = await attempt(form_values(request), RejectIn, reject, refusal=only())
    if isinstance(refused, Refused):
        return await _need_page(request, actor, need_id, status=refused.status, reject=refused.form)
    return go(f"/console/needs/{need_id}?ok=rejected")


@bp.post("/needs/<need_id:int>/follow-up")
@openapi.exclude()
@console("worker")
async def need_follow_up(request: Request, actor, need_id: int):
    """Close a low rating's follow-up with what the station found and did."""
    async def close(form: FollowUpIn) -> None:
        need = await access_need(actor, need_id, purpose="manage")
        await needs.close_follow_up(need=need, actor=actor, note=form.note, now=request.app.ctx.clock())

    refused = await attempt(form_values(request), FollowUpIn, close, refusal=only())
    if isinstance(refused, Refused):
        return await _need_page(request, actor, need_id, status=refused.status, follow=refused.form)
    return go(f"/console/needs/{need_id}?ok=followed_up")


@bp.post("/needs/<need_id:int>/tasks")
@openapi.exclude()
@console("worker")
async def need_dispatch(request: Request, actor, need_id: int):
    ctx = request.app.ctx

    async def dispatch(form: TaskIn) -> None:
        need = await access_need(actor, need_id, purpose="manage")
        await tasks.create(need=need, actor_id=actor.id, data=form.model_dump(), cipher=ctx.cipher, now=ctx.clock())

    refused = await attempt(form_values(request), TaskIn, dispatch, local_times=("scheduled_start", "scheduled_end"),
                            refusal=only(ValidationFailed))
    if isinstance(refused, Refused):
        return await _need_page(request, actor, need_id, status=refused.status, dispatch=refused.form)
    return go(f"/console/needs/{need_id}?ok=dispatched")


@bp.post("/tasks/<task_id:int>/delivery-way")
@openapi.exclude()
@console("worker")
async def task_delivery_way(request: Request, actor, task_id: int):
    """服务方式, as ``PUT /api/v1/tasks/<id>/delivery-way``: the same check and service."""
    values = form_values(request)

    async def change(form: DeliveryWayIn):
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        return await tasks.set_delivery_way(task=task, way=form.delivery_way, actor_id=actor.id,
                                            now=request.app.ctx.clock())

    task = await attempt(values, DeliveryWayIn, change, refusal=only())
    if isinstance(task, Refused):
        return message(request, status=task.status, title="无法修改", text="请从选项中选择服务方式。")
    return go(f"/console/needs/{task.need_id}?ok=delivery")


# --- 部门联动 and 邻里互助 from the need's page ------------------------------------------------------


@bp.post("/tasks/<task_id:int>/department-referral")
@openapi.exclude()
@console("worker")
async def task_department_referral(request: Request, actor, task_id: int):
    """部门联动, as ``POST /api/v1/tasks/<id>/department-referral``: the same check and service."""
    task, _, _ = await access_task(actor, task_id, purpose="manage")
    now = request.app.ctx.clock()

    async def refer(form: DepartmentReferIn):
        return await departments.refer(task=task, department_id=form.department_id, actor_id=actor.id,
                                       note=form.note, now=now)

    referral = await attempt(form_values(request), DepartmentReferIn, refer, refusal=all_but(NotFound))
    if isinstance(referral, Refused):
        return await _need_page(request, actor, task.need_id, status=referral.status,
                                linkage={f"dept-{task_id}": referral.form})
    return go(f"/console/needs/{task.need_id}?ok=department_referred")


@bp.post("/department-referrals/<referral_id:int>/outcome")
@openapi.exclude()
@console("worker")
async def department_outcome(request: Request, actor, referral_id: int):
    """The department's answer, as ``POST /api/v1/department-referrals/<id>/outcome``."""
    await access_department_referral(actor, referral_id, purpose="answer")
    need_id = (await departments.load(referral_id=referral_id)).task.need_id
    now = request.app.ctx.clock()

    async def answer(form: DepartmentAnswerIn):
        return await departments.record_answer(referral_id=referral_id, outcome=form.outcome, note=form.note,
                                               served_at=form.served_at, actor_id=actor.id, now=now)

    referral = await attempt(form_values(request), DepartmentAnswerIn, answer, local_times=("served_at",),
                             refusal=all_but(NotFound))
    if isinstance(referral, Refused):
        return await _need_page(request, actor, need_id, status=referral.status,
                                linkage={f"outcome-{referral_id}": referral.form})
    return go(f"/console/needs/{need_id}?ok=department_{referral.status}")


@bp.post("/tasks/<task_id:int>/neighbour")
@openapi.exclude()
@console("worker")
async def task_neighbour(request: Request, actor, task_id: int):
    """邻里互助, as ``POST /api/v1/tasks/<id>/neighbour``: a slot for one of the household's helpers."""
    task, _, _ = await access_task(actor, task_id, purpose="manage")
    now = request.app.ctx.clock()

    async def assign(form: NeighbourDispatchIn):
        return await neighbours.dispatch(task=task, volunteer_id=form.volunteer_id, actor_id=actor.id, now=now)

    claim = await attempt(form_values(request), NeighbourDispatchIn, assign, refusal=all_but(NotFound))
    if isinstance(claim, Refused):
        return await _need_page(request, actor, task.need_id, status=claim.status,
                                linkage={f"neighbour-{task_id}": claim.form})
    return go(f"/console/needs/{task.need_id}?ok=neighbour_assigned")


# --- reporting on behalf (代报) -----------------------------------------------------------------

SOURCES = {k: v for k, v in labels.NEED_SOURCE.items() if k != "self"}


async def _report_page(request: Request, actor, resident_id: int, *, status: int = 200,
                       values: dict | None = None, errors: dict | None = None) -> HTTPResponse:
    resident = await access_resident(actor, resident_id, purpose="edit")
    # The services the household's district offers (its own standards, 任务五).
    services = await catalogue.offered_services(station_id=resident.station_id)
    return render(request, "need_new.html", status=status, title="代报需求", resident=resident,
                  services=services, sources=SOURCES, urgencies=labels.URGENCY,
                  values=values or {"source": "worker", "urgency": "normal"}, errors=errors or {})


@bp.get("/households/<resident_id:int>/report")
@openapi.exclude()
@console("worker")
async def report_form(request: Request, actor, resident_id: int):
    service = (request.args.get("service") or "")[:40]  # a recommended service, chosen already
    return await _report_page(request, actor, resident_id, values={"source": "assessment" if service else "worker",
                                                                   "urgency": "normal", "service_code": service})


@bp.post("/households/<resident_id:int>/report")
@openapi.exclude()
@console("worker")
async def report(request: Request, actor, resident_id: int):
    """A need reported for a household without a phone (代报, 机制一), as ``POST /api/v1/needs``
    with ``resident_id``: same limit, same screening, same service."""
    ctx = request.app.ctx

    async def read(values: dict[str, Any]) -> tuple[NeedIn, Any]:
        # The limit and WeChat's screening are called before the transaction opens, not inside it.
        form = read_form(NeedIn, {**values, "resident_id": resident_id}, local_times=("window_start", "window_end"))
        await ratelimit.hit(request, "need_report", user_id=actor.id)
        screened = await content.screen(wechat=ctx.wechat, author=actor.user, text=form.description,
                                        now=ctx.clock(), field="description")
        return form, screened

    async def create(checked: tuple[NeedIn, Any]):
        form, screened = checked
        resident, on_behalf = await access_need_household(actor, resident_id)
        return await needs.create(actor=actor, resident=resident, on_behalf=on_behalf, data=form.model_dump(),
                                  cipher=ctx.cipher, now=ctx.clock(), screened=screened)

    need = await attempt(form_values(request), read, create, fields=NeedIn)
    if isinstance(need, Refused):
        return await _report_page(request, actor, resident_id, status=need.status, values=need.form.values,
                                  errors=need.form.errors)
    return go(f"/console/needs/{need.id}?ok=reported")


# --- service records to confirm -----------------------------------------------------------------


async def _records_page(request: Request, actor, *, status: int = 200, errors: dict[int, dict] | None = None,
                        values: dict[int, dict] | None = None, results: list[dict] | None = None) -> HTTPResponse:
    ctx = request.app.ctx
    cursor = request.args.get("cursor")
    rows, next_cursor = await tasks.for_station(station_id=actor.station_id, status="submitted",
                                                cursor=int(cursor) if cursor and cursor.isdigit() else None, limit=20)
    items = await records.for_review(rows, cipher=ctx.cipher, now=ctx.clock())
    return render(request, "records.html", status=status, title="待确认服务记录", items=items,
                  cursor=next_cursor, errors=errors or {}, values=values or {}, results=results,
                  done=_done(request))


@bp.get("/records")
@openapi.exclude()
@console("worker")
async def record_list(request: Request, actor):
    return await _records_page(request, actor)


@bp.post("/records/<task_id:int>/confirm")
@openapi.exclude()
@console("worker")
async def record_confirm(request: Request, actor, task_id: int):
    ctx = request.app.ctx

    async def confirm(form: ConfirmIn) -> None:
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        await records.confirm(task=task, actor_id=actor.id, minutes=form.minutes, reason=form.reason,
                              settings=ctx.settings, now=ctx.clock())

    refused = await attempt(form_values(request), ConfirmIn, confirm)
    if isinstance(refused, Refused):
        return await _records_page(request, actor, status=refused.status, errors={task_id: refused.form.errors},
                                   values={task_id: refused.form.values})
    return go("/console/records?ok=confirmed")


@bp.post("/records/<task_id:int>/reject")
@openapi.exclude()
@console("worker")
async def record_reject(request: Request, actor, task_id: int):
    async def reject(form: RejectIn) -> None:
        task, _, _ = await access_task(actor, task_id, purpose="manage")
        await records.reject_record(task=task, actor_id=actor.id, reason=form.reason, now=request.app.ctx.clock())

    refused = await attempt(form_values(request), RejectIn, reject, refusal=only())
    if isinstance(refused, Refused):
        # The record's two forms share its row: the send-back form's fields are named reject_*.
        errors = {f"reject_{k}": v for k, v in refused.form.errors.items()}
        values = {f"reject_{k}": v for k, v in refused.form.values.items()}
        return await _records_page(request, actor, status=refused.status, errors={task_id: errors},
                                   values={task_id: values})
    return go("/console/records?ok=record_rejected")


@bp.post("/records/confirm")
@openapi.exclude()
@console("worker")
async def record_confirm_many(request: Request, actor):
    """Confirm the ticked records, each on its own (``POST /api/v1/tasks/confirm``): the page then
    lists what was confirmed and, for the others, why not (a short service wants its own reason)."""
    ids = [int(v) for v in form_values(request, lists=("ids",)).get("ids", []) if v.isdigit() and len(v) < 19]
    if not ids:
        return await _records_page(request, actor, status=422, results=[], errors={0: {"": "请先勾选要确认的服务记录"}})
    ctx = request.app.ctx
    results = await confirm_records(actor, ids[:100], minutes=None, settings=ctx.settings, now=ctx.clock())
    return await _records_page(request, actor, results=results)




# --- rewards pick-up ------------------------------------------------------------------------------


@bp.get("/rewards")
@openapi.exclude()
@console("worker")
async def pickup_page(request: Request, actor):
    return render(request, "pickup.html", title="奖品领取", found=None, code="", errors={})


@bp.post("/rewards/look-up")
@openapi.exclude()
@console("worker")
async def pickup_look_up(request: Request, actor):
    """The redemption behind a typed pick-up code, to check before handing anything over."""
    values = form_values(request)
    try:
        form = read_form(FulfilIn, values)
        found = await rewards.look_up(code=form.code, now=request.app.ctx.clock())
    except FormInvalid as exc:
        return render(request, "pickup.html", status=422, title="奖品领取", found=None, code=values.get("code", ""),
                      errors={"code": "兑换码为8位字母和数字"} if "code" in exc.errors else exc.errors)
    except NotFound as exc:
        return render(request, "pickup.html", status=404, title="奖品领取", found=None, code=values.get("code", ""),
                      errors={"code": exc.message})
    return render(request, "pickup.html", title="奖品领取", found=found, code=form.code.upper(), errors={})


@bp.post("/rewards/fulfil")
@openapi.exclude()
@console("worker")
async def pickup_fulfil(request: Request, actor):
    """Hand the reward over: ``POST /api/v1/redemptions/fulfil``'s service, once."""
    values = form_values(request)
    now = request.app.ctx.clock()
    try:
        form = read_form(FulfilIn, values)
        async with atomic():
            await rewards.fulfil(code=form.code, station_id=actor.station_id, worker_id=actor.id, now=now)
    except FormInvalid:
        return render(request, "pickup.html", status=422, title="奖品领取", found=None, code="",
                      errors={"code": "兑换码为8位字母和数字"})
    except DomainError as exc:
        if exc.status in (401, 403) or exc.status >= 500:
            raise
        found = None
        try:
            found = await rewards.look_up(code=values.get("code", ""), now=now)
        except NotFound:
            pass
        return render(request, "pickup.html", status=exc.status, title="奖品领取", found=found,
                      code=values.get("code", ""), errors={"code": exc.message})
    found = await rewards.look_up(code=form.code, now=now)
    return render(request, "pickup.html", title="奖品领取", found=found, code="", errors={},
                  done="已发放。")


# --- pairings (结对帮扶) and referrals (转介) --------------------------------------------------------


@bp.get("/pairings")
@openapi.exclude()
@console("worker")
async def pairing_list(request: Request, actor):
    now = request.app.ctx.clock()
    rows = await pairings.list_for(actor=actor, volunteer_ids=frozenset(), resident_ids=frozenset(), status=None)
    rows = [p for p in rows if p.station_id == actor.station_id]  # the station's, not the worker's own household's
    return render(request, "pairings.html", title="结对帮扶", items=[await pairings.present(p, viewer="worker", now=now)
                                                                   for p in rows], done=_done(request))


@bp.post("/pairings/<pairing_id:int>/end")
@openapi.exclude()
@console("worker")
async def pairing_end(request: Request, actor, pairing_id: int):
    values = form_values(request)
    now = request.app.ctx.clock()
    try:
        form = read_form(RejectIn, values)
    except FormInvalid:
        return message(request, status=422, title="无法结束", text="请填写结束原因。")
    async with atomic():
        pairing, viewer = await access_pairing(actor, pairing_id, purpose="end")
        await pairings.end(pairing=pairing, actor_id=actor.id, role=viewer, reason=form.reason, now=now)
    return go("/console/pairings?ok=pairing_ended")


@bp.post("/needs/<need_id:int>/pairings")
@openapi.exclude()
@console("worker")
async def pairing_create(request: Request, actor, need_id: int):
    """结对帮扶 from a need's page: a volunteer of the station on a weekly schedule, as ``POST
    /api/v1/pairings``; the first week's tasks are generated at once."""
    ctx = request.app.ctx
    now = ctx.clock()

    def read(values: dict[str, Any]) -> PairingIn:
        data = {"need_id": need_id, "volunteer_id": values.get("volunteer_id"), "starts_on": values.get("starts_on"),
                "ends_on": values.get("ends_on"), "title": values.get("title"),
                "schedule": {"weekdays": values.get("weekdays") or [], "start_time": values.get("start_time"),
                             "minutes": values.get("minutes")}}
        try:
            return read_form(PairingIn, data)
        except FormInvalid as exc:
            # The schedule is one field of the schema, and its message stands beside the weekdays.
            raise FormInvalid({("weekdays" if k == "schedule" else k): v for k, v in exc.errors.items()},
                              values) from None

    async def create(form: PairingIn):
        need = await access_need(actor, need_id, purpose="manage")
        return await pairings.create(actor=actor, need=need, data=form.model_dump(), now=now)

    pairing = await attempt(form_values(request, lists=("weekdays",)), read, create,
                            fields=("volunteer_id", "starts_on", "ends_on", "title"))
    if isinstance(pairing, Refused):
        return await _need_page(request, actor, need_id, status=pairing.status, pairing=pairing.form)
    await pairings.generate(now=now, cipher=ctx.cipher, sla_hours=ctx.settings.referral_sla_hours,
                            pairing_id=pairing.id)
    return go(f"/console/needs/{need_id}?ok=paired")


@bp.get("/referrals")
@openapi.exclude()
@console("worker")
async def referral_list(request: Request, actor):
    rows = await referrals.list_for(organization_id=None, station_id=actor.station_id)
    names = await referrals.organization_names([r.organization_id for r in rows])
    now = request.app.ctx.clock()
    linked = await departments.for_station(station_id=actor.station_id)
    return render(request, "referrals.html", title="转介", items=[
        {**referrals.present(r, task=r.task), "organization": names.get(r.organization_id, "")} for r in rows],
        linked=[departments.present(r, now=now) for r in linked])


@bp.get("/photos/<upload_id:int>")
@openapi.exclude()
@console("staff")
async def photo(request: Request, actor, upload_id: int):
    """A service record's photo for the station that confirms it (``GET /api/v1/uploads/<id>``'s
    check and answer)."""
    row = await access_upload(actor, upload_id)
    try:
        data = await request.app.ctx.storage.get(row.storage_key)
    except FileNotFoundError:
        raise NotFound("图片不存在") from None
    # A photo of someone's home: kept by no cache on the way or on a shared PC.
    return raw(data, content_type=row.content_type,
               headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
