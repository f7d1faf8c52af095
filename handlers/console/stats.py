"""Console pages: the statistics dashboard and the ledger downloads.

Both take a period as local dates (``from``/``to``, whole days in Weihai) and go through the API's
own access checks: ``stats_scope`` (a worker sees their station; an administrator any station, a
district or the city) and ``ledger_scope`` (a worker exports their station's ledgers, masked). The
figures come from server/reports/dashboard.py and the workbooks from server/reports/excel.py, the
very ones the API serves.

Charts are drawn by ``static/charts.js`` from the JSON the page carries in
``<script type="application/json" id="chart-data">`` (the page's CSP runs no inline script); each
chart has a table of the same figures beside it.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field
from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.care.schemas import StatsQuery
from handlers.common import Id, Strict
from handlers.console.common import FormInvalid, console, read_form, render
from handlers.reports.schemas import LedgerQuery
from server.access import ledger_scope, stats_scope
from server.care import stats
from server.errors import NotFound, ValidationFailed
from server.http import XLSX, xlsx_headers
from server.reports import dashboard, excel

bp = Blueprint("console_stats", url_prefix="/console")

PERIOD_INVALID = "请检查日期:结束日期不能早于开始日期,统计区间不能超过一年。"
LEDGER_PERIOD_INVALID = "请检查日期:结束日期不能早于开始日期。"


# Dates a period may name: beyond them a day's start in Weihai is no moment Python can hold in UTC.
LocalDay = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2099, 12, 31))]


class StatsFilters(Strict):
    first: LocalDay | None = Field(None, alias="from")
    last: LocalDay | None = Field(None, alias="to")
    scope: Literal["station", "district", "city"] | None = None
    id: Id | None = None


class LedgerFilters(Strict):
    first: LocalDay | None = Field(None, alias="from")
    last: LocalDay | None = Field(None, alias="to")
    station_id: Id | None = None


def query_values(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The query parameters among ``names`` that carry something (an empty select is no choice)."""
    out = {}
    for name in names:
        value = (request.args.get(name) or "").strip()
        if value:
            out[name] = value
    return out


def period(request: Request, first: date | None, last: date | None) -> tuple[date, date]:
    """The local dates asked for; by default the last eight calendar weeks up to today."""
    last = last or dashboard.local_today(request.app.ctx.clock())
    return first or dashboard.default_days(today=last)[0], last


# --- statistics -------------------------------------------------------------------------------


@bp.get("/stats")
@openapi.exclude()
@console("staff")
async def stats_page(request: Request, actor):
    admin = actor.has("admin") or actor.has("district_admin")
    city = actor.has("admin")
    values = query_values(request, ("from", "to", "scope", "id"))

    async def choices() -> list[dict[str, Any]]:
        return await dashboard.scope_choices(district_id=None if city else actor.district_id) if admin else []

    async def refused(errors: dict[str, str]):
        return render(request, "stats.html", status=400, errors=errors, values=values, board=None, admin=admin,
                      city=city, choices=await choices())

    try:
        f = read_form(StatsFilters, values)
        first, last = period(request, f.first, f.last)
        start, end = dashboard.local_days(first=first, last=last)
        scope = f.scope or ("city" if city else "district" if admin else "station")
        # The API's own limits on a period (to after from, at most a year).
        read_form(StatsQuery, {"scope": scope, "from": start.isoformat(), "to": end.isoformat()})
    except FormInvalid as exc:
        return await refused({key: PERIOD_INVALID if key == "" else text for key, text in exc.errors.items()})
    try:
        scope_id = await stats_scope(actor, scope, f.id)
    except ValidationFailed:
        return await refused({"id": "请选择要查看的区县或驿站。"})  # an administrator named a scope but no id
    board = await dashboard.dashboard(scope=scope, scope_id=scope_id, start=start, end=end)
    # Complaints, exits, re-assessments due and escalations: the API's figures (stats.supervision),
    # read afresh (some are as of now, and they write no workflow event the dashboard would notice).
    covered = await dashboard.station_ids(scope, scope_id)
    watch = await stats.supervision(station_ids=covered, start=start, end=end, now=request.app.ctx.clock(),
                                    per_station=scope != "station")
    return render(request, "stats.html", board=board, charts=charts(board), first=first, last=last, admin=admin,
                  city=city, watch=watch, errors={}, values=values, choices=await choices())


def _week(week: dict[str, Any]) -> str:
    start, end = week["start"], week["end"]
    return start.strftime("%m-%d") if start == end else f"{start:%m-%d}~{end:%m-%d}"


