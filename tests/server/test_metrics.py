"""GET /metrics (Prometheus text): requests and latency by route pattern, outbox depth, age and
dead letters, the DB pool; the outbox worker's own endpoint; access by token or loopback."""

import asyncio
import dataclasses
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from models import OutboxMessage
from server.worker import serve_metrics
from tests.builders import fast_login
from tests.handlers.test_platform import assert_error


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid")))] = s.value
    return out


async def scrape(client) -> dict:
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def requests_of(metrics: dict, route: str, status: str, method: str = "GET") -> float:
    return metrics.get(("haibei_http_requests_total", (("method", method), ("route", route), ("status", status))), 0.0)


async def test_requests_are_counted_by_route_pattern_and_status(client, api):
    session = await fast_login(api)
    before = await scrape(client)
    for _ in range(2):
        assert (await client.get("/healthz")).status_code == 200
    for need_id in (999_991, 999_992, 999_993):
        assert (await client.get(f"/api/v1/needs/{need_id}", headers=session.headers)).status_code == 404
    after = await scrape(client)
    assert requests_of(after, "/healthz", "200") - requests_of(before, "/healthz", "200") == 2
    pattern = "/api/v1/needs/<need_id:int>"
    assert requests_of(after, pattern, "404") - requests_of(before, pattern, "404") == 3
    assert not any("999991" in str(key) for key in after)  # ids never become labels
    count = ("haibei_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
    assert after[count] - before.get(count, 0) == 2


async def test_outbox_depth_age_and_dead_letters(client, api):
    now = api.app.ctx.clock()
    common = {"notification_id": 1, "user_id": 1, "openid": "o", "template_id": "TPL", "data": {}, "next_attempt_at": now}
    await OutboxMessage.create(**common, status="pending", created_at=now - timedelta(seconds=90))
    await OutboxMessage.create(**common, status="pending", created_at=now)
    await OutboxMessage.create(**common, status="dead", created_at=now)
    await OutboxMessage.create(**common, status="sent", created_at=now)
    m = await scrape(client)
    assert m[("haibei_outbox_pending", ())] == 2 and m[("haibei_outbox_dead_letters", ())] == 1
    assert 90 <= m[("haibei_outbox_oldest_pending_age_seconds", ())] < 120
    assert m[("haibei_database_up", ())] == 1
    if api.settings.is_mysql:
        assert m[("haibei_db_pool_connections", (("state", "max"),))] == api.settings.db_pool_size


async def test_metrics_need_the_token_when_one_is_set(client, api):
    real = api.app.ctx.settings
    api.app.ctx.settings = dataclasses.replace(real, metrics_token="scrape-token-for-tests-only")
    try:
        assert_error(await client.get("/metrics"), 403, "FORBIDDEN")
        assert_error(await client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 403, "FORBIDDEN")
        r = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-tests-only"})
        assert r.status_code == 200 and "haibei_outbox_pending" in r.text
    finally:
        api.app.ctx.settings = real


async def test_the_outbox_worker_serves_its_own_metrics(api):
    from server.metrics import OUTBOX_SENDS

    OUTBOX_SENDS.labels("sent").inc()
    server = await serve_metrics(0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.close()
    m = samples(r.text)
    assert m[("haibei_outbox_sends_total", (("outcome", "sent"),))] >= 1
    assert ("haibei_outbox_pending", ()) in m


async def test_the_caches_and_the_change_feed_are_reported(client, api):
    from models import VolunteerProfile
    from tests.builders import make_station

    session = await fast_login(api, "volunteer")
    station = await make_station()
    await VolunteerProfile.create(user_id=session.id, station_id=station.id, name="v", status="approved")
    # A test before may have held the loop long enough for the subscription to lapse (it comes
    # back within a second or so): what is checked here is that the state is reported.
    from server import feed

    for _ in range(100):
        if feed.current().live:
            break
        await asyncio.sleep(0.1)
    assert feed.current().live, "the change feed did not come back within 100 polls (10 s+)"
    before = await scrape(client)
    for _ in range(3):
        r = await client.get("/api/v1/tasks/open", params={"lat": 37.5, "lng": 122.1, "radius_km": 1}, headers=session.headers)
        assert r.status_code == 200, r.text
    after = await scrape(client)
    assert after[("haibei_change_feed_live", ())] == 1
    hits = ("haibei_cache_lookups_total", (("cache", "user"), ("outcome", "hit")))
    # The first request reads the caller from the database, the next two from the cache.
    assert after[hits] - before.get(hits, 0) >= 2
    assert after[("haibei_cache_entries", (("cache", "user"),))] >= 1
    assert after[("haibei_cache_entries", (("cache", "cell"),))] >= 9  # the 3 × 3 square, empty cells too


async def test_garbage_collections_are_timed_by_generation(client):
    """Every collection stops the requests in flight: the API reports how long each took."""
    import gc

    def collections(m, generation: str) -> float:
        return m.get(("haibei_gc_pause_seconds_count", (("generation", generation),)), 0)

    before = await scrape(client)
    gc.collect()
    gc.collect(0)
    after = await scrape(client)
    assert collections(after, "2") >= collections(before, "2") + 1
    assert collections(after, "0") >= collections(before, "0") + 1
    assert after[("haibei_gc_pause_seconds_sum", (("generation", "2"),))] > 0
