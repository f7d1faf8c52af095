"""Health, docs, request ids and the error shape for everything that can go wrong in HTTP."""

import asyncio
import gc
import re
import warnings

import pytest
import redis.asyncio as aioredis

from server import health


def assert_error(r, status: int, code: str):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]  # Chinese, for the person holding the phone
    return body["error"]


async def test_healthz_reports_db_and_redis(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "db": True, "redis": True, "change_feed": True}


async def test_health_check_reports_unreachable_redis(api):
    broken = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        report = await health.check(redis=broken, timeout=1.0)
    finally:
        await broken.aclose()
    assert report == {"status": "degraded", "db": True, "redis": False}


async def test_a_health_check_cancelled_mid_probe_leaves_no_probe_unawaited(api, monkeypatch):
    # A client that hangs up while the database probe runs cancels the check: the Redis probe,
    # never started, must not be left behind as a coroutine nobody awaited.
    started = asyncio.Event()

    async def slow_db():
        started.set()
        await asyncio.sleep(10)

    monkeypatch.setattr(health, "_db", slow_db)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = asyncio.create_task(health.check(redis=api.app.ctx.redis.aio))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


async def test_openapi_documents_every_route_with_schemas(client, api):
    r = await client.get("/docs/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    routes = {
        (method.lower(), "/" + re.sub(r"<(\w+):\w+>", r"{\1}", route.path))
        for route in api.app.router.routes
        for method in route.methods
        if route.path.startswith("api/") and method not in ("OPTIONS", "HEAD")
    }
    assert len(routes) > 20
    # Actions whose URL says everything: no body to document.
    bodiless = {("post", "/api/v1/volunteers/{volunteer_id}/approve"), ("post", "/api/v1/needs/{need_id}/accept"),
                ("post", "/api/v1/tasks/{task_id}/claim"), ("post", "/api/v1/tasks/{task_id}/release"),
                ("post", "/api/v1/rewards/{reward_id}/redeem"), ("post", "/api/v1/redemptions/{redemption_id}/cancel"),
                ("post", "/api/v1/admin/credit-exports"), ("post", "/api/v1/content/reviews/{flag_id}/resolve"),
                ("post", "/api/v1/complaints/{complaint_id}/accept"), ("post", "/api/v1/residents/{resident_id}/reinstate")}
    for method, path in sorted(routes):
        op = paths.get(path, {}).get(method)
        assert op is not None, f"{method} {path} missing from OpenAPI"
        assert op.get("responses"), f"{method} {path} has no response schema"
        if method in ("post", "put", "patch") and (method, path) not in bodiless:
            assert "requestBody" in op, f"{method} {path} has no request body schema"
    assert (await client.get("/docs")).status_code in (200, 302)


async def test_every_response_carries_a_request_id(client):
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) >= 8
    r = await client.get("/healthz", headers={"X-Request-ID": "trace-abc-12345"})
    assert r.headers["x-request-id"] == "trace-abc-12345"
    # A header that doesn't look like an id is replaced, not echoed into logs.
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert r.headers["x-request-id"] != "bad id\twith junk"


async def test_unknown_route_is_404_in_error_shape(client):
    assert_error(await client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


async def test_wrong_method_is_405_in_error_shape(client):
    assert_error(await client.delete("/api/v1/stations"), 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_400(client):
    r = await client.post("/api/v1/auth/wechat-login", content=b'{"code": ', headers={"content-type": "application/json"})
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert err["details"][0]["type"] == "json_invalid"


async def test_wrong_types_give_field_details(client):
    r = await client.post("/api/v1/auth/wechat-login", json={"code": 12})
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "code"


async def test_non_object_body_is_400(client):
    assert_error(await client.post("/api/v1/auth/wechat-login", json=["fake:x"]), 400, "VALIDATION_ERROR")


async def test_body_over_limit_is_413(client, api):
    big = b'{"code": "' + b"x" * (api.settings.max_body_bytes + 10) + b'"}'
    r = await client.post("/api/v1/auth/wechat-login", content=big, headers={"content-type": "application/json"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


async def test_unexpected_error_is_500_with_request_id_and_no_internals(client):
    r = await client.get("/__test/boom")
    err = assert_error(r, 500, "INTERNAL_ERROR")
    assert err["details"] == {"request_id": r.headers["x-request-id"]}
    assert "hunter2" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text


async def test_log_lines_are_json_with_the_request_id(client, api):
    import json
    import logging

    from server.logs import JsonFormatter, RequestIdFilter

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("haibei.errors")
    logger.addHandler(handler)
    try:
        r = await client.get("/__test/boom")
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in lines]
    assert entries and all(e["request_id"] == r.headers["x-request-id"] for e in entries)
    assert entries[0]["level"] == "ERROR" and "exc" in entries[0]


async def test_redis_down_wechat_still_works_and_the_phone_is_bound(client, api):
    """The WeChat token cache is unreachable: the gateway fetches a token afresh and the
    request succeeds; nothing is lost."""
    import redis as sync_redis

    from models import User
    from server.wechat import RedisTokenStorage, WeChatGateway
    from tests.builders import login

    s = await login(client)
    live = api.app.ctx.wechat
    dead_redis = sync_redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    api.app.ctx.wechat = WeChatGateway(appid=api.settings.wechat_appid, secret=api.settings.wechat_secret,
                                       api_base=api.settings.wechat_api_base,
                                       token_storage=RedisTokenStorage(dead_redis, prefix="x"))
    try:
        r = await client.post("/api/v1/me/phone", json={"code": "fake-phone:13812345678"}, headers=s.headers)
    finally:
        await api.app.ctx.wechat.close()
        api.app.ctx.wechat = live
    assert r.status_code == 200, r.text
    assert (await User.get(id=s.id)).phone_masked == "138****5678"


async def test_redis_down_leaderboards_answer_from_the_ledger(client, api):
    """Leaderboards live in Redis; with Redis gone they are computed from the ledger: same shape,
    no 500, no 503 (the points themselves were never in Redis)."""
    import redis.asyncio as aioredis

    from tests.builders import login

    s = await login(client)
    live = api.app.ctx.redis.aio
    api.app.ctx.redis.aio = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.3)
    try:
        r = await client.get("/api/v1/leaderboard", params={"scope": "city"}, headers=s.headers)
    finally:
        await api.app.ctx.redis.aio.aclose()
        api.app.ctx.redis.aio = live
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["me"] is None


def test_a_dependency_failure_renders_503_with_the_request_id():
    from types import SimpleNamespace

    from redis.exceptions import ConnectionError as RedisConnectionError

    from server.error_responses import render_error

    request = SimpleNamespace(ctx=SimpleNamespace(request_id="r-1"))
    response = render_error(request, RedisConnectionError("gone"))
    assert response.status == 503
    assert b'"SERVICE_UNAVAILABLE"' in response.body and b'"request_id":"r-1"' in response.body


def test_responses_carry_integers_orjson_refuses():
    """Responses are written by orjson; what it refuses (an integer beyond 64 bits, echoed from a
    request) is written by the standard library, the same way."""
    import json

    from server.encoding import dumps

    value = {"ids": [2**70, -(2**65), 7], "at": "x"}
    assert dumps(value) == json.dumps(value, separators=(",", ":")).encode()


async def test_bulk_confirm_refuses_ids_out_of_range(client):
    from tests.builders import make_station, make_worker

    worker = await make_worker(client, await make_station())
    r = await client.post("/api/v1/tasks/confirm", json={"ids": [4675312685351141840693047066624, -90634]},
                          headers=worker.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
