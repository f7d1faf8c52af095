"""Browsing open tasks near a point (任务五: volunteers find and claim tasks; 机制三 就近).

What a volunteer may see of a task: no name, no phone, no address, a position fuzzed to ~500 m
(``geo.fuzz``); what they may claim: open, not over, not their own household's, not one they hold,
no skill missing. Nearest first, then soonest.

Near a point, the search reads growing squares of grid cells (``geo.cell_of``, ~500 m) and stops
once the ``limit`` nearest eligible tasks are closer than anything outside the square
(``geo.clear_of_square_m``): its cost follows the tasks near the volunteer, not the tasks in the
city. From the cache it grows ring by ring from the point's own cell, reading and measuring each
ring once; from the database it starts from the square that settled the last search nearby,
usually settling at once. Any start gives the same answer.

Two ways to read a square, same answer (tests compare both with a brute-force scan):

* **From this process's cell cache** while the change feed is live (server/feed.py): the open
  tasks of each cell, kept until any process changes a task there (created, claimed, released,
  moved on). Browsing is what volunteers do most and what changes least, so a warm square costs
  no database statement at all; the claim stays the referee of who gets a task.
* **From the database**, when the feed is down or caching is off: one hand-written statement per
  square (server/sql.py) through the (status, cell, …) covering index.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from operator import itemgetter
from collections.abc import Sequence
from typing import Any

import orjson

from models import CLAIM_ACTIVE, Task, VolunteerProfile
from server import feed, geo, sql
from server.encoding import dumps
from server.reference import catalogue
from server.workflow import tasks

# Browsing without a radius still stops somewhere: Weihai is about 60 km across.
MAX_BROWSE_RADIUS_M = 60_000

# Squares wider than this (25 × 25 cells, ~12 km) are read from the database even when the cache
# is live: a search that has to go that far is in a sparse area, where one statement over the
# index beats looking at hundreds of mostly empty cells.
CACHE_MAX_HALF = 12

# A square holding more open tasks than this (whatever their eligibility) marks its ~5 km area as
# dense for a while: browsing there reads the database, whose covering index cuts the nearest few
# without looking at each task, and the cell cache stays small (a few hundred thousand rows at most).
DENSE_ROWS = 400
DENSE_FOR_S = 600.0
_DENSE_AREAS: dict[int, float] = {}

# A neighbourhood near its age limit has its cells older than this share of the limit checked again.
HOOD_REFRESH_AT = 0.5


def _dense(area: int) -> bool:
    marked = _DENSE_AREAS.get(area)
    if marked is None:
        return False
    if time.monotonic() - marked > DENSE_FOR_S:
        del _DENSE_AREAS[area]
        return False
    return True


# Per process: the square half-width that settled the last search in each ~5 km area.
_START_HALF: dict[int, int] = {}


def _area_of(lat: float, lng: float) -> int:
    row, col = divmod(geo.cell_of(lat, lng), geo.CELL_ROW)
    return (row // 10) * geo.CELL_ROW + col // 10


async def browse_open(
    *, volunteer: VolunteerProfile, lat: float | None, lng: float | None, radius_km: float | None,
    service_code: str | None, now: datetime, limit: int = 50,
) -> list[dict[str, Any] | orjson.Fragment]:
    """Open tasks ``volunteer`` may claim, nearest to (lat, lng) first then soonest; without a
    position, the soonest. Each as ``present_row`` presents it: a dict, or from the cell cache the
    same already written as JSON (an ``orjson.Fragment``, which ``server.encoding.dumps`` writes as is)."""
    blocked = await catalogue.skill_codes() - set(volunteer.skills or [])
    if lat is None or lng is None:
        return await _soonest(volunteer=volunteer, service_code=service_code, blocked=blocked, now=now, limit=limit)

    radius_m = min(radius_km * 1000 if radius_km else MAX_BROWSE_RADIUS_M, MAX_BROWSE_RADIUS_M)
    cells = feed.current().cache("cell")
    mine = await _active_claims(volunteer) if cells.feed.usable else None
    names = await catalogue.service_names() if mine is not None else {}
    area = _area_of(lat, lng)
    dense = _dense(area)
    # From the cache the search starts from the point's neighbourhood (``_hood``) and grows ring
    # by ring from there, each ring read and measured once: ``spots`` holds every spot read so far
    # with its distance, nearest first.
    half = _START_HALF.get(area, 1)
    spots: list[tuple[float, tuple[_Cached, ...]]] = []
    read_half, count = -1, 0
    if mine is not None and not dense:
        count, points, tasks_at = await _hood(cells, lat, lng, now=now)
        spots = sorted(zip(geo.distances_m(lat, lng, points), tasks_at), key=itemgetter(0))
        read_half = half = geo.HOOD_HALF
    while True:
        cached = mine is not None and half <= CACHE_MAX_HALF and not dense
        edge = geo.clear_of_square_m(lat, lng, half)  # nothing outside the square is nearer
        if cached:
            if half > read_half:
                points, tasks_at, count = await _cells_from_cache(cells, _ring_bounds(lat, lng, read_half, half),
                                                                  now=now, count=count)
                read_half = half
                spots += zip(geo.distances_m(lat, lng, points), tasks_at)
                spots.sort(key=itemgetter(0))
            if count > DENSE_ROWS and not dense:
                # Too many tasks here to hold and sift in Python: the index does it better.
                _DENSE_AREAS[area] = time.monotonic()
                dense = True
            if edge < radius_m and _fewer_within(spots, edge, limit):
                # Not even every task within the edge would make ``limit``: no ranking can settle.
                half += 1
                continue
            ranked = _nearest_in_spots(spots, radius_m=radius_m, limit=limit, now=now, mine=mine,
                                       user_id=volunteer.user_id, blocked=blocked, service_code=service_code)
        else:
            where, params = _filters(service_code, blocked)
            text, values = browse_square(lat, lng, half, where=where, params=[now, *params],
                                         tail=[volunteer.id, volunteer.user_id], limit=limit)
            found = await sql.rows(text, values)
            ranked = sorted(((d, _aware(row["scheduled_start"]), row["id"]), row) for row in found
                            if (d := geo.distance_m(lat, lng, row["approx_lat"], row["approx_lng"])) <= radius_m)
        settled = [r for r in ranked if r[0][0] <= edge]
        if len(settled) >= limit or edge >= radius_m:
            picked = (settled if len(settled) >= limit else ranked)[:limit]
            if cached:
                return _as_json(picked, names)
            if len(_START_HALF) >= 10_000:
                _START_HALF.clear()
            _START_HALF[area] = half
            return [present_row(row, distance_m=key[0], names=names) for key, row in picked]
        # From the database, few large steps (each a statement); from the cache, ring by ring
        # (each ring costs only its cells).
        half = half + 1 if cached else half * 2 + 1


# ---- from the database ------------------------------------------------------------------------

# The inner select reads only the (status, cell, …) covering index (and the two small NOT IN sets,
# materialised once: the caller's active claims, their own household's needs), orders by
# approximate distance and cuts; the outer one fetches the few rows picked. {where} and {order} are
# fixed fragments chosen here; values are always bound.
_BROWSE = (
    "SELECT t.id, t.service_id, s.name AS service_name, t.title, t.scheduled_start, t.scheduled_end,"
    " t.volunteers_needed, t.claimed_count, t.points, t.notes_for_volunteer, t.community,"
    " t.approx_lat, t.approx_lng, t.status"
    " FROM (SELECT c.id FROM tasks c"
    "  WHERE c.status = 'open' AND c.scheduled_end > %s{where}"
    "  AND c.id NOT IN (SELECT m.task_id FROM task_claims m"
    "   WHERE m.volunteer_id = %s AND m.status IN ('claimed', 'checked_in', 'submitted'))"
    "  AND c.need_id NOT IN (SELECT n.id FROM needs n JOIN resident_profiles r ON r.id = n.resident_id"
    "   WHERE r.user_id = %s)"
    "  ORDER BY {order} LIMIT %s) AS picked"
    " JOIN tasks t ON t.id = picked.id JOIN services s ON s.code = t.service_id"
)


def _filters(service_code: str | None, blocked: frozenset[str] | set[str]) -> tuple[str, list[Any]]:
    where, params = "", []
    if service_code:
        where += " AND c.service_id = %s"
        params.append(service_code)
    if blocked:
        where += f" AND c.service_id NOT IN ({sql.placeholders(blocked)})"
        params += sorted(blocked)
    return where, params


async def _soonest(*, volunteer: VolunteerProfile, service_code: str | None, blocked: frozenset[str], now: datetime,
                   limit: int) -> list[dict[str, Any]]:
    where, params = _filters(service_code, blocked)
    found = await sql.rows(_BROWSE.format(where=where, order="c.scheduled_start, c.id"),
                           [now, *params, volunteer.id, volunteer.user_id, limit])
    found.sort(key=lambda row: (_aware(row["scheduled_start"]), row["id"]))
    return [present_row(row) for row in found]


def browse_square(lat: float, lng: float, half: int, *, where: str, params: list[Any], tail: list[Any],
                  limit: int) -> tuple[str, list[Any]]:
    """The browse statement for the square of (2 × half + 1)² cells around (lat, lng): its
    eligible tasks ordered by squared equirectangular distance (the exact, haversine distance then
    orders the few returned), ``limit`` plus some slack so near-ties between the two stay in."""
    bounds = _row_bounds(lat, lng, half)
    cells = " OR ".join(["c.cell BETWEEN %s AND %s"] * (len(bounds) // 2))
    order = ("(c.approx_lat - %s) * (c.approx_lat - %s) + (c.approx_lng - %s) * (c.approx_lng - %s) * %s,"
             " c.scheduled_start, c.id")
    nearness = [lat, lat, lng, lng, math.cos(math.radians(lat)) ** 2]
    text = _BROWSE.format(where=f"{where} AND ({cells})", order=order)
    return text, [*params, *bounds, *tail, *nearness, limit + 20]


def _row_bounds(lat: float, lng: float, half: int) -> list[int]:
    """[first, last] cell of each row of the square, flattened."""
    row0, col0 = divmod(geo.cell_of(lat, lng), geo.CELL_ROW)
    bounds: list[int] = []
    for dr in range(-half, half + 1):
        middle = (row0 + dr) * geo.CELL_ROW + col0
        bounds += [middle - half, middle + half]
    return bounds


def _ring_bounds(lat: float, lng: float, inner: int, half: int) -> list[int]:
    """The cells of the square of ``half`` around (lat, lng) that are not in the square of
    ``inner`` (none when ``inner`` < 0), as ``_row_bounds`` gives them: [first, last] runs."""
    if inner < 0:
        return _row_bounds(lat, lng, half)
    row0, col0 = divmod(geo.cell_of(lat, lng), geo.CELL_ROW)
    bounds: list[int] = []
    for dr in range(-half, half + 1):
        middle = (row0 + dr) * geo.CELL_ROW + col0
        if abs(dr) > inner:
            bounds += [middle - half, middle + half]
        else:
            bounds += [middle - half, middle - inner - 1, middle + inner + 1, middle + half]
    return bounds


# ---- from the cell cache ----------------------------------------------------------------------

_CELL_FROM = (
    " FROM tasks t JOIN needs n ON n.id = t.need_id JOIN resident_profiles r ON r.id = n.resident_id"
    " WHERE t.status = 'open' AND t.scheduled_end > %s AND ({cells})"
)
_CELL_ROWS = (
    "SELECT t.id, t.cell, t.service_id, t.title, t.scheduled_start, t.scheduled_end, t.volunteers_needed,"
    " t.claimed_count, t.points, t.notes_for_volunteer, t.community, t.approx_lat, t.approx_lng, t.status,"
    " r.user_id AS household_user_id, {fingerprint} AS fp" + _CELL_FROM
)
# A checksum of everything a cell keeps of a task (the columns above, server.sql.checksum), so that
# a cell near its age limit is checked by one row of (count, XOR of its tasks' checksums) rather
# than read again: unchanged, its entry is kept as it is (the common case: ``feed.changed``
# already dropped every cell that changed through the app).
_FINGERPRINT = sql.checksum((
    "t.id", "t.service_id", "t.title", "t.scheduled_start", "t.scheduled_end", "t.volunteers_needed",
    "t.claimed_count", "t.points", "t.notes_for_volunteer", "t.community", "t.approx_lat", "t.approx_lng",
    "t.status", "r.user_id"))
_CELL_CHECK = "SELECT t.cell, COUNT(*) AS n, BIT_XOR(" + _FINGERPRINT + ") AS fp" + _CELL_FROM + " GROUP BY t.cell"


def _cell_rows(cells: str) -> str:
    """The statement reading the open tasks of ``cells`` (a fixed fragment on ``t.cell``). SQLite
    (the embedded default) has no MD5: its cells carry no checksum and are read again whole."""
    fingerprint = _FINGERPRINT if sql.dialect() != "sqlite" else "0"
    return _CELL_ROWS.format(fingerprint=fingerprint, cells=cells)


# An open task as a cell holds it: what eligibility needs, and the task already presented
# (``present_row``) and written as JSON, but for its service name and distance, which each browse
# adds (``_as_json``): the open JSON object without its closing brace. (start, id) is the order
# within a spot, and its tie-break; times are epoch seconds.
#
# (start, id, end, service code, household's user id, JSON head): a plain tuple of plain values,
# and so are the spots and entries holding it, because the collector stops tracking such tuples
# (a NamedTuple stays tracked). A process caching every open task near its volunteers otherwise
# hands the collector a few hundred thousand objects to walk at each full collection: under
# browse load those took 100-300 ms each, stalling every request in flight (the p99 under load).
_Cached = tuple[float, int, float, str, int, bytes]


# A cached cell is (how many tasks, its spots' positions, each spot's tasks soonest first, the XOR
# of its tasks' checksums); a position is as geo.prepare gives it. Tasks share a spot because
# positions are fuzzed to the cell's centre (geo.fuzz), so a cell is one spot, whose distance is
# worked out once per browse however many tasks wait there. Nothing depends on that: a cell
# holding tasks at several positions is several spots.
_Point = tuple[float, float, float]
_Entry = tuple[int, tuple[_Point, ...], tuple[tuple[_Cached, ...], ...], int]
_EMPTY: _Entry = (0, (), (), 0)


def _cached(row: dict[str, Any]) -> _Cached:
    item = present_row(row)
    start, end = item["scheduled_start"], item["scheduled_end"]
    del item["service_name"], item["distance_m"]
    return (start.timestamp(), row["id"], end.timestamp(), row["service_id"], row["household_user_id"],
            dumps(item)[:-1])


def _as_json(picked: list[tuple[tuple[float, float, int], _Cached]], names: dict[str, str]) -> list[orjson.Fragment]:
    """The picked tasks as the JSON ``present_row`` would make of them (keys in another order),
    from what each cell keeps written: a browse builds no dict and writes no task again."""
    parts: dict[str, bytes] = {}
    out = []
    for key, (_, _, _, service, _, head) in picked:
        part = parts.get(service)
        if part is None:
            part = parts[service] = b',"service_name":' + dumps(names.get(service)) + b',"distance_m":'
        out.append(orjson.Fragment(b"%b%b%d}" % (head, part, key[0])))
    return out


def _fewer_within(spots: list[tuple[float, tuple[_Cached, ...]]], edge: float, limit: int) -> bool:
    """Whether the spots within ``edge`` (``spots`` nearest first) hold fewer than ``limit`` tasks."""
    held = 0
    for d, waiting in spots:
        if d > edge:
            return True
        held += len(waiting)
        if held >= limit:
            return False
    return True


def _nearest_in_spots(spots: list[tuple[float, tuple[_Cached, ...]]], *, radius_m: float, limit: int,
                      now: datetime, mine: tuple[int, ...], user_id: int, blocked: frozenset[str] | set[str],
                      service_code: str | None) -> list[tuple[tuple[float, float, int], _Cached]]:
    """The eligible tasks of ``spots`` (each its distance and the tasks waiting there, nearest
    first) within ``radius_m``, ordered by (distance, start, id): at least the first ``limit`` of
    that order (all of it when shorter). Each spot yields at most ``limit`` tasks and the walk stops
    past the spot that made ``limit``, so a browse looks at the few tasks it may show rather than
    every task of the square: this is most of a warm browse's work."""
    now_ts = now.timestamp()
    found: list[tuple[tuple[float, float, int], _Cached]] = []
    enough_at = None  # the distance at which `limit` were found: spots as near (ties) still count
    for d, waiting in spots:
        if d > radius_m or (enough_at is not None and d > enough_at):
            break
        taken = 0
        for task in waiting:
            start, task_id, end, service, household_user_id, _ = task
            if (end > now_ts and task_id not in mine and household_user_id != user_id
                    and service not in blocked and (service_code is None or service == service_code)):
                found.append(((d, start, task_id), task))
                taken += 1
                if taken == limit:
                    break
        if enough_at is None and len(found) >= limit:
            enough_at = d
    found.sort(key=itemgetter(0))
    return found


