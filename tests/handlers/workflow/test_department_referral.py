"""部门联动 over HTTP: administrators keep the departments; a worker refers an open task to one, and
records its answer: served, the task is done as the department's service with no volunteer and no
points and the need completes (and can be rated); returned, the task is open again for volunteers. A
department that does not answer in its time reminds the station once. Refusals change nothing;
another station's worker finds nothing."""

from __future__ import annotations

from datetime import timedelta

from models import (
    DeadlineNotice,
    DepartmentReferral,
    Notification,
    PointsEntry,
    Task,
    TaskClaim,
)
from server.care import deadlines
from tests.builders import (
    clock_moved,
    iso,
    make_admin,
    make_district,
    make_need,
    make_open_task,
    make_resident,
    make_station,
    make_task,
    make_volunteer,
    make_worker,
    soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def make_department(client, admin, **overrides) -> dict:
    body = {"name": "环翠区卫生健康局", "contact_person": "王科长", "contact_phone": "0631 5200000", "sla_hours": 48,
            "services": ["CLEAN_HOME", "HEALTH_CHECK"]}
    body.update(overrides)
    r = await client.post("/api/v1/admin/departments", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def timeline(client, caller, need_id: int) -> list[dict]:
    r = await client.get(f"/api/v1/needs/{need_id}/timeline", headers=caller.headers)
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def test_administrators_keep_the_departments(client):
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    body = {"name": "市住房和城乡建设局", "contact_person": "李主任", "contact_phone": "（0631）5201234转8",
            "services": ["LIVING_REPAIR"]}
    r = await client.post("/api/v1/admin/departments", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    # The number as stations' are kept; no SLA given: the default of config/deadlines.json; the whole city.
    assert (made["contact_phone"], made["sla_hours"], made["district_id"], made["active"]) == ("0631-5201234转8", 72, None, True)
    assert made["service_names"] == ["家居维修"]
    assert_error(await client.post("/api/v1/admin/departments", json={**body, "contact_phone": "12345"},
                                   headers=admin.headers), 400, "VALIDATION_ERROR")
    assert_error(await client.post("/api/v1/admin/departments", json={**body, "contact_phone": ""},
                                   headers=admin.headers), 400, "VALIDATION_ERROR")
    assert_error(await client.post("/api/v1/admin/departments", json={**body, "services": ["NO_SUCH"]},
                                   headers=admin.headers), 400, "UNKNOWN_SERVICE")
    assert_error(await client.post("/api/v1/admin/departments", json=body, headers=worker.headers), 403, "FORBIDDEN")

    r = await client.patch(f"/api/v1/admin/departments/{made['id']}", json={
        "sla_hours": 24, "active": False, "contact_phone": "13806310000", "district_id": station.district_id},
        headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["sla_hours"], r.json()["active"], r.json()["contact_phone"]) == (24, False, "138-0631-0000")
    assert_error(await client.patch(f"/api/v1/admin/departments/{made['id']}", json={"name": None},
                                    headers=admin.headers), 400, "VALIDATION_ERROR")
    assert_error(await client.patch("/api/v1/admin/departments/999999", json={"active": True},
                                    headers=admin.headers), 404, "NOT_FOUND")
    listed = (await client.get("/api/v1/admin/departments?active=false", headers=admin.headers)).json()
    assert [d["id"] for d in listed] == [made["id"]]
    assert (await client.get("/api/v1/admin/departments?active=true", headers=admin.headers)).json() == []


async def test_a_district_keeps_its_own_departments_and_reads_the_citys(client):
    from tests.builders import grant, login, make_district, new_openid

    city = await make_admin(client)
    mine, theirs = await make_district(), await make_district()
    district = await grant(await login(client, new_openid("district")), "district_admin", district_id=mine.id)
    body = {"name": "区卫生健康局", "contact_person": "王科长", "contact_phone": "0631-5200000", "services": ["HEALTH_CHECK"]}
    r = await client.post("/api/v1/admin/departments", json=body, headers=district.headers)
    assert r.status_code == 201, r.text
    own = r.json()
    assert own["district_id"] == mine.id  # a district's, whatever was sent
    municipal = (await client.post("/api/v1/admin/departments", json={**body, "name": "市民政局"},
                                   headers=city.headers)).json()
    foreign = (await client.post("/api/v1/admin/departments", json={**body, "name": "别区卫健局",
                                                                    "district_id": theirs.id},
                                 headers=city.headers)).json()
    listed = {d["id"] for d in (await client.get("/api/v1/admin/departments", headers=district.headers)).json()}
    assert listed == {own["id"], municipal["id"]}
    assert_error(await client.patch(f"/api/v1/admin/departments/{foreign['id']}", json={"sla_hours": 1},
                                    headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.patch(f"/api/v1/admin/departments/{municipal['id']}", json={"sla_hours": 1},
                                    headers=district.headers), 403, "FORBIDDEN")
    assert_error(await client.patch(f"/api/v1/admin/departments/{own['id']}", json={"district_id": theirs.id},
                                    headers=district.headers), 404, "NOT_FOUND")
    r = await client.patch(f"/api/v1/admin/departments/{own['id']}", json={"sla_hours": 24}, headers=district.headers)
    assert r.status_code == 200 and r.json()["sla_hours"] == 24


async def test_a_department_serves_and_the_need_completes_without_a_volunteer(api, client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    department = await make_department(client, admin)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    now = api.app.ctx.clock()

    r = await client.post(f"/api/v1/tasks/{task['id']}/department-referral",
                          json={"department_id": department["id"], "note": "请卫生院上门清洁消毒"}, headers=worker.headers)
    assert r.status_code == 201, r.text
    referral = r.json()
    assert (referral["status"], referral["status_label"], referral["department_name"]) == ("pending", "待部门反馈", "环翠区卫生健康局")
    assert (referral["contact_person"], referral["contact_phone"]) == ("王科长", "0631-5200000")
    stored = await DepartmentReferral.get(id=referral["id"])
    assert timedelta(hours=47, minutes=59) < stored.due_at - now < timedelta(hours=48, minutes=1)
    row = await Task.get(id=task["id"])
    assert (row.status, row.delivery_way) == ("referred", "department")
    # Out of volunteers' reach while the department has it.
    assert task["id"] not in [t["id"] for t in (await client.get("/api/v1/tasks/open", headers=volunteer.headers)).json()["items"]]
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code in (404, 409)
    listed = (await client.get("/api/v1/department-referrals", headers=worker.headers)).json()
    assert [(x["id"], x["task_title"], x["overdue"]) for x in listed] == [(referral["id"], "打扫卫生", False)]

    served_at = soon(-5)
    r = await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome",
                          json={"outcome": "served", "note": "已上门服务", "served_at": iso(served_at)}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["status_label"], r.json()["answer_note"]) == ("served", "部门已服务", "已上门服务")
    row = await Task.get(id=task["id"])
    assert (row.status, row.delivery_way) == ("confirmed", "department")
    # Nobody's claim, nobody's points: the department served.
    assert not await TaskClaim.exists(task_id=task["id"]) and await PointsEntry.all().count() == 0
    r = await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)
    assert r.json()["status"] == "completed"
    assert await Notification.filter(user_id=resident.id, event="need_completed").count() == 1
    reasons = [e["reason"] for e in await timeline(client, resident, need["id"])]
    assert "转介部门:环翠区卫生健康局,2天内反馈" in reasons and "部门联动:环翠区卫生健康局已服务(已上门服务)" in reasons
    # The household rates it, which closes the need, as after any service.
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 5, "would_use_again": True},
                          headers=resident.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    # An answer is recorded once.
    assert_error(await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome",
                                   json={"outcome": "returned"}, headers=worker.headers),
                 409, "DEPARTMENT_REFERRAL_NOT_PENDING")


async def test_a_returned_task_is_open_again_and_a_volunteer_claims_it(client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    department = await make_department(client, admin)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/department-referral",
                                  json={"department_id": department["id"]}, headers=worker.headers)).json()
    # Served needs a time, in the past and not before the referral.
    for when, kind in ((None, "missing"), (soon(60), "in_future"), (soon(-600), "before_referral")):
        body = {"outcome": "served"} | ({"served_at": iso(when)} if when else {})
        r = await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome", json=body, headers=worker.headers)
        assert assert_error(r, 400, "VALIDATION_ERROR")["details"][0]["type"] == kind
    assert (await Task.get(id=task["id"])).status == "referred"

    r = await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome",
                          json={"outcome": "returned", "note": "本周人手不足"}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "returned", r.text
    row = await Task.get(id=task["id"])
    assert (row.status, row.delivery_way) == ("open", "volunteer")
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    reasons = [e["reason"] for e in await timeline(client, worker, need["id"])]
    assert "部门联动:环翠区卫生健康局退回(本周人手不足)" in reasons


