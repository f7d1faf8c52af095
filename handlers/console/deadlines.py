"""The supervision page (督办): reminders and escalations of late work, and expiries ahead
(server/care/deadlines.py). A worker sees the station's; an administrator sees them all."""

from __future__ import annotations

from typing import Literal

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Strict
from handlers.console.common import FormInvalid, console, read_form, render
from handlers.console.stats import query_values
from server import labels
from server.access import deadlines_scope
from server.care import deadlines

bp = Blueprint("console_deadlines", url_prefix="/console")


class DeadlineFilters(Strict):
    kind: Literal["need_accept", "record_confirm", "policy_expiry", "qualification_expiry", "department_answer"] | None = None
    stage: Literal["remind", "escalate"] | None = None


@bp.get("/deadlines")
@openapi.exclude()
@console("staff")
async def deadlines_page(request: Request, actor):
    values = query_values(request, ("kind", "stage"))
    admin = actor.has("admin")
    try:
        f = read_form(DeadlineFilters, values)
    except FormInvalid as exc:
        return render(request, "deadlines.html", status=400, items=[], values=values, errors=exc.errors, admin=admin,
                      kinds=labels.DEADLINE_KIND, stages=labels.DEADLINE_STAGE, limits=_limits())
    items = await deadlines.board(station_ids=await deadlines_scope(actor), kind=f.kind, stage=f.stage)
    return render(request, "deadlines.html", items=items, values=values, errors={}, admin=admin,
                  kinds=labels.DEADLINE_KIND, stages=labels.DEADLINE_STAGE, limits=_limits())


def _limits() -> list[tuple[str, str, str]]:
    """The limits in force, as the page explains them."""
    h = deadlines.hours_text
    need = deadlines.NEED_ACCEPT
    record = deadlines.RECORD_CONFIRM
    late = deadlines.DEPARTMENT_ANSWER["remind_after_due_hours"]
    return [("一般需求受理", h(need["normal"]["remind_after_hours"]), h(need["normal"]["escalate_after_hours"])),
            ("紧急需求受理", h(need["urgent"]["remind_after_hours"]), h(need["urgent"]["escalate_after_hours"])),
            ("服务记录确认", h(record["remind_after_hours"]), h(record["escalate_after_hours"])),
            ("部门联动反馈", f"超过该部门的反馈时限{h(late) + '后' if late else ''}", "不上报(由驿站联系部门)")]
