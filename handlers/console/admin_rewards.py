"""Console pages for administrators: the rewards donated for points (and their stock), the provider
organisations with what they offer, where and on which qualifications, and the purchased-service
projects over their lifecycle (立项、实施、验收) with their KPIs.

As on the other administration pages (handlers/console/admin.py), the forms are the API's: the
same schemas read them (handlers/points/schemas.py, handlers/reference/schemas.py,
handlers/workflow/schemas.py, handlers/care/schemas.py) and the same services act on them
(server/points/rewards.py, server/reference/places.py, server/workflow/referrals.py,
server/care/projects.py), in one transaction per request. A form that fails comes back (422, or
the domain error's status) with what was typed and a message at each field; one that succeeds
brings the list or the record back with a notice.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.care.schemas import PaymentIn, ProjectIn, ProjectStepIn
from handlers.console.admin import paging, positive_arg
from handlers.console.common import (
    PAGE_SIZE, Form, FormInvalid, Refused, all_but, any_refusal, attempt, console, form_values, message, only,
    page_or_part, read_form, render,
)
from handlers.points.schemas import RewardIn, RewardPatch
from handlers.reference.schemas import OrganizationIn
from handlers.workflow.schemas import OrganizationPatch, Qualification
from server import labels
from server.access import (
    access_organization, access_project, check_stations_overseen, oversees_district, own_district, project_district,
    require_admin,
)
from server.care import projects
from server.http import XLSX, field_message, xlsx_headers
from server.people import staff
from server.reports import excel
from server.errors import DomainError, NotFound
from server.points import rewards
from server.reference import catalogue, places
from server.transactions import atomic
from server.workflow import referrals
from server.workflow.events import InvalidState

bp = Blueprint("console_admin_rewards", url_prefix="/console")

# Domain errors about one field of the form that caused them: shown at that field.
FIELD_OF: dict[type[DomainError], str] = {places.OrganizationNameTaken: "name"}


def options(vocabulary: str, codes) -> list[tuple[str, str]]:
    return [(code, labels.label(vocabulary, code)) for code in codes]


def station_groups(stations) -> list[tuple[str, list[tuple[int, str]]]]:
    """Stations as the forms offer them: by district, each by name."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for s in stations:
        groups.setdefault(s.district.name, []).append((s.id, s.name))
    return list(groups.items())


