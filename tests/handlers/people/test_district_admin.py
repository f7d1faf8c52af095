"""District administrators (区市民政): each keeps its own district — stations, staff, organisations,
projects, statistics, ledgers, the audit trail, late-work escalations and complaints — and another
district's are a 404, as any record a caller may not see."""

import io
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from models import AuditLog, Notification, Project, UserRole
from tests.builders import (
    grant, login, make_admin, make_district, make_need, make_organization, make_resident, make_station, make_worker,
    new_openid,
)
from tests.handlers.test_platform import assert_error

QUALIFIED = [{"kind": k, "document": f"{k}.pdf", "expires_at": "2030-01-01T00:00:00+08:00"}
             for k in ("legal_capacity", "staff", "facilities", "finance")]


async def _district_admin(client, district):
    return await grant(await login(client, new_openid("district")), "district_admin", district_id=district.id)


async def _two_districts(client):
    """Two districts with a station each, and an administrator of the first."""
    mine, theirs = await make_district(), await make_district()
    return mine, theirs, await make_station(district=mine), await make_station(district=theirs), \
        await _district_admin(client, mine)


async def test_the_city_appoints_a_district_administrator_who_sees_only_their_district(client):
    city = await make_admin(client)
    mine, theirs = await make_district(name="环翠区"), await make_district(name="文登区")
    here, there = await make_station(district=mine), await make_station(district=theirs)
    person = await login(client)
    r = await client.post("/api/v1/admin/staff", json={"user_id": person.id, "role": "district_admin",
                                                       "district_id": mine.id}, headers=city.headers)
    assert r.status_code == 200, r.text
    me = (await client.get("/api/v1/me", headers=person.headers)).json()
    assert "district_admin" in me["roles"] and me["district_id"] == mine.id
    # A district administrator is bound to one district, and nothing else.
    r = await client.post("/api/v1/admin/staff", json={"user_id": person.id, "role": "district_admin",
                                                       "station_id": here.id}, headers=city.headers)
    assert_error(r, 400, "VALIDATION_ERROR")

    districts = (await client.get("/api/v1/admin/districts", headers=person.headers)).json()
    assert [d["id"] for d in districts] == [mine.id]
    stations = (await client.get("/api/v1/admin/stations", headers=person.headers)).json()
    assert [s["id"] for s in stations] == [here.id]
    assert_error(await client.patch(f"/api/v1/admin/stations/{there.id}", json={"town": "改"}, headers=person.headers),
                 404, "NOT_FOUND")
    r = await client.post("/api/v1/admin/stations", json={"district_id": theirs.id, "name": "越界驿站", "town": "镇",
                                                          "address": "路"}, headers=person.headers)
    assert_error(r, 404, "NOT_FOUND")
    r = await client.post("/api/v1/admin/stations", json={"district_id": mine.id, "name": "新驿站", "town": "镇",
                                                          "address": "路"}, headers=person.headers)
    assert r.status_code == 201, r.text
    # The city's own: districts, the catalogue itself, other district administrators.
    assert_error(await client.post("/api/v1/admin/districts", json={"code": "x1", "name": "新区"}, headers=person.headers),
                 403, "FORBIDDEN")
    assert_error(await client.patch("/api/v1/admin/services/CLEAN_HOME", json={"points_per_hour": 99},
                                    headers=person.headers), 403, "FORBIDDEN")
    other = await login(client)
    r = await client.post("/api/v1/admin/staff", json={"user_id": other.id, "role": "district_admin",
                                                       "district_id": mine.id}, headers=person.headers)
    assert_error(r, 403, "FORBIDDEN")
    # Taking the role away closes the district's pages at once.
    r = await client.request("DELETE", "/api/v1/admin/staff", json={"user_id": person.id, "role": "district_admin"},
                             headers=city.headers)
    assert r.status_code == 200
    assert_error(await client.get("/api/v1/admin/stations", headers=person.headers), 403, "FORBIDDEN")


