"""Volunteer applications and their review by the station."""

import asyncio

import pytest
from tortoise.transactions import in_transaction

from models import AuditLog, UserRole, VolunteerProfile
from server.clock import utc_now
from server.people import volunteers
from tests.builders import login, make_station, make_volunteer, make_worker, random_id_number, volunteer_payload
from tests.handlers.test_platform import assert_error


async def test_apply_then_worker_approves_and_grants_the_role(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, profile = await make_volunteer(client, station, phone="13712345678")
    assert profile["status"] == "pending" and profile["phone"] == "137****5678"
    assert "volunteer" not in (await client.get("/api/v1/me", headers=s.headers)).json()["roles"]
    listed = await client.get("/api/v1/volunteers", params={"status": "pending"}, headers=worker.headers)
    assert [v["id"] for v in listed.json()["items"]] == [profile["id"]]
    r = await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    me = (await client.get("/api/v1/me", headers=s.headers)).json()
    assert "volunteer" in me["roles"] and me["volunteer"]["status"] == "approved"
    assert await AuditLog.filter(action="volunteer.approve", subject_id=profile["id"], actor_id=worker.id).exists()


async def test_reject_records_the_reason_and_reapplying_returns_to_pending(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, profile = await make_volunteer(client, station)
    r = await client.post(f"/api/v1/volunteers/{profile['id']}/reject", json={"reason": "请补充真实姓名"}, headers=worker.headers)
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reject_reason"] == "请补充真实姓名"
    assert_error(await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=worker.headers), 409, "VOLUNTEER_NOT_PENDING")
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, name="赵志远"), headers=s.headers)
    assert r.json()["status"] == "pending" and r.json()["reject_reason"] is None


async def test_reject_needs_a_reason(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, profile = await make_volunteer(client, station)
    assert_error(await client.post(f"/api/v1/volunteers/{profile['id']}/reject", json={}, headers=worker.headers), 400, "VALIDATION_ERROR")
    assert (await VolunteerProfile.get(id=profile["id"])).status == "pending"


async def test_moving_station_sends_an_approved_volunteer_back_to_review(client):
    a, b = await make_station(), await make_station()
    worker = await make_worker(client, a)
    s, profile = await make_volunteer(client, a, approved_by=worker)
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(b, name=profile["name"]), headers=s.headers)
    assert r.json()["status"] == "pending"
    assert not await UserRole.exists(user_id=s.id, role="volunteer")


async def test_changing_skills_keeps_approval(client):
    station = await make_station()
    worker = await make_worker(client, station)
    s, profile = await make_volunteer(client, station, approved_by=worker)
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(
        station, name=profile["name"], skills=["LIVING_MEAL", "CLEAN_HOME"]), headers=s.headers)
    assert r.json()["status"] == "approved" and r.json()["skills"] == ["LIVING_MEAL", "CLEAN_HOME"]


async def test_claiming_a_skill_that_needs_one_sends_an_approved_volunteer_back_to_review(client):
    """The station approved the skills it saw. 助浴 (CLEAN_BATH) needs a registered skill, and
    tasks that need one are offered only to whoever holds it: added later, it is reviewed first."""
    from models import TaskClaim
    from tests.builders import make_open_task

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    s, profile = await make_volunteer(client, station, approved_by=worker, skills=["CLEAN_HOME", "CLEAN_BATH"])
    # Dropping one, or adding one that needs none, keeps the approval.
    for skills in (["CLEAN_HOME"], ["CLEAN_HOME", "LIVING_MEAL"]):
        r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, name=profile["name"], skills=skills),
                             headers=s.headers)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    bath = volunteer_payload(station, name=profile["name"], skills=["CLEAN_HOME", "CLEAN_BATH"])
    # While a claim is in hand the edit waits (review takes the role away), and changes nothing.
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=s.headers)).status_code == 200
    assert_error(await client.put("/api/v1/me/volunteer", json=bath, headers=s.headers), 409, "SERVICE_IN_PROGRESS")
    row = await VolunteerProfile.get(id=profile["id"])
    assert row.status == "approved" and row.skills == ["CLEAN_HOME", "LIVING_MEAL"]
    await TaskClaim.filter(task_id=task["id"]).update(status="released")
    r = await client.put("/api/v1/me/volunteer", json=bath, headers=s.headers)
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    assert not await UserRole.exists(user_id=s.id, role="volunteer")
    assert_error(await client.get("/api/v1/tasks/open", params={"lat": 37.5, "lng": 122.1}, headers=s.headers),
                 403, "FORBIDDEN")
    r = await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=worker.headers)
    assert r.status_code == 200 and r.json()["skills"] == ["CLEAN_HOME", "CLEAN_BATH"], r.text