async def test_refusals_change_nothing(client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station, volunteers_needed=2)
    off = await make_department(client, admin, name="已停用的部门")
    r = await client.patch(f"/api/v1/admin/departments/{off['id']}", json={"active": False}, headers=admin.headers)
    assert r.status_code == 200
    other_service = await make_department(client, admin, name="司法局", services=["LINK_LEGAL"])
    elsewhere = await make_department(client, admin, name="外区民政局",
                                      district_id=(await make_district(code="970001")).id)
    good = await make_department(client, admin)

    def refer(department_id: int, task_id: int = task["id"]):
        return client.post(f"/api/v1/tasks/{task_id}/department-referral", json={"department_id": department_id},
                           headers=worker.headers)

    assert_error(await refer(off["id"]), 409, "DEPARTMENT_INACTIVE")
    assert_error(await refer(other_service["id"]), 409, "DEPARTMENT_SERVICE_NOT_HANDLED")
    assert_error(await refer(elsewhere["id"]), 409, "DEPARTMENT_OUT_OF_DISTRICT")
    err = assert_error(await refer(999999), 400, "VALIDATION_ERROR")
    assert err["details"] == [{"field": "department_id", "type": "unknown_reference"}]
    # A task one volunteer has claimed (it stays open for the second) is theirs, not a department's.
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    assert (await Task.get(id=task["id"])).status == "open"
    err = assert_error(await refer(good["id"]), 409, "TASK_HAS_CLAIMS")
    assert "不能转介部门" in err["message"]
    # A task no longer open.
    cancelled = await make_task(client, worker, need, accept=False, title="取消的任务")
    assert (await client.post(f"/api/v1/tasks/{cancelled['id']}/cancel", json={"reason": "不需要了"},
                              headers=worker.headers)).status_code == 200
    err = assert_error(await refer(good["id"], cancelled["id"]), 409, "INVALID_STATE")
    assert err["message"] == "当前状态为「已取消」,不能转介部门"
    assert not await DepartmentReferral.exists()
    assert {(t.status, t.delivery_way) for t in await Task.filter(id=task["id"])} == {("open", "volunteer")}
    # Nor may anyone but the task's station refer or answer.
    fresh = await make_task(client, worker, need, accept=False, title="再派一个")
    other = await make_worker(client, await make_station())
    assert_error(await client.post(f"/api/v1/tasks/{fresh['id']}/department-referral",
                                   json={"department_id": good["id"]}, headers=other.headers), 404, "NOT_FOUND")
    assert_error(await client.post(f"/api/v1/tasks/{fresh['id']}/department-referral",
                                   json={"department_id": good["id"]}, headers=admin.headers), 403, "FORBIDDEN")
    referral = (await refer(good["id"], fresh["id"])).json()
    for caller, status in ((other, 404), (resident, 404), (admin, 403)):
        r = await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome", json={"outcome": "returned"},
                              headers=caller.headers)
        assert r.status_code == status, (caller, r.text)
    assert (await client.get("/api/v1/department-referrals", headers=other.headers)).json() == []
    assert (await DepartmentReferral.get(id=referral["id"])).status == "pending"


