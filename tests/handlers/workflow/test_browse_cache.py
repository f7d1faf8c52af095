"""Browsing from the process's caches (server/feed.py, server/workflow/browse.py): a warm browse
asks the database nothing, and every change to a task or a claim shows at once."""

from server import feed
from tests.builders import make_need, make_open_task, make_resident, make_station, make_task, make_volunteer
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}


def misses() -> dict[str, int]:
    """Reads that went to the database: a neighbourhood ("hood") missed is rebuilt from its cells."""
    return {topic: s["misses"] for topic, s in feed.current().stats().items() if topic != "hood"}


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
    r = await client.post(f"/api/v1/tasks/{task['id']}/release", headers=a.headers)
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


async def test_a_neighbourhood_read_whole_still_shows_every_change_in_its_cells_at_once(client):
    """A warm browse reads the point's neighbourhood (the 5 × 5 cells around its cell) as one
    cached entry: a change in any of those cells, the outermost too, shows at once."""
    from server import geo

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    a, _ = await make_volunteer(client, station, approved_by=worker)
    b, _ = await make_volunteer(client, station, approved_by=worker)
    hoods = feed.current().cache("hood", max_entries=1)

    async def near(session) -> list[int]:
        r = await client.get("/api/v1/tasks/open", params={**HOME, "radius_km": 1.5}, headers=session.headers)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["items"]]

    assert await near(b) == [task["id"]]
    hits, before = hoods.hits, misses()
    assert await near(b) == [task["id"]]
    assert hoods.hits == hits + 1 and misses() == before  # the neighbourhood whole, from the cache

    # A household two cells east: in the neighbourhood's outermost column.
    resident, _ = await make_resident(client, station, lat=HOME["lat"], lng=HOME["lng"] + 0.009)
    far = await make_task(client, worker, await make_need(client, resident))
    home = geo.cell_of(HOME["lat"], HOME["lng"])
    where = geo.cell_of(far["approx_location"]["lat"], far["approx_location"]["lng"])
    assert where in geo.square(home, geo.HOOD_HALF) and where not in geo.square(home, geo.HOOD_HALF - 1)
    assert await near(b) == [task["id"], far["id"]]
    assert await near(b) == [task["id"], far["id"]]  # and the neighbourhood made again holds it
    r = await client.post(f"/api/v1/tasks/{far['id']}/claim", headers=a.headers)
    assert r.status_code == 200, r.text
    assert await near(b) == [task["id"]]
    r = await client.post(f"/api/v1/tasks/{far['id']}/release", headers=a.headers)
    assert r.status_code == 200, r.text
    assert await near(b) == [task["id"], far["id"]]


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


async def test_what_is_still_browsed_near_its_age_limit_is_reloaded_without_a_browse_waiting(client, monkeypatch):
    import asyncio

    from models import Task

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    change_feed = feed.current()
    monkeypatch.setattr(change_feed, "max_age_s", 2.0)
    monkeypatch.setattr(feed, "_spread", lambda: 0.0)  # entries age exactly
    # The caches' clock stands still unless the test moves it: ages are what the test says, however
    # long the requests take.
    clock = [feed._now()]
    monkeypatch.setattr(feed, "_now", lambda: clock[0])

    async def titles() -> list[str]:
        r = await client.get("/api/v1/tasks/open", params={**HOME, "radius_km": 1}, headers=volunteer.headers)
        assert r.status_code == 200, r.text
        return [t["title"] for t in r.json()["items"]]

    first = await titles()
    assert len(first) == 1
    # Changed behind the app's back (no feed.changed): only the age limit can bring it in.
    await Task.filter(id=task["id"]).update(title="改过的标题")
    clock[0] += 2.0 * feed.REFRESH_AT + 0.1  # near the age limit (2 s), not past it
    before = misses()
    assert await titles() == first  # still within the limit: served, and reloaded meanwhile
    cells = change_feed.cache("cell", max_entries=1)
    await asyncio.gather(*cells._tasks, *change_feed.cache("user", max_entries=1)._tasks)
    assert cells.refreshes >= 1
    assert await titles() == ["改过的标题"]
    assert misses() == before  # no browse waited for the database


async def test_what_was_cached_before_the_feed_was_lost_is_not_used_after(client):
    """When the feed resets (it was lost: invalidations may have been missed), every cached cell
    goes: the next browse sees what the database has."""
    from models import Task

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)

    async def titles() -> list[str]:
        r = await client.get("/api/v1/tasks/open", params={**HOME, "radius_km": 1}, headers=volunteer.headers)
        assert r.status_code == 200, r.text
        return [t["title"] for t in r.json()["items"]]

    first = await titles()
    assert first == await titles() and len(first) == 1
    await Task.filter(id=task["id"]).update(title="改过的标题")  # behind the app's back
    feed.current().reset()
    assert await titles() == ["改过的标题"]


