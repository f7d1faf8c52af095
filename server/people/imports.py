"""Households taken in from the rosters stations already keep (台账导入): the Excel lists of 特困,
低保, 低保边缘 and 独居/空巢 households exported from the civil-affairs systems.

A file is read as a stream (openpyxl's read-only mode: memory stays flat whatever its length), its
headers matched leniently (spaces, full-width characters, the names other systems use), and every
row checked as the API checks one household: the ID number's checksum, the phone, the categories,
the station. While any row is wrong nothing is imported; a clean file is imported whole, in one
transaction. Rows are matched to households by ID number (its blind index), so importing the same
file again changes nothing, and a changed row changes only what changed, each change audited.

Categories from a roster count as checked by the station: the roster is the civil-affairs record
that decides who is 特困 or 低保 (政策(一)).
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from tortoise.transactions import in_transaction

from config.data import HOUSEHOLD_CATEGORIES
from models import ResidentProfile, Station
from server import audit
from server.errors import DomainError, ValidationFailed
from server.people import residents
from server.pii import FieldCipher, normalize_id_number, normalize_phone

# The template's columns: (field, header, required). The headers are what a station's staff see.
COLUMNS = (
    ("name", "姓名", True),
    ("id_number", "身份证号", True),
    ("phone", "手机号", False),
    ("address", "居住地址", False),
    ("community", "所在社区", False),
    ("station", "所属驿站", True),
    ("categories", "救助类别", False),
    ("guardian_name", "监护人姓名", False),
    ("guardian_phone", "监护人电话", False),
    ("guardian_relation", "监护人关系", False),
    ("notes", "备注", False),
)
HEADERS = {name: header for name, header, _ in COLUMNS}
# Other names the civil-affairs systems and stations' own sheets give the same columns.
SYNONYMS = {
    "name": ("姓名", "名字", "居民姓名", "户主姓名", "救助对象姓名"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "身份证", "证件号码"),
    "phone": ("手机号", "手机号码", "联系电话", "电话", "手机", "联系方式"),
    "address": ("居住地址", "地址", "家庭住址", "现住址", "住址"),
    "community": ("所在社区", "社区", "村居", "社区村居", "所属社区"),
    "station": ("所属驿站", "驿站", "驿站名称", "站点", "所属站点"),
    "categories": ("救助类别", "困难类别", "类别", "救助对象类别", "人员类别"),
    "guardian_name": ("监护人姓名", "监护人"),
    "guardian_phone": ("监护人电话", "监护人联系电话", "监护人手机"),
    "guardian_relation": ("监护人关系", "与监护人关系", "监护关系"),
    "notes": ("备注", "说明", "健康情况"),
}
CATEGORY_SEPARATORS = re.compile(r"[、,,;;/|\s]+")
MAX_ROWS = 50_000
TEMPLATE_EXAMPLE = ("王秀英", "371002194003120021", "13912345678", "鲸园街道新威社区3号楼2单元501室", "新威社区",
                    "鲸园驿站", "特困、独居", "", "", "", "高血压")


class ImportRefused(DomainError):
    status = 422
    code = "IMPORT_ROWS_INVALID"
    message = "导入文件中有错误的行,未导入任何数据,请按报告修改后重试"


def _fold(text: str) -> str:
    """A header as compared: full-width folded (NFKC), spaces and a parenthesised remark dropped."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    text = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", text)
    return re.sub(r"[\s*::]", "", text)


_BY_HEADER = {_fold(alias): name for name, aliases in SYNONYMS.items() for alias in aliases}


