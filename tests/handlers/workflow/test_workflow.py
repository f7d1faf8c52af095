"""The service workflow end to end through the HTTP API: need → task → claim → check-in → record
→ confirmation → rating, and the rules along the way."""

from datetime import timedelta

from models import Need, Task, TaskClaim, WorkflowEvent
from server.workflow import plates
from tests.builders import (
    iso, login, make_need, make_open_task, make_resident, make_station, make_task, make_volunteer, make_worker,
    clock_moved, make_open_task_and_volunteer, record_after, serve_and_record, soon, volunteer_payload,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}  # resident_payload's household position


async def test_catalogue_lists_five_categories_of_services(client):
    r = await client.get("/api/v1/catalog/services")
    assert r.status_code == 200
    services = r.json()
    assert len(services) == 20
    assert {s["category_name"] for s in services} == {"生活保障类", "卫生清洁类", "健康照护类", "支持提升类", "资源链接类"}
    clean = next(s for s in services if s["code"] == "CLEAN_HOME")
    assert clean["points_per_hour"] > 0 and clean["default_minutes"] > 0


async def test_whole_path_from_a_residents_need_to_a_closed_rated_need(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, profile = await make_resident(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)

    need = await make_need(client, resident, urgency="urgent")
    assert need["status"] == "submitted" and need["source"] == "self" and need["on_behalf"] is False
    r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    assert r.json()["status"] == "accepted"
    task = await make_task(client, worker, need, accept=False)
    assert task["status"] == "open" and task["points"] == 20  # CLEAN_HOME: 10/h × 120 min
    assert (await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)).json()["status"] == "dispatched"

    browse = await client.get("/api/v1/tasks/open", params=HOME, headers=volunteer.headers)
    assert [t["id"] for t in browse.json()["items"]] == [task["id"]]

    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    claimed = r.json()
    assert claimed["status"] == "claimed"
    assert claimed["location"]["address"] == "鲸园街道新威社区3号楼2单元501室"
    assert claimed["contact"]["phone"].count("*") == 4 and claimed["contact"]["call_hint"]

    scene = plates.scene_for(resident_id=profile["id"], key=api.cipher.derived_key("plate"))
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json={"scene": scene}, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["my_claim"]["status"] == "checked_in" and r.json()["status"] == "checked_in"
    assert (await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)).json()["status"] == "in_service"

    # An hour of service from the check-in, recorded when it ends; the rest follows.
    started = soon(0)
    with clock_moved(60, api.app):
        r = await client.post(f"/api/v1/tasks/{task['id']}/record",
                              json={"started_at": iso(started), "ended_at": iso(soon(60)), "summary": "打扫了客厅和厨房"},
                              headers=volunteer.headers)
        assert r.status_code == 200 and r.json()["status"] == "submitted", r.text

        r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "confirmed"
        claim = await TaskClaim.get(task_id=task["id"])
        # An hour of CLEAN_HOME (10/h) is 10 points, +5 urgent, +20 first service.
        assert claim.status == "confirmed" and claim.verified_minutes == 60 and claim.points_due == 35
        assert (await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)).json()["status"] == "completed"

        r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 5, "comment": "很好", "would_use_again": True},
                              headers=resident.headers)
        assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["rating"]["score"] == 5
        assert r.json()["follow_up"] is False

        timeline = (await client.get(f"/api/v1/needs/{need['id']}/timeline", headers=resident.headers)).json()["events"]
        need_states = [e["to"] for e in timeline if e["subject"] == "need"]
        assert need_states == ["submitted", "accepted", "dispatched", "in_service", "completed", "closed"]
        claim_states = [e["to"] for e in timeline if e["subject"] == "claim"]
        assert claim_states == ["claimed", "checked_in", "submitted", "confirmed"]
        assert all(e["actor_role"] for e in timeline)


async def test_worker_reports_on_behalf_and_rates_for_the_household(client):
    station = await make_station()
    worker = await make_worker(client, station)
    r = await client.post("/api/v1/residents", json={"name": "孙大爷", "station_id": station.id, "categories": ["独居"],
                                                     "lat": HOME["lat"], "lng": HOME["lng"], "address": "某村1号"},
                          headers=worker.headers)
    household = r.json()
    need = await make_need(client, worker, resident_id=household["id"], source="grid_worker", service_code="LIVING_MEAL")
    assert need["on_behalf"] is True and need["source"] == "grid_worker" and need["resident_id"] == household["id"]
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task = await make_task(client, worker, need)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (await record_after(client, task["id"], volunteer, 20, summary="送餐")).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 2, "would_use_again": False},
                          headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert r.json()["follow_up"] is True  # a low score lands on the station's follow-up list
    listed = await client.get("/api/v1/needs", params={"follow_up": "true"}, headers=worker.headers)
    assert [n["id"] for n in listed.json()["items"]] == [need["id"]]