def service_groups(services) -> list[tuple[str, list[tuple[str, str]]]]:
    """The active catalogue as the forms offer it: by category, each service by name."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for s in services:
        groups.setdefault(s.category.name, []).append((s.code, s.name))
    return list(groups.items())


# --- rewards ----------------------------------------------------------------------------------


async def rewards_context(request: Request, *, create_form: Form | None = None,
                          editing: tuple[int, Form] | None = None, flash: str | None = None,
                          level: str = "ok") -> dict[str, Any]:
    pager = paging(request, "/console/admin/rewards", await rewards.count_rewards())
    stations = await places.list_stations()
    return {
        "title": "奖品", "rewards": await rewards.list_rewards(offset=pager["offset"], limit=PAGE_SIZE),
        "pager": pager, "station_names": {s.id: s.name for s in stations}, "station_groups": station_groups(stations),
        "donor_kinds": options("donor_kind", labels.DONOR_KIND),
        "create_form": create_form or Form({"donor_kind": "enterprise", "per_person_limit": "1"}),
        "editing": editing, "flash": flash, "level": level,
    }


@bp.get("/admin/rewards")
@openapi.exclude()
@console("admin")
async def rewards_page(request: Request, actor):
    return render(request, "admin_rewards.html", **await rewards_context(request))


@bp.post("/admin/rewards")
@openapi.exclude()
@console("admin")
async def create_reward(request: Request, actor):
    reward = await attempt(form_values(request, lists=("pickup_station_ids",)), RewardIn,
                           lambda data: rewards.create(data=data.model_dump()),
                           local_times=("valid_from", "valid_until"), refusal=any_refusal, field_of=FIELD_OF)
    if isinstance(reward, Refused):
        context = await rewards_context(request, create_form=reward.form)
        return page_or_part(request, "admin_rewards.html", "_admin_rewards.html", status=reward.status, **context)
    # The list is newest first: the new reward heads its first page.
    flash = f"已登记奖品「{reward.name}」(捐赠方:{reward.donor}),库存 {reward.stock} 件。"
    context = await rewards_context(request, flash=flash)
    return page_or_part(request, "admin_rewards.html", "_admin_rewards.html", **context)


def reward_outcome(reward, *, added: int, status: str | None) -> str:
    said = []
    if added > 0:
        said.append(f"补充库存 {added} 件")
    elif added < 0:
        said.append(f"减少库存 {-added} 件")
    if status == "retired":
        said.append("下架")
    elif status == "active":
        said.append("重新上架")
    done = "、".join(said) or "保存"
    state = labels.label("reward_status", reward.status)
    return f"已{done}「{reward.name}」,现有库存 {reward.stock}/{reward.total_stock} 件,{state}。"


def read_reward_patch(values: dict[str, Any]) -> RewardPatch:
    """The restock form by the API's ``RewardPatch``; sent empty, it is refused, where the API's
    patch would change nothing."""
    if not values:
        raise FormInvalid({"add_stock": "请填写此项"}, values)
    return read_form(RewardPatch, values)


@bp.post("/admin/rewards/<reward_id:int>")
@openapi.exclude()
@console("admin")
async def update_reward(request: Request, actor, reward_id: int):
    async def update(data: RewardPatch):
        reward = await rewards.update(reward_id=reward_id, add_stock=data.add_stock or 0, status=data.status)
        return reward_outcome(reward, added=data.add_stock or 0, status=data.status)

    values = {k: v for k, v in form_values(request).items() if k in ("add_stock", "status")}
    notice = await attempt(values, read_reward_patch, update, refusal=all_but(NotFound), fields=RewardPatch,
                           field_of=FIELD_OF)
    if isinstance(notice, Refused):
        context = await rewards_context(request, editing=(reward_id, notice.form))
        return page_or_part(request, "admin_rewards.html", "_admin_rewards.html", status=notice.status, **context)
    context = await rewards_context(request, flash=notice)
    return page_or_part(request, "admin_rewards.html", "_admin_rewards.html", **context)


# --- organisations ----------------------------------------------------------------------------


def qualifications_of(org, *, now: datetime) -> list[dict[str, Any]]:
    """An organisation's qualification documents as a person reads them: the kind's label, the
    document, its expiry (a moment, or None when absent or unreadable) and whether it has passed."""
    out = []
    for q in org.qualifications or []:
        try:
            expires = datetime.fromisoformat(q["expires_at"]) if q.get("expires_at") else None
        except (TypeError, ValueError):
            expires = None
        out.append({"kind": labels.label("qualification_kind", q.get("kind")), "document": q.get("document") or "",
                    "expires_at": expires, "expired": expires is not None and expires <= now})
    return out


async def orgs_context(request: Request, actor, *, page: int | None = None, create_form: Form | None = None,
                       flash: str | None = None) -> dict[str, Any]:
    # A city has tens of providers, not thousands: read whole and paged here (as the catalogue is).
    # A district's administrator sees its own and the city-wide ones (server/access.py).
    district_id = require_admin(actor)
    organizations = await places.list_organizations(district_id=district_id)
    pager = paging(request, "/console/admin/organizations", len(organizations), page=page)
    shown = organizations[pager["offset"]:pager["offset"] + PAGE_SIZE]
    districts = [d for d in await places.list_districts() if oversees_district(actor, d.id)]
    now = request.app.ctx.clock()
    return {
        "title": "社会组织", "organizations": shown, "pager": pager,
        "district_names": {d.id: d.name for d in districts}, "district_options": [(d.id, d.name) for d in districts],
        "service_names": await catalogue.service_names(),
        "station_names": {s.id: s.name for s in await places.list_stations()},
        "editable": {o.id for o in shown if district_id is None or o.district_id == district_id},
        "qualifications": {o.id: qualifications_of(o, now=now) for o in shown},
        "kinds": options("organization_kind", labels.ORGANIZATION_KIND),
        "create_form": create_form or Form(), "flash": flash,
    }


@bp.get("/admin/organizations")
@openapi.exclude()
@console("district")
async def organizations(request: Request, actor):
    return render(request, "admin_orgs.html", **await orgs_context(request, actor))


@bp.post("/admin/organizations")
@openapi.exclude()
@console("district")
async def create_organization(request: Request, actor):
    async def create(data: OrganizationIn):
        # A district registers its own providers (as POST /api/v1/admin/organizations).
        return await places.create_organization(**{**data.model_dump(),
                                                   "district_id": await own_district(actor, data.district_id)})

    org = await attempt(form_values(request), OrganizationIn, create, refusal=any_refusal, field_of=FIELD_OF)
    if isinstance(org, Refused):
        context = await orgs_context(request, actor, create_form=org.form)
        return page_or_part(request, "admin_orgs.html", "_admin_orgs.html", status=org.status, **context)
    # The list is oldest first: the new organisation is on its last page.
    total = len(await places.list_organizations(district_id=require_admin(actor)))
    flash = f"已添加机构「{org.name}」({labels.label('organization_kind', org.kind)})。请点击机构名称设置其服务、驿站和资质。"
    context = await orgs_context(request, actor, page=math.ceil(total / PAGE_SIZE), flash=flash)
    return page_or_part(request, "admin_orgs.html", "_admin_orgs.html", **context)


def org_settings(org) -> Form:
    """The settings form filled from what the organisation holds."""
    values: dict[str, Any] = {"services": list(org.services or []),
                              "station_ids": [str(i) for i in org.station_ids or []]}
    for q in org.qualifications or []:
        kind = q.get("kind")
        values[f"document_{kind}"] = q.get("document") or ""
        try:
            values[f"expires_at_{kind}"] = datetime.fromisoformat(q["expires_at"])
        except (KeyError, TypeError, ValueError):
            pass
    return Form(values)


async def org_context(request: Request, actor, org, *, settings: Form | None = None,
                      flash: str | None = None) -> dict[str, Any]:
    district = (await places.get_district(district_id=org.district_id)) if org.district_id else None
    district_id = require_admin(actor)
    return {
        "title": org.name, "org": org, "district": district, "settings": settings or org_settings(org),
        "editable": district_id is None or org.district_id == district_id,
        "service_groups": service_groups(await catalogue.list_services()),
        "station_groups": station_groups(await places.list_stations(district_id=district_id)),
        "qualification_kinds": options("qualification_kind", referrals.QUALIFICATIONS),
        "qualifications": qualifications_of(org, now=request.app.ctx.clock()), "flash": flash,
    }


@bp.get("/admin/organizations/<organization_id:int>")
@openapi.exclude()
@console("district")
async def organization(request: Request, actor, organization_id: int):
    org = await access_organization(actor, organization_id)
    return render(request, "admin_orgs_detail.html", **await org_context(request, actor, org))


def read_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The settings form as the API's ``OrganizationPatch`` would carry it: every list given, so
    that unticking everything clears it. Each qualification row is read by the API's own
    ``Qualification`` schema, its messages kept at its own fields (``document_<kind>``,
    ``expires_at_<kind>``); a row left empty is no document. Raises ``FormInvalid``."""
    errors: dict[str, str] = {}
    rows = []
    for kind in referrals.QUALIFICATIONS:
        row = {name: values[f"{name}_{kind}"] for name in ("document", "expires_at") if f"{name}_{kind}" in values}
        if not row:
            continue
        try:
            rows.append(read_form(Qualification, {"kind": kind, **row}, local_times=("expires_at",)).model_dump())
        except FormInvalid as exc:
            for name, text in exc.errors.items():
                errors.setdefault(f"{name if name in ('document', 'expires_at') else 'document'}_{kind}", text)
    try:
        data = read_form(OrganizationPatch, {"services": values.get("services", []),
                                             "station_ids": values.get("station_ids", []), "qualifications": rows})
    except FormInvalid as exc:
        errors = {**exc.errors, **errors}
    if errors:
        raise FormInvalid(errors, values)
    return data.model_dump(exclude_none=True)


