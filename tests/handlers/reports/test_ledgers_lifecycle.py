"""The exits (退出台账) and complaints (投诉台账) ledgers, over HTTP: each comes down as Excel with
Chinese headers and labels and no internal code in any cell, holds only the caller's station for a
worker, is masked by default, and has a complaint's words and its answer only in the station's
unmasked export, which is audited."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from models import AuditLog, ResidentProfile
from models.complaints import COMPLAINT_STATES, COMPLAINT_SUBJECTS
from server import labels
from tests.builders import make_admin, make_need, make_resident, make_station, make_volunteer, make_worker
from tests.handlers.console.test_console import console_client
from tests.handlers.reports.test_ledgers import window
from tests.handlers.test_platform import assert_error

CODES = {*COMPLAINT_STATES, *COMPLAINT_SUBJECTS, *labels.EXIT_REASON, *labels.ROLE}


def sheet_rows(r) -> list[tuple]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    return list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))


def no_codes(rows: list[tuple]) -> None:
    cells = {cell for row in rows for cell in row if isinstance(cell, str)}
    assert not cells & CODES, cells & CODES


async def test_exits_ledger_lists_each_exit_and_when_it_was_undone(api, client):
    station, other = await make_station(name="鲸园驿站"), await make_station(name="竹岛驿站")
    worker = await make_worker(client, station)
    _, moved = await make_resident(client, station, name="王秀英")
    _, back = await make_resident(client, station, name="李建国")
    _, elsewhere = await make_resident(client, other, name="张桂芝")
    r = await client.post(f"/api/v1/residents/{moved['id']}/exit", json={"reason": "moved_away", "note": "随子女迁往青岛"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    assert (await client.post(f"/api/v1/residents/{back['id']}/exit", json={"reason": "not_eligible"},
                              headers=worker.headers)).status_code == 200
    assert (await client.post(f"/api/v1/residents/{back['id']}/reinstate", headers=worker.headers)).status_code == 200
    r = await client.post(f"/api/v1/residents/{elsewhere['id']}/exit", json={"reason": "deceased"},
                          headers=(await make_worker(client, other)).headers)
    assert r.status_code == 200, r.text

    rows = sheet_rows(await client.get("/api/v1/ledgers/exits", params=window(), headers=worker.headers))
    assert "退出台账" in rows[0][0] and "个人信息已脱敏" in rows[0][0]
    assert rows[1] == ("居民", "身份证号", "驿站", "退出原因", "说明", "办理人", "退出时间", "恢复时间")
    data = rows[2:]
    id_masks = dict(await ResidentProfile.filter(id__in=[moved["id"], back["id"]]).values_list("name", "id_number_masked"))
    assert [row[:6] for row in data] == [
        ("王**", id_masks["王秀英"], "鲸园驿站", "迁出本辖区", "随子女迁往青岛", f"驿站工作人员 · 鲸园驿站 · 编号 {worker.id}"),
        ("李**", id_masks["李建国"], "鲸园驿站", "不再符合救助条件", None, f"驿站工作人员 · 鲸园驿站 · 编号 {worker.id}"),
    ]
    assert all(row[6] for row in data)  # when, local time
    assert data[0][7] is None and data[1][7] >= data[1][6]  # brought back: when
    assert "*" in id_masks["王秀英"]
    no_codes(rows)
    assert not await AuditLog.exists(action="ledger.export_unmasked")

    r = await client.get("/api/v1/ledgers/exits", params={**window(), "unmasked": "true"}, headers=worker.headers)
    assert [row[0] for row in sheet_rows(r)[2:]] == ["王秀英", "李建国"]
    audit = await AuditLog.get(action="ledger.export_unmasked")
    assert audit.actor_id == worker.id and audit.subject_id == station.id
    assert audit.fields_read == ["name"] and audit.detail == {"kind": "exits"}

    admin = await make_admin(client)
    city = sheet_rows(await client.get("/api/v1/ledgers/exits", params=window(), headers=admin.headers))[2:]
    assert [(row[0], row[2], row[3]) for row in city] == [
        ("王**", "鲸园驿站", "迁出本辖区"), ("李**", "鲸园驿站", "不再符合救助条件"), ("张**", "竹岛驿站", "去世")]
    assert_error(await client.get("/api/v1/ledgers/exits", params={**window(), "station_id": other.id},
                                  headers=worker.headers), 403, "FORBIDDEN")


async def test_complaints_ledger_keeps_the_words_for_the_stations_unmasked_export(api, client):
    station, other = await make_station(name="鲸园驿站"), await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station, name="王秀英")
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    need = await make_need(client, resident)
    late = (await client.post("/api/v1/complaints", headers=resident.headers, json={
        "subject": "service", "subject_id": need["id"], "text": "志愿者迟到一个小时"})).json()
    r = await client.post(f"/api/v1/complaints/{late['id']}/answer", json={"text": "已核实,向您致歉"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert (await client.post(f"/api/v1/complaints/{late['id']}/accept", headers=resident.headers)).status_code == 200
    points = (await client.post("/api/v1/complaints", headers=volunteer.headers, json={
        "subject": "station", "text": "积分迟迟未到账"})).json()
    their_resident, _ = await make_resident(client, other)
    assert (await client.post("/api/v1/complaints", headers=their_resident.headers, json={
        "subject": "station", "text": "别处的投诉"})).status_code == 201

    rows = sheet_rows(await client.get("/api/v1/ledgers/complaints", params=window(), headers=worker.headers))
    assert "投诉台账" in rows[0][0] and "个人信息已脱敏" in rows[0][0]
    assert rows[1] == ("编号", "驿站", "对象", "投诉人", "提出时间", "答复期限", "状态", "答复时间", "重新提出次数",
                       "上报时间", "结案时间")
    data = rows[2:]
    assert [(row[0], row[1], row[2], row[3], row[6], row[8]) for row in data] == [
        (late["id"], "鲸园驿站", "服务", "王**", "已解决", 0), (points["id"], "鲸园驿站", "驿站", "志愿者", "待答复", 0)]
    assert all(row[4] and row[5] for row in data)  # filed, due
    assert data[0][7] and data[0][10] and data[1][7] is None and data[1][9] is None
    no_codes(rows)
    text = str(rows)
    assert "迟到" not in text and "致歉" not in text and "积分迟迟" not in text and "别处" not in text
    assert not await AuditLog.exists(action="ledger.export_unmasked")

    rows = sheet_rows(await client.get("/api/v1/ledgers/complaints", params={**window(), "unmasked": "true"},
                                       headers=worker.headers))
    assert rows[1][-2:] == ("投诉内容", "答复内容") and "含完整个人信息" in rows[0][0]
    assert [(row[3], row[-2], row[-1]) for row in rows[2:]] == [
        ("王秀英", "志愿者迟到一个小时", "已核实,向您致歉"), ("志愿者", "积分迟迟未到账", None)]
    no_codes(rows)
    audit = await AuditLog.get(action="ledger.export_unmasked")
    assert audit.actor_id == worker.id and audit.subject_id == station.id
    assert audit.fields_read == ["name", "complaint_text", "complaint_answer"] and audit.detail == {"kind": "complaints"}

    # An administrator: the whole city, masked; the words are the station's alone.
    admin = await make_admin(client)
    city = sheet_rows(await client.get("/api/v1/ledgers/complaints", params=window(), headers=admin.headers))
    assert len(city) == 2 + 3 and "别处" not in str(city)
    assert_error(await client.get("/api/v1/ledgers/complaints", params={**window(), "unmasked": "true",
                                                                          "station_id": station.id},
                                  headers=admin.headers), 403, "FORBIDDEN")


async def test_the_console_offers_both_ledgers(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station, name="王秀英")
    assert (await client.post("/api/v1/complaints", headers=resident.headers,
                              json={"subject": "station", "text": "一直没人上门"})).status_code == 201
    async with console_client(api, worker.openid) as c:
        page = await c.get("/console/ledgers")
        assert page.status_code == 200, page.text
        assert "退出台账" in page.text and "投诉台账" in page.text
        assert "/console/ledgers/exits.xlsx?" in page.text and "/console/ledgers/complaints.xlsx?" in page.text
        r = await c.get("/console/ledgers/complaints.xlsx")
    rows = sheet_rows(r)
    assert [(row[3], row[6]) for row in rows[2:]] == [("王**", "待答复")] and "一直没人上门" not in str(rows)
