"""Rate limits (OWASP API4): per user and per address, 429 with Retry-After, nothing done when
refused, fail open when Redis is gone."""

import contextlib

import pytest
import redis.asyncio as aioredis

from models import Need, ResidentProfile, Upload, User
from tests.builders import (
    fast_login, make_need, make_open_task, make_resident, make_station, make_volunteer, new_openid, resident_payload,
)
from tests.handlers.workflow.test_catalogue_uploads import tiny_png
from tests.handlers.test_platform import assert_error


@contextlib.contextmanager
def limits(api, action, **scopes):
    saved = api.app.ctx.rate_limits.get(action)
    api.app.ctx.rate_limits[action] = scopes
    try:
        yield
    finally:
        api.app.ctx.rate_limits[action] = saved


def assert_limited(r, scope):
    err = assert_error(r, 429, "RATE_LIMITED")
    assert err["details"]["scope"] == scope
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= err["details"]["window_seconds"] + 1 and err["details"]["retry_after"] == retry
    return err


async def test_login_is_limited_per_address_and_forged_forwarding_headers_do_not_help(client, api):
    with limits(api, "login", ip=[3, 60]):
        for _ in range(3):
            r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{new_openid()}"})
            assert r.status_code == 200, r.text
        users = await User.all().count()
        r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{new_openid()}"},
                              headers={"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"})
        assert_limited(r, "ip")
        assert await User.all().count() == users  # refused before anything was done


async def test_need_submission_is_limited_per_user_and_others_are_not_affected(client, api):
    station = await make_station()
    first, _ = await make_resident(client, station)
    second, _ = await make_resident(client, station)
    with limits(api, "need_submit", user=[1, 600]):
        await make_need(client, first)
        r = await client.post("/api/v1/needs", json={"service_code": "LIVING_MEAL", "description": "送餐"},
                              headers=first.headers)
        assert_limited(r, "user")
        await make_need(client, second, service_code="LIVING_MEAL")
    assert await Need.all().count() == 2


async def test_saving_a_household_profile_is_limited_per_user(client, api):
    # Each save says whether an ID number is already registered: probing many is refused.
    station = await make_station()
    s, _ = await make_resident(client, station)
    with limits(api, "resident_save", user=[3, 600]):  # make_resident's save was the first
        r = await client.put("/api/v1/me/resident", json=resident_payload(station, name="王秀兰"), headers=s.headers)
        assert r.status_code == 200, r.text
        r = await client.put("/api/v1/me/resident", json=resident_payload(station, name="王秀梅"), headers=s.headers)
        assert r.status_code == 200, r.text
        assert_limited(await client.put("/api/v1/me/resident", json=resident_payload(station, name="李四"),
                                        headers=s.headers), "user")
    assert (await ResidentProfile.get(user_id=s.id)).name == "王秀梅"  # the refused save changed nothing


async def test_claims_are_limited_per_volunteer(client, api):
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    with limits(api, "claim", user=[2, 60]):
        for path in ("claim", "release", "claim"):
            r = await client.post(f"/api/v1/tasks/{task['id']}/{path}", headers=volunteer.headers)
            assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/tasks/{task['id']}/release", headers=volunteer.headers)
        assert r.status_code == 200
        assert_limited(await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers), "user")


async def test_redemptions_and_uploads_are_limited(client, api):
    session = await fast_login(api)
    with limits(api, "upload", user=[1, 60]):
        files = {"file": ("p.png", tiny_png(), "image/png")}
        assert (await client.post("/api/v1/uploads", files=files, headers=session.headers)).status_code == 201
        assert_limited(await client.post("/api/v1/uploads", files=files, headers=session.headers), "user")
    assert await Upload.all().count() == 1
    # And a day's cap under the per-minute one.
    other = await fast_login(api)
    with limits(api, "upload_day", user=[2, 86400]):
        files = {"file": ("p.png", tiny_png(), "image/png")}
        for _ in range(2):
            assert (await client.post("/api/v1/uploads", files=files, headers=other.headers)).status_code == 201
        err = assert_limited(await client.post("/api/v1/uploads", files=files, headers=other.headers), "user")
        assert err["details"]["window_seconds"] == 86400
    assert await Upload.filter(owner_id=other.id).count() == 2
    with limits(api, "redeem", user=[1, 60]):
        headers = {**session.headers, "Idempotency-Key": "k" * 16}
        r = await client.post("/api/v1/rewards/999999/redeem", headers=headers)
        assert r.status_code == 404  # counted, then not found
        assert_limited(await client.post("/api/v1/rewards/999999/redeem", headers=headers), "user")


@pytest.fixture
async def redis_gone(api):
    """Point the app at a Redis that is not there, for one test."""
    real = api.app.ctx.redis.aio
    api.app.ctx.redis.aio = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    try:
        yield
    finally:
        await api.app.ctx.redis.aio.aclose()
        api.app.ctx.redis.aio = real


async def test_limits_fail_open_when_redis_is_gone(client, api, redis_gone):
    session = await fast_login(api)
    with limits(api, "upload", user=[1, 60]):
        files = {"file": ("p.png", tiny_png(), "image/png")}
        for _ in range(3):
            assert (await client.post("/api/v1/uploads", files=files, headers=session.headers)).status_code == 201
    assert await Upload.all().count() == 3


async def test_concurrent_requests_counted_together_each_get_their_own_count(client, api):
    """The counts of concurrent requests go to Redis in one pipeline (server.batching): each
    request must still get its own, so exactly the limit pass, whoever asks alongside."""
    import asyncio

    from tests.builders import bulk_volunteers

    station = await make_station()
    tasks = [(await make_open_task(client, station))[0] for _ in range(2)]
    crowd = await bulk_volunteers(api, station, 6)
    with limits(api, "claim", user=[2, 60]):
        # Each of six volunteers tries three claims at once, all eighteen together: per user,
        # the first two counted pass the limit (and lose or win the race), the third is refused.
        results = await asyncio.gather(*(client.post(f"/api/v1/tasks/{tasks[k % 2]['id']}/claim", headers=v.headers)
                                         for v in crowd for k in range(3)))
    per_user = [[r.status_code for r in results[3 * i:3 * i + 3]] for i in range(len(crowd))]
    assert all(codes.count(429) == 1 for codes in per_user), per_user


async def test_a_worker_reporting_needs_for_many_households_is_not_held_to_a_residents_limit(client, api):
    # 机制一: a grid worker enters the day's visits for the households they found; the limit that
    # stops one resident's account from flooding the station does not stop the station's own work.
    from tests.builders import make_worker

    station = await make_station()
    worker = await make_worker(client, station)
    homes = []
    for k in range(3):
        r = await client.post("/api/v1/residents", json={"name": f"孙{k}", "station_id": station.id}, headers=worker.headers)
        homes.append(r.json()["id"])
    resident, _ = await make_resident(client, station)
    with limits(api, "need_submit", user=[2, 600]):
        for home in homes:
            r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "代报",
                                                         "resident_id": home, "source": "visit"}, headers=worker.headers)
            assert r.status_code == 201, r.text
        # A resident's own submissions are still held to theirs.
        await make_need(client, resident)
        await make_need(client, resident, service_code="LIVING_MEAL")
        assert_limited(await client.post("/api/v1/needs", json={"service_code": "HEALTH_CHECK", "description": "体检"},
                                         headers=resident.headers), "user")