async def test_duplicate_open_need_is_409_with_the_existing_id(client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    first = await make_need(client, resident)
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "再来一次"}, headers=resident.headers)
    err = assert_error(r, 409, "NEED_DUPLICATE")
    assert err["details"] == {"need_id": first["id"]}
    # A different service is fine; after cancelling, the same service may be asked again.
    await make_need(client, resident, service_code="LIVING_MEAL")
    await client.post(f"/api/v1/needs/{first['id']}/cancel", json={}, headers=resident.headers)
    await make_need(client, resident)


async def test_a_household_served_once_may_ask_for_the_same_service_again(client):
    # One open need per household and service: a completed need is no longer open, whether or not
    # the household has rated it yet, and a closed one certainly is not.
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (await record_after(client, task["id"], volunteer, 45)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    assert (await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)).json()["status"] == "completed"
    again = await make_need(client, resident, description="又需要打扫了")
    assert again["status"] == "submitted"
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 5, "would_use_again": True},
                          headers=resident.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    # Still one open need per service: the new one holds the place now.
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "第三次"}, headers=resident.headers)
    assert assert_error(r, 409, "NEED_DUPLICATE")["details"] == {"need_id": again["id"]}


async def test_need_requires_a_household_profile_and_a_known_service(client):
    s = await login(client)
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "x"}, headers=s.headers)
    assert_error(r, 400, "RESIDENT_PROFILE_REQUIRED")
    station = await make_station()
    resident, _ = await make_resident(client, station)
    r = await client.post("/api/v1/needs", json={"service_code": "NOPE", "description": "x"}, headers=resident.headers)
    assert_error(r, 400, "UNKNOWN_SERVICE")
    assert await Need.all().count() == 0


async def test_bad_windows_are_400(client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    cases = [
        (soon(60), soon(30), "ends_before_start"),
        (soon(60), soon(60 + 31 * 24 * 60), "too_long"),
        (soon(-120), soon(-60), "in_past"),
    ]
    for start, end, kind in cases:
        r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "x",
                                                     "window_start": iso(start), "window_end": iso(end)}, headers=resident.headers)
        err = assert_error(r, 400, "VALIDATION_ERROR")
        assert err["details"][0]["type"] == kind
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "x",
                                                 "window_start": "2026-12-01T10:00:00"}, headers=resident.headers)
    assert_error(r, 400, "VALIDATION_ERROR")  # no offset: ambiguous, refused
    assert await Need.all().count() == 0


async def test_wrong_transitions_are_409_naming_the_state(client):
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    err = assert_error(await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers), 409, "INVALID_STATE")
    assert err["details"]["current_status"] == "dispatched"
    err = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers), 409, "INVALID_STATE")
    assert err["details"]["current_status"] == "open"
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 5, "would_use_again": True}, headers=resident.headers)
    assert_error(r, 409, "INVALID_STATE")


async def test_reject_need_with_reason(client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    assert_error(await client.post(f"/api/v1/needs/{need['id']}/reject", json={}, headers=worker.headers), 400, "VALIDATION_ERROR")
    r = await client.post(f"/api/v1/needs/{need['id']}/reject", json={"reason": "不属于服务范围"}, headers=worker.headers)
    assert r.json()["status"] == "rejected" and r.json()["status_reason"] == "不属于服务范围"


async def test_cancel_ends_open_tasks_and_claims(client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "家人已处理"}, headers=resident.headers)
    assert r.json()["status"] == "cancelled"
    assert (await Task.get(id=task["id"])).status == "cancelled"
    assert (await TaskClaim.get(task_id=task["id"])).status == "cancelled"
    mine = await client.get("/api/v1/tasks/mine", headers=volunteer.headers)
    assert mine.json()["items"] == []