def charts(board: dict[str, Any]) -> dict[str, Any]:
    """What ``charts.js`` draws, by the id of the element each chart goes into (``chart-<key>``):
    categories along the x axis and named series, every name as the reader sees it."""
    weeks = [_week(w) for w in board["weeks"]]
    out: dict[str, Any] = {
        "weekly": {"type": "line", "categories": weeks, "axes": ["件 / 次"], "series": [
            {"name": "新增需求(件)", "data": [w["needs"] for w in board["weeks"]]},
            {"name": "完成服务(次)", "data": [w["services"] for w in board["weeks"]]}]},
        "hours": {"type": "bar", "categories": weeks, "axes": ["小时"], "series": [
            {"name": "志愿服务时长(小时)", "data": [w["hours"] for w in board["weeks"]]}]},
        "households": {"type": "bar", "categories": [h["label"] for h in board["households"]], "axes": ["户"],
                       "series": [{"name": "受助家庭(户)", "data": [h["n"] for h in board["households"]]}]},
        "ratings": {"type": "bar", "categories": [f"{r['score']}分" for r in board["ratings"]], "axes": ["条"],
                    "series": [{"name": "评价(条)", "data": [r["n"] for r in board["ratings"]]}]},
    }
    if board["stations"]:
        rows = board["stations"]
        out["stations"] = {"type": "bar", "categories": [s["name"] for s in rows], "axes": ["件 / 次", "分"], "series": [
            {"name": "新增需求(件)", "data": [s["needs"] for s in rows]},
            {"name": "完成服务(次)", "data": [s["services"] for s in rows]},
            {"name": "平均评分", "data": [s["rating"] for s in rows], "axis": 1}]}
    return out


# --- ledgers ----------------------------------------------------------------------------------


def _ledger_request(request: Request, actor, values: dict[str, str]) -> dict[str, Any]:
    """The ledger period and station asked for, checked as the API checks them (masked: the
    console offers no unmasked export)."""
    f = read_form(LedgerFilters, values)
    first, last = period(request, f.first, f.last)
    start, end = dashboard.local_days(first=first, last=last)
    read_form(LedgerQuery, {"from": start.isoformat(), "to": end.isoformat()})
    return {"first": first, "last": last, "start": start, "end": end, "station_id": f.station_id}


def _ledger_errors(exc: FormInvalid) -> dict[str, str]:
    return {key: LEDGER_PERIOD_INVALID if key == "" else text for key, text in exc.errors.items()}


@bp.get("/ledgers")
@openapi.exclude()
@console("staff")
async def ledgers_page(request: Request, actor):
    admin = actor.has("admin") or actor.has("district_admin")
    district_id = None if actor.has("admin") else actor.district_id
    values = query_values(request, ("from", "to", "station_id"))
    try:
        asked = _ledger_request(request, actor, values)
    except FormInvalid as exc:
        return render(request, "ledgers.html", status=400, errors=_ledger_errors(exc), values=values, asked=None,
                      kinds=[], admin=admin, choices=await dashboard.scope_choices(district_id=district_id) if admin else [])
    query = {"from": asked["first"].isoformat(), "to": asked["last"].isoformat()}
    if admin and asked["station_id"] is not None:
        query["station_id"] = str(asked["station_id"])
    return render(request, "ledgers.html", errors={}, values=values, asked=asked, query=query, admin=admin,
                  kinds=[(kind, title) for kind, (title, _) in excel.KINDS.items()], city=actor.has("admin"),
                  choices=await dashboard.scope_choices(district_id=district_id) if admin else [])


@bp.get("/ledgers/<kind:ext=xlsx>")
@openapi.exclude()
@console("staff")
async def ledger_download(request: Request, actor, kind: str, ext: str):
    if kind not in excel.KINDS:
        raise NotFound("台账类型不存在")
    try:
        asked = _ledger_request(request, actor, query_values(request, ("from", "to", "station_id")))
    except FormInvalid as exc:
        return render(request, "message.html", status=400, title="无法导出", text=";".join(_ledger_errors(exc).values()),
                      link=("/console/ledgers", "返回台账下载"))
    ctx = request.app.ctx
    reach = await ledger_scope(actor, station_id=asked["station_id"], unmasked=False)
    path = await excel.build(kind=kind, stations=reach.stations, place=reach.place, start=asked["start"], end=asked["end"],
                             unmasked=False, cipher=ctx.cipher, actor_id=actor.id, now=ctx.clock(),
                             grace_minutes=ctx.settings.checkin_grace_minutes)
    first, last = asked["first"], asked["last"]
    # The same stream-and-delete as the API's ledger route (handlers/reports/ledgers.py).
    try:
        response = await request.respond(
            content_type=XLSX, headers=xlsx_headers(f"haibei-{kind}-{first:%Y%m%d}-{last:%Y%m%d}.xlsx"))
        with open(path, "rb") as f:
            while chunk := f.read(64 * 1024):
                await response.send(chunk)
        await response.eof()
    finally:
        os.unlink(path)
