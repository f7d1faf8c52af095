"""Notifications: inbox always, WeChat outbox within subscription quota, delivered by the worker to
the stand-in over real HTTP, exactly once, with WeChat's field limits respected."""

import asyncio
from collections import Counter
from datetime import timedelta

import httpx

from models import Notification, OutboxMessage, SubscriptionQuota, User
from server.notifications import notify
from server.worker import OutboxWorker
from tests.builders import (
    iso, make_need, make_open_task, make_resident, make_station, make_task, make_volunteer, make_worker, record_after,
    soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}
ALL = sorted(notify.TEMPLATE_IDS)


async def subscribe(client, session, times: int = 3):
    for _ in range(times):
        r = await client.post("/api/v1/subscriptions", json={"accepted": ALL, "rejected": []}, headers=session.headers)
        assert r.status_code == 200, r.text


async def drain(api, clock=None) -> Counter:
    worker = OutboxWorker(wechat=api.app.ctx.wechat, clock=clock or api.app.ctx.clock, name="test")
    total: Counter = Counter()
    while True:
        outcomes = await worker.run_once()
        if not outcomes:
            return total
        total.update(outcomes)


async def standin_messages(standin) -> list[dict]:
    async with httpx.AsyncClient() as c:
        return (await c.get(standin.url + "/__standin/messages")).json()["messages"]


async def test_the_workflow_tells_everyone_once_within_wechat_limits(client, api, standin):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    volunteer, _ = await make_volunteer(client, station, name="欧阳志愿者名字特别长", approved_by=None)
    for s in (worker, resident, volunteer):
        await subscribe(client, s)
    profile = (await client.get("/api/v1/me", headers=volunteer.headers)).json()["volunteer"]
    await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=worker.headers)
    need = await make_need(client, resident, description="家里需要打扫" * 20)
    task = await make_task(client, worker, need, title="打扫卫生并整理厨房阳台卧室客厅和卫生间的所有物品")
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/record", json={"started_at": iso(soon(0)), "ended_at": iso(soon(3)),
                                                                      "summary": "完成"}, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    # Three minutes, under 居室保洁's minimum: the worker says why.
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"reason": "已电话核实"}, headers=worker.headers)
    assert r.status_code == 200, r.text

    outcomes = await drain(api)
    assert outcomes == Counter(sent=8), outcomes
    messages = await standin_messages(standin)
    openids = {s.id: (await User.get(id=s.id)).openid for s in (worker, resident, volunteer)}
    got = Counter((m["body"]["touser"], m["body"]["template_id"]) for m in messages)
    expected = Counter({
        (openids[volunteer.id], "TPL_AUDIT"): 1,          # approved
        (openids[resident.id], "TPL_NEED_PROGRESS"): 1,   # accepted
        (openids[resident.id], "TPL_TASK_UPDATE"): 2,     # claimed, checked in
        (openids[worker.id], "TPL_REVIEW_TODO"): 2,       # need submitted, record submitted
        (openids[volunteer.id], "TPL_POINTS"): 1,         # confirmed + points
        (openids[resident.id], "TPL_RATE"): 1,            # completed, please rate
    })
    assert got == expected
    # The stand-in applies WeChat's field rules (it would have answered 47003); check them here too.
    for m in messages:
        for key, field in m["body"]["data"].items():
            kind = key.rstrip("0123456789")
            assert len(field["value"]) <= {"thing": 20, "name": 10, "phrase": 5}.get(kind, 32), (key, field)
    points = next(m for m in messages if m["body"]["template_id"] == "TPL_POINTS")
    assert points["body"]["data"]["number2"]["value"] == "25"  # minimum 5 + first-service 20
    assert await drain(api) == Counter()  # nothing twice
    inbox = (await client.get("/api/v1/notifications", headers=resident.headers)).json()
    assert inbox["unread"] == 4 and [n["title"] for n in inbox["items"]][0] == "服务已完成,请评价"
    await client.post("/api/v1/notifications/read", json={"all": True}, headers=resident.headers)
    assert (await client.get("/api/v1/notifications", headers=resident.headers)).json()["unread"] == 0


