"""Statistics over a seeded station equal independently counted values."""

from datetime import datetime, timedelta, timezone

from tests.builders import (
    make_admin, make_need, make_resident, make_station, make_task, make_volunteer, make_worker, record_after,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


async def deliver(client, worker, volunteer, need, minutes):
    task = await make_task(client, worker, need)
    await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)
    await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    await record_after(client, task["id"], volunteer, minutes)  # the service starts at the check-in
    # The figures here are of short services (under 居室保洁's minimum of 30): the worker says why.
    r = await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={"reason": "短时服务,已电话回访核实"},
                          headers=worker.headers)
    assert r.status_code == 200, r.text
    return r.json()["claims"][0]["points_due"]


async def test_station_overview_matches_what_happened(client):
    station, elsewhere = await make_station(), await make_station()
    worker = await make_worker(client, station)
    v1, _ = await make_volunteer(client, station, approved_by=worker)
    v2, _ = await make_volunteer(client, station, approved_by=worker)
    r1, _ = await make_resident(client, station, categories=["特困", "独居"], checked_by=worker)
    r2, _ = await make_resident(client, station, categories=["低保"], checked_by=worker)
    r3, _ = await make_resident(client, station, categories=["低保", "残疾"], checked_by=worker)
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


async def test_points_and_minutes_are_net_of_refunds_and_reversals(client):
    import uuid

    from models import PointsAccount, PointsEntry
    from tests.builders import make_reward

    station = await make_station()
    worker = await make_worker(client, station)
    kept, taken_back = [(await make_volunteer(client, station, approved_by=worker))[0] for _ in range(2)]
    r1, _ = await make_resident(client, station)
    r2, _ = await make_resident(client, station)
    await deliver(client, worker, kept, await make_need(client, r1), 10)
    await deliver(client, worker, taken_back, await make_need(client, r2), 15)
    reward = await make_reward(price=20, stock=5, per_person_limit=5)
    for v in (kept, taken_back):
        r = await client.post(f"/api/v1/rewards/{reward.id}/redeem", headers={**v.headers, "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        redemption = r.json()["id"]
    # One volunteer cancels their redemption, and then their service is found not to have happened.
    assert (await client.post(f"/api/v1/redemptions/{redemption}/cancel", headers=taken_back.headers)).status_code == 200
    account = await PointsAccount.get(user_id=taken_back.id)
    award = await PointsEntry.get(kind="service_award", account_id=account.id)
    r = await client.post("/api/v1/points/reversals", json={"entry_id": award.id, "reason": "服务未实际完成"},
                          headers=worker.headers)
    assert r.status_code == 201, r.text

    now = datetime.now(timezone.utc)
    params = {"scope": "station", "from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    s = (await client.get("/api/v1/stats/overview", params=params, headers=worker.headers)).json()
    accounts = await PointsAccount.filter(user_id__in=[kept.id, taken_back.id])
    # What the accounts say: only the kept service was earned, only the kept redemption spent.
    assert s["points"] == {"issued": sum(a.earned for a in accounts), "redeemed": sum(a.spent for a in accounts)}
    assert s["points"] == {"issued": 25, "redeemed": 20}
    assert s["volunteer_minutes"] == sum(a.verified_minutes for a in accounts) == 10