async def test_staff_of_another_district_are_404(client):
    mine, theirs, here, there, district = await _two_districts(client)
    ours, foreign = await make_worker(client, here), await make_worker(client, there)
    listed = (await client.get("/api/v1/admin/staff", headers=district.headers)).json()
    assert {g["user_id"] for g in listed} >= {ours.id, district.id} and foreign.id not in {g["user_id"] for g in listed}
    newcomer = await login(client)
    r = await client.post("/api/v1/admin/staff", json={"user_id": newcomer.id, "role": "worker", "station_id": there.id},
                          headers=district.headers)
    assert_error(r, 404, "NOT_FOUND")
    assert not await UserRole.exists(user_id=newcomer.id, role="worker")
    r = await client.request("DELETE", "/api/v1/admin/staff", json={"user_id": foreign.id, "role": "worker"},
                             headers=district.headers)
    assert_error(r, 404, "NOT_FOUND")
    assert await UserRole.exists(user_id=foreign.id, role="worker")
    r = await client.post("/api/v1/admin/staff", json={"user_id": newcomer.id, "role": "worker", "station_id": here.id},
                          headers=district.headers)
    assert r.status_code == 200, r.text
    grant_row = await AuditLog.get(action="role.grant", subject_id=newcomer.id)
    assert grant_row.actor_id == district.id


