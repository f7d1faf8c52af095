"""Console pages for the people a station looks after and works with: households (台账: search,
profile, history, full details on a stated reason) and volunteers (applications, hours, points).

Lists and pages are masked; "显示完整信息" asks why, and the read is the API's unmasked read,
audited the same way with the reason beside it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic_ext import openapi

from handlers.care.schemas import AssessmentIn
from handlers.common import RejectIn, Strict
from handlers.people.schemas import ExitIn
from handlers.workflow.schemas import NeighbourTieIn
from handlers.reports.certificates import pdf_response
from handlers.console.care import household_complaints
from handlers.console.common import (
    PAGE_SIZE, Form, FormInvalid, Refused, all_but, attempt, console, form_values, go, local, only, read_form, render,
)
from server import labels
from server.access import access_neighbour_household, access_resident, access_volunteer, access_volunteer_for_review
from server.care import assessments, policies, reassessment
from server.http import XLSX, xlsx_headers
from server.reference import catalogue
from server.reports import certificates, worksheets
from server.errors import DomainError, NotFound, ValidationFailed
from server.lifecycle import exits
from server.people import imports, residents, volunteers
from server.pii import mask_name
from server.points import ledger
from server.transactions import atomic
from server.workflow import history, neighbours

bp = Blueprint("console_people", url_prefix="/console")


class RevealIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]


def _page_number(raw: str | None) -> int:
    raw = raw or "1"
    return max(1, min(int(raw), 10_000)) if raw.isdigit() and len(raw) < 6 else 1


@bp.get("/households")
@openapi.exclude()
@console("worker")
async def household_list(request: Request, actor):
    return await _households(request, actor, q="", category=_clip(request.args.get("category"), 20),
                             level=_clip(request.args.get("level"), 10), page=_page_number(request.args.get("page")))


@bp.post("/households")
@openapi.exclude()
@console("worker")
async def household_search(request: Request, actor):
    """A search by name, phone or ID number is posted, never put in the address: a number in a URL
    ends up in proxies' logs and the browser's history."""
    values = form_values(request)
    return await _households(request, actor, q=_clip(values.get("q"), 40) or "",
                             category=_clip(values.get("category"), 20), level=_clip(values.get("level"), 10),
                             page=_page_number(values.get("page")))


def _clip(value: str | None, length: int) -> str | None:
    return (value or "").strip()[:length] or None


async def _households(request: Request, actor, *, q: str, category: str | None, level: str | None, page: int):
    cipher = request.app.ctx.cipher
    error = None
    levels = [lv["name"] for lv in (await assessments.current())["levels"]]
    level = level if level in levels else None
    among = await assessments.households_at_level(station_id=actor.station_id, level=level) if level else None
    try:
        rows, total = await residents.list_for_station(
            station_id=actor.station_id, category=category, name=None, lookup=q or None, cipher=cipher,
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, among=among)
    except ValidationFailed as exc:
        rows, total, error = [], 0, exc.message
    return render(request, "households.html", title="居民台账", q=residents.masked_lookup(q), category=category,
                  level=level, levels=levels,
                  error=error, items=[residents.present(r, cipher=cipher) for r in rows], total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)))


# What a finished action on a household's page says (``?ok=``): fixed texts, never echoed input.
HOUSEHOLD_DONE = {"neighbour_added": "已登记邻里互助人,可在需求页把该户的任务指派给他。",
                  "neighbour_ended": "已解除邻里互助关系,已指派的任务不受影响。"}


async def _household_page(request: Request, actor, resident_id: int, *, status: int = 200, full: dict | None = None,
                          reveal: Form | None = None, leave: Form | None = None, neighbour: Form | None = None):
    resident = await access_resident(actor, resident_id)
    helpers = await neighbours.helpers_of(resident_id=resident.id)
    tied = {t.volunteer_id for t in helpers}
    # The station's approved volunteers not yet this household's helpers (nor the household itself).
    candidates = [v for v in await volunteers.approved_at(station_id=resident.station_id)
                  if v.id not in tied and (resident.user_id is None or v.user_id != resident.user_id)]
    cipher = request.app.ctx.cipher
    done = await assessments.scores(resident_id=resident.id)
    radar = None
    if done:
        latest = done[0]
        spec = await assessments.spec_for(latest.version)
        radar = {"type": "radar", "indicator": [{"name": d["name"], "max": 100} for d in spec["dimensions"]],
                 "series": [{"name": f"{local(latest.visited_at, '%Y-%m-%d')} 评估",
                             "data": [round((latest.scores or {}).get(d["id"], 0.0), 1) for d in spec["dimensions"]]}]}
    return render(request, "household.html", status=status, title="居民档案",
                  resident=residents.present(resident, cipher=cipher), full=full,
                  reveal=reveal or Form(), story=await history.of_household(resident=resident),
                  assessments=[{"visited_at": a.visited_at, "overall": a.overall, "level": a.level} for a in done],
                  radar=radar, exited=resident.status == "exited", exit_reasons=exits.REASONS,
                  exit_info={"reason": exits.REASONS.get(resident.exit_reason or "", ""), "note": resident.exit_note,
                             "at": resident.exited_at},
                  leave=leave or Form(),
                  complaints_panel=await household_complaints(resident=resident, now=request.app.ctx.clock()),
                  helpers=[neighbours.present(t, full_names=True) for t in helpers], candidates=candidates,
                  neighbour=neighbour or Form(), done=HOUSEHOLD_DONE.get(request.args.get("ok", "")))


@bp.get("/households/<resident_id:int>")
@openapi.exclude()
@console("worker")
async def household_page(request: Request, actor, resident_id: int):
    return await _household_page(request, actor, resident_id)


@bp.post("/households/<resident_id:int>/reveal")
@openapi.exclude()
@console("worker")
async def household_reveal(request: Request, actor, resident_id: int):
    """Full details for the station's own worker, who says why; audited as the API's unmasked read."""
    async def read_unmasked(form: RevealIn) -> dict:
        resident = await access_resident(actor, resident_id, purpose="unmask")
        return await residents.read_unmasked(actor_id=actor.id, resident=resident, cipher=request.app.ctx.cipher,
                                             reason=form.reason)

    full = await attempt(form_values(request), RevealIn, read_unmasked, refusal=only())
    if isinstance(full, Refused):
        return await _household_page(request, actor, resident_id, status=full.status, reveal=full.form)
    return await _household_page(request, actor, resident_id, full=full)


@bp.post("/households/<resident_id:int>/neighbour-helpers")
@openapi.exclude()
@console("worker")
async def neighbour_register(request: Request, actor, resident_id: int):
    """邻里互助: one of the station's volunteers registered as the household's neighbour helper, as
    ``POST /api/v1/residents/<id>/neighbour-helpers``: the same check and service."""
    async def register(form: NeighbourTieIn):
        resident = await access_neighbour_household(actor, resident_id, purpose="register")
        return await neighbours.register(resident=resident, volunteer_id=form.volunteer_id, note=form.note,
                                         actor_id=actor.id, now=request.app.ctx.clock())

    tie = await attempt(form_values(request), NeighbourTieIn, register, refusal=all_but(NotFound))
    if isinstance(tie, Refused):
        return await _household_page(request, actor, resident_id, status=tie.status, neighbour=tie.form)
    return go(f"/console/households/{resident_id}?ok=neighbour_added#neighbours")


@bp.post("/households/<resident_id:int>/neighbour-helpers/<volunteer_id:int>/end")
@openapi.exclude()
@console("worker")
async def neighbour_end(request: Request, actor, resident_id: int, volunteer_id: int):
    """The tie ended, as ``DELETE /api/v1/residents/<id>/neighbour-helpers/<volunteer_id>``."""
    async with atomic():
        resident = await access_neighbour_household(actor, resident_id, purpose="end")
        await neighbours.end(resident=resident, volunteer_id=volunteer_id, actor_id=actor.id,
                             now=request.app.ctx.clock())
    return go(f"/console/households/{resident_id}?ok=neighbour_ended#neighbours")


# --- volunteers -----------------------------------------------------------------------------------


@bp.get("/volunteers")
@openapi.exclude()
@console("worker")
async def volunteer_list(request: Request, actor):
    status = request.args.get("status")
    status = status if status in labels.VOLUNTEER_STATUS else None
    page = _page_number(request.args.get("page"))
    rows, total = await volunteers.list_for_station(station_id=actor.station_id, status=status, limit=PAGE_SIZE,
                                                    offset=(page - 1) * PAGE_SIZE)
    return render(request, "volunteers.html", title="志愿者", chosen=status, statuses=labels.VOLUNTEER_STATUS,
                  items=[volunteers.present(v) for v in rows], total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)), service_names=await catalogue.service_names())


async def _volunteer_page(request: Request, actor, volunteer_id: int, *, status: int = 200,
                          reject: Form | None = None, done: str | None = None):
    volunteer = await access_volunteer_for_review(actor, volunteer_id)
    account = await ledger.account_for(user_id=volunteer.user_id)
    entries, _ = await ledger.entries(account=account, cursor=None, limit=20)
    return render(request, "volunteer.html", status=status, title=volunteer.name,
                  volunteer=volunteers.present(volunteer), account=ledger.present_account(account),
                  entries=[ledger.present_entry(e) for e in entries], claims=await history.of_volunteer(volunteer=volunteer),
                  reject=reject or Form(), done=done, service_names=await catalogue.service_names())


@bp.get("/volunteers/<volunteer_id:int>")
@openapi.exclude()
@console("worker")
async def volunteer_page(request: Request, actor, volunteer_id: int):
    return await _volunteer_page(request, actor, volunteer_id)


@bp.get("/volunteers/<volunteer_id:int>/hours-certificate.pdf")
@openapi.exclude()
@console("worker")
async def volunteer_certificate(request: Request, actor, volunteer_id: int):
    """志愿服务时长证明, as ``GET /api/v1/volunteers/<id>/hours-certificate``: the same access and PDF."""
    volunteer = await access_volunteer(actor, volunteer_id)
    ctx = request.app.ctx
    pdf = await certificates.issue_pdf(volunteer=volunteer, issued_by=actor.id, now=ctx.clock(),
                                       font_path=ctx.settings.pdf_font)
    return pdf_response(pdf)


@bp.post("/volunteers/<volunteer_id:int>/approve")
@openapi.exclude()
@console("worker")
async def volunteer_approve(request: Request, actor, volunteer_id: int):
    async with atomic():
        volunteer = await access_volunteer_for_review(actor, volunteer_id)
        await volunteers.approve(volunteer=volunteer, reviewer_id=actor.id, now=request.app.ctx.clock())
    return await _volunteer_page(request, actor, volunteer_id, done="已通过审核,志愿者会收到通知。")


@bp.post("/volunteers/<volunteer_id:int>/reject")
@openapi.exclude()
@console("worker")
async def volunteer_reject(request: Request, actor, volunteer_id: int):
    async def reject(form: RejectIn) -> None:
        volunteer = await access_volunteer_for_review(actor, volunteer_id)
        await volunteers.reject(volunteer=volunteer, reviewer_id=actor.id, reason=form.reason,
                                now=request.app.ctx.clock())

    refused = await attempt(form_values(request), RejectIn, reject, refusal=only())
    if isinstance(refused, Refused):
        return await _volunteer_page(request, actor, volunteer_id, status=refused.status, reject=refused.form)
    return await _volunteer_page(request, actor, volunteer_id, done="已驳回申请,志愿者会收到原因。")


# --- home visit (入户调查) -------------------------------------------------------------------------


def _answers(spec: dict, values: dict) -> tuple[dict, dict[str, str]]:
    """The posted answers typed as the questionnaire's items take them (numbers, choices, yes/no),
    and the items that cannot be, each with its message. The questionnaire then checks them as the
    API's does (``assessments.check_answers``)."""
    answers, errors = {}, {}
    for dimension in spec["dimensions"]:
        for item in dimension["items"]:
            key, kind = item["id"], item["type"]
            raw = values.get(f"a_{key}")
            if kind == "multi":
                answers[key] = list(dict.fromkeys(raw or []))
                continue
            if raw in (None, ""):
                errors[key] = "请填写此项" if kind == "number" else "请选择一项"
                continue
            if kind == "number":
                try:
                    number = float(raw)
                except ValueError:
                    errors[key] = "请填写数字"
                    continue
                answers[key] = int(number) if number.is_integer() else number
            elif kind == "bool":
                answers[key] = raw == "yes"
            else:
                answers[key] = raw
    return answers, errors


