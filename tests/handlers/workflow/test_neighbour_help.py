"""邻里互助 over HTTP: a worker registers an approved volunteer of the station as a household's
neighbour helper and hands them a slot of its task; the helper checks in, records, is confirmed and
credited as any volunteer. A volunteer without a tie, a task with no free slot or not open, a helper
who does not fit the service are refused with nothing changed; another station finds nothing."""

from __future__ import annotations

from datetime import timedelta

from models import NeighbourTie, Notification, PointsEntry, Task, TaskClaim
from tests.builders import (
    make_admin,
    make_need,
    make_open_task,
    make_resident,
    make_station,
    make_task,
    make_volunteer,
    make_worker,
    record_after,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def register(client, worker, resident_id: int, volunteer_id: int, note: str = "同楼邻居"):
    return await client.post(f"/api/v1/residents/{resident_id}/neighbour-helpers",
                             json={"volunteer_id": volunteer_id, "note": note}, headers=worker.headers)


async def test_a_neighbour_helper_serves_and_is_credited_as_any_volunteer(api, client):
    station = await make_station()
    task, need, worker, household = await make_open_task(client, station)
    neighbour, profile = await make_volunteer(client, station, approved_by=worker, name="孙邻居")
    r = await register(client, worker, need["resident_id"], profile["id"])
    assert r.status_code == 201, r.text
    assert (r.json()["volunteer_name"], r.json()["note"]) == ("孙邻居", "同楼邻居")
    # The station sees its helpers by name; the household itself by a masked one.
    listed = (await client.get(f"/api/v1/residents/{need['resident_id']}/neighbour-helpers", headers=worker.headers)).json()
    assert [(t["volunteer_id"], t["volunteer_name"]) for t in listed] == [(profile["id"], "孙邻居")]
    listed = (await client.get(f"/api/v1/residents/{need['resident_id']}/neighbour-helpers", headers=household.headers)).json()
    assert [t["volunteer_name"] for t in listed] == ["孙**"]

    r = await client.post(f"/api/v1/tasks/{task['id']}/neighbour", json={"volunteer_id": profile["id"]},
                          headers=worker.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["task_status"], r.json()["delivery_way_label"]) == ("claimed", "邻里互助")
    claim = await TaskClaim.get(task_id=task["id"])
    assert (claim.volunteer_id, claim.status) == (profile["id"], "claimed")
    assert (await Task.get(id=task["id"])).delivery_way == "neighbour"
    told = await Notification.filter(user_id=neighbour.id, event="task_assigned")
    assert len(told) == 1 and "打扫卫生" in told[0].body
    assert await Notification.filter(user_id=household.id, event="task_claimed").count() == 1
    # It is theirs as any claim is: they see it, check in, record; the station confirms; points follow.
    mine = (await client.get("/api/v1/tasks/mine", headers=neighbour.headers)).json()["items"]
    assert [t["id"] for t in mine] == [task["id"]]
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=neighbour.headers)
    assert r.status_code == 200, r.text
    assert (await record_after(client, task["id"], neighbour, 40)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200, r.text
    [entry] = await PointsEntry.filter(kind="service_award")
    assert entry.amount == r.json()["claims"][0]["points_due"] > 0
    assert (await client.get("/api/v1/points/me", headers=neighbour.headers)).json()["balance"] == entry.amount
    r = await client.get(f"/api/v1/needs/{need['id']}/timeline", headers=household.headers)
    assert "邻里互助:指派给邻居孙**" in [e["reason"] for e in r.json()["events"]]
    assert r.json()["need"]["status"] == "completed"

    # Counted as neighbour help, task and service.
    now = api.app.ctx.clock()
    period = {"scope": "station", "from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=3)).isoformat()}
    body = (await client.get("/api/v1/stats/overview", params=period, headers=worker.headers)).json()
    assert (body["delivery"]["neighbour"]["tasks"], body["delivery"]["neighbour"]["services"]) == (1, 1)
    assert body["delivery"]["volunteer"]["services"] == 0


async def test_only_a_tied_helper_who_fits_gets_a_free_slot_of_an_open_task(client):
    station = await make_station()
    task, need, worker, household = await make_open_task(client, station)
    resident_id = need["resident_id"]
    _, profile = await make_volunteer(client, station, approved_by=worker)
    stranger, stranger_profile = await make_volunteer(client, station, approved_by=worker)
    assert (await register(client, worker, resident_id, profile["id"])).status_code == 201

    def dispatch(task_id: int, volunteer_id: int):
        return client.post(f"/api/v1/tasks/{task_id}/neighbour", json={"volunteer_id": volunteer_id},
                           headers=worker.headers)

    # Registering: once per pair; only an approved volunteer of the household's own station.
    assert_error(await register(client, worker, resident_id, profile["id"]), 409, "NEIGHBOUR_TIE_EXISTS")
    far = await make_station()
    _, elsewhere = await make_volunteer(client, far, approved_by=await make_worker(client, far))
    _, pending = await make_volunteer(client, station)
    for volunteer_id in (elsewhere["id"], pending["id"], 999999):
        err = assert_error(await register(client, worker, resident_id, volunteer_id), 400, "VALIDATION_ERROR")
        assert err["details"] == [{"field": "volunteer_id", "type": "not_station_volunteer"}]

    # A volunteer with no tie to this household.
    assert_error(await dispatch(task["id"], stranger_profile["id"]), 409, "NOT_NEIGHBOUR_HELPER")
    # A task with no free slot: the stranger claimed it first.
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=stranger.headers)).status_code == 200
    assert_error(await dispatch(task["id"], profile["id"]), 409, "NO_FREE_SLOT")
    # A task no longer open.
    other = await make_task(client, worker, need, accept=False, title="整理衣物")
    assert (await client.post(f"/api/v1/tasks/{other['id']}/cancel", json={"reason": "不需要了"},
                              headers=worker.headers)).status_code == 200
    assert_error(await dispatch(other["id"], profile["id"]), 409, "INVALID_STATE")
    # A service that needs a skill the helper has not.
    repair = await make_task(client, worker, await make_need(client, household, service_code="LIVING_REPAIR"),
                             title="修水龙头")
    assert_error(await dispatch(repair["id"], profile["id"]), 403, "SKILL_REQUIRED")
    assert not await TaskClaim.exists(volunteer_id=profile["id"])
    assert {t.delivery_way for t in await Task.all()} == {"volunteer"}

    # The tie ended, the helper is no longer the household's to dispatch to; registered again, they are.
    r = await client.delete(f"/api/v1/residents/{resident_id}/neighbour-helpers/{profile['id']}", headers=worker.headers)
    assert r.status_code == 200 and r.json()["ended_at"] is not None, r.text
    assert (await client.get(f"/api/v1/residents/{resident_id}/neighbour-helpers", headers=worker.headers)).json() == []
    assert_error(await client.delete(f"/api/v1/residents/{resident_id}/neighbour-helpers/{profile['id']}",
                                     headers=worker.headers), 404, "NOT_FOUND")
    fresh = await make_task(client, worker, await make_need(client, household, service_code="LIVING_SHOP"), title="代买药")
    assert_error(await dispatch(fresh["id"], profile["id"]), 409, "NOT_NEIGHBOUR_HELPER")
    assert (await register(client, worker, resident_id, profile["id"], note="老同事")).status_code == 201
    assert (await dispatch(fresh["id"], profile["id"])).status_code == 201
    assert await NeighbourTie.filter(resident_id=resident_id).count() == 2


