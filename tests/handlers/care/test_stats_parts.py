"""The same figures at station, district and city scope, each whole the sum of its parts: needs,
services and hours (week by week and month by month too), tasks, referrals, pairings started,
complaints and exits; and the city's station-by-station table adds up to the city."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.builders import (
    make_admin, make_district, make_need, make_resident, make_station, make_task, make_volunteer, make_worker,
)
from tests.handlers.care.test_projects import qualified_organization
from tests.handlers.care.test_stats import deliver

ADDITIVE = [("needs", "total"), ("volunteer_minutes",), ("tasks", "created"), ("referrals", "total"),
            ("pairings", "started"), ("complaints", "filed"), ("exits", "total"), ("priority_households", "total")]


def figure(body: dict, path: tuple[str, ...]) -> int:
    for key in path:
        body = body[key]
    return body


async def busy_station(client, district, minutes: int, *, refer: bool, exit_one: bool, complain: bool):
    station = await make_station(district)
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    resident, _ = await make_resident(client, station, categories=["低保"], checked_by=worker)
    await deliver(client, worker, volunteer, await make_need(client, resident), minutes)
    await make_need(client, (await make_resident(client, station))[0], service_code="LIVING_MEAL")
    if refer:
        org = await qualified_organization(services=["CLEAN_HOME"], station_ids=[station.id])
        other, _ = await make_resident(client, station)
        task = await make_task(client, worker, await make_need(client, other))
        r = await client.post(f"/api/v1/tasks/{task['id']}/refer", json={"organization_id": org.id}, headers=worker.headers)
        assert r.status_code == 201, r.text
    if exit_one:
        _, leaving = await make_resident(client, station)
        r = await client.post(f"/api/v1/residents/{leaving['id']}/exit", json={"reason": "moved_away"},
                              headers=worker.headers)
        assert r.status_code == 200, r.text
    if complain:
        r = await client.post("/api/v1/complaints", headers=resident.headers, json={"subject": "station", "text": "慢"})
        assert r.status_code == 201, r.text
    return station


async def test_every_whole_is_the_sum_of_its_parts(api, client):
    east, west = await make_district(name="环翠区"), await make_district(name="文登区")
    stations = {
        east: [await busy_station(client, east, 20, refer=True, exit_one=False, complain=True),
               await busy_station(client, east, 35, refer=False, exit_one=True, complain=False)],
        west: [await busy_station(client, west, 50, refer=True, exit_one=True, complain=True)],
    }
    admin = await make_admin(client)
    now = datetime.now(timezone.utc)
    period = {"from": (now - timedelta(days=40)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}

    async def overview(**scope) -> dict:
        r = await client.get("/api/v1/stats/overview", params={**scope, **period}, headers=admin.headers)
        assert r.status_code == 200, r.text
        return r.json()

    city = await overview(scope="city")
    districts = {d: await overview(scope="district", id=d.id) for d in stations}
    parts = {s.id: await overview(scope="station", id=s.id) for group in stations.values() for s in group}

    for path in ADDITIVE:
        assert figure(city, path) == sum(figure(d, path) for d in districts.values()), path
        for district, group in stations.items():
            assert figure(districts[district], path) == sum(figure(parts[s.id], path) for s in group), path
    assert city["needs"]["total"] == 8 and city["volunteer_minutes"] == 105 and city["referrals"]["total"] == 2
    assert city["exits"]["total"] == 2 and city["complaints"]["filed"] == 2
    assert city["priority_households"]["by_category"]["低保"] == 3 and city["priority_households"]["others"] == 0

    # The series: every week's and month's figures add up to the period's, at every scope.
    for body in (city, *districts.values(), *parts.values()):
        for unit in ("week", "month"):
            rows = body["series"][unit]
            assert sum(r["needs"] for r in rows) == body["needs"]["total"], unit
            assert round(sum(r["hours"] for r in rows), 1) == round(body["volunteer_minutes"] / 60, 1), unit
    assert len(city["series"]["month"]) in (2, 3) and len(city["series"]["week"]) >= 6

    # The city's table, station by station, adds up to the city.
    table = city["stations"]
    assert sorted(r["station_id"] for r in table) == sorted(parts)
    for key, path in (("needs", ("needs", "total")), ("volunteer_minutes", ("volunteer_minutes",)),
                      ("referrals", ("referrals", "total")), ("complaints_filed", ("complaints", "filed")),
                      ("exits", ("exits", "total"))):
        assert sum(r[key] for r in table) == figure(city, path), key
        for r in table:
            assert r[key] == figure(parts[r["station_id"]], path), (key, r["station_id"])