def _item_message(item: dict) -> str:
    if item["type"] == "number":
        return f"请填写 {item.get('min', 0)}–{item.get('max', '')} 之间的数字"
    return "请从选项中选择"


def _items(spec: dict) -> dict[str, dict]:
    return {i["id"]: i for d in spec["dimensions"] for i in d["items"]}


def _read_visit(spec: dict, values: dict) -> AssessmentIn:
    """The home visit's form by the API's ``AssessmentIn``, its answers checked first as the service
    will check them (every item at once). Raises ``FormInvalid`` naming each item and field."""
    items = _items(spec)
    answers, errors = _answers(spec, values)
    try:
        assessments.check_answers(spec, answers)
    except ValidationFailed as exc:
        for d in exc.details if isinstance(exc.details, list) else []:
            key = str(d.get("field", "")).removeprefix("answers.")
            if key in items:
                errors.setdefault(key, _item_message(items[key]))
    try:
        form = read_form(AssessmentIn, {"answers": answers, "visited_at": values.get("visited_at"),
                                        "visit_notes": values.get("visit_notes")}, local_times=("visited_at",))
    except FormInvalid as exc:
        errors.update({k: v for k, v in exc.errors.items() if k != "answers"})
    if errors:
        raise FormInvalid(errors, values)
    return form


