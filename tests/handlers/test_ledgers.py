"""Excel ledgers: masked by default, unmasked only for the station and audited, streamed with a
bounded memory footprint."""

import io
import tracemalloc
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from models import AuditLog, PointsAccount, PointsEntry, User
from server.services import ledgers
from tests.builders import make_admin, make_need, make_resident, make_station, make_worker
from tests.handlers.test_platform import assert_error


def window():
    now = datetime.now(timezone.utc)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}


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
        path = await ledgers.build(kind="points", station_id=None, start=now - timedelta(hours=1), end=now + timedelta(hours=1),
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


async def test_service_records_and_volunteer_hours_ledgers(client):
    from tests.builders import make_volunteer
    from tests.handlers.test_stats import deliver

    station = await make_station()
    worker = await make_worker(client, station)
    v1, _ = await make_volunteer(client, station, approved_by=worker, name="赵志愿")
    v2, _ = await make_volunteer(client, station, approved_by=worker, name="钱志愿")
    for volunteer, minutes in ((v1, 15), (v1, 10), (v2, 12)):
        resident, _ = await make_resident(client, station)
        await deliver(client, worker, volunteer, await make_need(client, resident), minutes)
    r = await client.get("/api/v1/ledgers/service_records", params=window(), headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[1][0] == "记录号" and len(rows) == 2 + 3
    assert sorted(row[6] for row in rows[2:]) == [10, 12, 15]
    assert {row[3] for row in rows[2:]} == {"赵**", "钱**"}
    r = await client.get("/api/v1/ledgers/volunteer_hours", params=window(), headers=worker.headers)
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert [(row[1], row[2], row[3]) for row in rows[2:]] == [("赵**", 2, round(25 / 60, 2)), ("钱**", 1, round(12 / 60, 2))]