async def test_without_quota_only_the_inbox(client, api, standin):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    assert await Notification.filter(user_id=resident.id, event="need_accepted").count() == 1
    assert await OutboxMessage.all().count() == 0
    # One consent is one message.
    await subscribe(client, resident, times=1)
    r = await client.post("/api/v1/subscriptions", json={"accepted": ["NOT_A_TEMPLATE"]}, headers=resident.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    # One id this server does not know beside known ones: the known consents still count.
    before = (await SubscriptionQuota.get(user_id=resident.id, template_id="TPL_POINTS")).remaining
    r = await client.post("/api/v1/subscriptions", json={"accepted": ["NEWER_TEMPLATE", "TPL_POINTS"]},
                          headers=resident.headers)
    assert r.status_code == 200 and r.json()["remaining"]["TPL_POINTS"] == before + 1
    assert not await SubscriptionQuota.filter(user_id=resident.id, template_id="NEWER_TEMPLATE").exists()
    n2 = await make_need(client, resident, service_code="LIVING_MEAL")
    n3 = await make_need(client, resident, service_code="LIVING_SHOP")
    for n in (n2, n3):
        await client.post(f"/api/v1/needs/{n['id']}/accept", headers=worker.headers)
    assert await OutboxMessage.filter(template_id="TPL_NEED_PROGRESS").count() == 1
    assert (await SubscriptionQuota.get(user_id=resident.id, template_id="TPL_NEED_PROGRESS")).remaining == 0


async def test_a_rolled_back_request_tells_nobody(client, api):
    """Confirming two volunteers' records: the first is confirmed and notified, the second fails
    (15 verified minutes > its 10 recorded) and the whole request rolls back, notification included."""
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    task = await make_task(client, worker, need, volunteers_needed=2)
    volunteers = []
    for _ in range(2):
        v, _ = await make_volunteer(client, station, approved_by=worker)
        await subscribe(client, v)
        await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=v.headers)
        volunteers.append(v)
    for v, minutes in zip(volunteers, (18, 10)):
        await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=v.headers)
        r = await record_after(client, task["id"], v, minutes)
        assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"minutes": 15}, headers=worker.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert await Notification.filter(event="task_confirmed").count() == 0
    assert await OutboxMessage.filter(template_id="TPL_POINTS").count() == 0
    assert (await client.get("/api/v1/points/me", headers=volunteers[0].headers)).json()["balance"] == 0


async def make_rows(api, n: int, openid_prefix: str = "bulk") -> list[int]:
    user = await User.create(openid=f"{openid_prefix}-{n}-{id(api)}")
    now = api.app.ctx.clock()
    await OutboxMessage.bulk_create([
        OutboxMessage(notification_id=0, user_id=user.id, openid=user.openid, template_id="TPL_POINTS", page="pages/points/index",
                      data={"thing1": f"消息{i}", "number2": str(i), "time3": "2026-11-28 10:00"}, next_attempt_at=now,
                      created_at=now)
        for i in range(n)
    ])
    return list(await OutboxMessage.filter(user_id=user.id).values_list("id", flat=True))


async def test_two_workers_send_each_of_1000_messages_exactly_once(api, standin):
    await make_rows(api, 1000)
    a = OutboxWorker(wechat=api.app.ctx.wechat, clock=api.app.ctx.clock, batch=40, name="a")
    b = OutboxWorker(wechat=api.app.ctx.wechat, clock=api.app.ctx.clock, batch=40, name="b")

    async def loop(w):
        sent = 0
        while outcomes := await w.run_once():
            sent += outcomes.get("sent", 0)
        return sent

    sent_a, sent_b = await asyncio.gather(loop(a), loop(b))
    assert sent_a + sent_b == 1000 and sent_a > 0 and sent_b > 0
    messages = await standin_messages(standin)
    numbers = Counter(m["body"]["data"]["number2"]["value"] for m in messages)
    assert len(messages) == 1000 and len(numbers) == 1000 and max(numbers.values()) == 1
    assert await OutboxMessage.filter(status="sent").count() == 1000


