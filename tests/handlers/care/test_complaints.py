"""Complaints over HTTP with the app's clock moved: filed by a household, a worker for one, or a
volunteer; answered by the station; accepted, or reopened and the second time escalated; left
unanswered past the deadline, escalated once even with two job runners; counted."""

from __future__ import annotations

import asyncio

from models import Complaint, Notification
from server import sql
from server.care import complaints
from server.ops import jobs
from tests.builders import (
    clock_moved, make_admin, make_need, make_resident, make_station, make_volunteer, make_worker,
)

DAY = 24 * 60


async def test_a_household_complains_the_station_answers_and_it_is_accepted(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    r = await client.post("/api/v1/complaints", headers=resident.headers,
                          json={"subject": "service", "subject_id": need["id"], "text": "志愿者迟到一个小时"})
    assert r.status_code == 201, r.text
    complaint = r.json()
    assert complaint["status"] == "open"
    assert await Notification.filter(user_id=worker.id, event="complaint_received").exists()
    stored = (await sql.rows("SELECT text FROM complaints WHERE id = %s", [complaint["id"]]))[0]["text"]
    assert "迟到" not in stored  # sealed at rest
    assert (await Complaint.get(id=complaint["id"])).text == "志愿者迟到一个小时"

    other = await make_worker(client, await make_station())
    assert (await client.get(f"/api/v1/complaints/{complaint['id']}", headers=other.headers)).status_code == 404
    r = await client.post(f"/api/v1/complaints/{complaint['id']}/answer", json={"text": "已核实,向您致歉"},
                          headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "answered"
    assert await Notification.filter(user_id=resident.id, event="complaint_answered").exists()
    assert (await client.post(f"/api/v1/complaints/{complaint['id']}/accept", headers=worker.headers)).status_code == 403
    r = await client.post(f"/api/v1/complaints/{complaint['id']}/accept", headers=resident.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    listed = (await client.get("/api/v1/complaints", headers=worker.headers)).json()["items"]
    assert [c["id"] for c in listed] == [complaint["id"]]


async def test_reopened_twice_it_goes_up_to_the_district(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post("/api/v1/complaints", headers=volunteer.headers,
                          json={"subject": "station", "text": "积分迟迟未到账"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for round_ in (1, 2):
        r = await client.post(f"/api/v1/complaints/{cid}/answer", json={"text": f"第{round_}次答复"}, headers=worker.headers)
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/complaints/{cid}/reopen", json={"reason": "仍未解决"}, headers=volunteer.headers)
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "escalated" and r.json()["reopen_count"] == 2
    assert await Notification.filter(user_id=admin.id, event="complaint_escalated").count() == 1
    # Now the district may answer it too.
    r = await client.post(f"/api/v1/complaints/{cid}/answer", json={"text": "区民政局督办处理"}, headers=admin.headers)
    assert r.status_code == 200


async def test_unanswered_past_the_deadline_it_is_escalated_once(api, client):
    station = await make_station()
    await make_worker(client, station)
    admin = await make_admin(client)
    resident, _ = await make_resident(client, station)
    r = await client.post("/api/v1/complaints", headers=resident.headers, json={"subject": "station", "text": "无人回复"})
    cid = r.json()["id"]
    settings = api.app.ctx.settings
    with clock_moved(2 * DAY, api.app):
        assert (await jobs.run_all(settings=settings, now=api.app.ctx.clock()))["escalated_complaints"] == 0
    with clock_moved(3 * DAY + 60, api.app):
        now = api.app.ctx.clock()
        done = await asyncio.gather(jobs.run_all(settings=settings, now=now), jobs.run_all(settings=settings, now=now))
        assert sorted(d["escalated_complaints"] for d in done) == [0, 1]
        counted = await complaints.counts(station_ids=[station.id], now=now)
    assert (await Complaint.get(id=cid)).status == "escalated"
    assert await Notification.filter(user_id=admin.id, event="complaint_escalated").count() == 1
    assert counted == {"open": 0, "overdue": 0, "escalated": 1, "resolved": 0}


async def test_who_may_complain_and_about_what(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    elsewhere = await make_station()
    other_need = await make_need(client, (await make_resident(client, elsewhere))[0])
    resident, household = await make_resident(client, station)
    r = await client.post("/api/v1/complaints", headers=resident.headers,
                          json={"subject": "service", "subject_id": other_need["id"], "text": "不是本站的"})
    assert r.status_code == 400  # another station's need is no subject of this household's complaint
    r = await client.post("/api/v1/complaints", headers=worker.headers,
                          json={"subject": "station", "text": "代老人投诉", "resident_id": household["id"]})
    assert r.status_code == 201, r.text
    nobody, _ = await make_volunteer(client, station)  # not yet approved
    r = await client.post("/api/v1/complaints", headers=nobody.headers, json={"subject": "station", "text": "x"})
    assert r.status_code == 403


async def test_the_statistics_count_the_complaints(api, client):
    import re

    from tests.handlers.console.support import console_browser

    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    for text in ("服务不及时", "态度不好"):
        r = await client.post("/api/v1/complaints", headers=resident.headers, json={"subject": "station", "text": text})
        assert r.status_code == 201, r.text
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/stats")
    assert re.search(r'data-name="complaints_open">2<', page.text)
