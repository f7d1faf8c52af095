"""Browsing open tasks near a point: the cell-square search gives exactly what a brute-force scan
of every task gives, and MariaDB answers it through the (status, cell) index."""

import math
import random

import orjson

import pytest
from datetime import datetime, timedelta, timezone

from models import Need, Task, VolunteerProfile
from server import feed, sql
from server.encoding import dumps
from server.workflow import browse
from server import geo
from tests.builders import make_resident, make_station
from tests.support import require_services

CENTRE = (37.5131, 122.1206)


@pytest.fixture(params=["cache", "database", "dense"])
def path(request, api, monkeypatch):
    """Browse through this process's cell cache (feed live), straight from the database (feed
    down, or caching off), or from the cache until the squares are found dense and then from the
    database: each must give the brute-force answer."""
    change_feed = feed.current()
    assert change_feed.live, "the change feed should be subscribed in tests on Redis"
    saved = change_feed.max_age_s
    if request.param == "database":
        change_feed.max_age_s = 0  # not usable: every read goes to the database
    if request.param == "dense":
        monkeypatch.setattr(browse, "DENSE_ROWS", 8)
    browse._DENSE_AREAS.clear()
    yield request.param
    change_feed.max_age_s = saved
    browse._DENSE_AREAS.clear()


async def seed_tasks(api, client, n: int, rng: random.Random) -> tuple[list[Task], VolunteerProfile]:
    from models import User

    station = await make_station()
    _, household = await make_resident(client, station)
    need = await Need.create(resident_id=household["id"], station_id=station.id, service_id="CLEAN_HOME",
                             description="x", reported_by=1, status="dispatched")
    now = api.app.ctx.clock()
    rows = []
    for k in range(n):
        lat = CENTRE[0] + rng.uniform(-0.08, 0.08)
        lng = CENTRE[1] + rng.uniform(-0.1, 0.1)
        # Fuzzed to the cell's centre, as tasks are made; every fifth exactly where it is, so cells
        # also hold tasks at several positions (the cache groups a cell's tasks by position).
        alat, alng = geo.fuzz(lat, lng) if k % 5 else (round(lat, 5), round(lng, 5))
        service = rng.choice(["CLEAN_HOME", "LIVING_MEAL", "CLEAN_BATH"])  # 助浴 needs a skill
        status = "open" if k % 7 else "claimed"
        start = now + timedelta(hours=1 + k)
        located = k % 11 != 0
        rows.append(Task(need_id=need.id, station_id=station.id, service_id=service, title=f"t{k}",
                         scheduled_start=start, scheduled_end=start + timedelta(hours=1), points=1, status=status,
                         approx_lat=alat if located else None, approx_lng=alng if located else None,
                         cell=geo.cell_of(alat, alng) if located else None, created_by=1))
    await Task.bulk_create(rows)
    user = await User.create(openid=f"browse-{rng.random()}")
    volunteer = await VolunteerProfile.create(user_id=user.id, station_id=station.id, name="v", skills=[],
                                              status="approved")
    return await Task.all().order_by("id"), volunteer


def as_clients_see(items: list) -> list[dict]:
    """Items as the response writes them (the cell cache gives them already written as JSON)."""
    return orjson.loads(dumps({"items": items}))["items"]


def brute_force(all_tasks, *, lat, lng, radius_m, limit, now, mine=frozenset()):
    out = []
    for t in all_tasks:
        if (t.status != "open" or t.scheduled_end <= now or t.approx_lat is None or t.service_id == "CLEAN_BATH"
                or t.id in mine):
            continue
        d = geo.distance_m(lat, lng, t.approx_lat, t.approx_lng)
        if d <= radius_m:
            out.append((d, t.scheduled_start, t.id))
    return [tid for _, _, tid in sorted(out)[:limit]]


async def test_cell_search_equals_a_brute_force_scan(api, client, path):
    rng = random.Random(20261128)
    all_tasks, volunteer = await seed_tasks(api, client, 600, rng)
    now = api.app.ctx.clock()
    # The volunteer already holds three open tasks near the centre: never offered again.
    from models import TaskClaim

    near = sorted((t for t in all_tasks if t.status == "open" and t.approx_lat is not None),
                  key=lambda t: geo.distance_m(*CENTRE, t.approx_lat, t.approx_lng))[:3]
    for t in near:
        await TaskClaim.create(task_id=t.id, volunteer_id=volunteer.id, claimed_at=now, active_key=f"{t.id}:{volunteer.id}")
    mine = frozenset(t.id for t in near)
    for i in range(16):
        lat = CENTRE[0] + (rng.uniform(-0.1, 0.1) if i else 0.0)
        lng = CENTRE[1] + (rng.uniform(-0.12, 0.12) if i else 0.0)
        radius_km = rng.choice([0.5, 1, 3, 8, None])
        limit = rng.choice([1, 5, 20, 50])
        radius_m = radius_km * 1000 if radius_km else browse.MAX_BROWSE_RADIUS_M
        expected = brute_force(all_tasks, lat=lat, lng=lng, radius_m=radius_m, limit=limit, now=now, mine=mine)
        # Twice: the first builds the point's neighbourhood from the cells, the second reads it whole.
        for _ in range(2):
            got = as_clients_see(await browse.browse_open(volunteer=volunteer, lat=lat, lng=lng, radius_km=radius_km,
                                                          service_code=None, now=now, limit=limit))
            assert [g["id"] for g in got] == expected
            distances = [g["distance_m"] for g in got]
            assert distances == sorted(distances)
    # Without a position: the soonest eligible, located or not.
    got = as_clients_see(await browse.browse_open(volunteer=volunteer, lat=None, lng=None, radius_km=None,
                                                  service_code=None, now=now, limit=10))
    soonest = [t.id for t in sorted(all_tasks, key=lambda t: t.scheduled_start)
               if t.status == "open" and t.service_id != "CLEAN_BATH" and t.id not in mine][:10]
    assert [g["id"] for g in got] == soonest