@bp.post("/admin/organizations/<organization_id:int>")
@openapi.exclude()
@console("district")
async def update_organization(request: Request, actor, organization_id: int):
    org = await access_organization(actor, organization_id, purpose="edit")

    async def save(changes: dict[str, Any]):
        await check_stations_overseen(actor, changes.get("station_ids") or [])
        return await referrals.update_organization(organization_id=organization_id, changes=changes)

    saved = await attempt(form_values(request, lists=("services", "station_ids")), read_settings, save,
                          refusal=only())
    if isinstance(saved, Refused):
        context = await org_context(request, actor, org, settings=saved.form)
        return page_or_part(request, "admin_orgs_detail.html", "_admin_orgs_settings.html", status=saved.status,
                            **context)
    org = saved
    flash = (f"已保存「{org.name}」:服务 {len(org.services)} 项,覆盖驿站 {len(org.station_ids)} 个,"
             f"资质材料 {len(org.qualifications)} 份。")
    context = await org_context(request, actor, org, flash=flash)
    return page_or_part(request, "admin_orgs_detail.html", "_admin_orgs_settings.html", **context)


# --- purchased-service projects ---------------------------------------------------------------


# The API's bound on budget_fen (ProjectIn: at most 10**12 fen), in the form's yuan.
MAX_BUDGET_YUAN = Decimal(10**10)