async def test_another_station_finds_nothing_and_only_the_station_acts(client):
    station = await make_station()
    task, need, worker, household = await make_open_task(client, station)
    resident_id = need["resident_id"]
    _, profile = await make_volunteer(client, station, approved_by=worker)
    other = await make_worker(client, await make_station())
    admin = await make_admin(client)
    assert (await register(client, worker, resident_id, profile["id"])).status_code == 201

    helpers = f"/api/v1/residents/{resident_id}/neighbour-helpers"
    for caller, status in ((other, 404), (household, 403), (admin, 403)):
        assert (await register(client, caller, resident_id, profile["id"])).status_code == status
        r = await client.delete(f"{helpers}/{profile['id']}", headers=caller.headers)
        assert r.status_code == status, r.text
        r = await client.post(f"/api/v1/tasks/{task['id']}/neighbour", json={"volunteer_id": profile["id"]},
                              headers=caller.headers)
        assert r.status_code == status, r.text
    assert (await client.get(helpers, headers=other.headers)).status_code == 404
    assert (await client.get(helpers, headers=admin.headers)).status_code == 200
    assert await NeighbourTie.filter(ended_at__isnull=True).count() == 1 and not await TaskClaim.exists()


async def test_a_household_leaving_assistance_ends_its_neighbour_ties(client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, household = await make_resident(client, station)
    _, profile = await make_volunteer(client, station, approved_by=worker)
    assert (await register(client, worker, household["id"], profile["id"])).status_code == 201
    r = await client.post(f"/api/v1/residents/{household['id']}/exit", json={"reason": "moved_away"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    assert not await NeighbourTie.filter(ended_at__isnull=True).exists()
    # And while it is out, no neighbour is registered for it.
    assert_error(await register(client, worker, household["id"], profile["id"]), 409, "HOUSEHOLD_EXITED")