async def _cells_from_cache(cells: feed.LocalCache, bounds: list[int], *, now: datetime,
                            count: int) -> tuple[list[_Point], list[tuple[_Cached, ...]], int]:
    """The spots of every open task in the cells of ``bounds`` (runs of cells along a row, as
    [first, last] pairs; eligibility is the caller's to check): their positions, their tasks, and
    ``count`` plus how many tasks they hold (``count``: what the search read before, for DENSE_ROWS).
    Cached cells as they are, the rows of cells missing read in one statement and cached, empty
    cells too. Every change to a task says ``feed.changed("cell", its cell)`` (tasks, events)."""
    due: list[int] = []
    held = cells.get_many((cell for first, last in zip(bounds[::2], bounds[1::2]) for cell in range(first, last + 1)),
                          due=due)
    if due:
        cells.refresh_later(due, lambda keys: _reload_cells(cells, keys, now=now))
    points: list[_Point] = []
    tasks_at: list[tuple[_Cached, ...]] = []
    missing: list[int] = []
    at_run = 0
    for first, last in zip(bounds[::2], bounds[1::2]):
        run = held[at_run:at_run + last - first + 1]
        at_run += len(run)
        if None in run:
            missing += [first, last]
        else:
            for n, at, waiting, _ in run:
                points += at
                tasks_at += waiting
                count += n
    if missing:
        token = cells.begin()
        text = _cell_rows(" OR ".join(["t.cell BETWEEN %s AND %s"] * (len(missing) // 2)))
        found = await sql.rows(text, [now, *missing])
        loaded = _entries_by_cell(found)
        count += len(found)
        if count <= DENSE_ROWS:  # a dense square is not kept (see DENSE_ROWS)
            for first, last in zip(missing[::2], missing[1::2]):
                for cell in range(first, last + 1):
                    cells.store(cell, loaded.get(cell, _EMPTY), token)
        for _, at, waiting, _ in loaded.values():
            points += at
            tasks_at += waiting
    return points, tasks_at, count


async def _hood(cells: feed.LocalCache, lat: float, lng: float, *, now: datetime,
                ) -> tuple[int, Sequence[_Point], Sequence[tuple[_Cached, ...]]]:
    """The spots of the neighbourhood of (lat, lng)'s cell (``geo.HOOD_HALF``: the 5 × 5 cells
    around it), as ``_cells_from_cache`` gives them (the number of tasks, then the positions and
    tasks of its spots). Most browses settle within it, so the cache keeps each neighbourhood
    browsed merged (topic "hood"): one lookup instead of 25, a third of a warm browse's work. An
    entry is made only of the cells as the cache holds them at that moment, goes whenever one of
    them does (``LocalCache.follow``), and ages with the oldest of them."""
    hoods = cells.feed.cache("hood")
    centre = geo.cell_of(lat, lng)
    due: list[int] = []
    hood = hoods.get(centre, due=due)
    if hood is not None:
        if due:
            # Its oldest cell is near the age limit. Its cells past half of it are checked again in
            # the background, as reading them would have them (a cell found changed takes this
            # entry with it; one found unchanged only starts its age over), and the entry takes
            # the age of its oldest cell now. Half, not the cells' usual ¾: the cells of a
            # neighbourhood were stored at different times, and each one checked on its own would
            # make the entry ripe again a moment later.
            keys = geo.square(centre, geo.HOOD_HALF)
            ripe: list[int] = []
            cells.get_many(keys, due=ripe, ripe_at=HOOD_REFRESH_AT)
            if ripe:
                cells.refresh_later(ripe, lambda keys: _reload_cells(cells, keys, now=now))
            held = cells.get_all(keys)
            if held is not None:
                hoods.store(centre, hood, hoods.begin(), at=held[1])
        return hood
    points, tasks_at, count = await _cells_from_cache(cells, _row_bounds(lat, lng, geo.HOOD_HALF), now=now,
                                                      count=0)
    if count <= DENSE_ROWS:
        token = hoods.begin()
        held = cells.get_all(geo.square(centre, geo.HOOD_HALF))
        if held is not None:  # every cell held as read (a load racing a change stored nothing)
            entries, oldest = held
            merged = (sum(entry[0] for entry in entries), tuple(at for entry in entries for at in entry[1]),
                      tuple(waiting for entry in entries for waiting in entry[2]))
            hoods.store(centre, merged, token, at=oldest)
    return count, points, tasks_at


def _entries_by_cell(found: list[dict[str, Any]]) -> dict[int, _Entry]:
    """The cache entry of each cell the rows fall in (see ``_Entry``)."""
    by_cell: dict[int, dict[tuple[float, float], list[_Cached]]] = {}
    checksums: dict[int, int] = {}
    for row in found:
        cell = row["cell"]
        by_cell.setdefault(cell, {}).setdefault((row["approx_lat"], row["approx_lng"]), []).append(_cached(row))
        checksums[cell] = checksums.get(cell, 0) ^ int(row["fp"])
    entries = {}
    for cell, spots in by_cell.items():
        waiting = tuple(tuple(sorted(tasks)) for tasks in spots.values())
        entries[cell] = (sum(map(len, waiting)), tuple(geo.prepare(*at) for at in spots), waiting, checksums[cell])
    return entries


async def _reload_cells(cells: feed.LocalCache, keys: list[int], *, now: datetime) -> None:
    """Reload cached cells still in use near their age limit (``LocalCache.refresh_later``): one
    statement checks them all, and only the cells whose tasks differ from the entry are read again;
    the others keep their entry, as fresh as a read would make it."""
    stale = keys
    if sql.dialect() != "sqlite":
        async def now_in(batch: list[int]) -> dict[int, tuple[int, int]]:
            found = await sql.rows(_CELL_CHECK.format(cells=f"t.cell IN ({sql.placeholders(batch)})"), [now, *batch])
            return {row["cell"]: (int(row["n"]), int(row["fp"] or 0)) for row in found}

        # An entry's task count and checksum; a cell with no open task is absent from the check.
        stale, _, _ = await cells.keep_unchanged(keys, now_in, itemgetter(0, 3), absent=(0, 0))
        if not stale:
            return
    token = cells.begin()
    found = await sql.rows(_cell_rows(f"t.cell IN ({sql.placeholders(stale)})"), [now, *stale])
    loaded = _entries_by_cell(found)
    for cell in stale:
        cells.store(cell, loaded.get(cell, _EMPTY), token)


async def _active_claims(volunteer: VolunteerProfile) -> tuple[int, ...]:
    """Ids of the tasks ``volunteer`` holds an active claim on (a few at most: a sorted tuple, which
    the collector need not track, unlike a frozenset); cached per process until a claim of theirs
    is made or moves on (``feed.changed("claims", volunteer id)``)."""
    cache = feed.current().cache("claims")
    held = cache.get(volunteer.id)
    if held is None:
        token = cache.begin()
        found = await sql.rows("SELECT task_id FROM task_claims WHERE volunteer_id = %s AND status IN (%s, %s, %s)",
                               [volunteer.id, *CLAIM_ACTIVE])
        held = tuple(sorted(row["task_id"] for row in found))
        cache.store(volunteer.id, held, token)
    return held


# ---- presenting -------------------------------------------------------------------------------


def present_row(row: dict[str, Any], *, distance_m: float | None = None, names: dict[str, str] | None = None,
                ) -> dict[str, Any]:
    """A task read by hand, presented by ``tasks.present_public_row``: its datetimes made aware,
    its service's name from the row or else from ``names``."""
    name = row["service_name"] if "service_name" in row else (names or {}).get(row["service_id"])
    aware = {**row, "scheduled_start": _aware(row["scheduled_start"]), "scheduled_end": _aware(row["scheduled_end"])}
    return tasks.present_public_row(aware, service_name=name, distance_m=distance_m)


_DATETIME = Task._meta.fields_map["scheduled_start"]


def _aware(value: Any) -> datetime:
    """A datetime column read by hand, as the ORM would give it: aware, in UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return _DATETIME.to_python_value(value)