def _visit_refusal(spec: dict, exc: DomainError) -> dict[str, str]:
    """The service's refusal of a visit: a ``ValidationFailed`` at each item it names, the others at
    the top of the form."""
    if not isinstance(exc, ValidationFailed):
        return {"": exc.message}
    items = _items(spec)
    named = {}
    for d in exc.details if isinstance(exc.details, list) else []:
        key = str(d.get("field", "")).removeprefix("answers.")
        named[key] = _item_message(items[key]) if key in items else exc.message
    return named or {"": exc.message}


async def _assess_page(request: Request, actor, resident_id: int, *, status: int = 200, values: dict | None = None,
                       errors: dict | None = None):
    resident = await access_resident(actor, resident_id, purpose="edit")
    spec = await assessments.current()
    now = request.app.ctx.clock()
    return render(request, "assess.html", status=status, title="入户调查", resident=residents.present(
        resident, cipher=request.app.ctx.cipher), spec=spec, values=values or {"visited_at": local(now, "%Y-%m-%dT%H:%M")},
        errors=errors or {})


@bp.get("/households/<resident_id:int>/assess")
@openapi.exclude()
@console("worker")
async def assess_form(request: Request, actor, resident_id: int):
    return await _assess_page(request, actor, resident_id)


@bp.post("/households/<resident_id:int>/assess")
@openapi.exclude()
@console("worker")
async def assess(request: Request, actor, resident_id: int):
    """A home visit recorded from the questionnaire in force, as ``POST .../assessments``."""
    spec = await assessments.current()
    multi = tuple(f"a_{key}" for key, item in _items(spec).items() if item["type"] == "multi")
    ctx = request.app.ctx

    async def record(form: AssessmentIn) -> None:
        resident = await access_resident(actor, resident_id, purpose="edit")
        await assessments.record(resident=resident, answers=form.answers, visited_at=form.visited_at,
                                 visit_notes=form.visit_notes, assessor_id=actor.id, cipher=ctx.cipher,
                                 now=ctx.clock())

    refused = await attempt(form_values(request, lists=multi), lambda values: _read_visit(spec, values), record,
                            messages=lambda exc: _visit_refusal(spec, exc))
    if isinstance(refused, Refused):
        return await _assess_page(request, actor, resident_id, status=refused.status, values=refused.form.values,
                                  errors=refused.form.errors)
    return HTTPResponse(status=204, headers={"HX-Redirect": f"/console/households/{resident_id}"})


