"""Claims decided together (server/workflow/claims.py): a batch gives every claim the outcome it
would have had alone, after the claims before it, and leaves the same rows; under concurrent
requests claims really are batched; what the database refuses fails only its own claim, and a
deadlock is tried again."""

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models import Need, Notification, OutboxMessage, ResidentProfile, Service, Task, TaskClaim, User, VolunteerProfile, WorkflowEvent
from server import metrics, sql
from server.errors import DomainError
from server.workflow import claims
from server.workflow.claims import Ask, NotOpen, Won
from tests.builders import bulk_volunteers, make_open_task, make_station
from tests.support import require_services


class Rollback(Exception):
    pass


async def _world():
    """Tasks that exercise every rule: slots 1–3, overlapping windows, a skill, a volunteer's own
    household, a window ending soon, a cancelled task; five approved volunteers and a pending one."""
    station = await make_station()
    plain = await Service.filter(requires_skill=False, status="active").first()
    skilled = await Service.filter(requires_skill=True, status="active").first()
    tag = random.getrandbits(32)
    users = [await User.create(openid=f"batch-{tag}-{i}") for i in range(8)]
    volunteers = [await VolunteerProfile.create(user_id=u.id, station_id=station.id, name=f"志愿者{i}",
                                                skills=[skilled.code] if i == 1 else [],
                                                status="pending" if i == 5 else "approved")
                  for i, u in enumerate(users[:6])]
    base = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    # (start offset h, length h, slots, skilled, household user, status)
    shapes = [(1, 1, 1, False, users[6], "open"), (1.5, 1, 2, False, users[7], "open"), (5, 1, 3, False, None, "open"),
              (8, 1, 1, True, None, "open"), (10, 1, 1, False, users[0], "open"), (0.2, 0.3, 2, False, None, "open"),
              (12, 1, 1, False, None, "cancelled")]
    tasks = []
    for k, (at, hours, slots, skill, household, status) in enumerate(shapes):
        resident = await ResidentProfile.create(station_id=station.id, name=f"住户{k}", user_id=household.id if household else None)
        service = skilled if skill else plain
        need = await Need.create(resident_id=resident.id, station_id=station.id, service_id=service.code,
                                 description="需要帮助", reported_by=1, status="dispatched")
        start = base + timedelta(hours=at)
        tasks.append(await Task.create(need_id=need.id, station_id=station.id, service_id=service.code, title=f"任务{k}",
                                       scheduled_start=start, scheduled_end=start + timedelta(hours=hours),
                                       volunteers_needed=slots, points=10, status=status, created_by=1, cell=k))
    return base, tasks, volunteers


def _shape(outcome) -> tuple:
    if isinstance(outcome, Won):
        return ("won", outcome.task.id, outcome.claim.volunteer_id)
    if isinstance(outcome, NotOpen):
        return ("not_open", outcome.task.status)
    assert isinstance(outcome, DomainError), outcome
    return (outcome.code, str(outcome), outcome.details)


async def _state(task_ids: list[int]) -> tuple:
    return (
        sorted(await Task.filter(id__in=task_ids).values_list("id", "claimed_count", "status")),
        sorted(await TaskClaim.filter(task_id__in=task_ids).values_list("task_id", "volunteer_id", "status", "active_key")),
        Counter(await WorkflowEvent.filter(task_id__in=task_ids).values_list("subject", "task_id", "from_status", "to_status")),
        Counter(await Notification.filter(event="task_claimed").values_list("user_id", "body")),
    )


async def _run(batched: bool, asks: list[Ask], task_ids: list[int]):
    try:
        async with in_transaction():
            if batched:
                outcomes = await claims.take(asks)
            else:
                outcomes = [(await claims.take([ask]))[0] for ask in asks]
            shaped, state = [_shape(o) for o in outcomes], await _state(task_ids)
            raise Rollback
    except Rollback:
        pass
    return shaped, state


