"""Console pages for administrators: the government departments tasks can be referred to (部门联动,
任务五), with whom to call, in how many hours they answer and which services each handles.

As on the other administration pages (handlers/console/admin.py), the forms are the API's: the same
schemas read them (handlers/workflow/schemas.py ``DepartmentIn``) and the same service acts on them
(server/workflow/departments.py), in one transaction per request. A form that fails comes back with
what was typed and a message at each field; one that succeeds brings the list or the department
back with a notice.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.console.admin import paging
from handlers.console.admin_rewards import service_groups
from handlers.console.common import (
    PAGE_SIZE,
    Form,
    FormInvalid,
    Refused,
    all_but,
    any_refusal,
    attempt,
    console,
    form_values,
    page_or_part,
    read_form,
    render,
)
from handlers.workflow.schemas import DepartmentIn
from server.access import access_department, oversees_district, own_district, require_admin
from server.errors import NotFound
from server.reference import catalogue, places
from server.workflow import departments

bp = Blueprint("console_admin_departments", url_prefix="/console")


def _common(districts, services) -> dict[str, Any]:
    return {"district_names": {d.id: d.name for d in districts}, "district_options": [(d.id, d.name) for d in districts],
            "service_groups": service_groups(services)}


async def _districts(actor) -> list:
    """The districts the caller may put a department in (a district's administrator: its own)."""
    return [d for d in await places.list_districts() if oversees_district(actor, d.id)]


async def departments_context(request: Request, actor, *, page: int | None = None, create_form: Form | None = None,
                              flash: str | None = None) -> dict[str, Any]:
    # A city has tens of departments: read whole and paged here, as the organisations are. A
    # district's administrator sees its own and the city's (server/access.py).
    rows = await departments.list_departments(district_id=require_admin(actor))
    pager = paging(request, "/console/admin/departments", len(rows), page=page)
    return {
        "title": "联动部门", "departments": rows[pager["offset"]:pager["offset"] + PAGE_SIZE], "pager": pager,
        "service_names": await catalogue.service_names(), "default_sla": departments.DEFAULT_SLA_HOURS,
        "create_form": create_form or Form(), "flash": flash,
        **_common(await _districts(actor), await catalogue.list_services()),
    }


@bp.get("/admin/departments")
@openapi.exclude()
@console("district")
async def department_list(request: Request, actor):
    return render(request, "admin_departments.html", **await departments_context(request, actor))


@bp.post("/admin/departments")
@openapi.exclude()
@console("district")
async def create_department(request: Request, actor):
    async def create(data: DepartmentIn):
        # A district keeps its own departments (as POST /api/v1/admin/departments).
        fields = {**data.model_dump(), "district_id": await own_district(actor, data.district_id)}
        return await departments.create_department(data=fields, now=request.app.ctx.clock())

    made = await attempt(form_values(request, lists=("services",)), DepartmentIn, create, refusal=any_refusal)
    if isinstance(made, Refused):
        context = await departments_context(request, actor, create_form=made.form)
        return page_or_part(request, "admin_departments.html", "_admin_departments.html", status=made.status, **context)
    # The list is by name: it turns to the page the new department sorts onto.
    place = [d.id for d in await departments.list_departments(district_id=require_admin(actor))].index(made.id)
    flash = f"已添加联动部门「{made.name}」,{made.sla_hours} 小时内反馈,承办服务 {len(made.services)} 项。"
    context = await departments_context(request, actor, page=place // PAGE_SIZE + 1, flash=flash)
    return page_or_part(request, "admin_departments.html", "_admin_departments.html", **context)


def department_form(d) -> Form:
    """The edit form filled from what the department holds."""
    return Form({"name": d.name, "district_id": str(d.district_id or ""), "contact_person": d.contact_person,
                 "contact_phone": d.contact_phone, "sla_hours": str(d.sla_hours), "services": list(d.services or []),
                 "active": "true" if d.active else ""})


async def department_context(request: Request, actor, department, *, form: Form | None = None,
                             flash: str | None = None) -> dict[str, Any]:
    district_id = require_admin(actor)
    return {"title": department.name, "department": department, "form": form or department_form(department),
            "editable": district_id is None or department.district_id == district_id,
            "flash": flash, **_common(await _districts(actor), await catalogue.list_services())}


@bp.get("/admin/departments/<department_id:int>")
@openapi.exclude()
@console("district")
async def department_page(request: Request, actor, department_id: int):
    department = await access_department(actor, department_id)
    return render(request, "admin_department.html", **await department_context(request, actor, department))


def read_edit(values: dict[str, Any]) -> DepartmentIn:
    """The edit form as ``DepartmentIn`` reads it, every field given: an unticked box is "not in
    use", no service ticked is none, and the time to answer is required here (left empty, the API
    would give a new department the default, not change an existing one's)."""
    form = read_form(DepartmentIn, {**values, "active": "true" if values.get("active") else "false"})
    if form.sla_hours is None:
        raise FormInvalid({"sla_hours": "请填写反馈时限(小时)"}, values)
    return form


@bp.post("/admin/departments/<department_id:int>")
@openapi.exclude()
@console("district")
async def update_department(request: Request, actor, department_id: int):
    department = await access_department(actor, department_id, purpose="edit")

    async def save(form: DepartmentIn):
        changes = {**form.model_dump(), "district_id": await own_district(actor, form.district_id)}
        return await departments.update_department(department_id=department_id, changes=changes,
                                                   now=request.app.ctx.clock())

    saved = await attempt(form_values(request, lists=("services",)), read_edit, save,
                          fields=DepartmentIn, refusal=all_but(NotFound))
    if isinstance(saved, Refused):
        context = await department_context(request, actor, department, form=saved.form)
        return page_or_part(request, "admin_department.html", "_admin_department.html", status=saved.status, **context)
    state = "在用" if saved.active else "已停用"
    flash = f"已保存「{saved.name}」:{saved.sla_hours} 小时内反馈,承办服务 {len(saved.services)} 项,{state}。"
    context = await department_context(request, actor, saved, flash=flash)
    return page_or_part(request, "admin_department.html", "_admin_department.html", **context)
