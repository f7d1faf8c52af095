"""Browsing and claiming: privacy of the browse view, the claim race, and the claim rules."""

import asyncio
import json
import re

import httpx

from models import Task, TaskClaim
from tests.builders import (
    bulk_volunteers, iso, make_need, make_open_task, make_resident, make_station, make_task, make_volunteer,
    make_worker, soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def test_browse_shows_no_address_name_or_phone(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    secrets_seen = []
    for name, phone in (("王秀英", "13911112222"), ("李建国", "13933334444")):
        resident, profile = await make_resident(client, station, name=name, phone=phone)
        need = await make_need(client, resident)
        await make_task(client, worker, need)
        secrets_seen += [name, phone, name[1:], "3号楼2单元501室", "新威社区3号楼", str(HOME["lat"]), str(HOME["lng"])]
    r = await client.get("/api/v1/tasks/open", params={**HOME, "radius_km": 5}, headers=volunteer.headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 2
    text = r.text
    for secret in secrets_seen:
        assert secret not in text, secret
    assert not re.search(r"1[3-9]\d{9}", text)  # no phone number of any kind
    for item in items:
        assert "location" not in item and "contact" not in item and "resident_name" not in json.dumps(item)
        loc = item["approx_location"]
        # Fuzzed to a ~500 m grid: near the household but not on it.
        assert abs(loc["lat"] - HOME["lat"]) < 0.005 and abs(loc["lng"] - HOME["lng"]) < 0.005
        assert (loc["lat"], loc["lng"]) != (round(HOME["lat"], 4), round(HOME["lng"], 4))
        assert item["community"] == "鲸园街道新威社区"


async def test_browse_sorts_by_distance_and_filters_radius_and_skill(client):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker, skills=["CLEAN_HOME"])
    near_res, _ = await make_resident(client, station, lat=37.5120, lng=122.1210)
    far_res, _ = await make_resident(client, station, lat=37.5600, lng=122.1210)  # ~5 km north
    skilled_res, _ = await make_resident(client, station, lat=37.5121, lng=122.1211)
    far = await make_task(client, worker, await make_need(client, far_res))
    near = await make_task(client, worker, await make_need(client, near_res))
    bath = await make_task(client, worker, await make_need(client, skilled_res, service_code="CLEAN_BATH"))
    r = await client.get("/api/v1/tasks/open", params={"lat": 37.5120, "lng": 122.1210}, headers=volunteer.headers)
    ids = [t["id"] for t in r.json()["items"]]
    assert ids == [near["id"], far["id"]]  # CLEAN_BATH needs a skill this volunteer lacks
    assert bath["id"] not in ids
    r = await client.get("/api/v1/tasks/open", params={"lat": 37.5120, "lng": 122.1210, "radius_km": 2}, headers=volunteer.headers)
    assert [t["id"] for t in r.json()["items"]] == [near["id"]]
    assert_error(await client.post(f"/api/v1/tasks/{bath['id']}/claim", headers=volunteer.headers), 403, "SKILL_REQUIRED")


async def test_200_concurrent_claims_have_exactly_one_winner(client, api):
    station = await make_station()
    task, *_ = await make_open_task(client, station)
    volunteers = await bulk_volunteers(api, station, 200)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=api.url, timeout=60, limits=limits) as burst:
        results = await asyncio.gather(*(burst.post(f"/api/v1/tasks/{task['id']}/claim", headers=v.headers)
                                         for v in volunteers))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 1, {c: codes.count(c) for c in set(codes)}
    losers = [r for r in results if r.status_code != 200]
    assert all(r.status_code == 409 and r.json()["error"]["code"] == "TASK_ALREADY_CLAIMED" for r in losers)
    winner = volunteers[codes.index(200)]
    claims = await TaskClaim.filter(task_id=task["id"])
    assert len(claims) == 1 and claims[0].volunteer.__class__  # one row
    row = await Task.get(id=task["id"])
    assert row.status == "claimed" and row.claimed_count == 1
    # The losers hold no claim: their active-claim count is unchanged (zero).
    loser_ids = [v.id for v in volunteers if v is not winner]
    assert await TaskClaim.filter(volunteer__user_id__in=loser_ids).count() == 0
    mine = await client.get("/api/v1/tasks/mine", headers=winner.headers)
    assert [t["id"] for t in mine.json()["items"]] == [task["id"]]


async def test_slots_fill_one_per_volunteer(client, api):
    station = await make_station()
    task, *_ = await make_open_task(client, station, volunteers_needed=3)
    volunteers = await bulk_volunteers(api, station, 10)
    results = await asyncio.gather(*(client.post(f"/api/v1/tasks/{task['id']}/claim", headers=v.headers) for v in volunteers))
    assert [r.status_code for r in results].count(200) == 3
    row = await Task.get(id=task["id"])
    assert row.claimed_count == 3 and row.status == "claimed"
    # The same volunteer cannot take two slots.
    task2, *_ = await make_open_task(client, station, volunteers_needed=2,
                                     scheduled_start=iso(soon(60 * 24)), scheduled_end=iso(soon(60 * 25)))
    v = volunteers[0]
    await client.post(f"/api/v1/tasks/{task2['id']}/claim", headers=v.headers)
    assert_error(await client.post(f"/api/v1/tasks/{task2['id']}/claim", headers=v.headers), 409, "TASK_ALREADY_CLAIMED")


async def test_claim_limit_overlap_and_own_household(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    limit = api.settings.claim_limit
    for day in range(limit):
        t, *_ = await make_open_task(client, station, scheduled_start=iso(soon(60 * 24 * (day + 1))),
                                     scheduled_end=iso(soon(60 * 24 * (day + 1) + 60)))
        assert (await client.post(f"/api/v1/tasks/{t['id']}/claim", headers=volunteer.headers)).status_code == 200
    extra, *_ = await make_open_task(client, station, scheduled_start=iso(soon(60 * 24 * 10)), scheduled_end=iso(soon(60 * 24 * 10 + 60)))
    err = assert_error(await client.post(f"/api/v1/tasks/{extra['id']}/claim", headers=volunteer.headers), 409, "CLAIM_LIMIT")
    assert err["details"] == {"limit": limit, "active": limit}

    other, _ = await make_volunteer(client, station, approved_by=worker)
    a, *_ = await make_open_task(client, station)
    b, *_ = await make_open_task(client, station, scheduled_start=iso(soon(60)), scheduled_end=iso(soon(90)))
    assert (await client.post(f"/api/v1/tasks/{a['id']}/claim", headers=other.headers)).status_code == 200
    assert_error(await client.post(f"/api/v1/tasks/{b['id']}/claim", headers=other.headers), 409, "CLAIM_OVERLAP")

    # A volunteer who is also a resident cannot serve their own household.
    r = await client.put("/api/v1/me/resident", json={"name": "赵志愿", "station_id": station.id, "lat": 37.5, "lng": 122.1,
                                                     "address": "家"}, headers=other.headers)
    assert r.status_code == 200
    own_need = await make_need(client, other, service_code="LIVING_MEAL")
    own_task = await make_task(client, worker, own_need, scheduled_start=iso(soon(60 * 24 * 5)), scheduled_end=iso(soon(60 * 24 * 5 + 30)))
    listed = await client.get("/api/v1/tasks/open", headers=other.headers)
    assert own_task["id"] not in [t["id"] for t in listed.json()["items"]]
    assert_error(await client.post(f"/api/v1/tasks/{own_task['id']}/claim", headers=other.headers), 409, "OWN_HOUSEHOLD")


async def test_release_returns_the_task_to_open(client):
    station = await make_station()
    task, need, worker, resident = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/release", headers=volunteer.headers)
    assert r.status_code == 200
    row = await Task.get(id=task["id"])
    assert row.status == "open" and row.claimed_count == 0
    # After release the exact address is gone from the volunteer's view.
    view = await client.get(f"/api/v1/tasks/{task['id']}", headers=volunteer.headers)
    assert "3号楼2单元501室" not in view.text
    # Releasing after check-in is not allowed.
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/release", headers=volunteer.headers), 409, "INVALID_STATE")


async def test_pending_volunteer_cannot_browse_or_claim(client):
    station = await make_station()
    task, *_ = await make_open_task(client, station)
    pending, _ = await make_volunteer(client, station)
    assert_error(await client.get("/api/v1/tasks/open", headers=pending.headers), 403, "FORBIDDEN")
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=pending.headers), 403, "FORBIDDEN")


