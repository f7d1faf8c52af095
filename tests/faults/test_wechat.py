"""WeChat slow and failing under the outbox worker, and a worker killed mid-batch: the API does not
wait for WeChat, the outbox drains afterwards, each message is delivered once (and none is lost
when a worker dies holding a batch)."""

import asyncio
import signal
import sys
import time

import httpx

from models import OutboxMessage
from tests.builders import fast_login
from tests.faults.conftest import process_env, start_process


async def outbox(api, n: int) -> list[int]:
    now = api.app.ctx.clock()
    rows = [OutboxMessage(notification_id=i, user_id=1, openid=f"o-fault-{i}", template_id="TPL_TASK_UPDATE",
                          data={"thing1": {"value": f"m{i}"}}, status="pending", next_attempt_at=now, created_at=now)
            for i in range(n)]
    await OutboxMessage.bulk_create(rows)
    return list(await OutboxMessage.all().values_list("id", flat=True))


async def delivered(standin) -> list[str]:
    async with httpx.AsyncClient() as c:
        messages = (await c.get(standin.url + "/__standin/messages")).json()["messages"]
    return [m["body"]["data"]["thing1"]["value"] for m in messages]


async def wait_sent(n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await OutboxMessage.filter(status="sent").count() == n:
            return
        await asyncio.sleep(0.5)
    statuses = await OutboxMessage.all().values_list("status", "attempts", "last_error")
    raise AssertionError(f"outbox not drained: {statuses[:10]}")


def worker_args() -> list[str]:
    return [sys.executable, "-m", "server.worker"]


async def test_slow_and_failing_wechat_does_not_slow_the_api_and_each_message_goes_once(
        api, standin, proxies, app_process, tmp_path):
    await outbox(api, 30)
    session = await fast_login(api)
    async with httpx.AsyncClient() as c:
        await c.post(standin.url + "/__standin/faults", json={"errcode": -1, "count": 10})
    wechat_delay_s = 10
    proxies.wechat.slow(wechat_delay_s)
    env = process_env(api, standin, proxies, HAIBEI_OUTBOX_BACKOFF_BASE_S="1", HAIBEI_OUTBOX_LEASE_S="60",
                      HAIBEI_WORKER_WECHAT_TIMEOUT_S="14")
    worker = await start_process(worker_args(), env, tmp_path / "worker.log")
    try:
        # While WeChat takes 10 s per answer, the API answers as usual: nothing in a request waits on
        # it. A request that waited on WeChat even once would take the proxy's whole delay.
        latencies = []
        for _ in range(20):
            started = time.monotonic()
            r = await app_process.client.get("/api/v1/points/me", headers=session.headers)
            latencies.append(time.monotonic() - started)
            assert r.status_code == 200
            await asyncio.sleep(0.5)
        assert max(latencies) < wechat_delay_s / 2, f"a request waited on the slowed WeChat: {latencies}"
        assert await OutboxMessage.filter(status="sent").count() < 30  # WeChat really was slow
        proxies.wechat.restore()
        await wait_sent(30, timeout=90)
    finally:
        await worker.stop()
    sent = await delivered(standin)
    assert sorted(sent) == sorted(f"m{i}" for i in range(30)), f"{len(sent)} deliveries for 30 messages"


async def test_a_worker_killed_mid_batch_loses_no_message(api, standin, proxies, tmp_path):
    await outbox(api, 120)
    proxies.wechat.slow(3)
    env = process_env(api, standin, proxies, HAIBEI_OUTBOX_BACKOFF_BASE_S="1", HAIBEI_OUTBOX_LEASE_S="25",
                      HAIBEI_WORKER_WECHAT_TIMEOUT_S="6")
    first = await start_process(worker_args(), env, tmp_path / "worker1.log")
    deadline = time.monotonic() + 30
    while await OutboxMessage.filter(status="sending").count() == 0:
        assert time.monotonic() < deadline, "the worker never took a batch"
        await asyncio.sleep(0.1)
    await first.stop(signal.SIGKILL)
    held = await OutboxMessage.filter(status="sending").count()
    assert held > 0  # it died holding leased rows
    proxies.wechat.restore()
    second = await start_process(worker_args(), env, tmp_path / "worker2.log")
    try:
        await wait_sent(120, timeout=90)
    finally:
        await second.stop()
    sent = await delivered(standin)
    # Nothing lost. A send the killed worker made before dying may have reached WeChat and be sent
    # again by the next one (at-least-once for a worker's death mid-send).
    assert set(sent) == {f"m{i}" for i in range(120)}
    print(f"killed worker held {held} rows; {len(sent) - 120} delivered twice")


async def test_a_failing_content_check_stops_keeping_households_waiting(api, client, standin, proxies, monkeypatch):
    """msgSecCheck is advisory: what it cannot check is saved and flagged for the station. While
    WeChat takes longer than the API's timeout, the first few needs wait out that timeout; then the
    check pauses and needs are saved at once, flagged "unchecked". After the pause, with WeChat
    back, the next need is checked again (clean text: no flag).

    The pause is timed on the gateway's clock, which the test moves past it instead of waiting."""
    from types import SimpleNamespace

    from models import ContentFlag
    from server.wechat import RedisTokenStorage, WeChatGateway, gateway
    from tests.builders import make_resident, make_station

    moved = [0.0]  # seconds the gateway's clock is ahead of the real one
    monkeypatch.setattr(gateway, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + moved[0]))
    timeout = 1.0
    station = await make_station()
    services = ["CLEAN_HOME", "LIVING_MEAL", "LIVING_SHOP", "HEALTH_CHECK"]
    households = [(await make_resident(client, station))[0] for _ in range(2)]  # signed in: a WeChat session
    asks = [(h, s) for h in households for s in services]
    live = api.app.ctx.wechat
    api.app.ctx.wechat = WeChatGateway(
        appid=api.settings.wechat_appid, secret=api.settings.wechat_secret, timeout=timeout,
        api_base=f"http://127.0.0.1:{proxies.wechat.port}",
        token_storage=RedisTokenStorage(api.app.ctx.redis.sync, prefix=api.settings.redis_prefix + "slowcheck:"))

    async def ask(household, service: str) -> tuple[float, dict]:
        started = time.monotonic()
        r = await client.post("/api/v1/needs", json={"service_code": service, "description": "需要帮忙打扫"},
                              headers=household.headers)
        assert r.status_code == 201, r.text
        return time.monotonic() - started, r.json()

    try:
        proxies.wechat.slow(3)
        waited = [await ask(*asks[k]) for k in range(gateway.SEC_CHECK_FAILURES)]
        assert all(seconds >= 0.9 * timeout for seconds, _ in waited), waited  # each waited out the timeout
        paused = [await ask(*asks[k]) for k in range(gateway.SEC_CHECK_FAILURES, 6)]
        # Measured against the calls that waited, not against a wall-clock limit: none of these waits.
        slowest_paused, quickest_waited = max(t for t, _ in paused), min(t for t, _ in waited)
        assert slowest_paused < quickest_waited / 2, f"paused: {paused}; waited: {waited}"
        for _, need in waited + paused:
            flag = await ContentFlag.get(subject_type="need", subject_id=need["id"])
            assert flag.verdict == "unchecked"
        proxies.wechat.restore()
        moved[0] += gateway.SEC_CHECK_PAUSE_S + 1  # the pause is over
        _, checked = await ask(*asks[6])
        assert not await ContentFlag.exists(subject_type="need", subject_id=checked["id"])
    finally:
        proxies.wechat.restore()
        await api.app.ctx.wechat.close()
        api.app.ctx.wechat = live