async def test_a_batch_gives_each_claim_the_outcome_it_would_have_alone(api):
    base, tasks, volunteers = await _world()
    ids = [t.id for t in tasks]
    rng = random.Random(7)
    seen = Counter()
    now, three_slots, first = base - timedelta(hours=1), tasks[2].id, volunteers[0]
    # The same volunteer twice on one task with slots to spare: assigned twice, or claimed then assigned.
    fixed = [[Ask(task_id=three_slots, now=now, volunteer=first), Ask(task_id=three_slots, now=now, volunteer=first)],
             [Ask(task_id=three_slots, now=now, user_id=first.user_id, limit=3),
              Ask(task_id=three_slots, now=now, volunteer=first)]]
    for case in range(42):
        limit = rng.choice((1, 2, 3))
        asks = fixed[case] if case < len(fixed) else []
        for _ in range(0 if case < len(fixed) else rng.randint(2, 12)):
            task_id = rng.choice(ids + [max(ids) + 1000])
            now = base - timedelta(hours=1) + timedelta(hours=rng.choice((0, 0, 0, 2)))
            volunteer = rng.choice(volunteers)
            if rng.random() < 0.2:  # assigned by a station or a pairing: only the slot counts
                asks.append(Ask(task_id=task_id, now=now, volunteer=volunteer))
            else:
                asks.append(Ask(task_id=task_id, now=now, user_id=volunteer.user_id, limit=limit))
        together = await _run(True, asks, ids)
        alone = await _run(False, asks, ids)
        assert together == alone, asks
        seen.update(shape[0] for shape in together[0])
    # The sequences did reach every rule (else the comparison proves little).
    for code in ("won", "not_open", "TASK_ALREADY_CLAIMED", "CLAIM_LIMIT", "CLAIM_OVERLAP", "SKILL_REQUIRED",
                 "OWN_HOUSEHOLD", "INVALID_STATE", "FORBIDDEN", "NOT_FOUND"):
        assert seen[code] > 0, (code, seen)
    # Rolled back every time: nothing was left behind.
    assert await TaskClaim.filter(task_id__in=ids).count() == 0


async def test_a_batch_writes_what_single_claims_write(api):
    base, tasks, volunteers = await _world()
    three_slots = tasks[2]
    async with in_transaction():
        outcomes = await claims.take([Ask(task_id=three_slots.id, now=base, user_id=v.user_id, limit=3)
                                      for v in volunteers[:3]])
    assert [type(o) for o in outcomes] == [Won, Won, Won]
    row = await Task.get(id=three_slots.id)
    assert (row.claimed_count, row.status) == (3, "claimed")
    # Each claim's timeline row, then the task's own move when its last slot went.
    timeline = await WorkflowEvent.filter(task_id=three_slots.id).order_by("id").values_list("subject", "to_status", "claim_id")
    made = [o.claim.id for o in outcomes]
    assert timeline == [("claim", "claimed", made[0]), ("claim", "claimed", made[1]), ("claim", "claimed", made[2]),
                        ("task", "claimed", None)]
    assert sorted(await TaskClaim.filter(task_id=three_slots.id).values_list("id", flat=True)) == sorted(made)
    # Every claimant's answer lists all three claims with their volunteers.
    assert [sorted(name for _, name in o.claims) for o in outcomes] == [["志愿者0", "志愿者1", "志愿者2"]] * 3


async def test_concurrent_claims_are_batched_and_each_gets_its_own_task(client, api):
    station = await make_station()
    tasks = [(await make_open_task(client, station, scheduled_start=(datetime.now(timezone.utc) + timedelta(hours=2 + 3 * k)).isoformat(),
                                   scheduled_end=(datetime.now(timezone.utc) + timedelta(hours=3 + 3 * k)).isoformat()))[0]
             for k in range(30)]
    volunteers = await bulk_volunteers(api, station, 30)
    counted, summed = _claim_batches()
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as burst:
        results = await asyncio.gather(*(burst.post(f"/api/v1/tasks/{t['id']}/claim", headers=v.headers)
                                         for t, v in zip(tasks, volunteers)))
    assert [r.status_code for r in results] == [200] * 30, [r.text for r in results if r.status_code != 200][:3]
    for task, volunteer, r in zip(tasks, volunteers, results):
        body = r.json()
        assert body["id"] == task["id"] and body["my_claim"]["status"] == "claimed"
        assert [c["volunteer_name"] for c in body["claims"]] == ["志" + "*" * (len(f"志愿者{volunteers.index(volunteer)}") - 1)]
    batches, made = _claim_batches()
    assert made - summed == 30
    # Thirty claims in fewer transactions than thirty.
    assert batches - counted < 30, batches - counted
    assert await TaskClaim.filter(task_id__in=[t["id"] for t in tasks]).count() == 30


def _claim_batches() -> tuple[float, float]:
    """(batches, claims) decided so far by this process."""
    return (metrics.REGISTRY.get_sample_value("haibei_batch_size_count", {"kind": "claim"}) or 0,
            metrics.REGISTRY.get_sample_value("haibei_batch_size_sum", {"kind": "claim"}) or 0)


async def _trigger(body: str) -> None:
    conn = connections.get("default")
    await conn.execute_script(f"CREATE TRIGGER claim_fault BEFORE INSERT ON task_claims FOR EACH ROW BEGIN {body} END")


