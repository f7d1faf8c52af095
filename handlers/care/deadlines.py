"""Deadline notices (督办): the reminders and escalations the deadline job sent
(server/care/deadlines.py). A worker reads the station's; an administrator reads them all."""

from __future__ import annotations

from typing import Literal

from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Id, Strict
from server import labels
from server.access import deadlines_scope
from server.auth import authenticate
from server.care import deadlines
from server.http import query, respond

bp = Blueprint("deadlines", url_prefix="/api/v1/deadlines")


class DeadlineQuery(Strict):
    kind: Literal[tuple(labels.DEADLINE_KIND)] | None = None  # type: ignore[valid-type]
    stage: Literal["remind", "escalate"] | None = None
    station_id: Id | None = None


@bp.get("")
@openapi.summary("Reminders and escalations of late work: my station's (workers), or all (administrators)")
@openapi.secured("token")
@query(DeadlineQuery)
async def list_notices(request: Request):
    actor = await authenticate(request)
    q = request.ctx.query
    rows = await deadlines.notices(station_ids=await deadlines_scope(actor, station_id=q.station_id), kind=q.kind,
                                   stage=q.stage)
    return respond({"items": [deadlines.present(n) for n in rows]})