async def test_a_killed_worker_leaves_its_rows_to_the_lease(api, standin):
    (row_id,) = await make_rows(api, 1, "lease")
    clock = api.app.ctx.clock
    dead = OutboxWorker(wechat=api.app.ctx.wechat, clock=clock, lease_seconds=60, name="dies")
    taken = await dead.claim()  # ...and the process dies here, before sending.
    assert [r.id for r in taken] == [row_id]
    other = OutboxWorker(wechat=api.app.ctx.wechat, clock=clock, lease_seconds=60, name="other")
    assert await other.run_once() == {}  # still leased
    later = OutboxWorker(wechat=api.app.ctx.wechat, clock=lambda: clock() + timedelta(seconds=61), name="later")
    assert await later.run_once() == {"sent": 1}
    assert len(await standin_messages(standin)) == 1  # the normal crash case: exactly once
    # The dead worker's late "sent" cannot overwrite anything: its lease (attempt 1) is gone.
    assert await dead._mark(taken[0], status="pending") is False


async def test_a_row_whose_sending_keeps_killing_workers_goes_dead_not_round_for_ever(api, standin):
    """A message that crashes or hangs each worker taking it never reaches a retry, where attempts
    are counted: its lease runs out, and the next worker takes it and dies the same way. After the
    attempts allowed it is a dead letter, listed for admins, and nobody takes it again."""
    (row_id,) = await make_rows(api, 1, "poison")
    clock = api.app.ctx.clock
    for k in range(3):
        dying = OutboxWorker(wechat=api.app.ctx.wechat, clock=lambda k=k: clock() + timedelta(seconds=61 * k),
                             max_attempts=3, name=f"dies-{k}")
        assert [r.id for r in await dying.claim()] == [row_id]  # ...and dies before answering
    after = OutboxWorker(wechat=api.app.ctx.wechat, clock=lambda: clock() + timedelta(seconds=61 * 3), max_attempts=3,
                         name="after")
    assert await after.run_once() == {}
    row = await OutboxMessage.get(id=row_id)
    assert row.status == "dead" and row.last_error == "lease ran out 3 times"
    assert await standin_messages(standin) == []


async def test_a_late_no_quota_answer_to_a_lost_lease_leaves_the_consents_alone(api, standin):
    (row_id,) = await make_rows(api, 1, "late")
    row = await OutboxMessage.get(id=row_id)
    await SubscriptionQuota.create(user_id=row.user_id, template_id=row.template_id, remaining=3)
    clock = api.app.ctx.clock
    slow = OutboxWorker(wechat=api.app.ctx.wechat, clock=clock, name="slow")
    (taken,) = await slow.claim()
    later = OutboxWorker(wechat=api.app.ctx.wechat, clock=lambda: clock() + timedelta(seconds=61), name="later")
    (retaken,) = await later.claim()  # the lease ran out: another worker holds the row now
    async with httpx.AsyncClient() as c:
        await c.post(standin.url + "/__standin/faults", json={"errcode": 43101, "count": 1})
    await slow.send(taken)  # its answer comes back late: no quota (then)
    assert (await SubscriptionQuota.get(user_id=row.user_id, template_id=row.template_id)).remaining == 3
    assert (await OutboxMessage.get(id=row_id)).status == "sending"  # still the other worker's


async def test_crash_after_sending_before_marking_sends_at_most_twice(api, standin):
    (row_id,) = await make_rows(api, 1, "twice")
    clock = api.app.ctx.clock
    crashing = OutboxWorker(wechat=api.app.ctx.wechat, clock=clock, name="crash")
    (row,) = await crashing.claim()
    await api.app.ctx.wechat.send_subscribe_message(openid=row.openid, template_id=row.template_id, data=row.data, page=row.page)
    # ...killed before marking the row sent. After the lease another worker sends it again:
    later = OutboxWorker(wechat=api.app.ctx.wechat, clock=lambda: clock() + timedelta(seconds=61), name="later")
    assert await later.run_once() == {"sent": 1}
    assert len(await standin_messages(standin)) == 2  # at most twice, and this is the case where it is twice