async def test_an_unanswered_referral_reminds_the_station_once(api, client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(60 * 24 * 5)),
                                                 scheduled_end=iso(soon(60 * 24 * 5 + 60)))
    department = await make_department(client, admin, sla_hours=24)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/department-referral",
                                  json={"department_id": department["id"]}, headers=worker.headers)).json()
    due = (await DepartmentReferral.get(id=referral["id"])).due_at

    assert await deadlines.run(now=due - timedelta(minutes=1)) == 0
    assert await deadlines.run(now=due + timedelta(minutes=1)) == 1
    assert await deadlines.run(now=due + timedelta(hours=5)) == 0  # once
    [notice] = await DeadlineNotice.filter(kind="department_answer")
    assert (notice.subject_id, notice.station_id, notice.need_id, notice.stage) == (referral["id"], station.id, need["id"], "remind")
    told = await Notification.filter(user_id=worker.id, event="department_answer_overdue")
    assert len(told) == 1 and "环翠区卫生健康局" in told[0].body and "0631-5200000" in told[0].body
    reasons = [e["reason"] for e in await timeline(client, worker, need["id"])]
    assert "督办:部门「环翠区卫生健康局」超过1天未反馈,已提醒驿站" in reasons
    listed = (await client.get("/api/v1/department-referrals?status=pending", headers=worker.headers)).json()
    assert [(x["id"], x["overdue"]) for x in listed] == [(referral["id"], False)]
    with clock_moved(25 * 60, api.app):  # the list says so once the app's own clock is past due
        listed = (await client.get("/api/v1/department-referrals?status=pending", headers=worker.headers)).json()
    assert [(x["id"], x["overdue"]) for x in listed] == [(referral["id"], True)]
    board = (await client.get("/api/v1/deadlines", headers=worker.headers)).json()["items"]
    assert [(n["kind_label"], n["stage_label"]) for n in board] == [("部门联动超时未反馈", "已提醒")]
    only = (await client.get("/api/v1/deadlines", params={"kind": "department_answer"}, headers=worker.headers)).json()
    assert [n["kind_label"] for n in only["items"]] == ["部门联动超时未反馈"]

    # Answered, it is no longer waiting; a referral answered in time is never chased.
    r = await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome", json={"outcome": "returned"},
                          headers=worker.headers)
    assert r.status_code == 200
    assert not (await deadlines.board(station_ids=[station.id]))[0]["still_waiting"]
    again = (await client.post(f"/api/v1/tasks/{task['id']}/department-referral",
                               json={"department_id": department["id"]}, headers=worker.headers)).json()
    r = await client.post(f"/api/v1/department-referrals/{again['id']}/outcome",
                          json={"outcome": "served", "served_at": iso(soon(0))}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert await deadlines.run(now=due + timedelta(days=3)) == 0


async def test_a_cancelled_need_takes_its_task_back_from_the_department(client):
    admin = await make_admin(client)
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    department = await make_department(client, admin)
    referral = (await client.post(f"/api/v1/tasks/{task['id']}/department-referral",
                                  json={"department_id": department["id"]}, headers=worker.headers)).json()
    r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "已自行解决"}, headers=resident.headers)
    assert r.status_code == 200, r.text
    assert (await DepartmentReferral.get(id=referral["id"])).status == "withdrawn"
    assert (await Task.get(id=task["id"])).status == "cancelled"