def yuan_to_fen(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's budget is typed in yuan (the API's ``budget_fen`` is in fen): converted, or a
    message for the field when it is no amount of money."""
    raw = values.get("budget_fen")
    if raw is None:
        return values, {}
    try:
        amount = Decimal(raw.replace(",", "").replace("\uff0c", ""))
    except InvalidOperation:
        return values, {"budget_fen": "请填写金额(元),如 50000 或 50000.50"}
    if not amount.is_finite() or not 0 <= amount <= MAX_BUDGET_YUAN:
        return values, {"budget_fen": "金额须在 0 至 100 亿元之间"}
    if amount != amount.quantize(Decimal("0.01")):
        return values, {"budget_fen": "请填写金额(元),最多两位小数"}
    return {**values, "budget_fen": str(int(amount * 100))}, {}


async def projects_context(request: Request, actor, *, create_form: Form | None = None,
                           flash: str | None = None) -> dict[str, Any]:
    # The list's filters (as GET /api/v1/admin/projects takes them): a status, an organisation, a
    # station; a district's administrator only ever its own district's projects.
    district_id = require_admin(actor)
    status = request.args.get("status") if request.args.get("status") in labels.PROJECT_STATUS else None
    wanted = {"status": status, "organization_id": positive_arg(request, "organization_id"),
              "station_id": positive_arg(request, "station_id")}
    total = (len(await projects.list_projects(**wanted, district_id=district_id)) if wanted["station_id"]
             else await projects.count_projects(status=status, organization_id=wanted["organization_id"],
                                                district_id=district_id))
    pager = paging(request, "/console/admin/projects", total, **wanted)
    stations = await places.list_stations(district_id=district_id)
    services = await catalogue.list_services()
    organizations = await places.list_organizations(district_id=district_id)
    return {
        "title": "购买服务项目",
        "projects": await projects.list_projects(offset=pager["offset"], limit=PAGE_SIZE, district_id=district_id,
                                                 **wanted),
        "filters": wanted, "statuses": list(labels.PROJECT_STATUS.items()),
        "pager": pager, "service_names": await catalogue.service_names(),
        "station_names": {s.id: s.name for s in stations}, "station_groups": station_groups(stations),
        "service_groups": service_groups(services), "organization_options": [(o.id, o.name) for o in organizations],
        "create_form": create_form or Form(), "flash": flash,
    }


@bp.get("/admin/projects")
@openapi.exclude()
@console("district")
async def projects_page(request: Request, actor):
    return render(request, "admin_projects.html", **await projects_context(request, actor))


def read_project(values: dict[str, Any]) -> ProjectIn:
    """The new project's form by the API's ``ProjectIn``, its budget typed in yuan."""
    # Boxes none of which is ticked send nothing: an empty choice, which the schema refuses as such.
    data, budget_error = yuan_to_fen({"services": [], "station_ids": [], **values})
    try:
        form = read_form(ProjectIn, data, local_times=("starts_at", "ends_at"))
    except FormInvalid as exc:
        raise FormInvalid({**exc.errors, **budget_error}, values) from None
    if budget_error:
        raise FormInvalid(budget_error, values)
    return form


@bp.post("/admin/projects")
@openapi.exclude()
@console("district")
async def create_project(request: Request, actor):
    async def create(form: ProjectIn):
        data = form.model_dump()
        data["district_id"] = await project_district(actor, asked=data["district_id"],
                                                     organization_id=data["organization_id"],
                                                     station_ids=data["station_ids"])
        return await projects.create(data=data, actor_id=actor.id, now=request.app.ctx.clock())

    project = await attempt(form_values(request, lists=("services", "station_ids")), read_project, create,
                            refusal=any_refusal, fields=ProjectIn, field_of=FIELD_OF)
    if isinstance(project, Refused):
        context = await projects_context(request, actor, create_form=project.form)
        return page_or_part(request, "admin_projects.html", "_admin_projects.html", status=project.status, **context)
    flash = f"已申报项目「{project.name}」。请打开项目办理立项。"
    context = await projects_context(request, actor, flash=flash)
    return page_or_part(request, "admin_projects.html", "_admin_projects.html", **context)


def kpi_rows(kpis: dict[str, Any] | None) -> list[tuple[str, str]]:
    """KPIs as (label, figure) in the order the ledger gives them; a figure not yet known is 暂无."""
    rows = []
    for key, text in labels.PROJECT_KPI.items():
        value = (kpis or {}).get(key)
        if value is None:
            shown = "暂无"
        elif key == "on_time_rate":
            shown = f"{value * 100:.1f}%"
        else:
            shown = str(value)
        rows.append((text, shown))
    return rows


async def project_context(request: Request, project, *, step_forms: dict[str, Form] | None = None,
                          pay_form: Form | None = None, flash: str | None = None,
                          level: str = "ok") -> dict[str, Any]:
    shown = await projects.present(project, grace_minutes=request.app.ctx.settings.checkin_grace_minutes)
    stations = await places.list_stations()
    actors = await staff.labels_of({s["actor_id"] for s in shown["steps"] if s["actor_id"] is not None})
    return {
        "title": project.name, "project": shown,
        "organization": await places.get_organization(organization_id=project.organization_id),
        "service_names": await catalogue.service_names(), "station_names": {s.id: s.name for s in stations},
        "kpis": kpi_rows(shown["kpis"]),
        "steps": [{**s, "kpis": kpi_rows(s["kpis"]), "actor": actors.get(s["actor_id"], "")} for s in shown["steps"]],
        "step_forms": {to: (step_forms or {}).get(to) or Form() for to in projects.next_steps(status=project.status)},
        "target_fields": [(kpi, labels.label("project_kpi", kpi), "不多于" if better == "<=" else "不少于")
                          for kpi, better in projects.TARGETS.items()],
        "payment_kinds": list(labels.PAYMENT_KIND.items()), "pay_form": pay_form or Form({"kind": "advance"}),
        "flash": flash, "level": level,
    }


def read_targets(values: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The 立项 form's targets (``target_<kpi>``, left empty when not set), and each one's message,
    by the API's own ``ProjectStepIn.targets`` (its bounds, its messages)."""
    given = {kpi: raw for kpi in projects.TARGETS if (raw := str(values.get(f"target_{kpi}", "")).strip())}
    try:
        ProjectStepIn.model_validate({"to": "approved", "note": "立项", "targets": given})
    except ValidationError as exc:
        return given, {f"target_{error['loc'][1]}": field_message(error)
                       for error in exc.errors(include_url=False, include_input=False)
                       if len(error["loc"]) > 1 and error["loc"][0] == "targets"}
    return given, {}