async def test_errors_no_quota_busy_and_invalid(api, standin):
    async with httpx.AsyncClient() as c:
        # 43101: no retry, quota zeroed, the inbox keeps the notification.
        user = await User.create(openid="noquota-abc")
        await SubscriptionQuota.create(user_id=user.id, template_id="TPL_POINTS", remaining=2)
        await notify.notify(user_id=user.id, event="task_confirmed", ctx={"title": "t", "points": 5, "at": api.app.ctx.clock()},
                            now=api.app.ctx.clock())
        assert await drain(api) == Counter(skipped=1)
        assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 0
        assert await Notification.filter(user_id=user.id).count() == 1

        # -1 (busy): retried with backoff and delivered once WeChat is back.
        (busy_row,) = await make_rows(api, 1, "retry")
        await c.post(standin.url + "/__standin/faults", json={"errcode": -1, "count": 2})
        assert await drain(api) == Counter(retry=1)
        row = await OutboxMessage.get(id=busy_row)
        assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > api.app.ctx.clock()
        later = lambda: api.app.ctx.clock() + timedelta(hours=2)  # noqa: E731
        assert await drain(api, clock=later) == Counter(retry=1)
        assert await drain(api, clock=lambda: api.app.ctx.clock() + timedelta(hours=4)) == Counter(sent=1)

        # 47003: dead letter with the error, listed for admins and retryable.
        (bad_row,) = await make_rows(api, 1, "invalid")
        await c.post(standin.url + "/__standin/faults", json={"errcode": 47003, "count": 1})
        assert await drain(api) == Counter(dead=1)
        dead = await OutboxMessage.get(id=bad_row)
        assert dead.status == "dead" and dead.last_error.startswith("47003")
    from server.notifications.outbox import retry_dead

    assert await retry_dead(ids=[bad_row], now=api.app.ctx.clock()) == 1
    assert await drain(api) == Counter(sent=1)


async def test_reminders_unclaimed_tasks_expiring_rewards_and_nearby_tasks(client, api):
    from datetime import timedelta

    from server.ops import jobs
    from tests.builders import give_points, make_reward

    station = await make_station()
    worker = await make_worker(client, station)
    # A volunteer opted in to tasks within 3 km of the household's neighbourhood, another 20 km away.
    near, _ = await make_volunteer(client, station, approved_by=worker)
    far, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.put("/api/v1/me/volunteer/nearby", json={**HOME, "radius_km": 3}, headers=near.headers)
    assert r.status_code == 200, r.text
    await client.put("/api/v1/me/volunteer/nearby", json={"lat": HOME["lat"] + 0.2, "lng": HOME["lng"], "radius_km": 3},
                     headers=far.headers)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    task = await make_task(client, worker, need, scheduled_start=iso(soon(60)), scheduled_end=iso(soon(120)))
    assert await Notification.filter(event="task_nearby", user_id=near.id).count() == 1
    assert await Notification.filter(event="task_nearby", user_id=far.id).count() == 0

    # Starting within two hours and unclaimed: the station hears once.
    assert await jobs.warn_unclaimed(now=api.app.ctx.clock()) == 1
    assert await jobs.warn_unclaimed(now=api.app.ctx.clock()) == 0
    assert await Notification.filter(event="task_expiring", user_id=worker.id).count() == 1

    # A reward waiting for pick-up, expiring within a day: one reminder.
    await give_points(api, near, 20)
    reward = await make_reward(price=10)
    r = await client.post(f"/api/v1/rewards/{reward.id}/redeem", headers={**near.headers, "Idempotency-Key": "k-1"})
    expires = datetime_of(r.json()["expires_at"])
    assert await jobs.remind_redemptions(now=expires - timedelta(days=2)) == 0
    assert await jobs.remind_redemptions(now=expires - timedelta(hours=3)) == 1
    assert await jobs.remind_redemptions(now=expires - timedelta(hours=2)) == 0
    assert task["id"]


def datetime_of(text):
    from datetime import datetime

    return datetime.fromisoformat(text)


async def test_the_worker_loop_sends_runs_jobs_and_stops(api, standin):
    from server.worker import run_forever

    await make_rows(api, 3, "loop")
    stop = asyncio.Event()
    worker = OutboxWorker(wechat=api.app.ctx.wechat, clock=api.app.ctx.clock, name="loop")
    loop_task = asyncio.create_task(run_forever(worker=worker, settings=api.settings, stop=stop, redis=api.app.ctx.redis.aio))
    for _ in range(100):
        if await OutboxMessage.filter(status="sent").count() == 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop_task, timeout=5)
    sent = await OutboxMessage.filter(status="sent").count()
    assert sent == 3, f"the worker loop sent {sent} of 3 messages within 100 polls (5 s+)"
    assert len(await standin_messages(standin)) == 3
    # The jobs ran too: the leaderboards were (re)built from the ledger.
    assert await api.app.ctx.redis.aio.get(api.settings.redis_prefix + "lb:count") is not None