async def test_check_in_far_away_or_out_of_time_is_422_saying_what_is_missing(client, api):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    far = {"lat": HOME["lat"] + 0.05, "lng": HOME["lng"]}
    err = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=far, headers=volunteer.headers),
                       422, "CHECKIN_EVIDENCE")
    assert err["details"]["missing"] == ["plate_or_location"] and err["details"]["evidence"]["distance_m"] > 5000
    forged = {"scene": "h1.0000000000000000"}
    err = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=forged, headers=volunteer.headers),
                       422, "CHECKIN_EVIDENCE")
    # Out of time: move the clock two days on.
    real_clock = api.app.ctx.clock
    api.app.ctx.clock = lambda: real_clock() + timedelta(days=2)
    try:
        err = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers),
                           422, "CHECKIN_EVIDENCE")
    finally:
        api.app.ctx.clock = real_clock
    assert err["details"]["missing"] == ["time"]
    assert (await TaskClaim.get(task_id=task["id"])).status == "claimed"


async def test_record_outside_the_window_is_400_and_reject_record_sends_it_back(client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/record",
                          json={"started_at": iso(soon(-300)), "ended_at": iso(soon(0)), "summary": "太长"}, headers=volunteer.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert (await record_after(client, task["id"], volunteer, 20, summary="打扫")).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/reject-record", json={"reason": "请写清楚打扫了哪些房间"}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "checked_in"
    mine = (await client.get(f"/api/v1/tasks/{task['id']}", headers=volunteer.headers)).json()
    assert mine["my_claim"]["status"] == "checked_in" and mine["my_claim"]["record_reject_reason"] == "请写清楚打扫了哪些房间"
    assert (await record_after(client, task["id"], volunteer, 20, summary="打扫了卧室和客厅")).status_code == 200
    # Minutes may be adjusted down, never above the record (below the service's minimum, with a reason).
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"minutes": 60}, headers=worker.headers),
                 400, "VALIDATION_ERROR")
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"minutes": 10, "reason": "实际打扫约10分钟"},
                          headers=worker.headers)
    assert r.status_code == 200
    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.verified_minutes == 10 and claim.points_due == 25  # minimum 5 + first-service bonus 20


async def test_bulk_confirm_checks_each_task(client):
    station = await make_station()
    other_station = await make_station()
    worker = await make_worker(client, station)
    done = []
    for _ in range(2):
        # Two volunteers: one volunteer cannot hold two tasks in the same time window.
        volunteer, _ = await make_volunteer(client, station, approved_by=worker)
        resident, _ = await make_resident(client, station)
        need = await make_need(client, resident)
        task = await make_task(client, worker, need)
        await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
        await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
        assert (await record_after(client, task["id"], volunteer, 40, summary="ok")).status_code == 200
        done.append(task["id"])
    elsewhere, *_ = await make_open_task(client, other_station)
    not_ready, *_ = await make_open_task(client, station)
    r = await client.post("/api/v1/tasks/confirm", json={"ids": done + [elsewhere["id"], not_ready["id"]]}, headers=worker.headers)
    results = {x["id"]: x for x in r.json()["results"]}
    assert all(results[i]["ok"] for i in done)
    assert results[elsewhere["id"]]["error"]["code"] == "NOT_FOUND"
    assert results[not_ready["id"]]["error"]["code"] == "INVALID_STATE"
    assert await TaskClaim.filter(task_id__in=done, status="confirmed").count() == 2


async def test_a_worker_finds_the_records_waiting_for_the_station(client):
    """A worker with many households needs the list of what waits on them: the station's tasks by
    status, oldest first and paged, each with its claims (who served, what they wrote), so that
    the records submitted can be confirmed — one by one or all at once (POST /tasks/confirm takes
    the ids). Another station's worker sees none of them; a volunteer or household is refused."""
    station, other = await make_station(), await make_station()
    worker, other_worker = await make_worker(client, station), await make_worker(client, other)
    submitted = []
    for _ in range(3):
        volunteer, _ = await make_volunteer(client, station, approved_by=worker)
        resident, _ = await make_resident(client, station)
        task = await make_task(client, worker, await make_need(client, resident))
        await serve_and_record(client, task["id"], volunteer, minutes=40)
        submitted.append(task["id"])
    still_open, *_ = await make_open_task(client, station)
    await make_open_task(client, other)

    def ids(r) -> list[int]:
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    page = await client.get("/api/v1/tasks/station", params={"status": "submitted", "limit": 2}, headers=worker.headers)
    assert ids(page) == submitted[:2] and page.json()["next_cursor"] == submitted[1]
    first = page.json()["items"][0]
    assert first["status"] == "submitted" and first["service_name"]
    assert [c["status"] for c in first["claims"]] == ["submitted"] and first["claims"][0]["summary"] == "完成"
    assert first["claims"][0]["volunteer_id"] is not None and "location" not in first
    rest = await client.get("/api/v1/tasks/station", params={"status": "submitted", "cursor": submitted[1]},
                            headers=worker.headers)
    assert ids(rest) == submitted[2:] and rest.json()["next_cursor"] is None
    assert set(ids(await client.get("/api/v1/tasks/station", headers=worker.headers))) == {*submitted, still_open["id"]}
    assert ids(await client.get("/api/v1/tasks/station", params={"status": "submitted"}, headers=other_worker.headers)) == []
    r = await client.post("/api/v1/tasks/confirm", json={"ids": ids(page) + ids(rest)}, headers=worker.headers)
    assert all(x["ok"] for x in r.json()["results"])
    assert ids(await client.get("/api/v1/tasks/station", params={"status": "submitted"}, headers=worker.headers)) == []
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert_error(await client.get("/api/v1/tasks/station", headers=volunteer.headers), 403, "FORBIDDEN")
    assert_error(await client.get("/api/v1/tasks/station", params={"status": "done"}, headers=worker.headers),
                 400, "VALIDATION_ERROR")