async def test_callers_are_reloaded_in_one_batch_each_as_the_database_has_them(client):
    from models import VolunteerProfile
    from server import auth

    station = await make_station()
    _, _, worker, _ = await make_open_task(client, station)
    a, a_profile = await make_volunteer(client, station, approved_by=worker)
    b, b_profile = await make_volunteer(client, station, approved_by=worker)
    for session in (a, b):
        assert (await client.get("/api/v1/tasks/open", params=HOME, headers=session.headers)).status_code == 200
    # Both sent back to review behind the app's back: the cached callers still say approved ...
    await VolunteerProfile.filter(id__in=[a_profile["id"], b_profile["id"]]).update(status="pending")
    for session in (a, b):
        assert (await client.get("/api/v1/tasks/open", params=HOME, headers=session.headers)).status_code == 200
    # ... until the background reload reads them again, both in one statement.
    await auth._reload_callers([a.id, b.id])
    for session in (a, b):
        assert_error(await client.get("/api/v1/tasks/open", params=HOME, headers=session.headers), 403, "FORBIDDEN")


async def test_a_reload_keeps_unchanged_cells_and_reads_again_only_what_changed_behind_the_app(client, api,
                                                                                             monkeypatch):
    import orjson

    from models import Task
    from server import sql
    from server.workflow import browse
    from server import geo

    monkeypatch.setattr(feed, "_spread", lambda: 0.0)  # entries age exactly
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert await browse_ids(client, volunteer) == [task["id"]]
    where = task["approx_location"]
    home = geo.cell_of(where["lat"], where["lng"])
    cells = feed.current().cache("cell", max_entries=1)
    around = geo.ring(home, 1)  # empty cells next to it, cached too
    keys = [home, *around]
    before = {cell: cells.peek(cell) for cell in keys}
    assert before[home][0] == 1 and all(before[cell] == (0, (), (), 0) for cell in around)
    aged = {cell: cells._entries[cell][0] for cell in keys}

    now = api.app.ctx.clock()
    await browse._reload_cells(cells, keys, now=now)
    for cell in keys:
        assert cells._entries[cell][0] > aged[cell]  # stored again: its age starts over
        if sql.dialect() != "sqlite":
            assert cells.peek(cell) is before[cell]  # checked, not read again: the very same entry
        else:
            assert cells.peek(cell) == before[cell]  # SQLite has no checksum: read again, same content

    # Behind the app's back (no feed.changed): a slot taken, then the task cancelled. Each is seen
    # by the next reload, and only the changed cell is read again.
    await Task.filter(id=task["id"]).update(claimed_count=1, volunteers_needed=2)
    await browse._reload_cells(cells, keys, now=now)
    (item,) = [orjson.loads(t[5] + b"}") for tasks in cells.peek(home)[2] for t in tasks]
    assert item["slots_left"] == 1
    if sql.dialect() != "sqlite":
        assert all(cells.peek(cell) is before[cell] for cell in around)
    # Two tasks of the cell changed alike (the same column, the same way, rows of the same
    # length): a linear checksum such as CRC32 would cancel out in the XOR; this one does not.
    twin = await Task.get(id=task["id"])
    twin.pk, twin.occurrence_key = None, None
    await twin.save()
    await browse._reload_cells(cells, keys, now=now)
    assert sorted(t[1] for tasks in cells.peek(home)[2] for t in tasks) == [task["id"], twin.id]
    await Task.filter(id__in=[task["id"], twin.id]).update(claimed_count=0)
    await browse._reload_cells(cells, keys, now=now)
    assert [orjson.loads(t[5] + b"}")["slots_left"] for tasks in cells.peek(home)[2] for t in tasks] == [2, 2]
    await Task.filter(id__in=[task["id"], twin.id]).update(status="cancelled")
    await browse._reload_cells(cells, keys, now=now)
    assert cells.peek(home) == (0, (), (), 0)


async def test_each_request_gets_its_own_copy_of_the_cached_caller(client):
    from server import auth

    station = await make_station()
    _, _, worker, _ = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.get("/api/v1/tasks/open", params=HOME, headers=volunteer.headers)).status_code == 200
    before = misses()
    first = await auth._load_caller(volunteer.id, cached=True)
    second = await auth._load_caller(volunteer.id, cached=True)
    assert misses() == before  # both from the cache
    assert first.user is not second.user and first.volunteer is not second.volunteer
    assert first.roles.keys() == second.roles.keys() and "volunteer" in first.roles
    assert first.roles["volunteer"] is not second.roles["volunteer"]
    # What one request changes on its copy, in place or not, no other request sees.
    skills = list(second.volunteer.skills)
    first.volunteer.skills.append("BATH_ASSIST")
    first.user.status = "closed"
    first.roles["volunteer"].station_id = -1
    third = await auth._load_caller(volunteer.id, cached=True)
    for actor in (second, third):
        assert actor.volunteer.skills == skills and actor.user.status == "active"
        assert actor.roles["volunteer"].station_id == station.id
        assert actor.volunteer._await_when_save is not first.volunteer._await_when_save
    # A copy is a whole model instance: it saves like one.
    third.volunteer.name = "改名"
    await third.volunteer.save(update_fields=["name"])
    from models import VolunteerProfile

    assert (await VolunteerProfile.get(id=third.volunteer.id)).name == "改名"


