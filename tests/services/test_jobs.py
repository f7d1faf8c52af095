"""Auto-release of claims not checked in, and expiry of unclaimed tasks, on a controlled clock."""

from datetime import timedelta

from models import Task, TaskClaim, WorkflowEvent
from server.clock import utc_now
from server.services import jobs
from tests.builders import iso, make_open_task, make_station, make_volunteer, soon

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
        "reminded_redemptions": 0, "escalated_referrals": 0, "pairing_tasks": 0}
    assert (await Task.get(id=task["id"])).status == "expired"