@bp.get("/households/<resident_id:int>/advice")
@openapi.exclude()
@console("worker")
async def household_advice(request: Request, actor, resident_id: int):
    """The policies a household appears to qualify for and the services the rules recommend: a part
    of the household's page, loaded after it (htmx), so the page itself stays quick."""
    resident = await access_resident(actor, resident_id, purpose="edit")
    names = await catalogue.service_names()
    advice = [{**r, "services": [(code, names.get(code, code)) for code in r["services"]]}
              for r in await assessments.recommendations(resident=resident)]
    return render(request, "_household_advice.html", resident_id=resident.id, advice=advice,
                  policies=await policies.eligible(resident=resident, now=request.app.ctx.clock()))


@bp.get("/households/<resident_id:int>/worksheet.xlsx")
@openapi.exclude()
@console("worker")
async def household_worksheet(request: Request, actor, resident_id: int):
    """The printable 入户调查表 (masked), as ``GET .../visit-worksheet``."""
    resident = await access_resident(actor, resident_id, purpose="edit")
    ctx = request.app.ctx
    data = await worksheets.visit_worksheet(resident=resident, unmasked=False, cipher=ctx.cipher, now=ctx.clock(),
                                            actor_id=actor.id)
    return raw(data, content_type=XLSX, headers=xlsx_headers(f"visit-{resident.id}.xlsx"))