async def test_a_caller_reload_keeps_unchanged_callers_and_sees_a_claim_made_behind_the_app(client, api, monkeypatch):
    from models import TaskClaim, VolunteerProfile
    from server import auth, sql

    monkeypatch.setattr(feed, "_spread", lambda: 0.0)  # entries age exactly
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    a, a_profile = await make_volunteer(client, station, approved_by=worker)
    b, _ = await make_volunteer(client, station, approved_by=worker)
    for session in (a, b):
        assert await browse_ids(client, session) == [task["id"]]
    users = feed.current().cache("user", max_entries=1)
    claims = feed.current().cache("claims", max_entries=1)
    kept = {session.id: users.peek(session.id) for session in (a, b)}
    stored = {session.id: users._entries[session.id][0] for session in (a, b)}
    claims_stored = claims._entries[a_profile["id"]][0]

    await auth._reload_callers([a.id, b.id])
    for session in (a, b):
        assert users._entries[session.id][0] > stored[session.id]  # stored again: its age starts over
        if sql.dialect() != "sqlite":
            assert users.peek(session.id) is kept[session.id]  # checked, not read again
    assert claims._entries[a_profile["id"]][0] > claims_stored  # a's active claims too

    # A claim of a's written behind the app's back (no feed.changed): the next reload reads a
    # again, and a no longer sees the task; b is unchanged and kept.
    await TaskClaim.create(task_id=task["id"], volunteer_id=a_profile["id"], claimed_at=api.app.ctx.clock(),
                           active_key=f"{task['id']}:{a_profile['id']}")
    await auth._reload_callers([a.id, b.id])
    assert claims.peek(a_profile["id"]) == (task["id"],)
    if sql.dialect() != "sqlite":
        assert users.peek(a.id) is not kept[a.id] and users.peek(b.id) is kept[b.id]
    assert await browse_ids(client, a) == []
    # And a profile changed behind its back is read again too (the volunteer columns are checked).
    await VolunteerProfile.filter(id=a_profile["id"]).update(status="pending")
    await auth._reload_callers([a.id])
    assert_error(await client.get("/api/v1/tasks/open", params=HOME, headers=a.headers), 403, "FORBIDDEN")


async def test_what_the_caches_keep_is_out_of_the_collectors_sight(client):
    """Cached callers, active claims and cells are plain tuples of plain values, which the cyclic
    garbage collector stops tracking: under load, full collections walking a few hundred thousand
    cached objects stalled every request in flight for 100-300 ms (the p99 under load)."""
    import gc

    from server import geo

    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    volunteer, profile = await make_volunteer(client, station, approved_by=worker)
    assert await browse_ids(client, volunteer) == [task["id"]]
    for _ in range(10):  # a tuple is untracked once what it holds is: a level a collection at worst
        gc.collect()
    change_feed = feed.current()
    where = task["approx_location"]
    kept = {
        "caller": change_feed.cache("user", max_entries=1).peek(volunteer.id),
        "claims": change_feed.cache("claims", max_entries=1).peek(profile["id"]),
        "cell": change_feed.cache("cell", max_entries=1).peek(geo.cell_of(where["lat"], where["lng"])),
        "hood": change_feed.cache("hood", max_entries=1).peek(geo.cell_of(HOME["lat"], HOME["lng"])),
    }
    assert all(value is not None for value in kept.values()), kept
    assert [name for name, value in kept.items() if gc.is_tracked(value)] == []


def test_the_caches_dicts_are_out_of_the_collectors_sight(api):
    """Made with the feed, before the app's gc.freeze(): a full collection walks every entry of
    a dict it sees, ~15 ms per 100 000 on a 2-core machine, even when the entries are untracked."""
    import gc

    change_feed = feed.current()
    containers = {id(getattr(change_feed.cache(topic), name)): f"{topic}.{name}"
                  for topic in feed.CACHES for name in ("_entries", "_dropped_at")}
    assert gc.get_freeze_count() > 0
    seen = [containers[id(obj)] for obj in gc.get_objects() if id(obj) in containers]
    assert seen == []  # in the permanent generation: not among the objects collections look at