async def test_the_statistics_count_what_departments_did(api, client):
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    department = await make_department(client, admin)
    served, returned = [await make_task(client, worker, await make_need(client, (await make_resident(client, station))[0]))
                        for _ in range(2)]
    for task, outcome in ((served, "served"), (returned, "returned")):
        referral = (await client.post(f"/api/v1/tasks/{task['id']}/department-referral",
                                      json={"department_id": department["id"]}, headers=worker.headers)).json()
        body = {"outcome": outcome} | ({"served_at": iso(soon(0))} if outcome == "served" else {})
        assert (await client.post(f"/api/v1/department-referrals/{referral['id']}/outcome", json=body,
                                  headers=worker.headers)).status_code == 200
    now = api.app.ctx.clock()
    period = {"scope": "station", "from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=2)).isoformat()}
    body = (await client.get("/api/v1/stats/overview", params=period, headers=worker.headers)).json()
    # The served task was the department's, the returned one is the volunteers' again.
    assert (body["delivery"]["department"]["tasks"], body["delivery"]["department"]["services"]) == (1, 1)
    assert body["delivery"]["volunteer"]["tasks"] == 1
    assert {k: (v["label"], v["n"]) for k, v in body["department_referrals"]["by_status"].items()} == {
        "served": ("部门已服务", 1), "returned": ("部门已退回", 1)}