async def test_qr_plate_is_a_png_for_workers_of_the_station(client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, profile = await make_resident(client, station)
    r = await client.get(f"/api/v1/residents/{profile['id']}/qr-plate", headers=worker.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert_error(await client.get(f"/api/v1/residents/{profile['id']}/qr-plate", headers=resident.headers), 403, "FORBIDDEN")
    other = await make_worker(client, await make_station())
    assert_error(await client.get(f"/api/v1/residents/{profile['id']}/qr-plate", headers=other.headers), 404, "NOT_FOUND")


async def test_plate_scene_fits_wechat_and_cannot_be_forged(api):
    key = api.cipher.derived_key("plate")
    scene = plates.scene_for(resident_id=123456789, key=key)
    assert len(scene) <= 32
    assert plates.resident_for(scene=scene, key=key) == 123456789
    assert plates.resident_for(scene=scene[:-1] + ("0" if scene[-1] != "0" else "1"), key=key) is None
    assert plates.resident_for(scene=plates.scene_for(resident_id=5, key=b"k" * 32), key=key) is None


def test_a_scanned_scene_with_a_signed_number_is_no_plate_and_answers_at_once(api):
    # int("-1", 36) is -1, and turning -1 back into base 36 never ended: one check-in with the
    # scene "h-1.0" spun its API worker forever. Run in a thread so that a regression fails here
    # instead of hanging the test run.
    import threading

    key = api.cipher.derived_key("plate")
    results = {}
    scenes = ("h-1.0", "h-z.0", "h+1.0", "h 1.0", "h1_0.0", "h.0", "h١.0")

    def scan():
        for scene in scenes:
            results[scene] = plates.resident_for(scene=scene, key=key)

    worker = threading.Thread(target=scan, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert results == {scene: None for scene in scenes}


async def test_events_record_who_and_when(client):
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    rows = await WorkflowEvent.filter(need_id=need["id"]).order_by("id")
    assert [(r.subject, r.to_status, r.actor_role) for r in rows] == [
        ("need", "submitted", "resident"), ("need", "accepted", "worker"), ("task", "open", "worker"),
        ("need", "dispatched", "worker"),
    ]
    assert rows[1].actor_id == worker.id and rows[1].from_status == "submitted"


async def test_claimant_sees_the_address_until_24h_after_confirmation_and_household_sees_a_masked_name(client, api):
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    volunteer, vprofile = await make_volunteer(client, station, approved_by=worker, name="赵志愿")
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert (await record_after(client, task["id"], volunteer, 40, summary="ok")).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    view = (await client.get(f"/api/v1/tasks/{task['id']}", headers=volunteer.headers)).json()
    assert view["location"]["address"] == "鲸园街道新威社区3号楼2单元501室"
    real_clock = api.app.ctx.clock
    api.app.ctx.clock = lambda: real_clock() + timedelta(hours=25)
    try:
        later = await client.get(f"/api/v1/tasks/{task['id']}", headers=volunteer.headers)
    finally:
        api.app.ctx.clock = real_clock
    assert later.status_code == 200 and later.json().get("location") is None
    assert "501室" not in later.text
    household_view = await client.get(f"/api/v1/tasks/{task['id']}", headers=resident.headers)
    assert household_view.json()["claims"][0]["volunteer_name"] == "赵**"
    assert "赵志愿" not in household_view.text and "phone" not in household_view.text


async def test_a_record_cannot_start_before_the_claim_or_the_check_in(client, api):
    from server.workflow.records import RECORD_START_TOLERANCE

    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(10)),
                                                 scheduled_end=iso(soon(130)))
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    real = api.app.ctx.clock
    try:
        api.app.ctx.clock = lambda: real() + timedelta(minutes=5)  # claimed before the start
        assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
        api.app.ctx.clock = lambda: real() + timedelta(minutes=35)  # checked in 25 min after the start
        r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
        assert r.status_code == 200, r.text
        # Inside the task's window and after the claim, but 50 minutes before the check-in.
        err = assert_error(await client.post(f"/api/v1/tasks/{task['id']}/record", headers=volunteer.headers,
                                             json={"started_at": iso(soon(-15)), "ended_at": iso(soon(35)),
                                                   "summary": "打扫"}), 400, "RECORD_BEFORE_CHECKIN")
        assert "签到" in err["message"] and err["details"][0]["field"] == "started_at"
        # Just past the tolerance before the check-in: still refused; within it: accepted.
        checked_in = (await TaskClaim.get(task_id=task["id"])).checked_in_at
        too_early = checked_in - RECORD_START_TOLERANCE - timedelta(seconds=30)
        assert_error(await client.post(f"/api/v1/tasks/{task['id']}/record", headers=volunteer.headers,
                                       json={"started_at": iso(too_early), "ended_at": iso(soon(35)), "summary": "打扫"}),
                     400, "RECORD_BEFORE_CHECKIN")
        assert (await TaskClaim.get(task_id=task["id"])).status == "checked_in"
        started = checked_in - RECORD_START_TOLERANCE + timedelta(seconds=30)
        r = await client.post(f"/api/v1/tasks/{task['id']}/record", headers=volunteer.headers,
                              json={"started_at": iso(started), "ended_at": iso(soon(35)), "summary": "打扫"})
        assert r.status_code == 200, r.text
    finally:
        api.app.ctx.clock = real


async def test_a_record_never_starts_before_the_claim(client, api):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(-4)),
                                                 scheduled_end=iso(soon(100)))
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    claim = await TaskClaim.get(task_id=task["id"])
    # Checked in right after claiming: the tolerance before the check-in would reach before the claim.
    r = await client.post(f"/api/v1/tasks/{task['id']}/record", headers=volunteer.headers,
                          json={"started_at": iso(claim.claimed_at - timedelta(minutes=1)), "ended_at": iso(soon(0)),
                                "summary": "打扫"})
    err = assert_error(r, 400, "RECORD_BEFORE_CHECKIN")
    assert "领取" in err["message"]


