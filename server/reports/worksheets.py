"""The printable household visit worksheet (入户调查表): the questionnaire in force with the
household's details, as an A4 Excel sheet, for staff who visit on paper — many of the people served
have no phone (policy 任务六 asks for a home-visit survey of every household).

Each item lists its choices as boxes to tick (□), numbers as blanks, and the household's previous
answer beside it, so a revisit checks what changed. Personal details are masked unless the
station's worker asks for them (the caller audits that).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.page import PageMargins

from models import Assessment, Pairing, ResidentProfile, Station
from server import audit
from server.care import assessments
from server.clock import CHINA_TZ
from server.people import residents
from server.pii import FieldCipher, mask_name
from server.workflow import pairings

THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")


def _choices(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind in ("single", "multi"):
        text = "   ".join(f"□ {o['label']}" for o in item["options"])
        return text + ("(可多选)" if kind == "multi" else "")
    if kind == "bool":
        return "□ 是   □ 否"
    bounds = f"({item.get('min', '')}–{item.get('max', '')})" if "min" in item or "max" in item else ""
    return f"________ {bounds}"


def _previous(item: dict[str, Any], answers: dict[str, Any] | None) -> str:
    if not answers or item["id"] not in answers:
        return ""
    value = answers[item["id"]]
    labels = {o["value"]: o["label"] for o in item.get("options", [])}

    def label(v: Any) -> str:
        # An answer kept under an older version may not fit this item's type now.
        return labels.get(v, str(v)) if isinstance(v, str) else str(v)

    if item["type"] == "multi":
        return "、".join(label(v) for v in value) if isinstance(value, list) and value else (label(value) if value else "无")
    if item["type"] == "bool":
        return "是" if value else "否"
    return "、".join(label(v) for v in value) if isinstance(value, list) else label(value)


async def visit_worksheet(*, resident: ResidentProfile, unmasked: bool, cipher: FieldCipher, now: datetime,
                          actor_id: int) -> bytes:
    """The sheet as .xlsx bytes; a full-details sheet is audited as an unmasked read."""
    if unmasked:
        await audit.record(actor_id=actor_id, action="resident.worksheet_unmasked", subject_type="resident",
                           subject_id=resident.id, fields=["name", "phone", "address"])
    spec = await assessments.current()
    station = await Station.get(id=resident.station_id)
    latest = await Assessment.filter(resident_id=resident.id).order_by("-visited_at", "-id").first()
    active = await Pairing.filter(resident_id=resident.id, status="active")
    phone = cipher.decrypt_optional(resident.phone_enc, context=residents.CTX["phone"])
    address = cipher.decrypt_optional(resident.address_enc, context=residents.CTX["address"])

    wb = Workbook()
    ws = wb.active
    ws.title = "入户调查表"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "第 &P 页 / 共 &N 页"
    for col, width in zip("ABCD", (22, 58, 20, 14)):
        ws.column_dimensions[col].width = width

    ws.append([f"威海市服务类社会救助 入户调查表(问卷第{spec['version']}版)"])
    ws.merge_cells("A1:D1")
    ws["A1"].font = Font(size=14, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    rows: list[tuple[str, Any]] = [
        ("档案编号", resident.id),
        ("姓名", resident.name if unmasked else mask_name(resident.name)),
        ("身份证号", resident.id_number_masked or ""),
        ("联系电话", (phone or "") if unmasked else (resident.phone_masked or "")),
        ("社区 / 住址", f"{resident.community or ''} {address or ''}".strip() if unmasked else (resident.community or "")),
        ("所属驿站", station.name),
        ("救助类别", "、".join(resident.categories or []) or "无"),
        # What the household said of itself, for the visit to check (residents.declare_categories).
        ("自报类别(待核实)", "、".join(resident.declared_categories) if resident.declared_categories else "无"),
        ("上次评估", f"{latest.visited_at.astimezone(CHINA_TZ):%Y-%m-%d} 综合{latest.overall}分 {latest.level}"
                     if latest else "未评估"),
        ("结对帮扶", ";".join(f"{p.title} {pairings.describe(p.schedule)}" for p in active) or "无"),
        ("打印时间", f"{now.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}"),
    ]
    for label, value in rows:
        ws.append([label, value])
        ws.merge_cells(start_row=ws.max_row, start_column=2, end_row=ws.max_row, end_column=4)
        ws.cell(ws.max_row, 1).font = Font(bold=True)
    ws.append([])
    for d in spec["dimensions"]:
        ws.append([f"{d['name']}"])
        ws.cell(ws.max_row, 1).font = Font(size=12, bold=True)
        ws.append(["问题", "选项(请勾选或填写)", "上次答案", "备注"])
        for c in range(1, 5):
            ws.cell(ws.max_row, c).font = Font(bold=True)
            ws.cell(ws.max_row, c).border = BOX
        for item in d["items"]:
            ws.append([item["label"], _choices(item), _previous(item, latest.answers if latest else None), ""])
            for c in range(1, 5):
                ws.cell(ws.max_row, c).alignment = WRAP
                ws.cell(ws.max_row, c).border = BOX
        ws.append([])
    for label in ("走访情况记录", "走访人签名 / 日期", "被访人(或监护人)签名 / 日期"):
        ws.append([label, ""])
        ws.merge_cells(start_row=ws.max_row, start_column=2, end_row=ws.max_row, end_column=4)
        ws.row_dimensions[ws.max_row].height = 60 if label == "走访情况记录" else 30
        ws.cell(ws.max_row, 1).font = Font(bold=True)
        ws.cell(ws.max_row, 2).border = BOX
    # The sheet holds no formula of its own: a cell openpyxl took for one holds what someone typed
    # (a community, an address, an answer) beginning with '=', which must print, not run.
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
