"""Several processes on one MariaDB + Redis: two API processes of two
workers each and two outbox workers. 500 concurrent claims across them give one winner per task;
1 000 notifications are each sent once; a confirmation sent through both at once credits once."""

import asyncio
import random
import sys
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest_asyncio

from models import Need, OutboxMessage, PointsEntry, Task, TaskClaim
from tests.builders import bulk_volunteers, make_resident, make_station, make_volunteer, make_worker
from tests.faults.conftest import process_env, start_api, start_process
from tests.support import require_services


@pytest_asyncio.fixture
async def two_apis(api, standin, tmp_path):
    require_services(api.settings, "several API and worker processes")
    env = process_env(api, standin, None)
    started = [await start_api(env, tmp_path / f"api{i}.log", workers=2) for i in (1, 2)]
    yield [url for _, url in started]
    for proc, _ in started:
        await proc.stop()
        # Shown with a failing test's output: what each process logged (a worker dying, say).
        print(f"--- {proc.log.name}, last lines ---\n" + "\n".join(proc.log.read_text().splitlines()[-60:]))


async def test_500_concurrent_claims_across_two_api_processes_one_winner_per_task(api, client, two_apis):
    station = await make_station()
    _, household = await make_resident(client, station)
    need = await Need.create(resident_id=household["id"], station_id=station.id, service_id="CLEAN_HOME",
                             description="x", reported_by=1, status="dispatched")
    now = api.app.ctx.clock()
    await Task.bulk_create([Task(need_id=need.id, station_id=station.id, service_id="CLEAN_HOME", title=f"t{k}",
                                 scheduled_start=now + timedelta(hours=2 + 3 * k),
                                 scheduled_end=now + timedelta(hours=3 + 3 * k), points=10, created_by=1)
                            for k in range(50)])
    task_ids = list(await Task.filter(need_id=need.id).values_list("id", flat=True))
    volunteers = await bulk_volunteers(api, station, 500)
    rng = random.Random(5)
    plan = [(v, task_ids[i % 50], two_apis[rng.randrange(2)]) for i, v in enumerate(volunteers)]
    rng.shuffle(plan)
    limits = httpx.Limits(max_connections=250)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:
        responses = await asyncio.gather(*(c.post(f"{url}/api/v1/tasks/{tid}/claim", headers=v.headers)
                                           for v, tid, url in plan))
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 50, 409: 450}, codes
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"TASK_ALREADY_CLAIMED"}
    per_task = Counter(await TaskClaim.filter(task_id__in=task_ids, status="claimed").values_list("task_id", flat=True))
    assert per_task == {tid: 1 for tid in task_ids}
    assert set(await Task.filter(id__in=task_ids).values_list("claimed_count", flat=True)) == {1}


async def test_a_confirmation_through_both_processes_at_once_credits_once(api, client, two_apis):
    from tests.handlers.points.test_points import serve

    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task_id = await serve(client, station, worker, volunteer, minutes_ago=30)
    async with httpx.AsyncClient(timeout=60) as c:
        responses = await asyncio.gather(*(c.post(f"{two_apis[i % 2]}/api/v1/tasks/{task_id}/confirm", json={},
                                                  headers=worker.headers) for i in range(20)))
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 1, 409: 19}, codes
    awards = await PointsEntry.filter(kind="service_award", account__user_id=volunteer.id)
    assert len(awards) == 1
    me = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()
    assert me["balance"] == awards[0].amount > 0


async def test_two_outbox_workers_send_1000_notifications_each_once(api, standin, tmp_path):
    require_services(api.settings, "several API and worker processes")
    now = api.app.ctx.clock()
    await OutboxMessage.bulk_create([
        OutboxMessage(notification_id=i, user_id=1, openid=f"o-{i}", template_id="TPL_TASK_UPDATE",
                      data={"thing1": {"value": f"n{i}"}}, status="pending", next_attempt_at=now, created_at=now)
        for i in range(1000)])
    env = process_env(api, standin, None)
    workers = [await start_process([sys.executable, "-m", "server.worker"], env, tmp_path / f"w{i}.log") for i in (1, 2)]
    try:
        deadline = time.monotonic() + 120
        while await OutboxMessage.filter(status="sent").count() < 1000:
            assert time.monotonic() < deadline, "outbox not drained in 120 s"
            await asyncio.sleep(0.5)
    finally:
        for w in workers:
            await w.stop()
    async with httpx.AsyncClient() as c:
        messages = (await c.get(standin.url + "/__standin/messages")).json()["messages"]
    sent = Counter(m["body"]["data"]["thing1"]["value"] for m in messages)
    assert len(sent) == 1000 and set(sent.values()) == {1}, sent.most_common(3)


async def test_browse_caches_in_every_process_follow_a_claim_made_in_another(api, client, two_apis):
    """Each of the four API workers caches the open tasks it has shown; a claim through one
    process hides the task from browsing in every other at once, a release shows it again."""
    from tests.builders import NEAR_HOME as near, make_task_and_two_volunteers

    task, a, b, _ = await make_task_and_two_volunteers(client)

    async def seen_everywhere(c: httpx.AsyncClient, session) -> list[bool]:
        # Enough requests per process that both of its workers answer some.
        responses = await asyncio.gather(*(c.get(f"{url}/api/v1/tasks/open", params=near, headers=session.headers)
                                           for url in two_apis for _ in range(12)))
        assert all(r.status_code == 200 for r in responses)
        return [any(t["id"] == task["id"] for t in r.json()["items"]) for r in responses]

    async with httpx.AsyncClient(timeout=30) as c:
        assert all(await seen_everywhere(c, b))  # every worker has it cached now
        r = await c.post(f"{two_apis[0]}/api/v1/tasks/{task['id']}/claim", headers=a.headers)
        assert r.status_code == 200, r.text
        # The invalidation is published after the commit, before the claim's response: allow it
        # the moment it takes to cross Redis, no more.
        deadline = time.monotonic() + 1.0
        while any(seen := await seen_everywhere(c, b)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not any(seen), f"1 s after the claim, still browsed in {sum(seen)} of {len(seen)} answers"
        r = await c.post(f"{two_apis[1]}/api/v1/tasks/{task['id']}/release", headers=a.headers)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 1.0
        while not all(seen := await seen_everywhere(c, b)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert all(seen), f"1 s after the release, missing from {len(seen) - sum(seen)} of {len(seen)} answers"
