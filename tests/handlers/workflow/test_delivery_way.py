"""How each service was delivered (服务方式), over HTTP: said at dispatch (volunteers by default),
set by an organisation's acceptance (its own service, or a purchased one when a project of it
covers the task), changed by the station's worker with a line on the timeline, and counted in the
statistics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models import Project, Task
from tests.builders import (
    grant, iso, login, make_admin, make_need, make_resident, make_station, make_task, make_volunteer, make_worker,
    soon,
)
from tests.handlers.care.test_projects import qualified_organization
from tests.handlers.care.test_stats import deliver
from tests.handlers.test_platform import assert_error


async def accept_referral(client, worker, station, org, staff, need) -> dict:
    task = await make_task(client, worker, need)
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert r.status_code == 201, r.text
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)
    r = await client.post(f"/api/v1/referrals/{r.json()['id']}/accept", json={"assignee_user_ids": [member.id]},
                          headers=staff.headers)
    assert r.status_code == 200, r.text
    return task


async def test_delivery_ways_from_dispatch_acceptance_and_the_worker(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    resident, _ = await make_resident(client, station)

    # Dispatch: volunteers by default, or as the worker says (a department's service, 部门联动).
    plain = await make_task(client, worker, await make_need(client, resident))
    linked = await make_task(client, worker, await make_need(client, (await make_resident(client, station))[0]),
                             delivery_way="department")
    assert (await Task.get(id=plain["id"])).delivery_way == "volunteer"
    assert (await Task.get(id=linked["id"])).delivery_way == "department"
    need = await make_need(client, (await make_resident(client, station))[0])
    r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    r = await client.post(f"/api/v1/needs/{need['id']}/tasks", json={
        "title": "打扫", "scheduled_start": iso(soon(10)), "scheduled_end": iso(soon(70)), "delivery_way": "magic"},
        headers=worker.headers)
    assert_error(r, 400, "VALIDATION_ERROR")

    # An organisation takes a task on: its own service; with a project of it covering the task, purchased.
    org = await qualified_organization(services=["CLEAN_HOME"], station_ids=[station.id])
    staff = await grant(await login(client), "org_staff", organization_id=org.id)
    own = await accept_referral(client, worker, station, org, staff, await make_need(client, (await make_resident(client, station))[0]))
    assert (await Task.get(id=own["id"])).delivery_way == "social_org"
    now = datetime.now(timezone.utc)
    await Project.create(name="居家清洁", organization_id=org.id, budget_fen=100, created_by=admin.id, status="in_progress",
                         starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30), services=["CLEAN_HOME"],
                         station_ids=[station.id])
    bought = await accept_referral(client, worker, station, org, staff,
                                   await make_need(client, (await make_resident(client, station))[0]))
    assert (await Task.get(id=bought["id"])).delivery_way == "purchased"

    # The worker changes it: said on the need's timeline; another station's worker cannot.
    r = await client.put(f"/api/v1/tasks/{plain['id']}/delivery-way", json={"delivery_way": "neighbour"},
                         headers=worker.headers)
    assert r.status_code == 200 and r.json()["delivery_way_label"] == "邻里互助", r.text
    timeline = (await client.get(f"/api/v1/needs/{plain['need_id']}/timeline", headers=worker.headers)).json()["events"]
    assert "服务方式:志愿服务 → 邻里互助" in [e["reason"] for e in timeline]
    other = await make_worker(client, await make_station())
    r = await client.put(f"/api/v1/tasks/{plain['id']}/delivery-way", json={"delivery_way": "charity"},
                         headers=other.headers)
    assert r.status_code == 404 and (await Task.get(id=plain["id"])).delivery_way == "neighbour"
    r = await client.put(f"/api/v1/tasks/{plain['id']}/delivery-way", json={"delivery_way": "charity"},
                         headers=volunteer.headers)
    assert r.status_code in (403, 404)

    # Counted: tasks by way in the period, and services done each way.
    await deliver(client, worker, volunteer, await make_need(client, (await make_resident(client, station))[0]), 20)
    period = {"scope": "station", "from": (now - timedelta(hours=1)).isoformat(),
              "to": (now + timedelta(hours=2)).isoformat()}
    body = (await client.get("/api/v1/stats/overview", params=period, headers=worker.headers)).json()
    delivery = body["delivery"]
    assert {k: (v["label"], v["tasks"]) for k, v in delivery.items() if v["tasks"]} == {
        "volunteer": ("志愿服务", 1), "department": ("部门联动", 1), "social_org": ("社会组织服务", 1),
        "purchased": ("政府购买服务", 1), "neighbour": ("邻里互助", 1)}
    assert delivery["volunteer"]["services"] == 1 and sum(v["tasks"] for v in delivery.values()) == body["tasks"]["created"]
