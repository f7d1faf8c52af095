"""The volunteer-hours certificate (志愿服务时长证明): a PDF with the volunteer's name, their
station, their verified hours year by year, the issue date and a code that verifies it.

Hours are what the hours ledger counts (server/reports/excel.py ``hours_rows``): the verified
minutes of confirmed claims, less those whose award was reversed (``ledger.counted_claims``),
each in the year (Weihai time) it was confirmed.

Each certificate is stored with what it said (``hours_certificates``), so its code shows the
certificate as issued to whoever holds the code, with the name masked, whatever the hours have
become since. The code is 20 characters of a 31-letter alphabet (about 99 bits, from
``secrets``): holding one is the only way to a certificate. Asked again on the same day with
nothing changed, the same certificate (and code) is given, so a volunteer tapping twice does not
multiply them.

Chinese needs a font with its glyphs. The configured TrueType font (``HAIBEI_PDF_FONT``, Debian's
fonts-wqy-microhei by default) is embedded, so any reader shows it; without it, reportlab's
STSong-Light, which a reader draws with a Chinese font of its own (Adobe's Asian font pack,
most phones' viewers), is used instead.
"""

from __future__ import annotations

import asyncio

import io
import os
import secrets
import threading
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from tortoise.transactions import in_transaction

from models import HoursCertificate, Station, VolunteerProfile
from server.clock import CHINA_TZ
from server.errors import Conflict, NotFound
from server.pii import mask_name
from server.points import ledger

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed by hand
CODE_LENGTH = 20
VERIFY_PATH = "/api/v1/certificates/"
TITLE = "志愿服务时长证明"
FALLBACK_FONT = "STSong-Light"


class NotApproved(Conflict):
    code = "VOLUNTEER_NOT_APPROVED"
    message = "该志愿者未通过驿站审核,暂不能出具时长证明"


class CertificateNotFound(NotFound):
    message = "证明不存在,请核对验证码"


def hours_text(minutes: int) -> str:
    """Minutes as hours the way a person writes them: 750 → "12.5", 60 → "1"."""
    return f"{minutes / 60:.2f}".rstrip("0").rstrip(".")


def date_text(at: datetime) -> str:
    day = at.astimezone(CHINA_TZ)
    return f"{day.year}年{day.month}月{day.day}日"


async def hours_by_year(*, volunteer_id: int) -> list[dict[str, int]]:
    """Verified minutes per year (Weihai) of confirmation, oldest first."""
    by_year: dict[int, int] = {}
    rows = await ledger.counted_claims().filter(volunteer_id=volunteer_id).values_list("confirmed_at", "verified_minutes")
    for confirmed_at, minutes in rows:
        year = confirmed_at.astimezone(CHINA_TZ).year
        by_year[year] = by_year.get(year, 0) + (minutes or 0)
    return [{"year": year, "minutes": by_year[year]} for year in sorted(by_year)]


def check_issue(*, volunteer: VolunteerProfile) -> None:
    """A certificate says the station vouches for this person: only for an approved volunteer."""
    if volunteer.status != "approved":
        raise NotApproved()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def issue(*, volunteer: VolunteerProfile, issued_by: int, now: datetime) -> HoursCertificate:
    """The volunteer's certificate as of now: today's, if nothing has changed since it was issued."""
    check_issue(volunteer=volunteer)
    station = await Station.get(id=volunteer.station_id)
    years = await hours_by_year(volunteer_id=volunteer.id)
    snapshot = {"name_masked": mask_name(volunteer.name), "station_name": station.name, "years": years,
                "total_minutes": sum(y["minutes"] for y in years)}
    latest = await HoursCertificate.filter(volunteer_id=volunteer.id).order_by("-id").first()
    if (latest is not None and latest.snapshot == snapshot
            and latest.issued_at.astimezone(CHINA_TZ).date() == now.astimezone(CHINA_TZ).date()):
        return latest
    return await HoursCertificate.create(code=new_code(), user_id=volunteer.user_id, volunteer_id=volunteer.id,
                                         snapshot=snapshot, issued_by=issued_by, issued_at=now)


def normalise_code(code: str) -> str | None:
    """A code as typed (any case, spaces or dashes) in its stored form; None if it cannot be one."""
    value = "".join(code.split()).replace("-", "").upper()
    if len(value) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in value):
        return None
    return value


