"""Auto-release of claims not checked in, and expiry of unclaimed tasks, on a controlled clock."""

from datetime import timedelta

import pytest

from models import Task, TaskClaim, WorkflowEvent
from server.clock import utc_now
from server.ops import jobs
from tests.builders import clock_moved, iso, make_open_task, make_station, make_volunteer, soon

HOME = {"lat": 37.512345, "lng": 122.121234}


async def test_claim_not_checked_in_is_released_after_the_grace_period(api, client):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    grace = api.settings.claim_grace_minutes
    start = (await Task.get(id=task["id"])).scheduled_start

    # Just inside the grace period: nothing happens.
    assert await jobs.release_stale_claims(settings=api.settings, now=start + timedelta(minutes=grace - 1)) == 0
    assert (await TaskClaim.get(task_id=task["id"])).status == "claimed"
    # Past it: the claim expires and the slot is open again.
    assert await jobs.release_stale_claims(settings=api.settings, now=start + timedelta(minutes=grace + 1)) == 1
    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.status == "expired" and claim.active_key is None
    row = await Task.get(id=task["id"])
    assert row.status == "open" and row.claimed_count == 0
    assert await WorkflowEvent.filter(claim_id=claim.id, to_status="expired", actor_role="system").exists()
    # Idempotent.
    assert await jobs.release_stale_claims(settings=api.settings, now=start + timedelta(minutes=grace + 2)) == 0


async def test_checked_in_claims_are_left_alone(api, client):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert await jobs.release_stale_claims(settings=api.settings, now=utc_now() + timedelta(hours=5)) == 0
    assert (await TaskClaim.get(task_id=task["id"])).status == "checked_in"


async def test_unclaimed_task_expires_when_its_window_has_passed(api, client):
    station = await make_station()
    task, *_ = await make_open_task(client, station, scheduled_start=iso(soon(10)), scheduled_end=iso(soon(70)))
    end = (await Task.get(id=task["id"])).scheduled_end
    assert await jobs.expire_unclaimed(now=end - timedelta(minutes=1)) == 0
    assert await jobs.expire_unclaimed(now=end + timedelta(minutes=1)) == 1
    assert (await Task.get(id=task["id"])).status == "expired"


async def test_claimed_task_past_its_window_is_released_then_expired(api, client):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(10)), scheduled_end=iso(soon(40)))
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    later = utc_now() + timedelta(hours=3)
    assert await jobs.run_all(settings=api.settings, now=later) == {
        "released_claims": 1, "expired_tasks": 1, "expired_redemptions": 0, "warned_unclaimed": 0,
        "reminded_redemptions": 0, "escalated_referrals": 0, "reminded_reassessments": 0, "escalated_complaints": 0, "deadline_notices": 0, "pairing_tasks": 0,
        "swept_uploads": 0}
    assert (await Task.get(id=task["id"])).status == "expired"


async def test_multi_slot_task_past_its_window_expires_its_live_claims_with_it(api, client):
    from models import Notification

    station = await make_station()
    # A short window: the claim's grace (30 min after the start) outlasts the task's end.
    task, need, worker, _ = await make_open_task(client, station, volunteers_needed=2,
                                                 scheduled_start=iso(soon(10)), scheduled_end=iso(soon(25)))
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    end = (await Task.get(id=task["id"])).scheduled_end
    out = await jobs.run_all(settings=api.settings, now=end + timedelta(minutes=1))
    assert out["expired_tasks"] == 1
    row = await Task.get(id=task["id"])
    claim = await TaskClaim.get(task_id=task["id"])
    assert row.status == "expired" and row.claimed_count == 0
    assert claim.status == "expired" and claim.active_key is None
    assert await WorkflowEvent.filter(claim_id=claim.id, to_status="expired", actor_role="system").exists()
    assert await Notification.filter(user_id=volunteer.id, event="claim_released").count() == 1
    # Nothing is left to check in to (the claim is over), and later runs find nothing to do.
    with clock_moved(27, api.app):
        r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code in (404, 409), r.text
    assert (await TaskClaim.get(task_id=task["id"])).status == "expired"
    later = await jobs.run_all(settings=api.settings, now=end + timedelta(hours=5))
    assert later["released_claims"] == 0 and later["expired_tasks"] == 0


async def test_check_in_is_refused_on_a_task_that_is_over(api, client):
    from tests.handlers.test_platform import assert_error

    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    # A claim left live on an expired task (as the expiry job did before it ended claims).
    await Task.filter(id=task["id"]).update(status="expired")
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert_error(r, 409, "INVALID_STATE")
    assert (await TaskClaim.get(task_id=task["id"])).status == "claimed"