async def test_the_answer_does_not_depend_on_the_square_the_search_starts_from(api, client, path):
    rng = random.Random(7)
    all_tasks, volunteer = await seed_tasks(api, client, 300, rng)
    now = api.app.ctx.clock()
    for i in range(8):
        lat, lng = CENTRE[0] + rng.uniform(-0.08, 0.08), CENTRE[1] + rng.uniform(-0.1, 0.1)
        radius_km, limit = rng.choice([1, 3, None]), rng.choice([5, 20])
        expected = brute_force(all_tasks, lat=lat, lng=lng, radius_m=radius_km * 1000 if radius_km else browse.MAX_BROWSE_RADIUS_M,
                               limit=limit, now=now)
        for start in (1, 3, 7, 31, 127):
            browse._START_HALF[browse._area_of(lat, lng)] = start
            got = as_clients_see(await browse.browse_open(volunteer=volunteer, lat=lat, lng=lng, radius_km=radius_km,
                                                          service_code=None, now=now, limit=limit))
            assert [g["id"] for g in got] == expected, (start, radius_km, limit)


async def test_the_browse_statement_reads_only_the_status_cell_index(api, client):
    require_services(api.settings, "reading MariaDB's query plan")
    _, volunteer = await seed_tasks(api, client, 50, random.Random(1))
    # The statement browsing runs, as it runs it: the square of 3 × 3 cells, one service blocked.
    text, values = browse.browse_square(*CENTRE, 1, where=" AND c.service_id NOT IN (%s)",
                                       params=[api.app.ctx.clock(), "CLEAN_BATH"], tail=[volunteer.id, volunteer.user_id],
                                       limit=20)
    plan = await sql.rows("EXPLAIN " + text, values)
    inner = next(p for p in plan if p["table"] == "c")
    assert inner["type"] == "range", plan
    columns = await sql.rows(f"SHOW INDEX FROM tasks WHERE Key_name = '{inner['key']}'")
    assert [c["Column_name"] for c in sorted(columns, key=lambda c: c["Seq_in_index"])][:2] == ["status", "cell"], plan
    # Covering: the candidates are answered from the index, no row lookup per candidate ...
    assert "Using index" in inner["Extra"] and "Using index condition" not in inner["Extra"], plan
    # ... and only the picked rows are read in full, by primary key.
    outer = next(p for p in plan if p["table"] == "t")
    assert outer["type"] == "eq_ref" and outer["key"] == "PRIMARY", plan
    # The caller's claims and household are read once each, not once per candidate.
    assert {p["select_type"] for p in plan if p["table"] in ("m", "n", "r")} == {"MATERIALIZED"}, plan


def test_spots_as_near_as_the_last_one_needed_still_compete_by_start():
    # Two spots exactly as far from the point (mirrored in longitude): the nearest two tasks are
    # the soonest two of both, though the first spot visited alone already holds two.
    def task(task_id, start):
        return (start, task_id, 1e12, "CLEAN_HOME", 0, b'{"id":%d' % task_id)

    east = (37.5, 122.0625, (task(1, 10.0), task(2, 20.0)))
    west = (37.5, 121.9375, (task(3, 5.0), task(4, 30.0)))
    far = (37.6, 122.0, (task(5, 1.0),))
    for spots in ([east, west, far], [west, east, far]):
        measured = sorted(((geo.distance_m(37.5, 122.0, spot_lat, spot_lng), tasks) for spot_lat, spot_lng, tasks in spots),
                          key=lambda spot: spot[0])
        found = browse._nearest_in_spots(measured, radius_m=50_000, limit=2, now=datetime.now(timezone.utc), mine=(),
                                         user_id=-1, blocked=frozenset(), service_code=None)
        assert [task[1] for _, task in found][:2] == [3, 1]
        assert 5 not in [task[1] for _, task in found]  # a farther spot is not looked at


