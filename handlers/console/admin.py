"""Console pages for administrators: districts and their stations, the staff appointed to them, the
outbox's dead letters (WeChat messages given up on, each sent again with a button) and the service
catalogue's standards.

The forms are the API's: the same schemas (handlers/reference/schemas.py) read them, the same
services (server/reference/places.py and catalogue.py, server/people/staff.py,
server/notifications/outbox.py) act on them, inside one transaction per request as the API's
handlers do. A form that fails comes
back (422, or the domain error's status) with what was typed and a message at each field; one that
succeeds brings the list back with a notice. An htmx request gets the page's working part, any
other the whole page.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.console.common import (
    PAGE_SIZE, Form, FormInvalid, Refused, all_but, any_refusal, attempt, only, console, form_values, message,
    page_or_part, read_form, render,
)
from handlers.notifications.schemas import RetryIn
from handlers.reference.schemas import DistrictIn, DistrictServiceIn, ServicePatch, StaffIn, StaffRemoveIn, StationIn
from server import labels
from server.access import (
    access_district, access_staff_grant, check_staff_binding, oversees_district, require_admin,
)
from server.errors import DomainError, NotFound
from server.notifications import outbox
from server.people import staff
from server.reference import catalogue, places
from server.transactions import atomic

bp = Blueprint("console_admin", url_prefix="/console")

# The roles an administrator appoints here, in the order the select offers them.
STAFF_ROLES = ("worker", "org_staff", "district_admin")

# Domain errors that are about one field of the form that caused them: shown at that field.
FIELD_OF: dict[type[DomainError], str] = {places.DistrictCodeTaken: "code", places.StationNameTaken: "name"}


# --- shared bits ------------------------------------------------------------------------------


def positive_arg(request: Request, name: str) -> int | None:
    """A positive whole number from the query string, or None when absent or not one."""
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


def paging(request: Request, path: str, total: int, *, page: int | None = None, **params: Any) -> dict[str, Any]:
    """Where a list is, out of how many pages, and the base of the links to the others (the page at
    ``path``, keeping ``params``), as ``_pager.html`` takes them. Without ``page``, the one the query
    string asks for; past the end, the last."""
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page or positive_arg(request, "page") or 1, pages)
    kept = urlencode({k: v for k, v in params.items() if v is not None})
    return {"page": page, "pages": pages, "total": total, "offset": (page - 1) * PAGE_SIZE,
            "base": f"{path}?{kept}&" if kept else f"{path}?"}


# --- districts and stations -------------------------------------------------------------------


async def places_context(request: Request, actor, *, district_id: int | None = None, page: int | None = None,
                         district_form: Form | None = None, station_form: Form | None = None,
                         flash: str | None = None) -> dict[str, Any]:
    """The districts and stations the caller administers: a district's administrator its own."""
    districts = [d for d in await places.list_districts() if oversees_district(actor, d.id)]
    if district_id is not None and district_id not in {d.id for d in districts}:
        district_id = None
    district_id = require_admin(actor) or district_id
    pager = paging(request, "/console/admin/stations", await places.count_stations(district_id=district_id), page=page,
                   district_id=district_id)
    stations = await places.list_stations(district_id=district_id, offset=pager["offset"], limit=PAGE_SIZE)
    return {
        "title": "驿站与区市", "districts": districts, "district_options": [(d.id, d.name) for d in districts],
        "stations": stations, "district_id": district_id,
        "pager": pager, "station_counts": await places.stations_per_district(),
        "worker_counts": await staff.worker_counts(station_ids=[s.id for s in stations]),
        "district_form": district_form or Form(), "station_form": station_form or Form(), "flash": flash,
    }


@bp.get("/admin/stations")
@openapi.exclude()
@console("district")
async def stations(request: Request, actor):
    context = await places_context(request, actor, district_id=positive_arg(request, "district_id"))
    return render(request, "admin_stations.html", **context)


