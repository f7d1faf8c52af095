"""Redis cut under load: the API keeps answering (the ledger and the database hold everything that
matters; rate limits fail open; leaderboards come from the ledger), nothing is lost, and the
boards are rebuilt once Redis is back."""

import asyncio

from models import Need
from tests.builders import bulk_volunteers, fast_login, give_points, make_station


async def test_redis_cut_mid_load_loses_nothing_and_boards_rebuild(api, proxies, app_process):
    c = app_process.client
    station = await make_station()
    volunteers = await bulk_volunteers(api, station, 3)
    for session, amount in zip(volunteers, (30, 20, 10)):
        await give_points(api, session, amount)
    households = []
    for i in range(40):
        s = await fast_login(api)
        r = await c.put("/api/v1/me/resident", headers=s.headers, json={
            "name": "王秀英", "station_id": station.id, "community": "测试社区", "categories": ["低保"]})
        assert r.status_code == 200, r.text
        households.append(s)
    board = {"scope": "city", "period": "all", "metric": "points"}
    assert (await c.get("/api/v1/leaderboard", params=board, headers=volunteers[0].headers)).json()["me"]["rank"] == 1

    async def one(i: int) -> tuple[str, int]:
        kind = ("need", "points", "board")[i % 3]
        if kind == "need":
            r = await c.post("/api/v1/needs", headers=households[i // 3].headers,
                             json={"service_code": "LIVING_MEAL", "description": "腿脚不便,需要送餐"})
        elif kind == "points":
            r = await c.get("/api/v1/points/me", headers=volunteers[i % 3].headers)
        else:
            r = await c.get("/api/v1/leaderboard", params=board, headers=volunteers[i % 3].headers)
        return kind, r.status_code

    first = await asyncio.gather(*(one(i) for i in range(0, 60)))
    proxies.redis.cut()
    during = await asyncio.gather(*(one(i) for i in range(60, 120)))
    proxies.redis.restore()
    results = first + during
    # The cut was felt: the API said how it coped.
    log = app_process.proc.log.read_text()
    assert "leaderboard from the ledger" in log and "rate limit not checked" in log
    assert all(status in (200, 201) for _, status in results), [r for r in results if r[1] not in (200, 201)]
    # Every need that was answered 201 is in the database: 40 households, one each.
    assert await Need.all().count() == sum(1 for kind, status in results if kind == "need" and status == 201) == 40
    # Redis back: the boards answer from Redis again, rebuilt, with the same ranking.
    r = await c.get("/api/v1/leaderboard", params=board, headers=volunteers[2].headers)
    assert r.status_code == 200 and r.json()["me"] == {"rank": 3, "value": 10}
    redis = api.app.ctx.redis.aio
    assert await redis.get(api.settings.redis_prefix + "lb:count") is not None


async def test_with_redis_cut_a_process_stops_trusting_its_caches(api, client, proxies, app_process):
    """A process that cannot hear the change feed cannot know what changed elsewhere: it drops its
    caches and reads the database until the feed is back."""
    from tests.builders import NEAR_HOME as near, make_task_and_two_volunteers

    c = app_process.client
    task, a, b, _ = await make_task_and_two_volunteers(client)

    async def shown() -> bool:
        r = await c.get("/api/v1/tasks/open", params=near, headers=b.headers)
        assert r.status_code == 200, r.text
        return any(t["id"] == task["id"] for t in r.json()["items"])

    async def feed_live() -> bool:
        return (await c.get("/healthz")).json()["change_feed"]

    assert await feed_live() and await shown()  # cached in the other process now
    proxies.redis.cut()
    for _ in range(100):
        if not await feed_live():
            break
        await asyncio.sleep(0.05)
    assert not await feed_live(), "the process still reports its change feed live after 100 polls (5 s+) with Redis cut"
    assert await shown()  # read while the feed is down: from the database, and not kept
    # Claimed through this test's own app: its invalidation never reaches the cut-off process.
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=a.headers)
    assert r.status_code == 200, r.text
    assert not await shown()  # read from the database, not from the stale cache
    proxies.redis.restore()
    for _ in range(100):
        if await feed_live():
            break
        await asyncio.sleep(0.1)
    assert await feed_live(), "the process's change feed is not live again 100 polls (10 s+) after Redis came back"
    assert not await shown()  # back on the cache, which started empty