async def test_cancelling_a_claimed_task_or_its_need_tells_the_claimant(client, api):
    from models import Notification

    station = await make_station()
    # The household cancels a need whose task a volunteer has claimed.
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "不需要了"}, headers=resident.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(user_id=volunteer.id, event="claim_cancelled")
    assert len(told) == 1 and task["title"] in told[0].body and told[0].page.endswith(str(task["id"]))
    # The worker cancels a claimed task.
    task2, need2, worker2, _, other = await make_open_task_and_volunteer(client, station)
    await client.post(f"/api/v1/tasks/{task2['id']}/claim", headers=other.headers)
    r = await client.post(f"/api/v1/tasks/{task2['id']}/cancel", json={"reason": "改期"}, headers=worker2.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(user_id=other.id, event="claim_cancelled")
    assert len(told) == 1 and "改期" in told[0].body


async def test_a_worker_who_served_cannot_confirm_their_own_service(client):
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    colleague = await make_worker(client, station)
    # The worker also volunteers at the station, approved by a colleague.
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station), headers=worker.headers)
    assert (await client.post(f"/api/v1/volunteers/{r.json()['id']}/approve", headers=colleague.headers)).status_code == 200
    await serve_and_record(client, task["id"], worker)

    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers),
                 403, "OWN_SERVICE")
    assert (await Task.get(id=task["id"])).status == "submitted"
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=colleague.headers)).status_code == 200