async def test_need_completes_when_its_last_open_task_expires(api, client):
    from models import Need
    from tests.builders import make_need, make_resident, make_task, make_worker

    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    need = await make_need(client, resident)
    t1 = await make_task(client, worker, need)
    t2 = await make_task(client, worker, {**need, "status": "dispatched"}, scheduled_start=iso(soon(10)),
                         scheduled_end=iso(soon(40)))
    await client.post(f"/api/v1/tasks/{t1['id']}/claim", headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{t1['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    with clock_moved(30, api.app):
        r = await client.post(f"/api/v1/tasks/{t1['id']}/record",
                              json={"started_at": iso(soon(0)), "ended_at": iso(soon(30)), "summary": "打扫"},
                              headers=volunteer.headers)
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/tasks/{t1['id']}/confirm", json={}, headers=worker.headers)
        assert r.status_code == 200, r.text
    assert (await Need.get(id=need["id"])).status == "in_service"
    end = (await Task.get(id=t2["id"])).scheduled_end
    assert (await jobs.run_all(settings=api.settings, now=end + timedelta(minutes=1)))["expired_tasks"] == 1
    assert (await Task.get(id=t2["id"])).status == "expired"
    assert (await Need.get(id=need["id"])).status == "completed"
    assert await WorkflowEvent.filter(need_id=need["id"], subject="need", to_status="completed",
                                      actor_role="system").exists()
    r = await client.post(f"/api/v1/needs/{need['id']}/rating", json={"score": 5, "would_use_again": True},
                          headers=resident.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"


async def test_a_late_claim_gets_its_own_grace_period(api, client):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(10)),
                                                 scheduled_end=iso(soon(250)))
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    grace = timedelta(minutes=api.settings.claim_grace_minutes)
    with clock_moved(60, api.app):  # 50 min after the start, well before the end
        r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    claim = await TaskClaim.get(task_id=task["id"])
    assert await jobs.release_stale_claims(settings=api.settings, now=claim.claimed_at + timedelta(minutes=1)) == 0
    assert await jobs.release_stale_claims(settings=api.settings, now=claim.claimed_at + grace - timedelta(minutes=1)) == 0
    assert (await TaskClaim.get(id=claim.id)).status == "claimed"
    assert await jobs.release_stale_claims(settings=api.settings, now=claim.claimed_at + grace + timedelta(minutes=1)) == 1
    assert (await TaskClaim.get(id=claim.id)).status == "expired"


async def test_uploads_no_record_holds_are_swept_after_a_week_with_their_bytes(api, client):
    from models import TaskClaim, Upload
    from tests.builders import make_open_task_and_volunteer, record_after
    from tests.handlers.workflow.test_catalogue_uploads import tiny_png

    station = await make_station()
    task, _, _, _, volunteer = await make_open_task_and_volunteer(client, station)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json={"lat": 37.512345, "lng": 122.121234},
                      headers=volunteer.headers)
    ids = []
    for _ in range(3):
        r = await client.post("/api/v1/uploads", files={"file": ("a.png", tiny_png(), "image/png")}, headers=volunteer.headers)
        ids.append(r.json()["id"])
    attached, loose, recent = ids
    assert (await record_after(client, task["id"], volunteer, 10, photos=[attached])).status_code == 200
    week_ago = utc_now() - timedelta(days=8)
    await Upload.filter(id__in=[attached, loose]).update(created_at=week_ago)
    keys = dict(await Upload.all().values_list("id", "storage_key"))
    storage = api.app.ctx.storage

    out = await jobs.run_all(settings=api.settings, now=utc_now())
    assert out["swept_uploads"] == 1
    assert set(await Upload.all().values_list("id", flat=True)) == {attached, recent}
    with pytest.raises(FileNotFoundError):
        await storage.get(keys[loose])
    assert await storage.get(keys[attached]) == tiny_png() and await storage.get(keys[recent]) == tiny_png()
    assert (await TaskClaim.get(task_id=task["id"])).photos == [attached]
    assert (await jobs.run_all(settings=api.settings, now=utc_now()))["swept_uploads"] == 0


async def test_a_job_that_fails_does_not_hold_back_the_others(api, client, monkeypatch, caplog):
    """Injected fault: one job raising (a bad row, a statement stopped at its time limit) is logged
    and reported as None; the jobs after it still run, this round and every round."""
    station = await make_station()
    task, _, _, _ = await make_open_task(client, station, scheduled_start=iso(soon(10)), scheduled_end=iso(soon(40)))

    async def broken(**_):
        raise RuntimeError("injected")

    monkeypatch.setattr(jobs.rewards, "expire_unclaimed", broken)
    out = await jobs.run_all(settings=api.settings, now=utc_now() + timedelta(hours=3))
    assert out["expired_redemptions"] is None and "scheduled job failed" in caplog.text
    # Before it and after it: the task expired, and the jobs listed after it all answered.
    assert out["expired_tasks"] == 1 and (await Task.get(id=task["id"])).status == "expired"
    assert all(isinstance(out[name], int) for name in ("warned_unclaimed", "reminded_redemptions",
                                                       "escalated_referrals", "pairing_tasks", "swept_uploads"))
