"""Volunteer-hours certificates (志愿服务时长证明): the volunteer's own, one issued by their station
or an administrator, and the public check of a certificate by its code."""

from sanic import Blueprint, Request
from sanic.response import raw
from sanic_ext import openapi

from handlers.points.credit_schemas import CertificateOut
from models import VolunteerProfile
from server import ratelimit
from server.access import access_volunteer
from server.auth import authenticate
from server.http import respond, returns
from server.people import volunteers
from server.reports import certificates

bp = Blueprint("certificates", url_prefix="/api/v1")

PDF_RESPONSE = {"application/pdf": {"type": "string", "format": "binary"}}


async def _pdf(request: Request, volunteer: VolunteerProfile, issued_by: int):
    ctx = request.app.ctx
    pdf = await certificates.issue_pdf(volunteer=volunteer, issued_by=issued_by, now=ctx.clock(),
                                       font_path=ctx.settings.pdf_font)
    return pdf_response(pdf)


def pdf_response(pdf: bytes):
    # The full name is in it: the volunteer's to keep, not a cache's.
    return raw(pdf, content_type="application/pdf", headers={
        "Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="hours-certificate.pdf"'})


@bp.get("/me/hours-certificate")
@openapi.summary("My volunteer-hours certificate (志愿服务时长证明) as a PDF, with a code anyone can verify")
@openapi.secured("token")
@openapi.response(200, PDF_RESPONSE)
async def my_certificate(request: Request):
    actor = await authenticate(request)
    actor.require("volunteer")
    return await _pdf(request, await volunteers.get_own(user_id=actor.id), actor.id)


@bp.get("/volunteers/<volunteer_id:int>/hours-certificate")
@openapi.summary("A volunteer's hours certificate as a PDF, issued by a worker of their station or an administrator")
@openapi.secured("token")
@openapi.response(200, PDF_RESPONSE)
async def volunteer_certificate(request: Request, volunteer_id: int):
    actor = await authenticate(request)
    return await _pdf(request, await access_volunteer(actor, volunteer_id), actor.id)


@bp.get("/certificates/<code:str>")
@openapi.summary("Verify an hours certificate by its code (public): masked name, station, total hours, issue date")
@returns(CertificateOut)
async def verify_certificate(request: Request, code: str):
    # Public: the limit keeps the code space from being walked from one address.
    await ratelimit.hit(request, "certificate_verify")
    return respond(await certificates.verify(code=code))