async def test_worker_of_another_station_gets_404_and_residents_403(client):
    a, b = await make_station(), await make_station()
    worker_b = await make_worker(client, b)
    _, profile = await make_volunteer(client, a)
    assert_error(await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=worker_b.headers), 404, "NOT_FOUND")
    resident = await login(client)
    assert_error(await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=resident.headers), 403, "FORBIDDEN")
    assert (await VolunteerProfile.get(id=profile["id"])).status == "pending"


async def test_unknown_skill_and_missing_phone_are_refused(client):
    station = await make_station()
    s = await login(client)
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, skills=["FLY"]), headers=s.headers)
    assert_error(r, 400, "UNKNOWN_SERVICE")
    payload = volunteer_payload(station)
    del payload["phone"]
    assert_error(await client.put("/api/v1/me/volunteer", json=payload, headers=s.headers), 400, "VALIDATION_ERROR")
    r = await client.put("/api/v1/me/volunteer", json={**volunteer_payload(station), "status": "approved"}, headers=s.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert await VolunteerProfile.all().count() == 0


async def test_concurrent_approve_and_reject_decide_once(client):
    """Two workers press at the same moment: the database lets exactly one decision land."""
    station = await make_station()
    w1, w2 = await make_worker(client, station), await make_worker(client, station)
    _, profile = await make_volunteer(client, station)
    url = f"/api/v1/volunteers/{profile['id']}"
    results = await asyncio.gather(
        client.post(url + "/approve", headers=w1.headers),
        client.post(url + "/reject", json={"reason": "重复申请"}, headers=w2.headers),
        client.post(url + "/approve", headers=w2.headers),
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409], [r.text for r in results]
    row = await VolunteerProfile.get(id=profile["id"])
    decisions = await AuditLog.filter(subject_type="volunteer", subject_id=profile["id"]).count()
    assert decisions == 1
    assert row.status in ("approved", "rejected")
    assert await UserRole.exists(user_id=profile["user_id"], role="volunteer") == (row.status == "approved")


async def test_a_worker_cannot_review_their_own_application(client):
    station = await make_station()
    worker = await make_worker(client, station)
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station), headers=worker.headers)
    own = r.json()
    for action, body in (("approve", None), ("reject", {"reason": "测试"})):
        assert_error(await client.post(f"/api/v1/volunteers/{own['id']}/{action}", json=body, headers=worker.headers),
                     403, "OWN_APPLICATION")
    assert (await VolunteerProfile.get(id=own["id"])).status == "pending"
    assert not await UserRole.exists(user_id=worker.id, role="volunteer")
    # A colleague at the station may.
    colleague = await make_worker(client, station)
    assert (await client.post(f"/api/v1/volunteers/{own['id']}/approve", headers=colleague.headers)).status_code == 200


async def test_changing_the_id_number_sends_an_approved_volunteer_back_to_review(client):
    station = await make_station()
    worker = await make_worker(client, station)
    first = random_id_number()
    s, profile = await make_volunteer(client, station, approved_by=worker, id_number=first)
    same = volunteer_payload(station, name=profile["name"], id_number=first)
    assert (await client.put("/api/v1/me/volunteer", json=same, headers=s.headers)).json()["status"] == "approved"

    other = volunteer_payload(station, name=profile["name"], id_number=random_id_number())
    r = await client.put("/api/v1/me/volunteer", json=other, headers=s.headers)
    assert r.json()["status"] == "pending"
    assert not await UserRole.exists(user_id=s.id, role="volunteer")