# --- roster import (台账导入) -----------------------------------------------------------------------


@bp.get("/households/import")
@openapi.exclude()
@console("worker")
async def import_page(request: Request, actor):
    return render(request, "import.html", title="导入居民台账", report=None)


@bp.get("/households/import/template.xlsx")
@openapi.exclude()
@console("worker")
async def import_template(request: Request, actor):
    return raw(imports.template(), content_type=XLSX, headers=xlsx_headers("居民台账导入模板.xlsx"))


@bp.post("/households/import")
@openapi.exclude()
@console("worker")
async def import_run(request: Request, actor):
    """Check a roster (检查), or import it (导入): ``POST /api/v1/residents/imports``'s service, for the
    worker's station's rows. The answer is the report, in place below the form (which keeps the file)."""
    commit = form_values(request).get("commit") == "yes"
    file = request.files.get("file") if request.files else None
    if file is None or not file.body:
        return render(request, "_import_report.html", status=422, report=None, error="请选择要导入的 Excel 文件")
    ctx = request.app.ctx
    try:
        report = await imports.run(data=file.body, actor_id=actor.id, station_id=actor.station_id, cipher=ctx.cipher,
                                   now=ctx.clock(), dry_run=not commit)
    except imports.ImportRefused as exc:
        return render(request, "_import_report.html", status=422, report=exc.details, committed=False,
                      error=exc.message)
    except ValidationFailed as exc:
        return render(request, "_import_report.html", status=400, report=None, error=exc.message)
    return render(request, "_import_report.html", report=report, committed=commit, error=None)


@bp.get("/reassessments")
@openapi.exclude()
@console("worker")
async def reassessments_page(request: Request, actor):
    """动态管理: the station's households due for a new home visit, and those never visited."""
    listed = await reassessment.due_list(station_id=actor.station_id, now=request.app.ctx.clock())
    return render(request, "reassessments.html", title="待复评", listed=listed)


# --- exit (退出) and reinstatement ------------------------------------------------------------------


@bp.post("/households/<resident_id:int>/exit")
@openapi.exclude()
@console("worker")
async def household_exit(request: Request, actor, resident_id: int):
    """End a household's assistance: ``POST /api/v1/residents/<id>/exit``'s check and service."""
    async def leave(form: ExitIn) -> None:
        resident = await access_resident(actor, resident_id, purpose="edit")
        await exits.exit_household(resident=resident, actor=actor, reason=form.reason, note=form.note,
                                   now=request.app.ctx.clock())

    refused = await attempt(form_values(request), ExitIn, leave, refusal=only(exits.ServiceUnderWay))
    if isinstance(refused, Refused):
        return await _household_page(request, actor, resident_id, status=refused.status, leave=refused.form)
    return HTTPResponse(status=204, headers={"HX-Redirect": f"/console/households/{resident_id}"})


@bp.post("/households/<resident_id:int>/reinstate")
@openapi.exclude()
@console("worker")
async def household_reinstate(request: Request, actor, resident_id: int):
    async with atomic():
        resident = await access_resident(actor, resident_id, purpose="reinstate")
        await exits.reinstate(resident=resident, actor=actor, now=request.app.ctx.clock())
    return HTTPResponse(status=204, headers={"HX-Redirect": f"/console/households/{resident_id}"})


@bp.get("/households/exited")
@openapi.exclude()
@console("worker")
async def households_exited(request: Request, actor):
    rows = await exits.exits_for(station_id=actor.station_id)
    return render(request, "households_exited.html", title="已退出救助的居民", items=[
        {"id": r.id, "name": mask_name(r.name), "community": r.community, "reason": exits.REASONS.get(r.exit_reason, ""),
         "note": r.exit_note, "at": r.exited_at} for r in rows])
