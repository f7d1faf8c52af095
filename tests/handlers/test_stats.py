"""Statistics over a seeded station equal independently counted values."""

from datetime import datetime, timedelta, timezone

from tests.builders import (
    iso, make_admin, make_need, make_resident, make_station, make_task, make_volunteer, make_worker, soon,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def deliver(client, worker, volunteer, need, minutes):
    task = await make_task(client, worker, need)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/record", json={"started_at": iso(soon(-minutes)), "ended_at": iso(soon(0)),
                                                                  "summary": "完成"}, headers=volunteer.headers)
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)
    assert r.status_code == 200, r.text
    return r.json()["claims"][0]["points_due"]


async def test_station_overview_matches_what_happened(client):
    station, elsewhere = await make_station(), await make_station()
    worker = await make_worker(client, station)
    v1, _ = await make_volunteer(client, station, approved_by=worker)
    v2, _ = await make_volunteer(client, station, approved_by=worker)
    r1, _ = await make_resident(client, station, categories=["特困", "独居"])
    r2, _ = await make_resident(client, station, categories=["低保"])
    r3, _ = await make_resident(client, station, categories=["低保", "残疾"])
    n1 = await make_need(client, r1)
    n2 = await make_need(client, r2, service_code="LIVING_MEAL")
    n3 = await make_need(client, r3, service_code="LINK_LEGAL")
    await client.post(f"/api/v1/needs/{n3['id']}/reject", json={"reason": "转介法律援助"}, headers=worker.headers)
    p1 = await deliver(client, worker, v1, n1, 15)
    p2 = await deliver(client, worker, v2, n2, 10)
    await client.post(f"/api/v1/needs/{n1['id']}/rating", json={"score": 5, "would_use_again": True}, headers=r1.headers)
    await client.post(f"/api/v1/needs/{n2['id']}/rating", json={"score": 2, "would_use_again": False}, headers=r2.headers)
    # Noise at another station must not count.
    other_worker = await make_worker(client, elsewhere)
    other, _ = await make_resident(client, elsewhere)
    await make_need(client, other)

    now = datetime.now(timezone.utc)
    params = {"scope": "station", "from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    r = await client.get("/api/v1/stats/overview", params=params, headers=worker.headers)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["needs"]["total"] == 3
    assert s["needs"]["by_status"] == {"closed": 2, "rejected": 1}
    assert s["needs"]["by_source"] == {"self": 3}
    assert s["needs"]["by_service"] == {"CLEAN_HOME": 1, "LIVING_MEAL": 1, "LINK_LEGAL": 1}
    assert s["needs"]["by_category"] == {"CLEAN": 1, "LIVING": 1, "LINK": 1}
    assert s["households_served_by_category"] == {"特困": 1, "独居": 1, "低保": 1}
    assert s["volunteer_minutes"] == 25 and s["active_volunteers"] == 2
    assert s["points"] == {"issued": p1 + p2, "redeemed": 0}
    assert s["ratings"] == {"count": 2, "average": 3.5}
    assert s["tasks"]["created"] == 2 and s["tasks"]["expired"] == 0
    assert s["minutes_to_accept"]["median"] is not None and s["minutes_to_complete"]["p90"] is not None
    # Workers see only their own station; admins see the city with a station comparison.
    assert_error(await client.get("/api/v1/stats/overview", params={**params, "scope": "city"}, headers=worker.headers),
                 403, "FORBIDDEN")
    admin = await make_admin(client)
    city = (await client.get("/api/v1/stats/overview", params={**params, "scope": "city"}, headers=admin.headers)).json()
    assert city["needs"]["total"] == 4
    assert {x["station_id"]: (x["needs"], x["completed"]) for x in city["stations"]} == {station.id: (3, 2), elsewhere.id: (1, 0)}
    bad = {**params, "to": params["from"]}
    assert_error(await client.get("/api/v1/stats/overview", params=bad, headers=worker.headers), 400, "VALIDATION_ERROR")
    assert other_worker