async def test_a_closed_account_is_sent_nothing_and_its_openid_leaves_the_outbox(client, api, standin):
    """PIPL art. 47: messages still waiting when the person closes the account are not sent to
    the WeChat user who left, and the outbox keeps no openid of theirs (dead letters included,
    which an administrator could otherwise send again)."""
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await subscribe(client, resident)
    openid = (await User.get(id=resident.id)).openid
    for code in ("CLEAN_HOME", "LIVING_MEAL"):
        need = await make_need(client, resident, service_code=code)
        r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
        assert r.status_code == 200, r.text
    first, _ = await OutboxMessage.filter(user_id=resident.id).order_by("id")
    await OutboxMessage.filter(id=first.id).update(status="dead", last_error="47003 argument invalid!")

    r = await client.delete("/api/v1/me", headers=resident.headers)
    assert r.status_code == 200, r.text

    assert not await OutboxMessage.filter(openid=openid).exists()
    from server.notifications.outbox import retry_dead

    await retry_dead(ids=[first.id], now=api.app.ctx.clock())
    assert await drain(api) == Counter()
    assert [m for m in await standin_messages(standin) if m["body"]["touser"] == openid] == []


async def test_a_pairing_starting_weeks_ahead_tells_the_volunteer_its_first_visit(client, api, standin):
    """The first visit lies beyond the task horizon: the volunteer still reads when it is, and
    WeChat gets a time it accepts (\"待定\" in a time field is 47003, a dead letter)."""
    from server.clock import CHINA_TZ
    from tests.handlers.workflow.test_pairings import local_start, paired_need

    station = await make_station()
    need, worker, _ = await paired_need(client, station)
    volunteer, profile = await make_volunteer(client, station, approved_by=worker)
    await subscribe(client, volunteer, times=1)
    starts_on = api.app.ctx.clock().astimezone(CHINA_TZ).date() + timedelta(days=40)
    body = {"need_id": need["id"], "volunteer_id": profile["id"], "starts_on": starts_on.isoformat(),
            "schedule": {"weekdays": [starts_on.isoweekday()], "start_time": "09:00", "minutes": 60}}
    r = await client.post("/api/v1/pairings", json=body, headers=worker.headers)
    assert r.status_code == 201, r.text

    first = notify._text(local_start(starts_on))
    told = await Notification.get(user_id=volunteer.id, event="pairing_started")
    assert first in told.body, told.body
    assert await drain(api) == Counter(sent=1)
    (message,) = [m for m in await standin_messages(standin) if m["body"]["template_id"] == "TPL_TASK_UPDATE"]
    assert message["body"]["data"]["time3"]["value"] == first


async def test_a_household_told_a_volunteer_is_coming_hears_when_they_are_not(client, api, standin):
    """The household read "志愿者已接单,将于…上门"; the volunteer gives the task back (or the claim
    lapses unchecked-in): the household is told the visit is being re-arranged, not left waiting."""
    from server.ops import jobs

    station = await make_station()
    task, _, worker, resident = await make_open_task(client, station)
    await subscribe(client, resident, times=4)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/tasks/{task['id']}/release", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(user_id=resident.id, event="volunteer_withdrawn")
    assert len(told) == 1 and task["title"] in told[0].body
    # The same when the claim lapses: another volunteer claims and never checks in.
    other, _ = await make_volunteer(client, station, approved_by=worker)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=other.headers)
    await jobs.release_stale_claims(settings=api.settings, now=api.app.ctx.clock() + timedelta(hours=1))
    assert await Notification.filter(user_id=resident.id, event="volunteer_withdrawn").count() == 2
    await drain(api, clock=lambda: api.app.ctx.clock() + timedelta(hours=1))
    openid = (await User.get(id=resident.id)).openid
    phrases = [m["body"]["data"].get("phrase4", {}).get("value") for m in await standin_messages(standin)
               if m["body"]["touser"] == openid]
    assert Counter(phrases) == Counter({"已接单": 2, "重新安排": 2})


