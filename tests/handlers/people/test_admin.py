"""Administrators: districts, stations, organisations, staff appointments."""

import asyncio

from models import AuditLog, Station, UserRole
from tests.builders import (
    login, make_admin, make_district, make_need, make_organization, make_resident, make_station, make_task, make_worker,
    resident_payload,
)
from tests.handlers.test_platform import assert_error


async def test_admin_creates_district_and_station_and_the_public_sees_it(client):
    admin = await make_admin(client)
    r = await client.post("/api/v1/admin/districts", json={"code": "371002", "name": "环翠区"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    district = r.json()
    assert_error(await client.post("/api/v1/admin/districts", json={"code": "371002", "name": "重复"}, headers=admin.headers),
                 409, "DISTRICT_CODE_TAKEN")
    station_in = {"district_id": district["id"], "name": "鲸园街道驿站", "town": "鲸园街道", "address": "新威路1号",
                  "lat": 37.51, "lng": 122.12}
    r = await client.post("/api/v1/admin/stations", json=station_in, headers=admin.headers)
    assert r.status_code == 201, r.text
    station = r.json()
    assert_error(await client.post("/api/v1/admin/stations", json=station_in, headers=admin.headers), 409, "STATION_NAME_TAKEN")
    public = await client.get("/api/v1/stations")
    assert public.status_code == 200
    assert [(s["id"], s["district_name"]) for s in public.json()] == [(station["id"], "环翠区")]
    r = await client.patch(f"/api/v1/admin/stations/{station['id']}", json={"phone": "0631-5200000"}, headers=admin.headers)
    assert r.json()["phone"] == "0631-5200000" and r.json()["name"] == "鲸园街道驿站"
    assert_error(await client.delete(f"/api/v1/admin/districts/{district['id']}", headers=admin.headers), 409, "PLACE_IN_USE")
    assert (await client.delete(f"/api/v1/admin/stations/{station['id']}", headers=admin.headers)).status_code == 200
    assert (await client.delete(f"/api/v1/admin/districts/{district['id']}", headers=admin.headers)).status_code == 200


async def test_station_in_use_cannot_be_deleted(client):
    admin = await make_admin(client)
    station = await make_station()
    await make_resident(client, station)
    assert_error(await client.delete(f"/api/v1/admin/stations/{station.id}", headers=admin.headers), 409, "PLACE_IN_USE")
    assert await Station.exists(id=station.id)


async def test_station_in_unknown_district_is_404(client):
    admin = await make_admin(client)
    r = await client.post("/api/v1/admin/stations", json={"district_id": 99999, "name": "x", "town": "x", "address": "x"},
                          headers=admin.headers)
    assert_error(r, 404, "NOT_FOUND")


async def test_appoint_and_remove_a_worker(client):
    admin = await make_admin(client)
    station = await make_station()
    person = await login(client)
    assert_error(await client.get("/api/v1/residents", headers=person.headers), 403, "FORBIDDEN")
    r = await client.post("/api/v1/admin/staff", json={"user_id": person.id, "role": "worker", "station_id": station.id},
                          headers=admin.headers)
    assert r.status_code == 200, r.text
    me = (await client.get("/api/v1/me", headers=person.headers)).json()
    assert "worker" in me["roles"] and me["station_id"] == station.id
    assert (await client.get("/api/v1/residents", headers=person.headers)).status_code == 200
    listed = (await client.get("/api/v1/admin/staff", headers=admin.headers)).json()
    assert {"user_id": person.id, "role": "worker", "station_id": station.id, "organization_id": None,
            "district_id": None} in listed
    r = await client.request("DELETE", "/api/v1/admin/staff", json={"user_id": person.id, "role": "worker"}, headers=admin.headers)
    assert r.status_code == 200
    assert_error(await client.get("/api/v1/residents", headers=person.headers), 403, "FORBIDDEN")
    actions = [a.action for a in await AuditLog.filter(subject_type="user", subject_id=person.id).order_by("id")]
    assert actions == ["role.grant", "role.revoke"]


async def test_reappointing_moves_a_worker_to_the_new_station(client):
    admin = await make_admin(client)
    a, b = await make_station(), await make_station()
    person = await login(client)
    for station in (a, b):
        r = await client.post("/api/v1/admin/staff", json={"user_id": person.id, "role": "worker", "station_id": station.id},
                              headers=admin.headers)
        assert r.status_code == 200
    assert await UserRole.filter(user_id=person.id, role="worker").count() == 1
    assert (await client.get("/api/v1/me", headers=person.headers)).json()["station_id"] == b.id


async def test_org_staff_binds_to_an_organisation(client):
    admin = await make_admin(client)
    r = await client.post("/api/v1/admin/organizations", json={"name": "威海市阳光社工服务中心", "kind": "social_work_agency"},
                          headers=admin.headers)
    assert r.status_code == 201
    org = r.json()
    person = await login(client)
    r = await client.post("/api/v1/admin/staff", json={"user_id": person.id, "role": "org_staff", "organization_id": org["id"]},
                          headers=admin.headers)
    assert r.status_code == 200
    assert (await client.get("/api/v1/me", headers=person.headers)).json()["organization_id"] == org["id"]


async def test_staff_binding_must_match_the_role(client):
    admin = await make_admin(client)
    org = await make_organization()
    person = await login(client)
    for body in (
        {"user_id": person.id, "role": "worker"},
        {"user_id": person.id, "role": "worker", "organization_id": org.id},
        {"user_id": person.id, "role": "org_staff"},
        {"user_id": person.id, "role": "admin", "station_id": 1},
    ):
        assert_error(await client.post("/api/v1/admin/staff", json=body, headers=admin.headers), 400, "VALIDATION_ERROR")
    assert_error(await client.post("/api/v1/admin/staff", json={"user_id": 999999, "role": "worker", "station_id": (await make_station()).id},
                                   headers=admin.headers), 404, "NOT_FOUND")
    assert not await UserRole.filter(user_id=person.id, role__in=("worker", "org_staff")).exists()


async def test_district_rename(client):
    admin = await make_admin(client)
    d = await make_district(name="旧名")
    r = await client.patch(f"/api/v1/admin/districts/{d.id}", json={"name": "新名"}, headers=admin.headers)
    assert r.json()["name"] == "新名"
    assert_error(await client.patch(f"/api/v1/admin/districts/{d.id}", json={"code": "x"}, headers=admin.headers), 400, "VALIDATION_ERROR")


async def test_patch_with_null_for_a_required_field_is_400_and_changes_nothing(client):
    """Found by schemathesis (scripts/fuzz): these were 500s from NOT NULL columns."""
    from models import Service, Station
    from tests.builders import make_admin, make_station
    from tests.handlers.test_platform import assert_error

    admin = await make_admin(client)
    station = await make_station()
    err = assert_error(await client.patch(f"/api/v1/admin/stations/{station.id}", json={"name": None, "town": "新镇"},
                                          headers=admin.headers), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]] == ["name"]
    assert (await Station.get(id=station.id)).town == station.town
    r = await client.patch(f"/api/v1/admin/stations/{station.id}", json={"phone": None}, headers=admin.headers)
    assert r.status_code == 200 and (await Station.get(id=station.id)).phone is None  # phone may be cleared
    before = await Service.get(code="LIVING_ESCORT")
    err = assert_error(await client.patch("/api/v1/admin/services/LIVING_ESCORT", json={"points_per_hour": None},
                                          headers=admin.headers), 400, "VALIDATION_ERROR")
    assert (await Service.get(code="LIVING_ESCORT")).points_per_hour == before.points_per_hour


async def test_a_station_whose_needs_remain_after_its_household_moved_cannot_be_deleted(client):
    """A household may move to another station; the needs and tasks it had keep the old one, and
    deleting that station must say it is in use, not fail."""
    admin = await make_admin(client)
    old, new = await make_station(), await make_station()
    worker = await make_worker(client, old)
    s, _ = await make_resident(client, old)
    need = await make_need(client, s)
    await make_task(client, worker, need)
    # The household moves once its need is over (while it is handled, the move waits: HOUSEHOLD_IN_SERVICE).
    r = await client.post(f"/api/v1/needs/{need['id']}/cancel", json={"reason": "搬家"}, headers=s.headers)
    assert r.status_code == 200, r.text
    r = await client.put("/api/v1/me/resident", json=resident_payload(new), headers=s.headers)
    assert r.status_code == 200, r.text
    await client.request("DELETE", "/api/v1/admin/staff", json={"user_id": worker.id, "role": "worker"},
                         headers=admin.headers)
    assert_error(await client.delete(f"/api/v1/admin/stations/{old.id}", headers=admin.headers), 409, "PLACE_IN_USE")
    assert await Station.exists(id=old.id)


async def test_double_tapped_creations_make_one_place_and_say_why_the_others_did_not(client):
    """The name and code checks read before inserting; taps at the same moment all pass them, and
    the unique keys let one in: the others are the same 409 a later tap gets, not a 500."""
    admin = await make_admin(client)

    async def taps(path, body):
        results = await asyncio.gather(*(client.post(path, json=body, headers=admin.headers) for _ in range(6)))
        assert sorted(r.status_code for r in results) == [201] + [409] * 5, [r.text for r in results]
        return {r.json()["error"]["code"] for r in results if r.status_code == 409}

    assert await taps("/api/v1/admin/districts", {"code": "371099", "name": "测试区"}) == {"DISTRICT_CODE_TAKEN"}
    district = await make_district()
    station = {"district_id": district.id, "name": "鲸园街道驿站", "town": "鲸园街道", "address": "新威路1号"}
    assert await taps("/api/v1/admin/stations", station) == {"STATION_NAME_TAKEN"}
    service = {"code": "HOME_REPAIR", "category_code": "LIVING", "name": "居家小修"}
    assert await taps("/api/v1/admin/services", service) == {"SERVICE_CODE_TAKEN"}


async def test_a_double_tapped_appointment_appoints_once(client):
    """Taps at the same moment used to deadlock on the role row that did not exist yet (a 500)."""
    admin = await make_admin(client)
    station = await make_station()
    for _ in range(3):
        person = await login(client)
        body = {"user_id": person.id, "role": "worker", "station_id": station.id}
        results = await asyncio.gather(*(client.post("/api/v1/admin/staff", json=body, headers=admin.headers)
                                         for _ in range(8)))
        assert [r.status_code for r in results] == [200] * 8, [r.text for r in results]
        assert await UserRole.filter(user_id=person.id, role="worker").count() == 1
