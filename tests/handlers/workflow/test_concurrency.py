"""Real concurrent requests against the database: double taps and races end in one clean result."""

import asyncio

import pytest

from models import ResidentProfile, User, UserRole, VolunteerProfile, WechatSession
from tests.builders import login, make_station, new_openid, random_id_number, resident_payload, volunteer_payload


async def test_concurrent_first_logins_create_one_account(client):
    openid = new_openid()
    results = await asyncio.gather(*(
        client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{openid}"}) for _ in range(6)
    ))
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    assert len({r.json()["user"]["id"] for r in results}) == 1
    user = await User.get(openid=openid)
    assert await UserRole.filter(user_id=user.id, role="resident").count() == 1
    assert await WechatSession.filter(user_id=user.id).count() == 1


async def test_double_submitted_profile_makes_one_row(client):
    station = await make_station()
    s = await login(client)
    payload = resident_payload(station)
    results = await asyncio.gather(*(client.put("/api/v1/me/resident", json=payload, headers=s.headers) for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5, [r.text for r in results]
    assert await ResidentProfile.filter(user_id=s.id).count() == 1
    vp = volunteer_payload(station)
    results = await asyncio.gather(*(client.put("/api/v1/me/volunteer", json=vp, headers=s.headers) for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5
    assert await VolunteerProfile.filter(user_id=s.id).count() == 1


async def test_same_id_number_registered_at_once_by_four_people_gives_it_to_one(client):
    """Four people registering one ID number at the same moment, five times over: all are saved
    and told the same; exactly one profile holds the number, and each of the others is a case."""
    from models import IdentityCase

    for _ in range(5):
        station = await make_station()
        id_number = random_id_number()
        people = [await login(client) for _ in range(4)]
        results = await asyncio.gather(*(
            client.put("/api/v1/me/resident", json=resident_payload(station, id_number=id_number), headers=p.headers)
            for p in people
        ))
        assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
        assert {r.json()["notice"] for r in results} == {"已提交,驿站核实后生效"}
        mine = {r.json()["id"] for r in results}
        holders = await ResidentProfile.filter(id__in=mine, id_number_index__isnull=False)
        assert len(holders) == 1
        cases = await IdentityCase.filter(status="open", claimant_id__in=mine)
        assert len(cases) == 3 and {c.number_index for c in cases} == {holders[0].id_number_index}
        assert {c.claimant_id for c in cases} == mine - {holders[0].id}


async def test_same_need_submitted_at_once_lands_once(client):
    from models import Need
    from tests.builders import make_resident

    station = await make_station()
    resident, _ = await make_resident(client, station)
    body = {"service_code": "CLEAN_HOME", "description": "打扫"}
    results = await asyncio.gather(*(client.post("/api/v1/needs", json=body, headers=resident.headers) for _ in range(6)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 5, [r.text for r in results]
    assert all(r.json()["error"]["code"] == "NEED_DUPLICATE" for r in results if r.status_code == 409)
    assert await Need.all().count() == 1


async def _until_waiting_on_a_lock(conn, api, request: asyncio.Future, timeout: float = 10.0) -> None:
    """Return once another transaction of this test's database waits on a lock (``request``'s,
    queued behind ``conn``'s); fail if ``request`` ends first or nothing waits within ``timeout``."""
    if not api.settings.is_mysql:
        await asyncio.sleep(0.5)  # SQLite has no view of waiting transactions: give the request time to queue
        return
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await conn.execute_query_dict(
            "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p"
            " ON p.ID = t.trx_mysql_thread_id WHERE p.DB = DATABASE() AND t.trx_state = 'LOCK WAIT'")
        if rows[0]["n"]:
            return
        assert not request.done(), f"the request ended without waiting on the lock: {request.result()}"
        assert asyncio.get_running_loop().time() < deadline, f"no transaction waited on a lock within {timeout} s"
        # InnoDB refreshes what INNODB_TRX shows only when it was not read in the last 100 ms:
        # asked more often than that, it would show the same old state for ever.
        await asyncio.sleep(0.15)


async def _claim_during(client, volunteer, task_id, cancel):
    """Run ``cancel(now)`` in a transaction that read before a claim of ``task_id`` committed
    (the cancel request's first read), as a request racing the claim would."""
    from tortoise.transactions import in_transaction

    from models import Task

    async with in_transaction():
        await Task.get(id=task_id)  # this transaction's snapshot starts here, before the claim
        r = await client.post(f"/api/v1/tasks/{task_id}/claim", headers=volunteer.headers)
        assert r.status_code == 200, r.text
        await cancel()


async def test_claim_committed_while_the_need_is_cancelled_is_cancelled_with_it(client, api):
    from types import SimpleNamespace

    from models import Need, Task, TaskClaim
    from server.workflow import flows, needs
    from tests.builders import make_open_task_and_volunteer

    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)

    async def cancel():
        loaded = await needs.load(need_id=need["id"])
        await flows.cancel_need(need=loaded, actor=SimpleNamespace(id=resident.id), role="resident", reason="不需要了",
                           now=api.app.ctx.clock())

    await _claim_during(client, volunteer, task["id"], cancel)
    assert (await Need.get(id=need["id"])).status == "cancelled"
    assert (await Task.get(id=task["id"])).status == "cancelled"
    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.status == "cancelled" and claim.active_key is None
    mine = await client.get("/api/v1/tasks/mine", headers=volunteer.headers)
    assert mine.json()["items"] == []


async def test_claim_committed_while_the_task_is_cancelled_is_cancelled_with_it(client, api):
    from models import Task, TaskClaim
    from server.workflow import tasks
    from tests.builders import make_open_task_and_volunteer

    station = await make_station()
    task, need, worker, _, volunteer = await make_open_task_and_volunteer(client, station)

    async def cancel():
        await tasks.cancel(task=await Task.get(id=task["id"]), actor_id=worker.id, reason="改期",
                           now=api.app.ctx.clock())

    await _claim_during(client, volunteer, task["id"], cancel)
    assert (await Task.get(id=task["id"])).status == "cancelled"
    claim = await TaskClaim.get(task_id=task["id"])
    assert claim.status == "cancelled" and claim.active_key is None


async def test_claim_racing_a_task_cancellation_waits_for_it_and_is_refused(client, api):
    from tortoise.transactions import in_transaction

    from models import Task, TaskClaim
    from server.workflow import tasks
    from tests.builders import make_open_task_and_volunteer
    from tests.handlers.test_platform import assert_error

    station = await make_station()
    task, need, worker, _, volunteer = await make_open_task_and_volunteer(client, station)
    async with in_transaction() as conn:
        await tasks.cancel(task=await Task.get(id=task["id"]), actor_id=worker.id, reason="改期",
                           now=api.app.ctx.clock())
        # The claim's transaction queues on the task row this one holds.
        claim = asyncio.ensure_future(client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers))
        await _until_waiting_on_a_lock(conn, api, claim)
        assert not claim.done()
    # Past claiming: a cancelled task is no longer the volunteer's to see (server.access).
    assert_error(await claim, 404, "NOT_FOUND")
    assert not await TaskClaim.filter(task_id=task["id"]).exists()


async def test_a_task_dispatched_while_its_need_is_cancelled_is_refused(client, api):
    from datetime import timedelta

    from tortoise.transactions import in_transaction

    from models import Need, Task
    from server.workflow import events, needs, tasks
    from tests.builders import make_need, make_resident, make_task, make_worker

    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    await make_task(client, worker, need)  # dispatched
    now = api.app.ctx.clock()
    with pytest.raises(events.InvalidState):
        async with in_transaction():
            loaded = await needs.load(need_id=need["id"])  # the worker's request reads the need ...
            # ... the household cancels meanwhile ...
            r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "不需要了"},
                                  headers=resident.headers)
            assert r.status_code == 200, r.text
            # ... and the worker's dispatch, decided on what it read, is refused.
            await tasks.create(need=loaded, actor_id=worker.id, cipher=api.cipher, now=now, data={
                "title": "再来一次", "scheduled_start": now + timedelta(hours=1), "scheduled_end": now + timedelta(hours=2)})
    assert (await Need.get(id=need["id"])).status == "cancelled"
    assert await Task.filter(need_id=need["id"]).exclude(status="cancelled").count() == 0


async def test_a_station_or_district_created_twice_at_once_is_one_201_and_409s(client):
    # A double-tapped "create" in the admin console: the unique keys let one in; the others are told
    # the name or code is taken (409), never a 500.
    from models import District, Station
    from tests.builders import make_admin

    admin = await make_admin(client)
    district = {"code": new_openid("d")[-12:], "name": "环翠区"}
    results = await asyncio.gather(*(client.post("/api/v1/admin/districts", json=district, headers=admin.headers)
                                     for _ in range(6)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 5, [r.text for r in results]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"DISTRICT_CODE_TAKEN"}
    district_id = next(r.json()["id"] for r in results if r.status_code == 201)
    station = {"district_id": district_id, "name": "鲸园街道驿站", "town": "鲸园街道", "address": "新威路1号"}
    results = await asyncio.gather(*(client.post("/api/v1/admin/stations", json=station, headers=admin.headers)
                                     for _ in range(6)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 5, [r.text for r in results]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"STATION_NAME_TAKEN"}
    assert await District.filter(code=district["code"]).count() == 1
    assert await Station.filter(district_id=district_id).count() == 1


async def test_questionnaire_versions_published_at_once_each_get_their_own(client):
    # Two administrators publishing at the same moment: both succeed, in turn, as versions 2 and 3
    # (as concurrent points-rule publishes do), rather than one of them failing with a 500.
    from config.data import QUESTIONNAIRE
    from models import QuestionnaireVersion
    from tests.builders import make_admin

    admins = [await make_admin(client) for _ in range(4)]
    spec = {k: v for k, v in QUESTIONNAIRE.items() if k != "version"}
    results = await asyncio.gather(*(client.put("/api/v1/admin/questionnaire", json=spec, headers=a.headers)
                                     for a in admins))
    assert [r.status_code for r in results] == [201] * 4, [r.text for r in results]
    assert sorted(r.json()["version"] for r in results) == [2, 3, 4, 5]
    assert sorted(await QuestionnaireVersion.all().values_list("version", flat=True)) == [2, 3, 4, 5]


async def test_a_home_visit_sent_twice_is_recorded_once(client):
    # A worker on a village's weak network taps "save" again, or the phone retries: the same visit
    # (household, time of visit, assessor) is one row of the assessments ledger, not two.
    from models import Assessment
    from tests.builders import iso, make_resident, make_worker, soon
    from tests.handlers.care.test_assessments import HARD

    station = await make_station()
    worker = await make_worker(client, station)
    _, home = await make_resident(client, station)
    body = {"answers": HARD, "visited_at": iso(soon(-30)), "visit_notes": "卧床"}
    url = f"/api/v1/residents/{home['id']}/assessments"
    results = await asyncio.gather(*(client.post(url, json=body, headers=worker.headers) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409], [r.text for r in results]
    first = next(r.json() for r in results if r.status_code == 201)
    assert all(r.json()["error"]["code"] == "ASSESSMENT_DUPLICATE" and r.json()["error"]["details"] == {
        "assessment_id": first["id"]} for r in results if r.status_code == 409)
    r = await client.post(url, json=body, headers=worker.headers)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"assessment_id": first["id"]}
    # Another visit (a later time) is a new row.
    assert (await client.post(url, json={**body, "visited_at": iso(soon(-5))}, headers=worker.headers)).status_code == 201
    assert await Assessment.filter(resident_id=home["id"]).count() == 2


async def test_a_household_cancelling_as_the_volunteer_checks_in_is_one_or_the_other(client):
    # The volunteer at the door checks in as the household withdraws the need: one of them wins
    # (service started, so no cancelling; or cancelled, so no check-in), never a deadlock's 500.
    from models import Need, TaskClaim
    from tests.builders import make_open_task_and_volunteer
    from tests.handlers.workflow.test_workflow import HOME

    outcomes = set()
    for _ in range(6):
        station = await make_station()
        task, need, _, resident, volunteer = await make_open_task_and_volunteer(client, station)
        assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
        check_in, cancel = await asyncio.gather(
            client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers),
            client.post(f"/api/v1/needs/{need['id']}/cancel", json={}, headers=resident.headers))
        pair = (check_in.status_code, cancel.status_code)
        assert pair in ((200, 409), (409, 200), (404, 200)), (check_in.text, cancel.text)
        claim = await TaskClaim.get(task_id=task["id"])
        assert ((await Need.get(id=need["id"])).status, claim.status) == (
            ("in_service", "checked_in") if pair[0] == 200 else ("cancelled", "cancelled"))
        outcomes.add(pair)
