"""Households taken in from a station's roster (台账导入), over HTTP on the test database: every bad
row reported with its row and column, nothing imported while any row is wrong, a clean file
imported whole, the same file again changing nothing, a changed row changing only what changed."""

from __future__ import annotations

import io
import random

from openpyxl import Workbook, load_workbook

from models import AuditLog, ResidentProfile
from tests.builders import make_admin, make_station, make_volunteer, make_worker, random_id_number

HEADER = ["姓名", "身份证号", "手机号", "居住地址", "所在社区", "所属驿站", "救助类别", "监护人姓名", "监护人电话",
          "监护人关系", "备注"]


def xlsx(rows: list[list], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row(station_name: str, **overrides) -> list:
    values = {"姓名": "王秀英", "身份证号": random_id_number(), "手机号": f"139{random.randint(0, 99999999):08d}",
              "居住地址": "鲸园街道新威社区3号楼", "所在社区": "新威社区", "所属驿站": station_name,
              "救助类别": "特困、独居", "监护人姓名": None, "监护人电话": None, "监护人关系": None, "备注": None}
    values.update(overrides)
    return [values[h] for h in HEADER]


async def post(client, session, data: bytes, *, dry_run: bool):
    return await client.post("/api/v1/residents/imports", params={"dry_run": str(dry_run).lower()},
                             files={"file": ("roster.xlsx", data, "application/vnd.ms-excel")},
                             headers=session.headers)


async def test_the_template_names_every_column(client):
    worker = await make_worker(client, await make_station())
    r = await client.get("/api/v1/residents/imports/template", headers=worker.headers)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in sheet[1]] == HEADER


async def test_a_dry_run_reports_every_bad_row_with_its_row_and_column(client):
    station = await make_station(name="鲸园驿站")
    other = await make_station(name="竹岛驿站")
    worker = await make_worker(client, station)
    good = random_id_number()
    bad_checksum = good[:17] + ("0" if good[17] != "0" else "1")
    data = xlsx([
        row("鲸园驿站", 身份证号=good),                 # row 2: fine
        row("鲸园驿站", 身份证号=bad_checksum),          # row 3
        row("鲸园驿站", 手机号="12345"),                 # row 4
        row("鲸园驿站", 救助类别="特困、富裕户"),          # row 5
        row("不存在驿站"),                              # row 6
        row("竹岛驿站"),                                # row 7: another station's
        row("鲸园驿站", 身份证号=good),                 # row 8: the same person twice
    ])
    r = await post(client, worker, data, dry_run=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["rows"] == 7 and report["created"] == 1
    found = {(e["row"], e["field"], e["code"]) for e in report["errors"]}
    assert found == {(3, "身份证号", "ID_NUMBER_INVALID"), (4, "手机号", "PHONE_INVALID"),
                     (5, "救助类别", "CATEGORY_UNKNOWN"), (6, "所属驿站", "STATION_UNKNOWN"),
                     (7, "所属驿站", "OTHER_STATION"), (8, "身份证号", "DUPLICATE_IN_FILE")}
    assert all(e["message"] for e in report["errors"])
    assert not await ResidentProfile.exists(station_id=station.id)  # a dry run changes nothing
    assert other.id


async def test_one_bad_row_and_nothing_is_imported(client):
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    rows = [row("鲸园驿站") for _ in range(20)] + [row("鲸园驿站", 手机号="110")]
    r = await post(client, worker, xlsx(rows), dry_run=False)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "IMPORT_ROWS_INVALID" and error["details"]["errors"][0]["row"] == 22
    assert await ResidentProfile.filter(station_id=station.id).count() == 0


async def test_a_clean_file_imports_whole_and_again_changes_nothing(client):
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    rows = [row("鲸园驿站", 姓名=f"居民{i}") for i in range(1000)]
    data = xlsx(rows)
    r = await post(client, worker, data, dry_run=False)
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 1000, "created": 1000, "updated": 0, "unchanged": 0, "errors": []}
    assert await ResidentProfile.filter(station_id=station.id).count() == 1000
    imported = await ResidentProfile.filter(station_id=station.id).first()
    # The roster is the civil-affairs record: its categories are checked ones, nothing awaits a check.
    assert imported.categories == ["特困", "独居"] and imported.declared_categories is None
    r = await post(client, worker, data, dry_run=False)
    assert r.json() == {"rows": 1000, "created": 0, "updated": 0, "unchanged": 1000, "errors": []}
    assert await ResidentProfile.filter(station_id=station.id).count() == 1000
    log = await AuditLog.filter(action="resident.import").order_by("id")
    assert len(log) == 2 and log[0].actor_id == worker.id and len(log[0].detail["sha256"]) == 64