async def test_an_applicant_who_moved_station_meanwhile_is_not_approved_by_the_old_one(client):
    a, b = await make_station(), await make_station()
    worker_a = await make_worker(client, a)
    s, profile = await make_volunteer(client, a)
    # The worker of A opens the application (what the access check reads) ...
    seen = await VolunteerProfile.get(id=profile["id"])
    # ... the applicant moves it to B meanwhile ...
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(b, name=profile["name"]), headers=s.headers)
    assert r.json()["station_id"] == b.id
    # ... and A's approval, decided on what it saw, changes nothing.
    with pytest.raises(volunteers.NotPending):
        async with in_transaction():
            await volunteers.approve(volunteer=seen, reviewer_id=worker_a.id, now=utc_now())
    row = await VolunteerProfile.get(id=profile["id"])
    assert row.status == "pending" and row.station_id == b.id
    assert not await UserRole.exists(user_id=s.id, role="volunteer")


async def test_an_edit_that_needs_review_again_waits_until_the_service_in_hand_is_finished(client):
    """Review again takes the volunteer role away at once; a volunteer who is at a household right
    now (or holds a claim for later) could then neither record the service nor check in, and the
    household would wait for someone who cannot come. The edit is refused until then."""
    from models import TaskClaim
    from tests.builders import make_open_task, record_after

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    s, profile = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=s.headers)).status_code == 200
    renamed = volunteer_payload(station, name="赵志远")
    err = assert_error(await client.put("/api/v1/me/volunteer", json=renamed, headers=s.headers),
                       409, "SERVICE_IN_PROGRESS")
    assert err["message"]
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json={"lat": 37.512345, "lng": 122.121234},
                          headers=s.headers)
    assert r.status_code == 200, r.text
    assert_error(await client.put("/api/v1/me/volunteer", json=renamed, headers=s.headers), 409, "SERVICE_IN_PROGRESS")
    assert (await VolunteerProfile.get(user_id=s.id)).status == "approved"
    assert (await record_after(client, task["id"], s, 60)).status_code in (200, 201)
    assert (await TaskClaim.get(task_id=task["id"])).status == "submitted"
    # Edits that keep the approval stay possible meanwhile.
    same = volunteer_payload(station, name=profile["name"], skills=["CLEAN_HOME", "LIVING_MEAL"])
    assert (await client.put("/api/v1/me/volunteer", json=same, headers=s.headers)).status_code == 200


async def test_a_review_is_dated_by_the_apis_clock(client, api):
    """The review's time, and the message telling the applicant, come from the one clock the API
    runs on (server/clock.py), as every other workflow time does: an approval read beside the
    claims and services it led to must not disagree with them about when it happened."""
    from datetime import timedelta

    from models import Notification
    from tests.builders import clock_moved

    station = await make_station()
    worker = await make_worker(client, station)
    approved, a = await make_volunteer(client, station)
    _, b = await make_volunteer(client, station)
    with clock_moved(60 * 24 * 3, api.app):
        moved = api.app.ctx.clock()
        r = await client.post(f"/api/v1/volunteers/{a['id']}/approve", headers=worker.headers)
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/volunteers/{b['id']}/reject", json={"reason": "请补充资料"}, headers=worker.headers)
        assert r.status_code == 200, r.text
    for profile in (a, b):
        reviewed = (await VolunteerProfile.get(id=profile["id"])).reviewed_at
        assert abs(reviewed - moved) < timedelta(minutes=1), (reviewed, moved)
    told = await Notification.get(user_id=approved.id, event="volunteer_approved")
    assert abs(told.created_at - moved) < timedelta(minutes=1)