async def test_closing_an_account_erases_the_messages_addressed_to_it(client, api):
    """PIPL art. 47: a closed volunteer's name must not survive in what they were told (the
    inbox keeps each message's values, the outbox WeChat's fields)."""
    from server.ops import jobs

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker, name="欧阳秀兰")
    await subscribe(client, volunteer)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await jobs.release_stale_claims(settings=api.settings, now=api.app.ctx.clock() + timedelta(hours=1))
    assert "欧阳秀兰" in str(await Notification.filter(user_id=volunteer.id).values_list("data", flat=True))
    assert "欧阳秀兰" in str(await OutboxMessage.filter(user_id=volunteer.id).values_list("data", flat=True))

    r = await client.delete("/api/v1/me", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    kept = (await Notification.filter(user_id=volunteer.id).values_list("title", "body", "data"),
            await OutboxMessage.filter(user_id=volunteer.id).values_list("openid", "data"))
    assert "欧阳秀兰" not in str(kept), kept


async def test_a_task_that_expires_unserved_tells_the_station(client, api, standin):
    """The volunteer who claimed a short task never came: the claim lapses, the window closes and
    the task expires. The station was never warned (the task was claimed early); it must hear
    that the household was not served, or the need waits as "dispatched" with nobody on it."""
    from server.ops import jobs

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(10)),
                                              scheduled_end=iso(soon(25)))
    await subscribe(client, worker, times=1)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    later = api.app.ctx.clock() + timedelta(minutes=41)
    await jobs.run_all(settings=api.settings, now=later)
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=worker.headers)).json()["status"] == "expired"
    told = await Notification.filter(user_id=worker.id, event="task_expired")
    assert len(told) == 1 and task["title"] in told[0].body
    await jobs.run_all(settings=api.settings, now=later + timedelta(minutes=5))
    assert await Notification.filter(user_id=worker.id, event="task_expired").count() == 1
    assert await drain(api, clock=lambda: later) == Counter(sent=1)


async def test_a_claim_ended_with_the_window_tells_the_household(client, api):
    """A short task for two: one volunteer claimed it and never came; the window closes before the
    claim's grace has run out, ending the claim with the task. The household, told this
    volunteer was coming, hears they are not, as when the claim lapses."""
    from server.ops import jobs

    station = await make_station()
    task, _, worker, resident = await make_open_task(client, station, scheduled_start=iso(soon(10)),
                                                     scheduled_end=iso(soon(25)), volunteers_needed=2)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert await jobs.expire_unclaimed(now=api.app.ctx.clock() + timedelta(minutes=26)) == 1
    assert await Notification.filter(user_id=volunteer.id, event="claim_released").count() == 1
    assert await Notification.filter(user_id=resident.id, event="volunteer_withdrawn").count() == 1


async def test_the_warning_of_a_task_short_of_volunteers_says_how_many_are_missing(client, api):
    """A task for three, two claimed, starting soon: the station is told one volunteer is still
    missing, not that nobody claimed it (its workers would re-arrange what is arranged)."""
    from server.ops import jobs

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(60)),
                                              scheduled_end=iso(soon(120)), volunteers_needed=3)
    for _ in range(2):
        volunteer, _ = await make_volunteer(client, station, approved_by=worker)
        r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
        assert r.status_code == 200, r.text
    assert await jobs.warn_unclaimed(now=api.app.ctx.clock()) == 1
    told = await Notification.get(user_id=worker.id, event="task_expiring")
    assert "无人领取" not in told.title + told.body and "仍缺1名志愿者" in told.body, told.body