async def test_the_cell_cache_writes_each_task_as_the_database_path_presents_it(api, client):
    """The cache keeps each task already written as JSON: field for field what a browse straight
    from the database answers."""
    rng = random.Random(11)
    _, volunteer = await seed_tasks(api, client, 120, rng)
    now = api.app.ctx.clock()
    change_feed = feed.current()
    assert change_feed.live
    saved = change_feed.max_age_s
    for _ in range(6):
        lat, lng = CENTRE[0] + rng.uniform(-0.05, 0.05), CENTRE[1] + rng.uniform(-0.05, 0.05)
        ask = dict(volunteer=volunteer, lat=lat, lng=lng, radius_km=3, service_code=None, now=now, limit=20)
        cached = await browse.browse_open(**ask)
        assert cached and all(isinstance(item, orjson.Fragment) for item in cached)  # from the cache
        try:
            change_feed.max_age_s = 0
            direct = await browse.browse_open(**ask)
        finally:
            change_feed.max_age_s = saved
        assert all(isinstance(item, dict) for item in direct)
        assert as_clients_see(cached) == as_clients_see(direct)


async def test_a_task_just_across_the_squares_edge_is_not_missed(api, client, path):
    """The search stops when the tasks it found are nearer than anything outside its square. Across
    a meridian that edge is a little nearer than the difference in longitude scaled by 111.32 km
    per degree (the old bound, 0.1 % too far): a task just outside, west of a point at the west end
    of its cell, was beaten by a farther one inside."""
    from models import User

    station = await make_station()
    _, household = await make_resident(client, station)
    need = await Need.create(resident_id=household["id"], station_id=station.id, service_id="CLEAN_HOME",
                             description="x", reported_by=1, status="dispatched")
    now = api.app.ctx.clock()
    grid = geo.FUZZ_GRID_DEG
    col = int(CENTRE[1] // grid)
    lat = (CENTRE[0] // grid + 0.5) * grid
    lng = col * grid + 1e-7  # the point: at the west end of its cell
    outside = (lat, (col - 1) * grid - 1e-6)  # two cells west, just past the 3 × 3 square
    d_out = geo.distance_m(lat, lng, *outside)
    inside = (lat + math.degrees((d_out + 0.2) / geo.EARTH_RADIUS_M), lng)  # due north, a little farther
    assert geo.cell_of(*inside) // geo.CELL_ROW - geo.cell_of(lat, lng) // geo.CELL_ROW == 1
    assert geo.distance_m(lat, lng, *inside) > d_out
    ids = []
    for k, (alat, alng) in enumerate((inside, outside)):
        task = await Task.create(need_id=need.id, station_id=station.id, service_id="CLEAN_HOME", title=f"edge{k}",
                                 scheduled_start=now + timedelta(hours=1), scheduled_end=now + timedelta(hours=2),
                                 points=1, status="open", approx_lat=alat, approx_lng=alng,
                                 cell=geo.cell_of(alat, alng), created_by=1)
        ids.append(task.id)
    user = await User.create(openid="browse-edge")
    volunteer = await VolunteerProfile.create(user_id=user.id, station_id=station.id, name="v", skills=[],
                                              status="approved")
    got = as_clients_see(await browse.browse_open(volunteer=volunteer, lat=lat, lng=lng, radius_km=5,
                                                  service_code=None, now=now, limit=1))
    assert [g["id"] for g in got] == [ids[1]]


@pytest.mark.parametrize("half", [0, 1, 2, 5])
def test_nothing_outside_the_square_is_nearer_than_its_edge(half):
    rng = random.Random(half)
    grid = geo.FUZZ_GRID_DEG
    for _ in range(300):
        lat, lng = CENTRE[0] + rng.uniform(-0.05, 0.05), CENTRE[1] + rng.uniform(-0.05, 0.05)
        edge = geo.clear_of_square_m(lat, lng, half)
        row0, col0 = divmod(geo.cell_of(lat, lng), geo.CELL_ROW)
        # Points of the cells just outside the square, all round it, at random places within them.
        for _ in range(40):
            side = rng.randrange(4)
            k = rng.randint(-half - 1, half + 1)
            dr, dc = [(half + 1, k), (-half - 1, k), (k, half + 1), (k, -half - 1)][side]
            plat = (row0 - 20_000 + dr + rng.random()) * grid
            plng = (col0 - 40_000 + dc + rng.random()) * grid
            assert geo.distance_m(lat, lng, plat, plng) >= edge
        # And no looser than it must be: the square's edges, straight north, south, east and west
        # of the point, are within a metre of it.
        west, east = (col0 - 40_000 - half) * grid, (col0 - 40_000 + half + 1) * grid
        south, north = (row0 - 20_000 - half) * grid, (row0 - 20_000 + half + 1) * grid
        nearest = min(geo.distance_m(lat, lng, lat, west), geo.distance_m(lat, lng, lat, east),
                      geo.distance_m(lat, lng, south, lng), geo.distance_m(lat, lng, north, lng))
        assert 0 < nearest - edge < 1.0