async def test_first_check_in_on_a_multi_slot_task_leaves_the_free_slot_claimable(client, api):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, volunteers_needed=2)
    a, _ = await make_volunteer(client, station, approved_by=worker)
    b, _ = await make_volunteer(client, station, approved_by=worker)
    c, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=a.headers)
    # B browses (and fills the cell cache) before A checks in.
    assert [t["slots_left"] for t in (await client.get("/api/v1/tasks/open", params=HOME, headers=b.headers)).json()["items"]] == [1]
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["slots_left"] == 1 and r.json()["my_claim"]["status"] == "checked_in"
    browse = (await client.get("/api/v1/tasks/open", params=HOME, headers=b.headers)).json()["items"]
    assert [(t["id"], t["slots_left"]) for t in browse] == [(task["id"], 1)]
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=b.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "claimed" and r.json()["slots_left"] == 0
    assert_error(await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=c.headers), 409, "TASK_ALREADY_CLAIMED")
    assert (await client.get("/api/v1/tasks/open", params=HOME, headers=c.headers)).json()["items"] == []
    # The task moves on once all its claims have: B checks in too.
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=b.headers)
    assert r.status_code == 200 and r.json()["status"] == "checked_in"


async def test_a_part_filled_task_past_its_window_goes_on_with_the_volunteer_who_served(client, api):
    from datetime import timedelta

    from server.ops import jobs

    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station, volunteers_needed=2,
                                                 scheduled_start=iso(soon(-4)), scheduled_end=iso(soon(40)))
    a, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=a.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=a.headers)
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    assert (await client.get(f"/api/v1/needs/{need['id']}", headers=worker.headers)).json()["status"] == "in_service"
    real = api.app.ctx.clock
    api.app.ctx.clock = lambda: real() + timedelta(minutes=40)
    try:
        r = await client.post(f"/api/v1/tasks/{task['id']}/record", headers=a.headers,
                              json={"started_at": iso(soon(0)), "ended_at": iso(soon(40)), "summary": "打扫"})
        assert r.status_code == 200 and r.json()["status"] == "open", r.text
        # Nobody took the second slot: once the window is over the task follows A's record.
        end = (await Task.get(id=task["id"])).scheduled_end
        out = await jobs.run_all(settings=api.settings, now=end + timedelta(minutes=1))
        assert out["expired_tasks"] == 0
        assert (await Task.get(id=task["id"])).status == "submitted"
        r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
        assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    finally:
        api.app.ctx.clock = real
    assert (await client.get(f"/api/v1/needs/{need['id']}", headers=worker.headers)).json()["status"] == "completed"
