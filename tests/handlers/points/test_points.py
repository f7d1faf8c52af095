"""The points ledger through the API: awards on confirmation (once), reversals, rules, leaderboards,
reconciliation."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tortoise import connections

from models import PointsAccount, PointsEntry
from tests.builders import (
    bulk_volunteers, give_points, iso, make_admin, make_need, make_resident, make_station, make_task, make_volunteer,
    make_worker, soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}
ROOT = Path(__file__).resolve().parents[3]


async def serve(client, station, worker, volunteer, *, minutes_ago=30, service="CLEAN_HOME", urgency="normal"):
    """One service of ``minutes_ago`` minutes delivered and submitted by ``volunteer``; returns the
    task id. The app's clock is moved to the start of the service for claim and check-in, and to
    its end for the record (a record starts at the check-in at the earliest)."""
    from datetime import timedelta

    api = client._haibei_api
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident, service_code=service, urgency=urgency)
    start = soon(5)
    task = await make_task(client, worker, need, scheduled_start=iso(start),
                           scheduled_end=iso(start + timedelta(minutes=minutes_ago + 60)))
    real = api.app.ctx.clock
    try:
        record = {"started_at": iso(start), "ended_at": iso(start + timedelta(minutes=minutes_ago)), "summary": "完成"}
        for path, body, at in (("claim", None, 4), ("check-in", HOME, 5), ("record", record, minutes_ago + 5)):
            api.app.ctx.clock = lambda at=at: real() + timedelta(minutes=at)
            r = await client.post(f"/api/v1/tasks/{task['id']}/{path}", json=body, headers=volunteer.headers)
            assert r.status_code == 200, r.text
    finally:
        api.app.ctx.clock = real
    return task["id"]


async def test_confirmation_credits_the_volunteer_once(client):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task_id = await serve(client, station, worker, volunteer, minutes_ago=30)
    results = await asyncio.gather(*(client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
                                     for _ in range(8)))
    assert sorted(r.status_code for r in results) == [200] + [409] * 7
    refused = next(r.json()["error"] for r in results if r.status_code == 409)
    # The state it lost to, in words.
    assert refused["code"] == "INVALID_STATE" and "confirmed" not in refused["message"]
    assert "「已确认」" in refused["message"] and refused["details"]["current_status"] == "confirmed"
    me = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()
    # 30 min × 10/h = 5, the minimum is 5, + 20 first-service bonus.
    assert me["balance"] == 25 and me["earned"] == 25 and me["verified_minutes"] == 30
    entries = (await client.get("/api/v1/points/me/entries", headers=volunteer.headers)).json()["items"]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [("service_award", 25, 25)]
    # What the volunteer reads: the kind and the reason in words, not the ledger's note "task N".
    assert [(e["kind_label"], e["reason_text"]) for e in entries] == [("服务奖励", f"完成任务 {task_id} 的服务")]
    assert await PointsEntry.filter(idempotency_key__startswith="award:claim:").count() == 1


async def test_rules_bonus_minimum_and_daily_cap(client):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker, skills=["HEALTH_REHAB"])
    first = await serve(client, station, worker, volunteer, minutes_ago=10)
    # 10 minutes, under 居室保洁's minimum of 30: confirmed with a reason, it earns the minimum of 5.
    r = await client.post(f"/api/v1/tasks/{first}/confirm", json={"reason": "老人临时外出,提前结束"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    # Second service, urgent, 2 hours of 10/h: 20 + 5 urgent, no first-service bonus.
    second_volunteer_day = await serve(client, station, worker, volunteer, minutes_ago=120, urgency="urgent",
                                       service="LIVING_ESCORT")
    await client.post(f"/api/v1/tasks/{second_volunteer_day}/confirm", json={}, headers=worker.headers)
    me = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()
    assert me["balance"] == 25 + 25
    # Third: the daily cap of 60 leaves only 10.
    third = await serve(client, station, worker, volunteer, minutes_ago=120, service="LIVING_SHOP")
    r = await client.post(f"/api/v1/tasks/{third}/confirm", json={}, headers=worker.headers)
    assert r.json()["claims"][0]["points_due"] == 10
    assert (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()["balance"] == 60


async def test_admin_publishes_new_rules(client):
    admin = await make_admin(client)
    r = await client.put("/api/v1/admin/points-rules", json={"points_per_hour": {"CLEAN_HOME": 30}, "min_per_service": 0,
                                                             "urgent_bonus": 0, "first_service_bonus": 0, "daily_cap": None},
                         headers=admin.headers)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert_error(await client.put("/api/v1/admin/points-rules", json={"min_per_service": -1, "urgent_bonus": 0,
                                                                       "first_service_bonus": 0}, headers=admin.headers),
                 400, "VALIDATION_ERROR")
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task_id = await serve(client, station, worker, volunteer, minutes_ago=60)
    await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
    assert (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()["balance"] == 30


async def test_reversal_takes_back_and_nets_what_it_could_not(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task_id = await serve(client, station, worker, volunteer)
    await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
    award = await PointsEntry.get(kind="service_award")
    # Spend part of it, directly through the ledger as a redemption would.
    from server.points import ledger
    from tortoise.transactions import in_transaction

    async with in_transaction():
        account = await ledger.lock(user_id=volunteer.id)
        await ledger.post(account=account, amount=-20, kind="redemption", key="test-spend", now=api.app.ctx.clock())
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"}, headers=worker.headers)
    assert r.status_code == 201, r.text
    me = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()
    assert me["balance"] == 0 and me["owed"] == 20 and me["verified_minutes"] == 0
    assert_error(await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "again"},
                                   headers=worker.headers), 409, "ALREADY_REVERSED")
    # The next award pays the debt first.
    task2 = await serve(client, station, worker, volunteer, minutes_ago=60, service="LIVING_SHOP")
    await client.post(f"/api/v1/tasks/{task2}/confirm", json={}, headers=worker.headers)
    me = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()
    assert me["owed"] == 10 and me["balance"] == 0  # award of 10 (60 min × 10/h) went to the debt
    other_worker = await make_worker(client, await make_station())
    assert_error(await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "x"},
                                   headers=other_worker.headers), 404, "NOT_FOUND")
    assert_error(await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "x"},
                                   headers=volunteer.headers), 403, "FORBIDDEN")


async def test_leaderboard_is_right_after_redis_loses_everything(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    stars = []
    for minutes, name in ((120, "王小明"), (60, "李小红"), (30, "张小刚")):
        volunteer, _ = await make_volunteer(client, station, approved_by=worker, name=name)
        task_id = await serve(client, station, worker, volunteer, minutes_ago=minutes, service="LIVING_SHOP")
        await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
        stars.append(volunteer)
    params = {"scope": "station", "period": "month", "metric": "hours"}
    board = (await client.get("/api/v1/leaderboard", params=params, headers=stars[1].headers)).json()
    assert [(i["name"], i["value"]) for i in board["items"]] == [("王**", 2.0), ("李**", 1.0), ("张**", 0.5)]
    assert board["me"] == {"rank": 2, "value": 1.0}
    # Redis loses its data (FLUSHDB on the test database: FLUSHALL would hit other runs on this machine).
    await api.app.ctx.redis.aio.flushdb()
    again = (await client.get("/api/v1/leaderboard", params=params, headers=stars[1].headers)).json()
    assert again["items"] == board["items"] and again["me"] == board["me"]
    points = (await client.get("/api/v1/leaderboard", params={"scope": "city", "period": "all", "metric": "points"},
                               headers=stars[2].headers)).json()
    assert [i["value"] for i in points["items"]] == [40, 30, 25]  # 20/10/5 earned + 20 first-service bonus
    # After a new award the board follows without a rebuild.
    task_id = await serve(client, station, worker, stars[2], minutes_ago=180, service="LIVING_SHOP")
    await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
    points = (await client.get("/api/v1/leaderboard", params={"scope": "city", "period": "all", "metric": "points"},
                               headers=stars[2].headers)).json()
    assert points["me"] == {"rank": 1, "value": 55}


async def test_reconcile_finds_a_difference_planted_in_the_database(client, api):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task_id = await serve(client, station, worker, volunteer)
    await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
    env = {**os.environ, "HAIBEI_DB_URL": api.settings.db_url}
    clean = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "scripts" / "reconcile_points")],
                                    env=env, capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    account = await PointsAccount.get(user_id=volunteer.id)
    conn = connections.get("default")
    await conn.execute_query(f"UPDATE points_accounts SET balance = balance + 7 WHERE id = {account.id}")
    planted = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "scripts" / "reconcile_points")],
                                      env=env, capture_output=True, text=True, timeout=60)
    assert planted.returncode == 1
    assert '"field": "balance"' in planted.stdout and str(account.id) in planted.stdout
    # It reported, it did not fix.
    assert (await PointsAccount.get(id=account.id)).balance == 32


async def test_an_administrator_does_not_adjust_their_own_points(client):
    """An administrator who also volunteers could otherwise credit themself by hand: as with a
    worker's own service, it is another administrator's to do."""
    admin = await make_admin(client)
    other = await make_admin(client)
    body = {"user_id": admin.id, "amount": 500, "reason": "活动奖励"}
    err = assert_error(await client.post("/api/v1/admin/points/adjustments", json=body, headers=admin.headers),
                       403, "OWN_ACCOUNT")
    assert err["message"]
    assert await PointsEntry.all().count() == 0
    r = await client.post("/api/v1/admin/points/adjustments", json=body, headers=other.headers)
    assert r.status_code == 201, r.text


async def test_a_closed_accounts_points_are_not_adjusted(client):
    from models import PointsEntry

    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.delete("/api/v1/me", headers=volunteer.headers)).status_code == 200
    r = await client.post("/api/v1/admin/points/adjustments", json={"user_id": volunteer.id, "amount": 50, "reason": "补发"},
                          headers=admin.headers)
    assert_error(r, 409, "ACCOUNT_CLOSED")
    assert not await PointsEntry.filter(account__user_id=volunteer.id, kind="adjustment").exists()


async def test_adjustments_refuse_bad_amounts_and_unknown_users(client):
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    for amount in (1.5, "ten", 0):
        r = await client.post("/api/v1/admin/points/adjustments", json={"user_id": volunteer.id, "amount": amount, "reason": "x"},
                              headers=admin.headers)
        assert_error(r, 400, "VALIDATION_ERROR")
    r = await client.post("/api/v1/admin/points/adjustments", json={"user_id": 999999, "amount": 5, "reason": "x"}, headers=admin.headers)
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert err["details"][0]["type"] == "unknown_reference"
    r = await client.post("/api/v1/admin/points/adjustments", json={"user_id": volunteer.id, "amount": -5, "reason": "x"},
                          headers=admin.headers)
    assert_error(r, 409, "INSUFFICIENT_POINTS")
    r = await client.post("/api/v1/admin/points/adjustments", json={"user_id": volunteer.id, "amount": 8, "reason": "活动奖励"},
                          headers=admin.headers)
    assert r.status_code == 201 and r.json()["balance_after"] == 8
    assert await PointsEntry.all().count() == 1
    assert_error(await client.post("/api/v1/admin/points/adjustments", json={"user_id": volunteer.id, "amount": 8, "reason": "x"},
                                   headers=worker.headers), 403, "FORBIDDEN")


async def test_workers_see_their_station_admins_everyone(client):
    admin = await make_admin(client)
    a, b = await make_station(), await make_station()
    worker_a, worker_b = await make_worker(client, a), await make_worker(client, b)
    va, _ = await make_volunteer(client, a, approved_by=worker_a)
    vb, _ = await make_volunteer(client, b, approved_by=worker_b)
    seen_a = {x["user_id"] for x in (await client.get("/api/v1/points/accounts", headers=worker_a.headers)).json()}
    assert seen_a == {va.id}
    seen_all = {x["user_id"] for x in (await client.get("/api/v1/points/accounts", headers=admin.headers)).json()}
    assert {va.id, vb.id} <= seen_all
    assert_error(await client.get("/api/v1/points/accounts", headers=va.headers), 403, "FORBIDDEN")


async def test_redis_down_ledger_still_works_and_boards_catch_up(client, api):
    import redis.asyncio as aioredis

    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    params = {"scope": "city", "period": "all", "metric": "points"}
    assert (await client.get("/api/v1/leaderboard", params=params, headers=volunteer.headers)).json()["me"] is None
    task_id = await serve(client, station, worker, volunteer, minutes_ago=60, service="LIVING_SHOP")
    live = api.app.ctx.redis.aio
    api.app.ctx.redis.aio = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.3)
    try:
        r = await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
        assert r.status_code == 200, r.text
        assert (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()["balance"] == 30
        # The boards come from the ledger meanwhile: the new points are already on them.
        during = await client.get("/api/v1/leaderboard", params=params, headers=volunteer.headers)
        assert during.status_code == 200, during.text
        assert during.json()["me"] == {"rank": 1, "value": 30}
    finally:
        await api.app.ctx.redis.aio.aclose()
        api.app.ctx.redis.aio = live
    board = (await client.get("/api/v1/leaderboard", params=params, headers=volunteer.headers)).json()
    assert board["me"] == {"rank": 1, "value": 30}


async def test_the_ledger_fallback_gives_the_boards_redis_gives(client, api):
    from server.points import leaderboard
    from tests.builders import bulk_volunteers, give_points, make_district

    district = await make_district()
    a, b = await make_station(district), await make_station(district)
    people = await bulk_volunteers(api, a, 3) + await bulk_volunteers(api, b, 2)
    for session, amount in zip(people, (40, 10, 40, 25, 5)):
        await give_points(api, session, amount)
    ctx = api.app.ctx
    now = ctx.clock()
    for scope, scope_id in (("city", 0), ("station", a.id), ("station", b.id), ("district", district.id)):
        for period in ("all", "month"):
            for metric in ("points", "hours"):
                for me in (people[0], people[4]):
                    args = dict(scope=scope, scope_id=scope_id, period=period, metric=metric, user_id=me.id, limit=3,
                                now=now)
                    from_redis = await leaderboard._read_redis(redis=ctx.redis.aio, prefix=ctx.settings.redis_prefix,
                                                               **args)
                    assert await leaderboard._read_ledger(**args) == from_redis, (scope, period, metric)


async def test_monthly_boards_start_at_midnight_weihai_time(client, api):
    """An entry from 00:30 on the 1st (16:30 UTC the day before) is this month's; one from 23:30
    on the last day of the previous month is not. Both from Redis and from the ledger fallback."""
    from datetime import datetime, timedelta, timezone

    import redis.asyncio as aioredis
    from tortoise.transactions import in_transaction

    from server.clock import CHINA_TZ
    from server.points import ledger
    from tests.builders import bulk_volunteers

    station = await make_station()
    early, late = await bulk_volunteers(api, station, 2)
    first_of_month = datetime(2026, 3, 1, tzinfo=CHINA_TZ)
    for session, at, amount in ((early, first_of_month + timedelta(minutes=30), 30),
                                (late, first_of_month - timedelta(minutes=30), 10)):
        await ledger.account_for(user_id=session.id)
        async with in_transaction():
            account = await ledger.lock(user_id=session.id)
            await ledger.post(account=account, amount=amount, kind="service_award", key=f"t:{session.id}", minutes=60,
                              now=at.astimezone(timezone.utc))
    real = api.app.ctx.clock
    api.app.ctx.clock = lambda: (first_of_month + timedelta(hours=3)).astimezone(timezone.utc)
    params = {"scope": "station", "period": "month", "metric": "points"}
    try:
        board = (await client.get("/api/v1/leaderboard", params=params, headers=early.headers)).json()
        assert [(i["user_id"], i["value"]) for i in board["items"]] == [(early.id, 30)]
        assert board["me"] == {"rank": 1, "value": 30}
        live = api.app.ctx.redis.aio
        api.app.ctx.redis.aio = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.3)
        try:
            fallback = (await client.get("/api/v1/leaderboard", params=params, headers=early.headers)).json()
        finally:
            await api.app.ctx.redis.aio.aclose()
            api.app.ctx.redis.aio = live
        assert fallback["items"] == board["items"] and fallback["me"] == board["me"]
    finally:
        api.app.ctx.clock = real


async def test_concurrent_rule_publishes_each_get_their_own_version(client):
    admin = await make_admin(client)
    body = {"points_per_hour": {}, "min_per_service": 5, "urgent_bonus": 5, "first_service_bonus": 20, "daily_cap": 60}
    # The first publishes ever (no stored version yet), then more against stored versions.
    for expected in ([2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13]):
        results = await asyncio.gather(*(client.put("/api/v1/admin/points-rules", json={**body, "urgent_bonus": i},
                                                    headers=admin.headers) for i in range(6)))
        assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
        assert sorted(r.json()["version"] for r in results) == expected
    current = (await client.get("/api/v1/admin/points-rules", headers=admin.headers)).json()
    assert current["version"] == 13


async def test_a_retried_adjustment_with_its_idempotency_key_credits_once(client, api):
    from server.points import ledger
    from tests.builders import bulk_volunteers

    admin = await make_admin(client)
    station = await make_station()
    v, other = await bulk_volunteers(api, station, 2)
    body = {"user_id": v.id, "amount": 50, "reason": "活动奖励"}
    same = {**admin.headers, "Idempotency-Key": "adjust-retry-1"}
    first = await client.post("/api/v1/admin/points/adjustments", json=body, headers=same)
    assert first.status_code == 201, first.text
    # A retry (the answer was lost), and a burst of them at once: all the first answer, credited once.
    again = await asyncio.gather(*(client.post("/api/v1/admin/points/adjustments", json=body, headers=same)
                                   for _ in range(5)))
    assert [(r.status_code, r.headers.get("idempotent-replayed")) for r in again] == [(201, "true")] * 5
    assert all(r.json() == first.json() for r in again)
    assert (await client.get("/api/v1/points/me", headers=v.headers)).json()["balance"] == 50
    assert await PointsEntry.filter(kind="adjustment").count() == 1
    # The same key for another adjustment is refused, at once or later, and moves nothing.
    for changed in ({**body, "amount": 60}, {**body, "user_id": other.id}):
        assert_error(await client.post("/api/v1/admin/points/adjustments", json=changed, headers=same), 422,
                     "IDEMPOTENCY_KEY_REUSED")
    burst = await asyncio.gather(*(client.post("/api/v1/admin/points/adjustments", headers={**admin.headers, "Idempotency-Key": "k2"},
                                               json={"user_id": user, "amount": 5, "reason": "x"})
                                   for user in (v.id, other.id, v.id, other.id)))
    # One user's pair wins (one credit, one replay); the other user's pair is refused.
    assert sorted(r.status_code for r in burst) == [201, 201, 422, 422], [r.text for r in burst]
    assert {r.json()["error"]["code"] for r in burst if r.status_code == 422} == {"IDEMPOTENCY_KEY_REUSED"}
    assert await PointsEntry.filter(kind="adjustment").count() == 2
    assert (await PointsAccount.get(user_id=other.id)).balance + (await PointsAccount.get(user_id=v.id)).balance == 55
    # Without a key, two posts are two adjustments (as before).
    plain = {"user_id": other.id, "amount": 5, "reason": "补录"}
    for _ in range(2):
        assert (await client.post("/api/v1/admin/points/adjustments", json=plain, headers=admin.headers)).status_code == 201
    assert await PointsEntry.filter(kind="adjustment").count() == 4
    assert await ledger.reconcile() == []


async def test_a_positive_adjustment_pays_a_debt_first(client, api):
    from tortoise.transactions import in_transaction

    from server.points import ledger
    from tests.builders import bulk_volunteers

    admin = await make_admin(client)
    (v,) = await bulk_volunteers(api, await make_station(), 1)
    await ledger.account_for(user_id=v.id)
    async with in_transaction():
        account = await ledger.lock(user_id=v.id)
        award = await ledger.post(account=account, amount=25, kind="service_award", key="t-award", minutes=60,
                                  now=api.app.ctx.clock())
        await ledger.post(account=account, amount=-20, kind="redemption", key="t-spend", now=api.app.ctx.clock())
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"},
                          headers=admin.headers)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/admin/points/adjustments", json={"user_id": v.id, "amount": 30, "reason": "活动奖励"},
                          headers=admin.headers)
    assert r.status_code == 201 and r.json()["balance_after"] == 30
    me = (await client.get("/api/v1/points/me", headers=v.headers)).json()
    assert (me["balance"], me["owed"]) == (10, 0)
    assert await ledger.reconcile() == []


async def test_a_service_award_is_reversed_by_the_station_that_confirmed_it(client):
    home, served = await make_station(), await make_station()
    home_worker, served_worker = await make_worker(client, home), await make_worker(client, served)
    volunteer, _ = await make_volunteer(client, home, approved_by=home_worker)
    task_id = await serve(client, served, served_worker, volunteer)  # a household of the other station
    assert (await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=served_worker.headers)).status_code == 200
    award = await PointsEntry.get(kind="service_award")
    # The volunteer's own station did not verify this service: not theirs to take back.
    assert_error(await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "核查"},
                                   headers=home_worker.headers), 404, "NOT_FOUND")
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"},
                          headers=served_worker.headers)
    assert r.status_code == 201, r.text


async def test_a_board_that_missed_an_entry_heals_at_its_next_check(client, api):
    """Boards are checked against the ledger once per ``CHECK_EVERY_S`` across all processes, not
    on every read (a count over the city's whole history). An entry the boards missed (written
    while Redis failed, say: here, posted behind the boards' back) shows at the first read after
    the check is due; reads in between answer from the boards as they are."""
    from server.points import leaderboard

    station = await make_station()
    first, second = await bulk_volunteers(api, station, 2)
    await give_points(api, first, 30)
    await give_points(api, second, 20)
    params = {"scope": "city", "period": "all", "metric": "points"}
    board = (await client.get("/api/v1/leaderboard", params=params, headers=second.headers)).json()
    assert board["me"] == {"rank": 2, "value": 20}  # built from the ledger at the first read
    redis, checked = api.app.ctx.redis.aio, api.settings.redis_prefix + "lb:checked"
    assert 0 < await redis.ttl(checked) <= leaderboard.CHECK_EVERY_S
    await give_points(api, second, 25)  # the ledger moves; the boards do not hear of it
    stale = (await client.get("/api/v1/leaderboard", params=params, headers=second.headers)).json()
    assert stale["me"] == {"rank": 2, "value": 20}
    await redis.delete(checked)  # the check is due
    healed = (await client.get("/api/v1/leaderboard", params=params, headers=second.headers)).json()
    assert healed["me"] == {"rank": 1, "value": 45}
    assert [i["value"] for i in healed["items"]] == [45, 30]


async def test_boards_lost_under_load_are_rebuilt_once(client, api, caplog):
    """Redis comes back empty while many read the boards: every read finds them missing at once.
    One of them rebuilds from the ledger while the others wait for it, instead of each reading the
    whole ledger at the same moment; every read gets the right board."""
    import logging

    station = await make_station()
    people = await bulk_volunteers(api, station, 3)
    for session, amount in zip(people, (30, 20, 10)):
        await give_points(api, session, amount)
    params = {"scope": "city", "period": "all", "metric": "points"}
    assert (await client.get("/api/v1/leaderboard", params=params, headers=people[0].headers)).status_code == 200
    await api.app.ctx.redis.aio.flushdb()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="haibei.leaderboard"):
        boards = await asyncio.gather(*(client.get("/api/v1/leaderboard", params=params, headers=people[i % 3].headers)
                                        for i in range(12)))
    assert all(r.status_code == 200 for r in boards)
    for i, r in enumerate(boards):
        assert [item["value"] for item in r.json()["items"]] == [30, 20, 10]
        assert r.json()["me"]["rank"] == i % 3 + 1
    rebuilt = [rec for rec in caplog.records if rec.getMessage() == "leaderboards rebuilt from the ledger"]
    assert len(rebuilt) == 1, len(rebuilt)