def template() -> bytes:
    """The xlsx a station fills in: the columns, one example row, and what each column takes."""
    book = Workbook()
    sheet = book.active
    sheet.title = "居民台账"
    sheet.append([header for _, header, _ in COLUMNS])
    sheet.append(list(TEMPLATE_EXAMPLE))
    for column in "ABCDEFGHIJK":
        sheet.column_dimensions[column].width = 18
    notes = book.create_sheet("填写说明")
    notes.append(["列", "是否必填", "说明"])
    for name, header, required in COLUMNS:
        notes.append([header, "必填" if required else "选填", {
            "id_number": "18位身份证号,用于识别居民;重复导入同一人时按身份证号更新",
            "station": "驿站名称,与系统中的名称一致;也可填驿站编号(数字)",
            "categories": "多个类别用、或,分隔,如:特困、独居;可用类别:" + "、".join(HOUSEHOLD_CATEGORIES),
            "guardian_name": "未满14周岁的居民须填写监护人姓名、电话和关系",
            "notes": "健康情况等,仅本驿站可见",
        }.get(name, "")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass
class Report:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, row: int, name: str, code: str, message: str) -> None:
        self.errors.append({"row": row, "field": HEADERS.get(name, name), "code": code, "message": message})

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "errors": self.errors}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number Excel stored as a float (a phone typed into a number cell)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _sheet_rows(data: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a zip that is no workbook, a damaged file: openpyxl raises many kinds
        raise ValidationFailed("无法读取该文件,请上传 Excel(.xlsx)文件",
                               details=[{"field": "file", "type": "not_xlsx"}]) from None
    try:
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, values
    finally:
        book.close()


@dataclass
class _Row:
    number: int
    data: dict[str, Any]
    index: str


async def _stations() -> tuple[dict[str, list[int]], set[int]]:
    by_name: dict[str, list[int]] = {}
    ids = set()
    for station_id, name in await Station.all().values_list("id", "name"):
        by_name.setdefault(_fold(name), []).append(station_id)
        ids.add(station_id)
    return by_name, ids


def _check_row(number: int, raw: dict[str, str], *, report: Report, stations: tuple[dict[str, list[int]], set[int]],
               allowed_station: int | None) -> dict[str, Any] | None:
    """One row as the API's ResidentIn would take it, or None with its errors in ``report``."""
    before = len(report.errors)
    data: dict[str, Any] = {}
    name = raw.get("name", "")
    if not name:
        report.refuse(number, "name", "MISSING", "请填写姓名")
    elif len(name) > 40:
        report.refuse(number, "name", "TOO_LONG", "姓名最多40个字")
    data["name"] = name
    try:
        data["id_number"] = normalize_id_number(raw.get("id_number", ""))
    except ValueError:
        report.refuse(number, "id_number", "ID_NUMBER_INVALID" if raw.get("id_number") else "MISSING",
                      "身份证号无效(请检查位数、出生日期和校验位)" if raw.get("id_number") else "请填写身份证号")
    for key in ("phone", "guardian_phone"):
        if raw.get(key):
            try:
                data[key] = normalize_phone(raw[key])
            except ValueError:
                report.refuse(number, key, "PHONE_INVALID", "手机号应为11位大陆手机号")
    for key, limit in (("address", 200), ("community", 80), ("guardian_name", 40), ("guardian_relation", 20),
                       ("notes", 2000)):
        if raw.get(key):
            if len(raw[key]) > limit:
                report.refuse(number, key, "TOO_LONG", f"最多{limit}个字")
            data[key] = raw[key]
    categories = [c for c in CATEGORY_SEPARATORS.split(raw.get("categories", "")) if c]
    unknown = [c for c in categories if c not in HOUSEHOLD_CATEGORIES]
    if unknown:
        report.refuse(number, "categories", "CATEGORY_UNKNOWN", f"未知的救助类别:{'、'.join(unknown[:5])}")
    data["categories"] = list(dict.fromkeys(categories))
    station = raw.get("station", "")
    by_name, ids = stations
    found = [int(station)] if station.isdigit() and int(station) in ids else by_name.get(_fold(station), [])
    if not station:
        report.refuse(number, "station", "MISSING", "请填写所属驿站")
    elif not found:
        report.refuse(number, "station", "STATION_UNKNOWN", f"没有名为「{station[:40]}」的驿站")
    elif len(found) > 1:
        report.refuse(number, "station", "STATION_AMBIGUOUS", "有多个同名驿站,请填写驿站编号")
    elif allowed_station is not None and found[0] != allowed_station:
        report.refuse(number, "station", "OTHER_STATION", "只能导入本驿站的居民")
    else:
        data["station_id"] = found[0]
    if len(report.errors) == before:
        if data.get("guardian_name"):
            data["guardian_consent"] = True  # the roster's guardian, on the civil-affairs record
        notes = data.pop("notes", None)
        if notes:
            data["health_notes"] = notes
        try:
            residents.check_profile(data=data)
        except ValidationFailed as exc:
            report.refuse(number, "guardian_name", exc.code, exc.message)
    return data if len(report.errors) == before else None


async def run(*, data: bytes, actor_id: int | None, station_id: int | None, cipher: FieldCipher, now: datetime,
              dry_run: bool, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Check (``dry_run``) or import a roster file. ``station_id``: the only station whose rows the
    caller may import (a worker's), None for any (an administrator, the shell command). Raises
    ``ImportRefused`` (422, the report as details) when a real run meets a wrong row."""
    report = Report()
    stations = await _stations()
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    columns: list[str | None] | None = None
    for number, values in _sheet_rows(data):
        if columns is None:
            columns = [_BY_HEADER.get(_fold(v)) if v is not None else None for v in values]
            missing = [HEADERS[name] for name, _, required in COLUMNS if required and name not in columns]
            if missing:
                raise ValidationFailed(f"表头缺少:{'、'.join(missing)}(可下载模板对照)",
                                       details=[{"field": "file", "type": "columns_missing", "missing": missing}])
            continue
        raw = {key: _cell(value) for key, value in zip(columns, values) if key is not None}
        if not any(raw.values()):
            continue  # an empty line between blocks of rows
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise ValidationFailed(f"一次最多导入{MAX_ROWS}行,请分批导入", details=[{"field": "file", "type": "too_many_rows"}])
        checked = _check_row(number, raw, report=report, stations=stations, allowed_station=station_id)
        if checked is None:
            continue
        index = cipher.blind_index(checked["id_number"], context=residents.CTX["id_number"])
        if index in seen:
            report.refuse(number, "id_number", "DUPLICATE_IN_FILE", f"与第{seen[index]}行的身份证号重复")
            continue
        seen[index] = number
        rows.append(_Row(number, checked, index))
        if progress is not None and report.rows % 500 == 0:
            progress(report.rows)
    if columns is None:
        raise ValidationFailed("文件是空的", details=[{"field": "file", "type": "empty"}])
    existing = await _existing([r.index for r in rows])
    plan: list[tuple[_Row, ResidentProfile | None, list[str]]] = []
    for row in rows:
        held = existing.get(row.index)
        if held is not None and held.station_id != row.data["station_id"]:
            report.refuse(row.number, "id_number", "HELD_BY_OTHER_STATION", "该居民已登记在其他驿站,请与该驿站核实")
            continue
        changed = _changes(held, row.data, cipher) if held is not None else []
        plan.append((row, held, changed))
        if held is None:
            report.created += 1
        elif changed:
            report.updated += 1
        else:
            report.unchanged += 1
    report.errors.sort(key=lambda e: e["row"])
    if dry_run:
        return report.as_dict()
    if report.errors:
        raise ImportRefused(details=report.as_dict())
    async with in_transaction():
        for done, (row, held, changed) in enumerate(plan, start=1):
            if held is None:
                resident = ResidentProfile(entered_on_behalf=True, entered_by=actor_id)
                residents.apply_profile(resident, data=row.data, cipher=cipher, actor_id=actor_id, now=now)
                await resident.save()
            elif changed:
                residents.apply_profile(held, data={**_current(held, cipher), **row.data}, cipher=cipher, actor_id=actor_id,
                                now=now)
                await held.save()
                await audit.record(actor_id=actor_id, action="resident.import_update", subject_type="resident",
                                   subject_id=held.id, fields=changed)
            if progress is not None and done % 500 == 0:
                progress(done)
        await audit.record(actor_id=actor_id, action="resident.import", subject_type="station",
                           subject_id=station_id, detail={"sha256": hashlib.sha256(data).hexdigest(),
                                                          **{k: v for k, v in report.as_dict().items() if k != "errors"}})
    return report.as_dict()


async def _existing(indexes: Iterable[str]) -> dict[str, ResidentProfile]:
    wanted = list(indexes)
    out: dict[str, ResidentProfile] = {}
    for start in range(0, len(wanted), 1000):
        for resident in await ResidentProfile.filter(id_number_index__in=wanted[start:start + 1000], status="active"):
            out[resident.id_number_index] = resident
    return out


# What a roster row says of a household, against what the profile holds.
_COMPARED = ("name", "phone", "address", "community", "categories", "guardian_name", "guardian_phone",
             "guardian_relation", "health_notes")


def _current(resident: ResidentProfile, cipher: FieldCipher) -> dict[str, Any]:
    """The profile as the fields ``apply`` takes (decrypted): what an update keeps of it."""
    full = residents.present(resident, cipher=cipher, masked=False)
    keep = {k: full.get(k) for k in ("lat", "lng", "guardian_consent")}
    keep["guardian_consent"] = resident.guardian_consent_at is not None
    return {**{k: full.get(k) for k in _COMPARED}, **keep, "id_number": full["id_number"],
            "station_id": resident.station_id}


def _changes(resident: ResidentProfile, data: dict[str, Any], cipher: FieldCipher) -> list[str]:
    now = _current(resident, cipher)
    changed = []
    for key in _COMPARED:
        new = data.get(key)
        old = now.get(key)
        if key == "categories":
            if sorted(new or []) != sorted(old or []) or resident.declared_categories is not None:
                changed.append(key)
        elif key in data and (new or None) != (old or None):
            changed.append(key)
    return changed