async def test_an_applicant_turned_down_is_told_why(client, api, standin):
    """An approved applicant is told; one turned down must be too, with the reason to act on, or
    they wait for an answer that came."""
    station = await make_station()
    worker = await make_worker(client, station)
    applicant, profile = await make_volunteer(client, station)
    await subscribe(client, applicant, times=1)
    r = await client.post(f"/api/v1/volunteers/{profile['id']}/reject", json={"reason": "请补充真实姓名"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(user_id=applicant.id, event="volunteer_rejected")
    assert len(told) == 1 and "请补充真实姓名" in told[0].body
    assert await drain(api) == Counter(sent=1)


async def test_an_organisation_hears_of_a_referral_it_must_answer_in_time(client, api, standin):
    """A referral gives the organisation 48 hours to answer before it escalates (机制三): its
    staff must be told one arrived, not find out by looking, or after it has escalated."""
    from tests.builders import make_admin
    from tests.handlers.workflow.test_referrals import qualified_org

    admin = await make_admin(client)
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    org, staff = await qualified_org(client, admin, station)
    await subscribe(client, staff, times=1)
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert r.status_code == 201, r.text
    told = await Notification.filter(user_id=staff.id, event="referral_received")
    assert len(told) == 1 and task["title"] in told[0].body
    assert await drain(api) == Counter(sent=1)


async def test_a_person_an_organisation_assigns_a_task_is_told(client, api, standin):
    """Accepting a referral, the organisation's staff hand the task to one of their people: a
    claim that person did not make, which lapses unless they check in on time. They are told."""
    from tests.builders import grant, make_admin
    from tests.handlers.workflow.test_referrals import qualified_org

    admin = await make_admin(client)
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    org, staff = await qualified_org(client, admin, station)
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)
    await subscribe(client, member, times=1)
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/referrals/{r.json()['id']}/accept", json={"assignee_user_ids": [member.id]},
                          headers=staff.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(user_id=member.id, event="task_assigned")
    assert len(told) == 1 and task["title"] in told[0].body
    sent = await drain(api)
    assert sent["sent"] >= 1 and not sent["dead"]


async def test_a_message_wechat_refused_leaves_the_consent_for_the_next(api, standin):
    """WeChat spends a one-time consent only on a message it delivers. One it refused (47003,
    a dead letter) leaves the consent unused: the next message of that template goes by WeChat,
    and an administrator's retry of the dead letter spends it again."""
    from server.notifications.outbox import retry_dead

    now = api.app.ctx.clock()
    user = await User.create(openid=f"refused-{id(api)}")
    await notify.grant(user_id=user.id, accepted=["TPL_POINTS"], rejected=[])
    ctx = {"title": "t", "points": 5, "at": now}
    await notify.notify(user_id=user.id, event="task_confirmed", ctx=ctx, now=now)
    async with httpx.AsyncClient() as c:
        await c.post(standin.url + "/__standin/faults", json={"errcode": 47003, "count": 1})
    assert await drain(api) == Counter(dead=1)
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 1
    (dead,) = await OutboxMessage.filter(user_id=user.id).values_list("id", flat=True)
    assert await retry_dead(ids=[dead], now=now) == 1
    assert (await SubscriptionQuota.get(user_id=user.id, template_id="TPL_POINTS")).remaining == 0
    assert await drain(api) == Counter(sent=1)


async def test_a_referral_unanswered_as_the_task_nears_is_warned_of(client, api):
    """Referred an hour before it starts, a task waits for the organisation's answer, which may
    take the whole SLA (48 h): the station is warned it still has nobody, as of an open task."""
    from server.ops import jobs
    from tests.builders import make_admin
    from tests.handlers.workflow.test_referrals import qualified_org

    admin = await make_admin(client)
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station, scheduled_start=iso(soon(60)),
                                              scheduled_end=iso(soon(120)))
    org, _ = await qualified_org(client, admin, station)
    r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
    assert r.status_code == 201, r.text
    assert await jobs.warn_unclaimed(now=api.app.ctx.clock()) == 1
    assert await Notification.filter(user_id=worker.id, event="task_expiring").count() == 1