@bp.get("/admin/projects/<project_id:int>")
@openapi.exclude()
@console("district")
async def project_page(request: Request, actor, project_id: int):
    project = await access_project(actor, project_id)
    return render(request, "admin_projects_detail.html", **await project_context(request, project))


@bp.post("/admin/projects/<project_id:int>/steps")
@openapi.exclude()
@console("district")
async def project_step(request: Request, actor, project_id: int):
    project = await access_project(actor, project_id)
    values = form_values(request)
    to = values.get("to", "")
    # One document per line, as the textarea holds them.
    documents = [line.strip() for line in values.get("documents", "").splitlines() if line.strip()]
    targets, target_errors = read_targets(values) if to == "approved" else ({}, {})
    try:
        data = read_form(ProjectStepIn, {**{k: v for k, v in values.items() if k in ("to", "note")},
                                         "documents": documents, **({"targets": targets} if targets else {})})
        if target_errors:
            raise FormInvalid(target_errors, values)
    except FormInvalid as exc:
        if "to" in exc.errors:
            return message(request, status=422, title="无法完成", text="请在项目页上选择要办理的步骤。")
        context = await project_context(request, project, step_forms={to: Form(values, {**exc.errors, **target_errors})})
        return page_or_part(request, "admin_projects_detail.html", "_admin_projects_detail.html", status=422, **context)
    ctx = request.app.ctx
    try:
        async with atomic():
            project = await projects.step(project_id=project_id, to=data.to, actor_id=actor.id, note=data.note,
                                          documents=data.documents, grace_minutes=ctx.settings.checkin_grace_minutes,
                                          now=ctx.clock(), targets=data.targets)
    except InvalidState as exc:
        # Someone moved the project meanwhile: say where it is now, in words.
        current = labels.label("project_status", (exc.details or {}).get("current_status"))
        text = f"项目当前为「{current}」,不能{labels.label('project_step', data.to)}。"
        project = await projects.get(project_id=project_id)
        context = await project_context(request, project, flash=text, level="error")
        return page_or_part(request, "admin_projects_detail.html", "_admin_projects_detail.html", status=exc.status,
                            **context)
    except (projects.TargetsRequired, projects.TargetsNotMet, projects.ProviderNotQualified) as exc:
        # The project's rules: no targets at 立项, targets missed or a provider unqualified at 验收.
        errors = {"": exc.message}
        context = await project_context(request, project, step_forms={to: Form(values, errors)})
        return page_or_part(request, "admin_projects_detail.html", "_admin_projects_detail.html", status=exc.status,
                            **context)
    flash = (f"已办理「{labels.label('project_step', data.to)}」,"
             f"项目状态:{labels.label('project_status', project.status)}。")
    context = await project_context(request, project, flash=flash)
    return page_or_part(request, "admin_projects_detail.html", "_admin_projects_detail.html", **context)