async def test_a_changed_row_changes_only_what_changed(client):
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    first = row("鲸园驿站", 备注="高血压")
    await post(client, worker, xlsx([first]), dry_run=False)
    moved = list(first)
    moved[HEADER.index("手机号")] = "13800001111"
    moved[HEADER.index("救助类别")] = "低保"
    moved[HEADER.index("备注")] = None  # a roster without the remark keeps the one on record
    r = await post(client, worker, xlsx([moved]), dry_run=False)
    assert r.json()["updated"] == 1
    resident = await ResidentProfile.get(station_id=station.id)
    full = (await client.get(f"/api/v1/residents/{resident.id}/unmasked", headers=worker.headers)).json()
    assert full["phone"] == "13800001111" and full["categories"] == ["低保"] and full["health_notes"] == "高血压"
    change = await AuditLog.get(action="resident.import_update", subject_id=resident.id)
    assert sorted(change.fields_read) == ["categories", "phone"]


async def test_headers_are_matched_leniently(client):
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    header = [" 姓 名 ", "公民身份号码", "联系电话", "家庭住址", "社区", "驿站", "困难类别(可多选)", "监护人", "监护人手机",
              "与监护人关系", "说明"]
    r = await post(client, worker, xlsx([row("鲸园驿站")], header=header), dry_run=True)
    assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["errors"] == [], r.text
    r = await post(client, worker, xlsx([["王秀英"]], header=["名字"]), dry_run=True)
    assert r.status_code == 400 and "身份证号" in r.json()["error"]["message"]


async def test_who_may_import(client):
    station = await make_station(name="鲸园驿站")
    await make_station(name="竹岛驿站")
    volunteer, _ = await make_volunteer(client, station)
    admin = await make_admin(client)
    data = xlsx([row("鲸园驿站"), row("竹岛驿站")])
    assert (await post(client, volunteer, data, dry_run=True)).status_code == 403
    r = await post(client, admin, data, dry_run=False)  # an administrator: any station's rows
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    r = await client.post("/api/v1/residents/imports", files={"file": ("x.xlsx", b"not a workbook", "text/plain")},
                          headers=admin.headers)
    assert r.status_code == 400 and r.json()["error"]["details"][0]["type"] == "not_xlsx"


async def test_the_shell_command_checks_then_imports(api, tmp_path):
    import asyncio

    from tests.test_scripts import run_script

    station = await make_station(name="鲸园驿站")
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx([row("鲸园驿站") for _ in range(3)]))
    done = await asyncio.to_thread(run_script, "import_residents", str(path), settings=api.settings)
    assert done.returncode == 0, done.stderr
    assert '"created": 3' in done.stdout and "nothing imported" in done.stderr
    assert not await ResidentProfile.exists(station_id=station.id)
    done = await asyncio.to_thread(run_script, "import_residents", str(path), "--commit", settings=api.settings)
    assert done.returncode == 0, done.stderr
    assert await ResidentProfile.filter(station_id=station.id).count() == 3
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx([row("鲸园驿站", 手机号="1")]))
    done = await asyncio.to_thread(run_script, "import_residents", str(bad), "--commit", settings=api.settings)
    assert done.returncode == 1 and "PHONE_INVALID" in done.stdout


async def test_a_worker_checks_then_imports_a_roster_in_the_console(api, client):
    from tests.handlers.console.support import console_browser

    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    bad = xlsx([row("鲸园驿站"), row("鲸园驿站", 手机号="110")])
    good = xlsx([row("鲸园驿站") for _ in range(3)])
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/households/import")
        assert page.status_code == 200 and "下载模板" in page.text
        template = await b.get("/console/households/import/template.xlsx")
        assert template.status_code == 200 and template.content[:2] == b"PK"
        headers = {"X-CSRF-Token": b.csrf, "HX-Request": "true"}
        r = await b.client.post("/console/households/import", data={"commit": "yes"},
                                files={"file": ("r.xlsx", bad, "application/octet-stream")}, headers=headers)
        assert r.status_code == 422 and "手机号应为11位大陆手机号" in r.text and ">3<" in r.text  # row 3
        r = await b.client.post("/console/households/import", data={"commit": "no"},
                                files={"file": ("r.xlsx", good, "application/octet-stream")}, headers=headers)
        assert r.status_code == 200 and "检查通过" in r.text
        assert not await ResidentProfile.exists(station_id=station.id)
        r = await b.client.post("/console/households/import", data={"commit": "yes"},
                                files={"file": ("r.xlsx", good, "application/octet-stream")}, headers=headers)
        assert r.status_code == 200 and "导入完成" in r.text
    assert await ResidentProfile.filter(station_id=station.id).count() == 3
