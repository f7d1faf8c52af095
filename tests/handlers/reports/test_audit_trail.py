"""The audit trail as an auditor reads it, over HTTP: who saw a household's full record, in words
and with the reason given; filtered by household, reader, action and local dates; exported as a
workbook; each reading and export itself on the trail; administrators only."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

from openpyxl import load_workbook

from models import AuditLog
from server.clock import CHINA_TZ
from tests.builders import make_admin, make_resident, make_station, make_worker
from tests.handlers.console.support import console_browser


def today(offset: int = 0) -> str:
    return (datetime.now(CHINA_TZ) + timedelta(days=offset)).date().isoformat()


async def test_who_saw_this_persons_data_and_why(api, client):
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    other_worker = await make_worker(client, await make_station())
    admin = await make_admin(client)
    resident, household = await make_resident(client, station, name="孙桂兰")
    _, neighbour = await make_resident(client, station, name="周建国")
    # Through the console, with a reason; through the API, without one; another household too.
    async with console_browser(api, worker.openid) as b:
        await b.get(f"/console/households/{household['id']}")
        r = await b.post(f"/console/households/{household['id']}/reveal", {"reason": "电话回访核实住址"})
        assert r.status_code == 200, r.text
    assert (await client.get(f"/api/v1/residents/{household['id']}/unmasked", headers=worker.headers)).status_code == 200
    assert (await client.get(f"/api/v1/residents/{neighbour['id']}/unmasked", headers=worker.headers)).status_code == 200

    r = await client.get("/api/v1/admin/audit", params={"resident_id": household["id"], "action": "resident.read_unmasked",
                                                        "from": today(), "to": today()}, headers=admin.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["action_label"], i["subject_label"], i["detail_text"]) for i in items] == [
        ("查看居民完整信息", "居民 孙**(鲸园驿站)", ""), ("查看居民完整信息", "居民 孙**(鲸园驿站)", "事由:电话回访核实住址")]
    assert all(i["actor_label"] == f"驿站工作人员 · 鲸园驿站 · 编号 {worker.id}" and i["actor_id"] == worker.id for i in items)
    assert "姓名" in items[0]["fields_label"] and "身份证号" in items[0]["fields_label"]
    assert "孙桂兰" not in r.text  # the trail names people masked
    # By reader, and by a period that holds nothing.
    mine = (await client.get("/api/v1/admin/audit", params={"actor_id": other_worker.id}, headers=admin.headers)).json()
    assert mine["items"] == []
    before = (await client.get("/api/v1/admin/audit", params={"resident_id": household["id"], "from": today(-3),
                                                              "to": today(-2)}, headers=admin.headers)).json()
    assert before["items"] == []

    # The export: the same rows in words, and no code in any cell.
    r = await client.get("/api/v1/admin/audit/export", params={"resident_id": household["id"]}, headers=admin.headers)
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[1] == ("时间", "操作", "操作人", "对象", "涉及个人信息", "说明")
    assert ("事由:电话回访核实住址" in [row[5] for row in rows[2:]])
    assert not any(isinstance(cell, str) and re.search(r"\b(resident|read_unmasked|worker)\b", cell)
                   for row in rows for cell in row)

    # Reading the trail is on the trail: who, with what filters.
    read = await AuditLog.filter(action__in=("audit.read", "audit.export"), actor_id=admin.id).order_by("id")
    assert [a.action for a in read] == ["audit.read", "audit.read", "audit.read", "audit.export"]
    assert read[0].detail["resident_id"] == household["id"] and read[0].detail["action"] == "resident.read_unmasked"
    latest = (await client.get("/api/v1/admin/audit", params={"action": "audit.export"}, headers=admin.headers)).json()
    assert latest["items"][0]["action_label"] == "导出审计日志" and "居民编号" in latest["items"][0]["detail_text"]

    # Administrators only; a filter that is not one is refused in Chinese.
    assert (await client.get("/api/v1/admin/audit", headers=worker.headers)).status_code == 403
    assert (await client.get("/api/v1/admin/audit/export", headers=resident.headers)).status_code == 403
    r = await client.get("/api/v1/admin/audit", params={"action": "drop_table"}, headers=admin.headers)
    assert r.status_code == 400 and re.search(r"[\u4e00-\u9fff]", r.json()["error"]["details"][0]["reason"])