async def test_closing_an_account_forgets_where_its_nearby_alerts_were_for(client, api):
    """The place a volunteer asked to hear of tasks near (their home, often, to ~500 m) is
    personal data like the rest (PIPL art. 47): it goes with the account."""
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.put("/api/v1/me/volunteer/nearby", json={**HOME, "radius_km": 3}, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    r = await client.delete("/api/v1/me", headers=volunteer.headers)
    assert r.status_code == 200, r.text
    from models import VolunteerProfile

    kept = await VolunteerProfile.get(user_id=volunteer.id)
    assert (kept.nearby_lat, kept.nearby_lng, kept.nearby_km) == (None, None, None)


async def test_a_volunteer_whose_award_is_taken_back_is_told_why(client, api, standin):
    """Taking back a service award removes points and the verified hours reported to 信用威海:
    the volunteer hears of it and of the reason, rather than finding a smaller balance."""
    from models import PointsEntry
    from tests.handlers.points.test_points import serve

    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    task_id = await serve(client, station, worker, volunteer)
    r = await client.post(f"/api/v1/tasks/{task_id}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200, r.text
    await subscribe(client, volunteer, times=1)
    award = await PointsEntry.get(kind="service_award", account__user_id=volunteer.id)
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"},
                          headers=worker.headers)
    assert r.status_code == 201, r.text
    told = await Notification.filter(user_id=volunteer.id, event="points_reversed")
    assert len(told) == 1 and "服务未实际完成" in told[0].body and str(award.amount) in told[0].body
    assert await drain(api) == Counter(sent=1)


async def test_a_household_whose_need_the_station_withdraws_is_told(client, api, standin):
    """The station may withdraw a household's need (on its behalf, or by mistake): the household,
    following it in the mini-program, is told it was withdrawn and why. Withdrawing it oneself
    tells nobody what they know."""
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await subscribe(client, resident, times=2)
    ours, theirs = await make_need(client, resident), await make_need(client, resident, service_code="LIVING_MEAL")
    r = await client.post(f"/api/v1/needs/{ours['id']}/cancel", json={"reason": "已由社区食堂解决"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/needs/{theirs['id']}/cancel", json={"reason": "不需要了"}, headers=resident.headers)
    assert r.status_code == 200, r.text
    told = await Notification.filter(user_id=resident.id, event="need_cancelled")
    assert len(told) == 1 and "已由社区食堂解决" in told[0].body
    assert await drain(api) == Counter(sent=1)


async def test_a_worker_finds_what_is_due_through_indexes_not_by_scanning_what_was_sent(api):
    """The outbox keeps every message sent; a worker's locking read must reach the few rows due
    through an index, or it locks every row it passes (stalling each request that writes a
    message) and its cost grows with the history."""
    from server import sql
    from server.worker import due_rows
    from tests.support import require_services

    require_services(api.settings, "reading MariaDB's query plan")
    user = await User.create(openid="history")
    now = api.app.ctx.clock()

    def row(status: str, **extra) -> OutboxMessage:
        return OutboxMessage(notification_id=0, user_id=user.id, openid=user.openid, template_id="TPL_POINTS",
                             data={}, next_attempt_at=now - timedelta(days=1), created_at=now, status=status, **extra)

    history = [row("sent", sent_at=now) for _ in range(1995)]
    await OutboxMessage.bulk_create(history + [row("sending", lease_until=now - timedelta(minutes=1)) for _ in range(2)]
                                    + [row("pending") for _ in range(3)])
    await sql.rows("ANALYZE TABLE outbox_messages")
    for query, leading in zip(due_rows(api.app.ctx.clock(), 50), ("lease_until", "next_attempt_at")):
        # The time as the driver sends it, naive UTC: written inline with its offset (pypika's way),
        # MariaDB compares the column as text and plans another query than the worker's.
        text = query.sql(params_inline=True).replace("+00:00'", "'")
        [plan] = await sql.rows("EXPLAIN " + text)
        assert plan["type"] in ("range", "ref"), plan
        columns = await sql.rows(f"SHOW INDEX FROM outbox_messages WHERE Key_name = '{plan['key']}'")
        assert [c["Column_name"] for c in sorted(columns, key=lambda c: c["Seq_in_index"])] == ["status", leading], plan
        assert int(plan["rows"]) < len(history) // 4, plan  # an estimate: far from all of them


def test_every_event_of_a_template_fills_the_same_fields():
    """A template is registered in the mini-program's console with a fixed set of keywords; WeChat
    refuses a message whose data names another set (47003). Events sharing a template id must all
    send exactly its keywords."""
    by_template: dict[str, dict[str, frozenset]] = {}
    for event, spec in notify.TEMPLATES.items():
        by_template.setdefault(spec["template_id"], {})[event] = frozenset(spec["fields"])
    mixed = {tid: events for tid, events in by_template.items() if len(set(events.values())) > 1}
    assert mixed == {}