@bp.post("/admin/districts")
@openapi.exclude()
@console("admin")
async def create_district(request: Request, actor):
    district = await attempt(form_values(request), DistrictIn,
                             lambda data: places.create_district(**data.model_dump()),
                             refusal=any_refusal, field_of=FIELD_OF)
    if isinstance(district, Refused):
        context = await places_context(request, actor, district_form=district.form)
        return page_or_part(request, "admin_stations.html", "_admin_places.html", status=district.status, **context)
    context = await places_context(request, actor, flash=f"已添加区市「{district.name}」。")
    return page_or_part(request, "admin_stations.html", "_admin_places.html", **context)


@bp.post("/admin/stations")
@openapi.exclude()
@console("district")
async def create_station(request: Request, actor):
    async def create(data: StationIn):
        await access_district(actor, data.district_id)
        return await places.create_station(**data.model_dump())

    # A district typed that is not there, or not the caller's (NotFound), is the form's to say, as
    # a taken name is.
    station = await attempt(form_values(request), StationIn, create, refusal=any_refusal, field_of=FIELD_OF)
    if isinstance(station, Refused):
        context = await places_context(request, actor, station_form=station.form)
        return page_or_part(request, "admin_stations.html", "_admin_places.html", status=station.status, **context)
    # The list turns to the new station's district, at the page it was added to (the last).
    total = await places.count_stations(district_id=station.district_id)
    context = await places_context(request, actor, district_id=station.district_id, page=math.ceil(total / PAGE_SIZE),
                                   flash=f"已添加驿站「{station.name}」({station.district.name})。")
    return page_or_part(request, "admin_stations.html", "_admin_places.html", **context)


# --- staff ------------------------------------------------------------------------------------


async def staff_context(request: Request, actor, *, station_id: int | None = None, appoint_form: Form | None = None,
                        flash: str | None = None) -> dict[str, Any]:
    """The staff the caller administers (a district's: of its stations and organisations) and what
    it may appoint them to."""
    district_id = require_admin(actor)
    all_stations = await places.list_stations(district_id=district_id)
    if station_id is not None and station_id not in {s.id for s in all_stations}:
        station_id = None
    pager = paging(request, "/console/admin/staff",
                   await staff.count_staff(station_id=station_id, district_id=district_id), station_id=station_id)
    rows = await staff.staff_by_station(station_id=station_id, district_id=district_id, offset=pager["offset"],
                                        limit=PAGE_SIZE)
    # A district appoints the staff of its own organisations; city-wide ones are the city's.
    organizations = [o for o in await places.list_organizations(district_id=district_id)
                     if district_id is None or o.district_id == district_id]
    districts = await places.list_districts() if district_id is None else []
    groups: dict[str, list[tuple[int, str]]] = {}
    for s in all_stations:
        groups.setdefault(s.district.name, []).append((s.id, s.name))
    return {
        "title": "工作人员", "grants": rows, "pager": pager, "station_id": station_id,
        "all_stations": all_stations, "station_groups": list(groups.items()), "organizations": organizations,
        "organization_options": [(o.id, o.name) for o in organizations],
        "roles": [(code, labels.label("role", code)) for code in STAFF_ROLES
                  if code != "district_admin" or district_id is None],
        "district_options": [(d.id, d.name) for d in districts],
        "appoint_form": appoint_form or Form({"role": "worker"}), "flash": flash,
    }


