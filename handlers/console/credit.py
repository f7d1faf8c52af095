"""The 海贝分 handoff to 信用威海 (信用威海对接) for city administrators: the consent text in force
and how many volunteers stand where with it, the export batches made so far and the next one, and a
batch sealed for 信用威海 with its RSA public key or a password given out of band.

The services are the API's (handlers/points/credit.py): server/points/credit.py makes a batch,
server/reports/credit_handoff.py reads whom to seal for and seals, each in one transaction; the
transfer form is read by the API's ``TransferIn``, so a short password is refused with its words.

A console form posts through htmx (the CSRF token travels in a header, which a plain form cannot
carry), and htmx swaps an answer into the page rather than saving it. So the sealed file comes back
to the page as a link that saves it (a ``data:`` address holding the API's same JSON under its same
file name, on a page that is never cached); asked without htmx, the same view answers with the file
itself, as the API does.
"""

from __future__ import annotations

import base64
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic_ext import openapi

from handlers.console.common import (
    Form, FormInvalid, Refused, attempt, console, errors_of, form_values, is_htmx, message, page_or_part,
    posted, read_form, render,
)
from handlers.points.credit_schemas import TransferIn
from server.encoding import dumps
from server.errors import DomainError
from server.http import respond
from server.people import staff
from server.points import consent, credit
from server.reports import credit_handoff
from server.transactions import atomic

bp = Blueprint("console_credit", url_prefix="/console")

# The ways a batch is sealed, each its own form on the batch page, and the fields each one shows
# (where a refusal of what was typed is said).
WAYS: dict[str, tuple[str, ...]] = {"configured": (), "key": ("public_key_pem",),
                                    "password": ("password", "password_confirm")}


# --- the overview -------------------------------------------------------------------------------


async def overview_context(*, flash: str | None = None, level: str = "ok") -> dict[str, Any]:
    batches = await credit.batches()
    made_by = await staff.labels_of({b.created_by for b in batches if b.created_by is not None})
    return {"title": "信用威海对接", "standing": await consent.standing(), "states": consent.STATES,
            "batches": batches, "made_by": made_by, "flash": flash, "level": level}


@bp.get("/admin/credit")
@openapi.exclude()
@console("admin")
async def credit_page(request: Request, actor):
    return render(request, "admin_credit.html", **await overview_context())


@bp.post("/admin/credit/batches")
@openapi.exclude()
@console("admin")
async def make_batch(request: Request, actor):
    """The next batch, as ``POST /api/v1/admin/credit-exports``."""
    async with atomic():
        batch = await credit.export(actor_id=actor.id, now=request.app.ctx.clock())
    if batch is None:
        flash = "没有新的可导出记录:自上一批以来,没有已授权的志愿者新达到海贝分转换门槛。"
    else:
        flash = f"已生成第 {batch.id} 批,共 {batch.count} 条海贝分增量。请打开该批次,加密后交给信用威海。"
    return page_or_part(request, "admin_credit.html", "_admin_credit.html", **await overview_context(flash=flash))


# --- a batch and its handoff --------------------------------------------------------------------


def configured_key(key_file: str) -> str | None:
    """信用威海's key configured for the deployment, as the service reads it: None when there is
    none, "usable", or "broken" (the form then says so rather than offer it)."""
    if not key_file:
        return None
    try:
        credit_handoff.recipient(public_key_pem=None, password=None, configured_key_file=key_file)
    except credit_handoff.ReceiverKeyMisconfigured:
        return "broken"
    return "usable"


async def batch_context(request: Request, batch_id: int, *, forms: dict[str, Form] | None = None,
                        sealed: dict[str, Any] | None = None) -> dict[str, Any]:
    batch = await credit.get_batch(batch_id=batch_id)
    increments = await credit.rows(batch_id=batch_id)
    made_by = await staff.labels_of({batch.created_by} if batch.created_by is not None else set())
    return {
        "title": f"第 {batch_id} 批海贝分增量", "batch": batch, "increments": increments,
        "made_by": made_by.get(batch.created_by, ""),
        "configured": configured_key(request.app.ctx.settings.credit_receiver_key_file),
        "forms": {way: (forms or {}).get(way) or Form() for way in WAYS},
        "min_password": credit_handoff.MIN_PASSWORD_CHARS, "min_rsa_bits": credit_handoff.MIN_RSA_BITS,
        "sealed": sealed,
    }


