"""A household's assistance ended (退出) and brought back, over HTTP: what it had going ends and
everyone is told, its history stays, it leaves the station's queues and rankings, nothing new can
be started for it, and brought back its re-assessment is due at once."""

from __future__ import annotations

from models import AuditLog, Need, Notification, Pairing, ResidentProfile, Task
from tests.builders import (
    make_need, make_open_task_and_volunteer, make_station, make_task, serve_and_record,
)
from tests.handlers.care.test_assessments import HARD, assess


async def test_ending_assistance_ends_what_the_household_had_going(api, client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    waiting = await make_need(client, resident, service_code="LIVING_SHOP")
    await assess(client, worker, need["resident_id"], HARD)
    resident_id = need["resident_id"]

    r = await client.post(f"/api/v1/residents/{resident_id}/exit", json={"reason": "other"}, headers=worker.headers)
    assert r.status_code == 400  # "other" says why
    r = await client.post(f"/api/v1/residents/{resident_id}/exit", json={"reason": "moved_away", "note": "随子女迁往青岛"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "exited" and r.json()["exit_reason"] == "moved_away"

    assert (await Need.get(id=need["id"])).status == "cancelled"
    assert (await Need.get(id=waiting["id"])).status == "cancelled"
    assert (await Task.get(id=task["id"])).status == "cancelled"
    # The volunteer who had claimed it is told; the household too.
    assert await Notification.filter(user_id=volunteer.id, event="claim_cancelled").exists()
    assert await Notification.filter(user_id=resident.id, event="need_cancelled").exists()
    audit = await AuditLog.get(action="resident.exit", subject_id=resident_id)
    assert audit.actor_id == worker.id and audit.detail == {"reason": "moved_away", "note": "随子女迁往青岛"}

    # Out of the queues and the ranking; its page and history still there for the station.
    listed = (await client.get("/api/v1/residents", headers=worker.headers)).json()
    assert resident_id not in [h["id"] for h in listed["items"]]
    ranking = (await client.get(f"/api/v1/stations/{station.id}/ranking", headers=worker.headers)).json()
    assert resident_id not in [i["resident_id"] for i in ranking["items"]]
    assert (await client.get(f"/api/v1/residents/{resident_id}", headers=worker.headers)).status_code == 200
    # Nothing new is started for it.
    r = await client.post("/api/v1/needs", headers=worker.headers,
                          json={"service_code": "CLEAN_HOME", "description": "打扫", "resident_id": resident_id})
    assert r.status_code == 409 and r.json()["error"]["code"] == "HOUSEHOLD_EXITED"


async def test_a_household_is_not_exited_while_a_volunteer_is_at_work_there(api, client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json={"lat": 37.512345, "lng": 122.121234},
                          headers=volunteer.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/residents/{need['resident_id']}/exit", json={"reason": "deceased"},
                          headers=worker.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "SERVICE_IN_PROGRESS"
    assert (await ResidentProfile.get(id=need["resident_id"])).status == "active"


async def test_brought_back_its_reassessment_is_due_at_once(api, client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await serve_and_record(client, task["id"], volunteer)
    await assess(client, worker, need["resident_id"], HARD)
    resident_id = need["resident_id"]
    r = await client.post(f"/api/v1/residents/{resident_id}/exit", json={"reason": "not_eligible"},
                          headers=worker.headers)
    assert r.status_code == 200
    # The record already submitted stays, as history, for the station to confirm.
    assert (await Task.get(id=task["id"])).status == "submitted"
    r = await client.post(f"/api/v1/residents/{resident_id}/reinstate", headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["exit_reason"] is None
    due = (await client.get(f"/api/v1/stations/{station.id}/reassessments", headers=worker.headers)).json()
    assert [(d["resident_id"], d["state"]) for d in due["due"]] == [(resident_id, "overdue")]
    r = await client.post(f"/api/v1/residents/{resident_id}/reinstate", headers=worker.headers)
    assert r.status_code == 200  # already back: nothing to do
    assert await AuditLog.filter(action="resident.reinstate", subject_id=resident_id).count() == 1
    assert not await Pairing.exists(resident_id=resident_id)
    assert await make_task(client, worker, await make_need(client, resident, service_code="LIVING_SHOP"))


async def test_the_statistics_count_the_exits_of_the_period(api, client):
    import re

    from tests.handlers.console.support import console_browser
    from tests.builders import make_resident, make_worker

    station = await make_station()
    worker = await make_worker(client, station)
    _, first = await make_resident(client, station)
    _, second = await make_resident(client, station)
    for household, reason in ((first, "moved_away"), (second, "deceased")):
        r = await client.post(f"/api/v1/residents/{household['id']}/exit", json={"reason": reason},
                              headers=worker.headers)
        assert r.status_code == 200, r.text
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/stats")
    assert re.search(r'data-name="exits">2<', page.text) and "迁出本辖区 1" in page.text and "去世 1" in page.text