@bp.post("/admin/projects/<project_id:int>/payments")
@openapi.exclude()
@console("district")
async def project_pay(request: Request, actor, project_id: int):
    """拨付, as ``POST /api/v1/admin/projects/<id>/payments``, the amount typed in yuan."""
    project = await access_project(actor, project_id)
    values = form_values(request)
    converted, money_errors = yuan_to_fen({"budget_fen": values.get("amount", "")})

    def read(values: dict[str, Any]) -> PaymentIn:
        if money_errors:
            raise FormInvalid({"amount": money_errors["budget_fen"]}, values)
        try:
            return read_form(PaymentIn, {"kind": values.get("kind", ""), "note": values.get("note", ""),
                                         "amount_fen": converted.get("budget_fen")})
        except FormInvalid as exc:
            raise FormInvalid({("amount" if k == "amount_fen" else k): v for k, v in exc.errors.items()}, values) from None

    def act(form: PaymentIn):
        return projects.pay(project_id=project_id, kind=form.kind, amount_fen=form.amount_fen, note=form.note,
                            actor_id=actor.id, now=request.app.ctx.clock())

    paid = await attempt(values, read, act, refusal=only(projects.PaymentRefused), messages=lambda exc: {"": exc.message})
    if isinstance(paid, Refused):
        context = await project_context(request, project, pay_form=paid.form)
        return page_or_part(request, "admin_projects_detail.html", "_admin_projects_detail.html", status=paid.status,
                            **context)
    flash = f"已登记{labels.label('payment_kind', paid.kind)} {paid.amount_fen / 100:.2f} 元。"
    context = await project_context(request, await projects.get(project_id=project_id), flash=flash)
    return page_or_part(request, "admin_projects_detail.html", "_admin_projects_detail.html", **context)


@bp.get("/admin/projects/<project_id:int>/acceptance.xlsx")
@openapi.exclude()
@console("district")
async def project_acceptance(request: Request, actor, project_id: int):
    """The 验收 ledger, as ``GET /api/v1/admin/projects/<id>/acceptance``."""
    project = await access_project(actor, project_id)
    ctx = request.app.ctx
    data = await excel.acceptance(project=project, grace_minutes=ctx.settings.checkin_grace_minutes, now=ctx.clock())
    return raw(data, content_type=XLSX, headers=xlsx_headers(f"haibei-project-{project.id}-acceptance.xlsx"))