@bp.get("/admin/credit/batches/<batch_id:int>")
@openapi.exclude()
@console("admin")
async def batch_page(request: Request, actor, batch_id: int):
    return render(request, "admin_credit_batch.html", **await batch_context(request, batch_id))


def read_recipient(values: dict[str, Any], *, password: str, confirmation: str,
                   configured_key_file: str) -> credit_handoff.Recipient:
    """Whom the form seals for, by the API's ``TransferIn`` and the service's ``recipient``: the key
    pasted, the password typed twice alike, or (neither) the key configured for the deployment.
    Raises ``FormInvalid``, or the service's refusal of the key."""
    way = values["way"]
    if way == "key":
        if not values.get("public_key_pem"):
            raise FormInvalid({"public_key_pem": "请粘贴信用威海提供的公钥"}, values)
        data = read_form(TransferIn, {"public_key_pem": values["public_key_pem"]})
    elif way == "password":
        if not password:
            raise FormInvalid({"password": "请填写传输密码"}, values)
        data = read_form(TransferIn, {"password": password})
        if confirmation != password:
            raise FormInvalid({"password_confirm": "两次填写的传输密码不一致"}, values)
    else:
        data = TransferIn()
    return credit_handoff.recipient(public_key_pem=data.public_key_pem, password=data.password,
                                    configured_key_file=configured_key_file)


def saved_as(envelope: dict[str, Any]) -> dict[str, Any]:
    """The sealed file as the page offers it: the API's JSON in a link that saves it."""
    return {"count": envelope["count"], "left_out": envelope["left_out"], "alg": envelope["alg"],
            "filename": f"haibei-credit-{envelope['batch_id']}.enc.json",
            "href": "data:application/json;base64," + base64.b64encode(dumps(envelope)).decode("ascii")}


@bp.post("/admin/credit/batches/<batch_id:int>/transfer")
@openapi.exclude()
@console("admin")
async def transfer_batch(request: Request, actor, batch_id: int) -> HTTPResponse:
    """The batch sealed for 信用威海, as ``POST /api/v1/admin/credit-exports/<id>/transfer``; audited."""
    ctx = request.app.ctx
    await credit.get_batch(batch_id=batch_id)
    # What was typed, as the form comes back when refused: never the password.
    values = {k: v for k, v in form_values(request).items() if k in ("way", "public_key_pem")}
    way = values.get("way")
    if way not in WAYS:
        return message(request, status=422, title="无法完成", text="请在批次页面上选择加密方式后再提交。")
    raw = posted(request)

    def read(values: dict[str, Any]) -> credit_handoff.Recipient:
        # The password as typed: the API's rule refuses spaces rather than trimming them away.
        return read_recipient(values, password=raw.get("password") or "",
                              confirmation=raw.get("password_confirm") or "",
                              configured_key_file=ctx.settings.credit_receiver_key_file)

    def placed(exc: DomainError) -> dict[str, str]:
        return errors_of(exc, WAYS[way])

    envelope = await attempt(values, read, lambda to: credit_handoff.transfer(
        batch_id=batch_id, to=to, cipher=ctx.cipher, actor_id=actor.id), messages=placed)
    if isinstance(envelope, Refused):
        context = await batch_context(request, batch_id, forms={way: envelope.form})
        return page_or_part(request, "admin_credit_batch.html", "_admin_credit_batch.html", status=envelope.status,
                            **context)
    if not is_htmx(request):
        return respond(envelope, headers={"Cache-Control": "no-store",
                                          "Content-Disposition": f'attachment; filename="haibei-credit-{batch_id}.enc.json"'})
    context = await batch_context(request, batch_id, sealed=saved_as(envelope))
    return page_or_part(request, "admin_credit_batch.html", "_admin_credit_batch.html", **context)
