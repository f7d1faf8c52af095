"""The mini-program's side of the console's login by scan: a worker or administrator who scanned
the code on a console login page approves it, and that browser is let in
(server/people/console_tickets.py)."""

from typing import Annotated

from pydantic import StringConstraints
from sanic import Blueprint, Request
from sanic_ext import openapi

from handlers.common import Ok, Strict
from server.auth import authenticate
from server.http import body, respond, returns
from server.people import console_tickets

bp = Blueprint("console_tickets", url_prefix="/api/v1/console/tickets")


class ApproveIn(Strict):
    # The scanned scene as the mini-program received it (``cl=<ticket>``), or the ticket alone.
    ticket: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(cl=)?[A-Za-z0-9_-]{28}$")]


@bp.post("/approve")
@openapi.summary("Approve the console login whose code was scanned (workers and admins); "
                 "410 TICKET_EXPIRED or TICKET_USED when it can no longer be approved")
@openapi.secured("token")
@body(ApproveIn)
@returns(Ok)
async def approve(request: Request):
    actor = await authenticate(request)
    ctx = request.app.ctx
    await console_tickets.approve(redis=ctx.redis.aio, prefix=ctx.settings.redis_prefix, actor=actor,
                                  ticket=request.ctx.body.ticket, now=ctx.clock())
    return respond({"ok": True})