async def test_projects_and_organisations_of_another_district_are_404(client):
    mine, theirs, here, there, district = await _two_districts(client)
    city = await make_admin(client)
    ours = await make_organization(district_id=mine.id, services=["CLEAN_HOME"], station_ids=[here.id],
                                   qualifications=QUALIFIED)
    foreign = await make_organization(district_id=theirs.id, qualifications=QUALIFIED)
    citywide = await make_organization(qualifications=QUALIFIED)
    listed = {o["id"] for o in (await client.get("/api/v1/admin/organizations", headers=district.headers)).json()}
    assert listed == {ours.id, citywide.id}
    assert_error(await client.patch(f"/api/v1/admin/organizations/{foreign.id}", json={"services": []},
                                    headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.patch(f"/api/v1/admin/organizations/{citywide.id}", json={"services": []},
                                    headers=district.headers), 403, "FORBIDDEN")
    # Its own provider cannot be given another district's station.
    assert_error(await client.patch(f"/api/v1/admin/organizations/{ours.id}", json={"station_ids": [there.id]},
                                    headers=district.headers), 404, "NOT_FOUND")

    body = {"name": "助洁项目", "organization_id": ours.id, "budget_fen": 100_000, "services": ["CLEAN_HOME"],
            "starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2027-01-01T00:00:00+08:00", "station_ids": [here.id]}
    r = await client.post("/api/v1/admin/projects", json=body, headers=district.headers)
    assert r.status_code == 201, r.text
    own = r.json()
    assert own["district_id"] == mine.id  # bought by the district, whatever was sent
    assert_error(await client.post("/api/v1/admin/projects", json={**body, "station_ids": [there.id]},
                                   headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.post("/api/v1/admin/projects", json={**body, "organization_id": foreign.id},
                                   headers=district.headers), 404, "NOT_FOUND")
    r = await client.post("/api/v1/admin/projects", json={**body, "organization_id": foreign.id,
                                                          "station_ids": [there.id], "district_id": theirs.id},
                          headers=city.headers)
    assert r.status_code == 201, r.text
    theirs_project = r.json()
    # A city project may not claim a district whose stations it does not cover.
    r = await client.post("/api/v1/admin/projects", json={**body, "district_id": theirs.id}, headers=city.headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    for path in (f"/api/v1/admin/projects/{theirs_project['id']}",
                 f"/api/v1/admin/projects/{theirs_project['id']}/acceptance"):
        assert_error(await client.get(path, headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.post(f"/api/v1/admin/projects/{theirs_project['id']}/steps",
                                   json={"to": "approved", "note": "立项", "targets": {"tasks_done": 1}},
                                   headers=district.headers), 404, "NOT_FOUND")
    assert await Project.filter(id=theirs_project["id"], status="proposed").exists()
    listed = (await client.get("/api/v1/admin/projects", headers=district.headers)).json()["items"]
    assert [p["id"] for p in listed] == [own["id"]]
    city_list = (await client.get("/api/v1/admin/projects", headers=city.headers)).json()["items"]
    assert {p["id"] for p in city_list} == {own["id"], theirs_project["id"]}


async def test_statistics_ledgers_and_audit_trail_stop_at_the_district(client):
    mine, theirs, here, there, district = await _two_districts(client)
    needs = {}
    for station in (here, there):
        worker = await make_worker(client, station)
        household, profile = await make_resident(client, station, checked_by=worker)
        needs[station.id] = (await make_need(client, household))["id"]
        # An unmasked read by the station: on the trail, with its worker and household.
        r = await client.get(f"/api/v1/residents/{profile['id']}/unmasked", params={"reason": "入户核实"},
                             headers=worker.headers)
        assert r.status_code == 200, r.text
    now = datetime.now(timezone.utc)
    period = {"from": (now - timedelta(days=1)).date().isoformat(), "to": (now + timedelta(days=1)).date().isoformat()}
    r = await client.get("/api/v1/stats/overview", params={"scope": "district", **period}, headers=district.headers)
    assert r.status_code == 200, r.text
    assert r.json()["needs"]["total"] == 1
    assert_error(await client.get("/api/v1/stats/overview", params={"scope": "district", "id": theirs.id, **period},
                                  headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.get("/api/v1/stats/overview", params={"scope": "station", "id": there.id, **period},
                                  headers=district.headers), 404, "NOT_FOUND")
    assert_error(await client.get("/api/v1/stats/overview", params={"scope": "city", **period},
                                  headers=district.headers), 403, "FORBIDDEN")

    r = await client.get("/api/v1/ledgers/needs", params=period, headers=district.headers)
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert mine.name in rows[0][0]  # the heading names the district
    assert len(rows) == 3  # heading, columns, its one need
    assert rows[2][0] == needs[here.id]
    assert_error(await client.get("/api/v1/ledgers/needs", params={**period, "station_id": there.id},
                                  headers=district.headers), 404, "NOT_FOUND")

    # The trail: what concerns its own households and what its own staff did, nothing else.
    r = await client.get("/api/v1/admin/audit", headers=district.headers)
    assert r.status_code == 200, r.text
    mine_workers = set(await UserRole.filter(role="worker", station_id=here.id).values_list("user_id", flat=True))
    their_workers = set(await UserRole.filter(role="worker", station_id=there.id).values_list("user_id", flat=True))
    rows = r.json()["items"]
    assert rows, "the district's own staff have done something"
    shown = {a.id for a in await AuditLog.filter(id__in=[i["id"] for i in rows])}
    by_id = {a.id: a for a in await AuditLog.filter(id__in=shown)}
    assert not any(by_id[i].actor_id in their_workers for i in shown)
    assert any(by_id[i].actor_id in mine_workers | {district.id} for i in shown)
    # Reading it is itself on the trail, with the district it was confined to.
    read = await AuditLog.filter(action="audit.read", actor_id=district.id).order_by("-id").first()
    assert read is not None and read.detail.get("district_id") == mine.id


async def test_escalations_and_complaints_go_to_the_district(api, client):
    from server.care import deadlines
    from tests.builders import clock_moved

    mine, theirs, here, there, district = await _two_districts(client)
    city = await make_admin(client)
    await make_worker(client, here)
    household, _ = await make_resident(client, here)
    need = await make_need(client, household, urgency="urgent")
    with clock_moved(13 * 60, api.app):
        await deadlines.run(now=api.app.ctx.clock())
    told = await Notification.filter(event="need_accept_escalated").values_list("user_id", flat=True)
    assert district.id in told and city.id not in told  # the district's own, not the city's
    r = await client.get("/api/v1/deadlines", headers=district.headers)
    assert need["id"] in {n["need_id"] for n in r.json()["items"]}
    other = await _district_admin(client, theirs)
    r = await client.get("/api/v1/deadlines", headers=other.headers)
    assert need["id"] not in {n["need_id"] for n in r.json()["items"]}