def binding_errors(values: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """The schema's rule that a worker binds to one station and org staff to one organisation
    fails on the whole form; the message goes to the select the chosen role needs."""
    if "" not in errors or set(errors) - {""}:
        return errors
    if values.get("role") == "org_staff":
        return {"organization_id": "社会组织人员须选择一个机构,不选驿站"}
    if values.get("role") == "district_admin":
        return {"district_id": "区市管理员须选择一个区市,不选驿站和机构"}
    return {"station_id": "驿站工作人员须选择一个驿站,不选机构"}


def read_appointment(values: dict[str, Any]) -> StaffIn:
    """The appointment form by the API's ``StaffIn``, a binding refused at the select it needs."""
    try:
        return read_form(StaffIn, values)
    except FormInvalid as exc:
        raise FormInvalid(binding_errors(values, exc.errors), values) from None


@bp.get("/admin/staff")
@openapi.exclude()
@console("district")
async def staff_list(request: Request, actor):
    context = await staff_context(request, actor, station_id=positive_arg(request, "station_id"))
    return render(request, "admin_staff.html", **context)


@bp.post("/admin/staff")
@openapi.exclude()
@console("district")
async def appoint(request: Request, actor):
    async def appoint_staff(data: StaffIn):
        await check_staff_binding(actor, role=data.role, station_id=data.station_id,
                                  organization_id=data.organization_id)
        grant = await staff.appoint(admin_id=actor.id, **data.model_dump())
        place = (await places.get_station(station_id=grant.station_id) if grant.station_id
                 else await places.get_organization(organization_id=grant.organization_id) if grant.organization_id
                 else await places.get_district(district_id=grant.district_id))
        return grant, place

    # A user, station or organisation typed that is not there (NotFound) is the form's to say.
    appointed = await attempt(form_values(request), read_appointment, appoint_staff, refusal=any_refusal,
                              fields=StaffIn, field_of=FIELD_OF)
    if isinstance(appointed, Refused):
        context = await staff_context(request, actor, appoint_form=appointed.form)
        return page_or_part(request, "admin_staff.html", "_admin_staff.html", status=appointed.status, **context)
    grant, place = appointed
    flash = f"已任命用户 {grant.user_id} 为{labels.label('role', grant.role)}({place.name})。"
    context = await staff_context(request, actor, flash=flash)
    return page_or_part(request, "admin_staff.html", "_admin_staff.html", **context)


@bp.post("/admin/staff/remove")
@openapi.exclude()
@console("district")
async def remove(request: Request, actor):
    values = form_values(request)
    try:
        data = read_form(StaffRemoveIn, values)
    except FormInvalid:
        return message(request, status=422, title="无法完成", text="请在列表中选择要撤销的人员。")
    await access_staff_grant(actor, user_id=data.user_id, role=data.role)
    async with atomic():
        await staff.remove(admin_id=actor.id, **data.model_dump())
    flash = f"已撤销用户 {data.user_id} 的{labels.label('role', data.role)}角色。"
    context = await staff_context(request, actor, station_id=positive_arg(request, "station_id"), flash=flash)
    return page_or_part(request, "admin_staff.html", "_admin_staff.html", **context)


# --- dead letters -----------------------------------------------------------------------------


async def letters_context(request: Request, *, flash: str | None = None, level: str = "ok") -> dict[str, Any]:
    pager = paging(request, "/console/admin/dead-letters", await outbox.count_dead())
    letters = await outbox.dead_letter_page(offset=pager["offset"], limit=PAGE_SIZE)
    return {"title": "消息补发", "letters": letters, "pager": pager, "flash": flash, "level": level}


@bp.get("/admin/dead-letters")
@openapi.exclude()
@console("admin")
async def dead_letters(request: Request, actor):
    return render(request, "admin_dead_letters.html", **await letters_context(request))


@bp.post("/admin/dead-letters/retry")
@openapi.exclude()
@console("admin")
async def retry(request: Request, actor):
    try:
        data = read_form(RetryIn, {"ids": [form_values(request).get("id")]})
    except FormInvalid:
        return message(request, status=422, title="无法完成", text="请在列表中选择要重新发送的消息。")
    async with atomic():
        count = await outbox.retry_dead(ids=data.ids, now=request.app.ctx.clock())
    if count:
        flash, level = "已重新排入发送队列,稍后由后台发送。", "ok"
    else:
        flash, level = "这条消息已不在待补发列表中(可能已由他人重新发送)。", "error"
    context = await letters_context(request, flash=flash, level=level)
    return page_or_part(request, "admin_dead_letters.html", "_admin_dead_letters.html", **context)


# --- the service catalogue --------------------------------------------------------------------


# What the list lets an administrator change in place: the standards a district sets (任务五).
SERVICE_STANDARDS = ("default_minutes", "min_minutes", "points_per_hour")


async def services_context(request: Request, *, editing: tuple[str, Form] | None = None,
                           flash: str | None = None) -> dict[str, Any]:
    services = await catalogue.list_services()
    pager = paging(request, "/console/admin/services", len(services))
    return {"title": "服务项目", "services": services[pager["offset"]:pager["offset"] + PAGE_SIZE], "pager": pager,
            "editing": editing, "flash": flash}


@bp.get("/admin/services")
@openapi.exclude()
@console("admin")
async def services(request: Request, actor):
    return render(request, "admin_services.html", **await services_context(request))


@bp.post("/admin/services/<code:str>")
@openapi.exclude()
@console("admin")
async def update_service(request: Request, actor, code: str):
    values = {k: v for k, v in form_values(request).items() if k in SERVICE_STANDARDS}
    service = await attempt(
        values, ServicePatch,
        lambda data: catalogue.update_service(code=code, changes=data.model_dump(exclude_unset=True)),
        refusal=all_but(NotFound), field_of=FIELD_OF)
    if isinstance(service, Refused):
        context = await services_context(request, editing=(code, service.form))
        return page_or_part(request, "admin_services.html", "_admin_services.html", status=service.status, **context)
    flash = (f"已保存「{service.name}」:默认 {service.default_minutes} 分钟,最低 {service.min_minutes} 分钟,"
             f"每小时 {service.points_per_hour} 积分。")
    context = await services_context(request, flash=flash)
    return page_or_part(request, "admin_services.html", "_admin_services.html", **context)


# --- a district's own service standards -------------------------------------------------------


async def district_services_context(request: Request, actor, *, district_id: int | None,
                                    editing: tuple[str, Form] | None = None, flash: str | None = None,
                                    level: str = "ok") -> dict[str, Any]:
    """The catalogue as one district has it (a district's administrator: their own; the city's:
    the district chosen, the first by default)."""
    districts = [d for d in await places.list_districts() if oversees_district(actor, d.id)]
    chosen = next((d for d in districts if d.id == (require_admin(actor) or district_id)), None) or \
        (districts[0] if districts else None)
    rows = await catalogue.services_for(district_id=chosen.id) if chosen else []
    return {"title": "区市服务标准", "districts": districts, "district": chosen,
            "rows": [{"service": service, "standard": standard, "shown": catalogue.present_for_district(service, standard)}
                     for service, standard in rows],
            "editing": editing, "flash": flash, "level": level}


@bp.get("/admin/district-services")
@openapi.exclude()
@console("district")
async def district_services(request: Request, actor):
    context = await district_services_context(request, actor, district_id=positive_arg(request, "district_id"))
    return render(request, "admin_district_services.html", **context)


def read_standard(values: dict[str, Any]) -> DistrictServiceIn:
    """The row's form by the API's ``DistrictServiceIn``: an unticked box is "not offered", an empty
    field the city's value."""
    return read_form(DistrictServiceIn, {
        "offered": values.get("offered") == "on",
        **{k: values[k] for k in ("description", "points_per_hour") if str(values.get(k, "")).strip()}})


@bp.post("/admin/district-services/<district_id:int>/<code:str>")
@openapi.exclude()
@console("district")
async def set_district_service(request: Request, actor, district_id: int, code: str):
    """One service's standard in one district, as ``PUT /api/v1/admin/districts/<id>/services/<code>``."""
    await access_district(actor, district_id)
    service = await catalogue.get_service(code=code)

    def act(data: DistrictServiceIn):
        return catalogue.set_standard(district_id=district_id, code=code, actor_id=actor.id,
                                      now=request.app.ctx.clock(), **data.model_dump())

    saved = await attempt(form_values(request), read_standard, act, refusal=only(catalogue.StandardInUse),
                          fields=DistrictServiceIn, messages=lambda exc: {"": exc.message})
    if isinstance(saved, Refused):
        context = await district_services_context(request, actor, district_id=district_id,
                                                  editing=(code, saved.form))
        return page_or_part(request, "admin_district_services.html", "_admin_district_services.html",
                            status=saved.status, **context)
    shown = catalogue.present_for_district(service, saved)
    flash = (f"已保存「{service.name}」:{'开展' if shown['offered'] else '本区市不开展'},"
             f"每小时 {shown['points_per_hour']} 积分" + (",使用本区市服务标准说明" if saved and saved.description else "")
             + "。")
    context = await district_services_context(request, actor, district_id=district_id, flash=flash)
    return page_or_part(request, "admin_district_services.html", "_admin_district_services.html", **context)
