"""A district's own standards of the city catalogue (任务五: 各区市结合实际制定本辖区服务标准):
which services it offers, their standards text and points, applied wherever the catalogue is read
— the services listed for a station, a need, a task's points, the award at confirmation."""

import math

from models import DistrictService, Need, PointsEntry
from tests.builders import (
    grant, login, make_district, make_need, make_open_task_and_volunteer, make_resident, make_station, make_task,
    new_openid, record_after,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def _district_admin(client, district):
    return await grant(await login(client, new_openid("district")), "district_admin", district_id=district.id)


async def test_a_service_the_district_does_not_offer_cannot_be_asked_for_there(client):
    mine, theirs = await make_district(), await make_district()
    here, there = await make_station(district=mine), await make_station(district=theirs)
    district = await _district_admin(client, mine)
    r = await client.put(f"/api/v1/admin/districts/{mine.id}/services/CLEAN_HOME", json={"offered": False},
                         headers=district.headers)
    assert r.status_code == 200, r.text
    assert r.json()["offered"] is False

    listed = {s["code"]: s for s in (await client.get("/api/v1/catalog/services", params={"station_id": here.id})).json()}
    assert "CLEAN_HOME" not in listed and "LIVING_SHOP" in listed
    elsewhere = {s["code"] for s in (await client.get("/api/v1/catalog/services", params={"station_id": there.id})).json()}
    assert "CLEAN_HOME" in elsewhere
    assert_error(await client.get("/api/v1/catalog/services", params={"station_id": 999999}), 404, "NOT_FOUND")

    household, _ = await make_resident(client, here)
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "打扫"},
                          headers=household.headers)
    err = assert_error(r, 400, "SERVICE_NOT_OFFERED")
    assert err["details"] == [{"field": "service_code", "type": "not_offered"}]
    assert not await Need.exists(resident__user_id=household.id)
    neighbour, _ = await make_resident(client, there)
    await make_need(client, neighbour)  # the other district still offers it

    # Offered again with nothing of its own: the city's service as it was, no standard kept.
    r = await client.put(f"/api/v1/admin/districts/{mine.id}/services/CLEAN_HOME", json={"offered": True},
                         headers=district.headers)
    assert r.status_code == 200 and r.json()["district_standard"] is False
    assert not await DistrictService.exists(district_id=mine.id)
    await make_need(client, household)


async def test_the_districts_points_and_standards_text_apply_to_its_tasks_and_awards(client):
    mine = await make_district()
    here, there = await make_station(district=mine), await make_station()
    district = await _district_admin(client, mine)
    r = await client.put(f"/api/v1/admin/districts/{mine.id}/services/CLEAN_HOME",
                         json={"points_per_hour": 30, "description": "每次不少于2小时,含厨房、卫生间"},
                         headers=district.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["points_per_hour"], body["city_points_per_hour"]) == (30, 10)
    assert body["description"] == "每次不少于2小时,含厨房、卫生间" and body["city_description"] == "居室打扫、整理"
    shown = {s["code"]: s for s in (await client.get("/api/v1/catalog/services", params={"station_id": here.id})).json()}
    assert shown["CLEAN_HOME"]["description"] == "每次不少于2小时,含厨房、卫生间"
    assert shown["CLEAN_HOME"]["points_per_hour"] == 30

    # A task's points by default: the district's per hour × the service's 120 minutes.
    task, _, worker, _, volunteer = await make_open_task_and_volunteer(client, here)
    assert task["points"] == math.ceil(30 * 120 / 60)
    other, *_ = await make_open_task_and_volunteer(client, there)
    assert other["points"] == math.ceil(10 * 120 / 60)

    # The award at confirmation: 40 verified minutes at 30 an hour (first-service bonus apart).
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)).status_code == 200
    assert (await record_after(client, task["id"], volunteer, 40)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200, r.text
    award = await PointsEntry.get(account__user_id=volunteer.id, kind="service_award")
    assert award.amount == 30 * 40 // 60 + 20  # 20: the first service's bonus (config/points_rules.json)


async def test_another_districts_catalogue_is_404_and_bad_standards_change_nothing(client):
    mine, theirs = await make_district(), await make_district()
    district = await _district_admin(client, mine)
    assert_error(await client.get(f"/api/v1/admin/districts/{theirs.id}/services", headers=district.headers),
                 404, "NOT_FOUND")
    assert_error(await client.put(f"/api/v1/admin/districts/{theirs.id}/services/CLEAN_HOME", json={"offered": False},
                                  headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.put(f"/api/v1/admin/districts/{mine.id}/services/NO_SUCH", json={"offered": False},
                                  headers=district.headers), 404, "NOT_FOUND")
    r = await client.put(f"/api/v1/admin/districts/{mine.id}/services/CLEAN_HOME", json={"points_per_hour": -1},
                         headers=district.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert not await DistrictService.exists(district_id__in=[mine.id, theirs.id])
    listed = (await client.get(f"/api/v1/admin/districts/{mine.id}/services", headers=district.headers)).json()
    assert all(s["offered"] and not s["district_standard"] for s in listed)


async def test_a_service_paired_for_in_the_district_is_not_switched_off(client):
    from datetime import datetime

    from server.clock import CHINA_TZ
    from tests.builders import make_volunteer, make_worker

    mine = await make_district()
    here = await make_station(district=mine)
    district = await _district_admin(client, mine)
    worker = await make_worker(client, here)
    household, _ = await make_resident(client, here)
    need = await make_need(client, household)
    r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
    assert r.status_code == 200, r.text
    _, volunteer = await make_volunteer(client, here, approved_by=worker)
    r = await client.post("/api/v1/pairings", json={
        "need_id": need["id"], "volunteer_id": volunteer["id"], "starts_on": datetime.now(CHINA_TZ).date().isoformat(),
        "schedule": {"weekdays": [6], "start_time": "09:00", "minutes": 60}}, headers=worker.headers)
    assert r.status_code == 201, r.text
    r = await client.put(f"/api/v1/admin/districts/{mine.id}/services/CLEAN_HOME", json={"offered": False},
                         headers=district.headers)
    err = assert_error(r, 409, "SERVICE_IN_USE")
    assert len(err["details"]["pairing_ids"]) == 1
    assert not await DistrictService.exists(district_id=mine.id)
    # A task for it can still be made there.
    await make_task(client, worker, need, accept=False)
