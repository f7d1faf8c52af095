"""Browsing from the process's caches (server/feed.py, server/services/browse.py): a warm browse
asks the database nothing, and every change to a task or a claim shows at once."""

from server import feed
from tests.builders import make_need, make_open_task, make_resident, make_station, make_task, make_volunteer
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


def misses() -> dict[str, int]:
    return {topic: s["misses"] for topic, s in feed.current().stats().items()}


async def browse_ids(client, session) -> list[int]:
    # Within 1 km, a square the cache answers whole (a search that has to go further than ~5 km
    # ends in the database).
    r = await client.get("/api/v1/tasks/open", params={**HOME, "radius_km": 1}, headers=session.headers)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["items"]]


async def test_a_warm_browse_reads_nothing_and_changes_show_at_once(client):
    station = await make_station()
    task, need, worker, _ = await make_open_task(client, station)
    a, _ = await make_volunteer(client, station, approved_by=worker)
    b, _ = await make_volunteer(client, station, approved_by=worker)
    assert await browse_ids(client, a) == [task["id"]]
    assert await browse_ids(client, b) == [task["id"]]
    before = misses()
    assert await browse_ids(client, b) == [task["id"]]
    assert misses() == before  # the caller, their claims, every cell: all from the cache

    # A claims: gone for both at once (the only slot is taken).
    r = await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=a.headers)
    assert r.status_code == 200, r.text
    assert await browse_ids(client, b) == []
    assert await browse_ids(client, a) == []
    # A gives it back: it is offered again, to both.
    r = await client.post(f"/api/v1/tasks/{task['id']}/release", json={"reason": "临时有事"}, headers=a.headers)
    assert r.status_code == 200, r.text
    assert await browse_ids(client, b) == [task["id"]]
    assert await browse_ids(client, a) == [task["id"]]
    # A new task nearby shows at once; a cancelled one goes at once.
    resident, _ = await make_resident(client, station, lat=HOME["lat"] + 0.001, lng=HOME["lng"])
    second = await make_task(client, worker, await make_need(client, resident))
    assert set(await browse_ids(client, b)) == {task["id"], second["id"]}
    r = await client.post(f"/api/v1/tasks/{second['id']}/cancel", json={"reason": "居民已自行解决"}, headers=worker.headers)
    assert r.status_code == 200, r.text
    assert await browse_ids(client, b) == [task["id"]]


async def test_a_volunteer_suspended_or_changed_is_seen_at_once(client):
    station = await make_station()
    _, _, worker, _ = await make_open_task(client, station)
    volunteer, profile = await make_volunteer(client, station, approved_by=worker)
    assert (await client.get("/api/v1/tasks/open", params=HOME, headers=volunteer.headers)).status_code == 200
    # A new station sends the application back to review: no longer an approved volunteer.
    other = await make_station()
    from tests.builders import volunteer_payload

    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(other), headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    assert_error(await client.get("/api/v1/tasks/open", params=HOME, headers=volunteer.headers), 403, "FORBIDDEN")