async def test_a_worker_who_served_cannot_rate_the_service_for_the_household(client):
    # Rating on a household's behalf (it has no phone) is the household's verdict on the service:
    # as with confirming, whoever served does not give it (the project KPIs average these ratings).
    station = await make_station()
    worker, colleague = await make_worker(client, station), await make_worker(client, station)
    r = await client.post("/api/v1/residents", json={"name": "孙大爷", "station_id": station.id,
                                                     "lat": HOME["lat"], "lng": HOME["lng"], "address": "某村1号"},
                          headers=worker.headers)
    need = await make_need(client, worker, resident_id=r.json()["id"], source="visit")
    task = await make_task(client, worker, need)
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station), headers=worker.headers)
    assert (await client.post(f"/api/v1/volunteers/{r.json()['id']}/approve", headers=colleague.headers)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=worker.headers)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=worker.headers)).status_code == 200
    assert (await record_after(client, task["id"], worker, 30)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=colleague.headers)).status_code == 200

    rating = {"score": 5, "would_use_again": True}
    assert_error(await client.post(f"/api/v1/needs/{need['id']}/rating", json=rating, headers=worker.headers),
                 403, "OWN_SERVICE")
    assert (await Need.get(id=need["id"])).status == "completed"
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json=rating, headers=colleague.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"


async def test_a_worker_does_not_take_on_their_own_households_need(client):
    # Nobody reviews themself (as with a worker's own volunteer application): a worker's own
    # household asks for help at their station like anyone's, and a colleague decides on it.
    station = await make_station()
    worker, colleague = await make_worker(client, station), await make_worker(client, station)
    from tests.builders import resident_payload

    assert (await client.put("/api/v1/me/resident", json=resident_payload(station), headers=worker.headers)).status_code == 200
    need = await make_need(client, worker)
    assert need["on_behalf"] is False and need["source"] == "self"
    assert_error(await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers), 403, "OWN_NEED")
    assert_error(await client.post(f"/api/v1/needs/{need['id']}/reject", json={"reason": "不符合"}, headers=worker.headers),
                 403, "OWN_NEED")
    assert (await Need.get(id=need["id"])).status == "submitted"
    r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=colleague.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted"


async def test_the_station_is_told_when_a_household_asks_for_help(client):
    # 群众点题: a need a household submits waits for the station to take it on; its workers hear of
    # it at once (inbox, and WeChat where granted), urgent ones marked, the household's words not sent.
    station = await make_station()
    worker, colleague = await make_worker(client, station), await make_worker(client, station)
    elsewhere = await make_worker(client, await make_station())
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident, urgency="urgent", description="老人摔倒后行动不便")
    for w in (worker, colleague):
        items = (await client.get("/api/v1/notifications", headers=w.headers)).json()["items"]
        told = [n for n in items if n["event"] == "need_submitted"]
        assert len(told) == 1 and str(need["id"]) in told[0]["page"] and "紧急" in told[0]["body"], items
        assert "摔倒" not in told[0]["body"]
    items = (await client.get("/api/v1/notifications", headers=elsewhere.headers)).json()["items"]
    assert [n for n in items if n["event"] == "need_submitted"] == []


async def test_a_household_is_told_when_its_station_cancels_its_need(client):
    # The station may withdraw a need on the household's behalf (one who cannot use the phone asked
    # it to); a household with an account hears of it, as it would of a rejection, with the reason.
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "家属已安排"}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    items = (await client.get("/api/v1/notifications", headers=resident.headers)).json()["items"]
    told = [n for n in items if n["event"] == "need_cancelled"]
    assert len(told) == 1 and "家属已安排" in told[0]["body"] and str(need["id"]) in told[0]["page"], items
    # Withdrawing it oneself tells nobody what one already knows.
    again = await make_need(client, resident)
    assert (await client.post(f"/api/v1/needs/{again['id']}/cancel", json={}, headers=resident.headers)).status_code == 200
    items = (await client.get("/api/v1/notifications", headers=resident.headers)).json()["items"]
    assert len([n for n in items if n["event"] == "need_cancelled"]) == 1


async def test_a_worker_does_not_confirm_the_service_their_own_household_received(client):
    """Confirming credits the volunteer and counts verified hours (reported to 信用威海 under the
    volunteer's name): the household cannot vouch for it itself, as the volunteer cannot."""
    from tests.builders import make_need, make_task, resident_payload

    station = await make_station()
    worker = await make_worker(client, station)
    colleague = await make_worker(client, station)
    r = await client.put("/api/v1/me/resident", json=resident_payload(station), headers=worker.headers)
    assert r.status_code == 200, r.text
    task = await make_task(client, colleague, await make_need(client, worker))
    volunteer, _ = await make_volunteer(client, station, approved_by=colleague)
    await serve_and_record(client, task["id"], volunteer)

    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers),
                 403, "OWN_SERVICE")
    assert (await Task.get(id=task["id"])).status == "submitted"
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=colleague.headers)).status_code == 200