async def test_a_claim_the_database_refuses_fails_alone(client, api):
    require_services(api.settings, "a trigger refusing one claim")
    station = await make_station()
    tasks = [(await make_open_task(client, station, scheduled_start=(datetime.now(timezone.utc) + timedelta(hours=2 + 3 * k)).isoformat(),
                                   scheduled_end=(datetime.now(timezone.utc) + timedelta(hours=3 + 3 * k)).isoformat()))[0]
             for k in range(12)]
    volunteers = await bulk_volunteers(api, station, 12)
    poisoned = tasks[5]["id"]
    await _trigger(f"IF NEW.task_id = {poisoned} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test'; END IF;")
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as burst:
            results = await asyncio.gather(*(burst.post(f"/api/v1/tasks/{t['id']}/claim", headers=v.headers)
                                             for t, v in zip(tasks, volunteers)))
    finally:
        await connections.get("default").execute_script("DROP TRIGGER IF EXISTS claim_fault")
    codes = {t["id"]: r.status_code for t, r in zip(tasks, results)}
    assert codes.pop(poisoned) == 500
    assert set(codes.values()) == {200}
    assert await TaskClaim.filter(task_id=poisoned).count() == 0
    assert (await Task.get(id=poisoned)).claimed_count == 0
    assert await TaskClaim.filter(task_id__in=list(codes)).count() == 11


async def test_a_deadlocked_batch_is_tried_again_and_leaves_one_claim(client, api):
    require_services(api.settings, "a trigger failing the first attempt")
    station = await make_station()
    task, *_ = await make_open_task(client, station)
    [volunteer] = await bulk_volunteers(api, station, 1)
    conn = connections.get("default")
    # A MEMORY table keeps its change when the statement fails: the first attempt only deadlocks.
    await conn.execute_script("CREATE TABLE IF NOT EXISTS claim_fault_once (n INT) ENGINE=MEMORY")
    await conn.execute_script("DELETE FROM claim_fault_once")
    await conn.execute_script("INSERT INTO claim_fault_once VALUES (1)")
    await _trigger("IF (SELECT COUNT(*) FROM claim_fault_once) > 0 THEN DELETE FROM claim_fault_once;"
                   " SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found (test)'; END IF;")
    try:
        r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
        left = await conn.execute_query_dict("SELECT COUNT(*) AS n FROM claim_fault_once")
    finally:
        await conn.execute_script("DROP TRIGGER IF EXISTS claim_fault")
        await conn.execute_script("DROP TABLE IF EXISTS claim_fault_once")
    assert left[0]["n"] == 0  # the first attempt did hit the deadlock
    assert r.status_code == 200, r.text
    assert await TaskClaim.filter(task_id=task["id"]).count() == 1
    assert await WorkflowEvent.filter(task_id=task["id"], subject="claim").count() == 1
    assert await Notification.filter(event="task_claimed").count() == 1


@pytest.mark.parametrize("returning", [True, False])
async def test_insert_many_gives_each_row_its_id_with_or_without_returning(api, returning):
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    was = sql._RETURNING.get(dialect)
    sql.set_returning(dialect, returning)  # without: one insert per row, as on MySQL
    try:
        rows = [Notification(user_id=900 + k, event="task_claimed", title="t", body=f"b{k}", created_at=datetime.now(timezone.utc))
                for k in range(5)]
        async with in_transaction():
            await sql.insert_many(rows)
    finally:
        sql.set_returning(dialect, was)
    stored = dict(await Notification.filter(user_id__gte=900).values_list("id", "body"))
    assert {n.id: n.body for n in rows} == stored and len(stored) == 5


async def test_notify_many_spends_each_quota_once_per_message(api):
    from models import SubscriptionQuota
    from server.notifications import notify

    a, b, c = [await User.create(openid=f"n-{k}-{random.getrandbits(32)}") for k in range(3)]
    muted = await User.create(openid=None)
    template = notify.TEMPLATES["task_claimed"]["template_id"]
    await SubscriptionQuota.create(user_id=a.id, template_id=template, remaining=1)
    await SubscriptionQuota.create(user_id=c.id, template_id=template, remaining=1)
    ctx = {"task_id": 1, "need_id": 1, "title": "打扫", "volunteer_name": "张*", "at": datetime.now(timezone.utc)}
    async with in_transaction():
        written = await notify.notify_many([(a.id, "task_claimed", ctx), (None, "task_claimed", ctx), (b.id, "task_claimed", ctx),
                                            (c.id, "task_claimed", ctx), (c.id, "task_claimed", ctx),
                                            (muted.id, "task_claimed", ctx)], now=datetime.now(timezone.utc))
    assert written[1] is None and all(n is not None and n.id for k, n in enumerate(written) if k != 1)
    assert Counter(await Notification.all().values_list("user_id", flat=True)) == Counter({a.id: 1, b.id: 1, c.id: 2, muted.id: 1})
    # One consent, one message: a's and one of c's two; b granted none, muted has no openid.
    sent = await OutboxMessage.all().values_list("user_id", "notification_id")
    assert sorted(u for u, _ in sent) == sorted([a.id, c.id])
    assert {n for _, n in sent} <= {n.id for n in written if n is not None}
    assert dict(await SubscriptionQuota.all().values_list("user_id", "remaining")) == {a.id: 0, c.id: 0}