async def verify(*, code: str) -> dict[str, Any]:
    """What anyone holding the code may see: the masked name, the station, the total hours and
    the issue date, as issued."""
    value = normalise_code(code)
    certificate = await HoursCertificate.get_or_none(code=value) if value else None
    if certificate is None:
        raise CertificateNotFound()
    snapshot = certificate.snapshot
    issued = certificate.issued_at.astimezone(CHINA_TZ)
    return {"code": certificate.code, "name": snapshot["name_masked"], "station_name": snapshot["station_name"],
            "total_hours": round(snapshot["total_minutes"] / 60, 2), "issued_on": issued.date().isoformat(),
            "issued_on_label": date_text(issued), "title": TITLE}


# --- the PDF ---------------------------------------------------------------------------------

_fonts: dict[str, str] = {}
_fonts_lock = threading.Lock()
_render_lock = threading.Lock()


def font_name(path: str) -> str:
    """The reportlab font drawing Chinese: the TrueType font at ``path``, embedded, registered once
    per process; reportlab's STSong-Light when there is none there (or it cannot be read)."""
    with _fonts_lock:
        if path in _fonts:
            return _fonts[path]
        name = FALLBACK_FONT
        if path and os.path.isfile(path):
            candidate = f"HaibeiCJK{len(_fonts) + 1}"
            try:
                # subfontIndex: the first face of a collection (.ttc); ignored for a .ttf.
                pdfmetrics.registerFont(TTFont(candidate, path, subfontIndex=0))
                name = candidate
            except (TTFError, OSError):
                pass
        if name == FALLBACK_FONT and FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
        _fonts[path] = name
        return name


def render(*, certificate: HoursCertificate, name: str, font_path: str) -> bytes:
    """The certificate as a one-page A4 PDF. ``name`` is the full name, which only the PDF carries."""
    font = font_name(font_path)
    snapshot = certificate.snapshot
    station = snapshot["station_name"]
    body = ParagraphStyle("body", fontName=font, fontSize=12, leading=22, wordWrap="CJK", firstLineIndent=24)
    plain = ParagraphStyle("plain", parent=body, firstLineIndent=0)
    small = ParagraphStyle("small", parent=plain, fontSize=9.5, leading=15, textColor=colors.HexColor("#555555"))
    title = ParagraphStyle("title", fontName=font, fontSize=22, leading=30, alignment=TA_CENTER, spaceAfter=12 * mm)

    rows = [["年度", "志愿服务时长(小时)"]]
    rows += [[f"{y['year']}年", hours_text(y["minutes"])] for y in snapshot["years"]] or [["—", "0"]]
    rows.append(["合计", hours_text(snapshot["total_minutes"])])
    table = Table(rows, colWidths=[50 * mm, 70 * mm], hAlign="CENTER")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 12),
        ("ALIGN", (0, 0), (-1, -1), "CENTER"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    story = [
        Paragraph(TITLE, title),
        Paragraph(f"兹证明 {escape(name)} 为 {escape(station)} 登记在册的志愿者。经驿站工作人员核实确认,"
                  "其在海贝平台参加志愿服务的时长如下:", body),
        Spacer(1, 6 * mm), table, Spacer(1, 4 * mm),
        Paragraph("时长以驿站确认的服务记录为准,按确认日期所在年度(北京时间)统计;已撤销的服务不计入。", small),
        Spacer(1, 10 * mm),
        Paragraph(f"出具单位:{escape(station)}(海贝平台)", plain),
        Paragraph(f"出具日期:{date_text(certificate.issued_at)}", plain),
        Paragraph(f"验证码:{certificate.code}", plain),
        Spacer(1, 6 * mm),
        Paragraph(f"核验方式:凭验证码访问 {VERIFY_PATH}{certificate.code},可查看本证明的姓名(部分隐藏)、驿站、"
                  "总时长和出具日期。", small),
    ]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=30 * mm,
                            bottomMargin=25 * mm, title=TITLE, author="海贝", subject=TITLE)
    # reportlab keeps fonts (and their subsetting state) in module globals, and the handler
    # renders in a thread: one build at a time is safe and costs little (~10 ms a page).
    with _render_lock:
        doc.build(story)
    return buf.getvalue()


async def issue_pdf(*, volunteer: VolunteerProfile, issued_by: int, now: datetime, font_path: str) -> bytes:
    """Issue (or find today's) certificate and draw it: the API's and the console's one path. The
    drawing runs in a thread, off the event loop."""
    async with in_transaction():
        certificate = await issue(volunteer=volunteer, issued_by=issued_by, now=now)
    return await asyncio.to_thread(render, certificate=certificate, name=volunteer.name, font_path=font_path)
