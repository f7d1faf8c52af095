"""Leaderboards: Redis sorted sets fed after commit, rebuilt from the ledger whenever they are
missing or behind (Redis lost its data, an update failed): the ledger is the truth, Redis a cache.

Keys: ``<prefix>lb:<period>:<scope>:<id>:<metric>``; period ``all`` or ``m<YYYYMM>`` (Weihai
calendar), scope station | district | city (id 0), metric points | minutes. ``<prefix>lb:count``
holds how many ledger entries the boards reflect. Reads compare it with the database and rebuild
on any difference, so a missed or doubled update heals — at most once every ``CHECK_EVERY_S``
seconds across all processes (``<prefix>lb:checked``), not on every read: the count runs over
every earning entry of the city's history, and run on each read it cost MariaDB 12 ms of CPU per
read of a board of 32 000 entries (scripts/bench, leaderboard: 107 reads/s, p99 1.1 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import RedisError
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from models import PointsAccount, PointsEntry, Station, VolunteerProfile
from server import sql
from server.clock import CHINA_TZ
from server.pii import mask_name

log = logging.getLogger("haibei.leaderboard")
# How long a board is trusted between two checks against the ledger (see the module's docstring).
CHECK_EVERY_S = 5
# How long a read waits for another's rebuild before computing its answer from the ledger itself.
REBUILD_WAIT_S = 5
# This process failed to feed the boards, or read around them while Redis was away: its next read
# checks them whatever the time since the last check, so what it saw missed is healed at once.
_missed = False
# Entries that change what a volunteer has earned; redemptions are spending, not earning.
EARN_KINDS = ("service_award", "bonus", "adjustment", "reversal")
METRICS = {"points": "amount", "hours": "minutes"}


def month_key(at: datetime) -> str:
    return "m" + at.astimezone(CHINA_TZ).strftime("%Y%m")


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s month on the Weihai calendar, in UTC.

    In UTC because the ORM writes an aware datetime's wall time into the SQL, and the stored values
    are UTC: a +08:00 bound would drop each month's first 8 hours.
    """
    local = now.astimezone(CHINA_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(timezone.utc)


def _key(prefix: str, period: str, scope: str, scope_id: int, metric: str) -> str:
    return f"{prefix}lb:{period}:{scope}:{scope_id}:{metric}"


async def _places(user_ids: list[int] | None = None) -> tuple[dict[int, int], dict[int, int]]:
    """user id → station id (of ``user_ids``, or everyone's), station id → district id."""
    volunteers = VolunteerProfile.all() if user_ids is None else VolunteerProfile.filter(user_id__in=user_ids)
    users = dict(await volunteers.values_list("user_id", "station_id"))
    stations = Station.all() if user_ids is None else Station.filter(id__in=set(users.values()) or [0])
    return users, dict(await stations.values_list("id", "district_id"))


def _targets(*, user_station: int | None, station_district: dict[int, int]) -> list[tuple[str, int]]:
    """The boards a volunteer appears on: the city's, and their station's and district's."""
    scopes = [("city", 0)]
    if user_station is not None:
        scopes += [("station", user_station), ("district", station_district.get(user_station, 0))]
    return scopes


# Where this process feeds the boards after a commit: the process's Redis clients (their ``aio``
# client as it is at each commit) and key prefix, set at start by the API (server.app). Unset
# (scripts, seeding), entries are not fed and the boards' check against the ledger catches up.
_target: tuple[Any, str] | None = None


def install(*, clients: Any, prefix: str) -> None:
    """Feed committed entries to the boards through ``clients.aio`` under ``prefix`` (None: don't)."""
    global _target
    _target = (clients, prefix) if clients is not None else None


async def feed(entries: list[PointsEntry]) -> None:
    """Feed committed entries to the boards (an after-commit hook of the ledger); a failure only
    leaves them to be rebuilt."""
    global _missed
    earning = [e for e in entries if e.kind in EARN_KINDS]
    if not earning or _target is None:
        return
    clients, prefix = _target
    redis = clients.aio
    try:
        if not await redis.exists(prefix + "lb:count"):
            return  # not built yet: the next read builds from the ledger, this entry included
        owners = dict(await PointsAccount.filter(id__in={e.account_id for e in earning}).values_list("id", "user_id"))
        # Only these volunteers' places: every volunteer's, on each award, grew with the city.
        users, stations = await _places(list(set(owners.values())))
        pipe = redis.pipeline(transaction=True)
        for entry in earning:
            user_id = owners[entry.account_id]
            for period in ("all", month_key(entry.created_at)):
                for scope, sid in _targets(user_station=users.get(user_id), station_district=stations):
                    for metric, column in METRICS.items():
                        pipe.zincrby(_key(prefix, period, scope, sid, metric), getattr(entry, column), user_id)
            pipe.incr(prefix + "lb:count")
        await pipe.execute()
    except RedisError as exc:
        _missed = True
        log.warning("leaderboard update skipped, will rebuild", extra={"error": type(exc).__name__})


async def rebuild(*, redis: Any, prefix: str, now: datetime) -> int:
    """Recompute every board from the ledger (one consistent snapshot); returns entries counted."""
    started = time.monotonic()
    async with in_transaction():
        count = await _ledger_count()
        rows = await (
            PointsEntry.filter(kind__in=EARN_KINDS)
            .annotate(points=Sum("amount"), minutes=Sum("minutes"))
            .group_by("account__user_id")
            .values("account__user_id", "points", "minutes")
        )
        monthly = await (
            PointsEntry.filter(kind__in=EARN_KINDS, created_at__gte=month_start(now))
            .annotate(points=Sum("amount"), minutes=Sum("minutes"))
            .group_by("account__user_id")
            .values("account__user_id", "points", "minutes")
        )
        users, stations = await _places()
    boards: dict[str, dict[str, float]] = defaultdict(dict)
    for period, data in (("all", rows), (month_key(now), monthly)):
        for row in data:
            user_id = row["account__user_id"]
            for scope, sid in _targets(user_station=users.get(user_id), station_district=stations):
                for metric, column in (("points", "points"), ("hours", "minutes")):
                    key = _key(prefix, period, scope, sid, metric)
                    boards[key][str(user_id)] = float(row[column] or 0)
    pipe = redis.pipeline(transaction=True)
    keep = {prefix + "lb:rebuilding", prefix + "lb:checked"}  # not boards: who rebuilds, when checked
    async for old in redis.scan_iter(match=prefix + "lb:*"):  # str keys: decode_responses (server/redis.py)
        if old not in keep:
            pipe.delete(old)
    for key, members in boards.items():
        if members:
            pipe.zadd(key, members)
    pipe.set(prefix + "lb:count", count)
    await pipe.execute()
    log.info("leaderboards rebuilt from the ledger", extra={"entries": count, "boards": len(boards),
                                                            "seconds": round(time.monotonic() - started, 3)})
    return count


async def _rebuild_once(*, redis: Any, prefix: str, now: datetime) -> bool:
    """Rebuild the boards, unless another reader (of any process) is at it: then wait for it, up to
    ``REBUILD_WAIT_S``. After Redis comes back empty under load every read finds the boards
    missing at once, and each rebuilding them would read the whole ledger at the same moment.
    False if the other rebuild did not end in time."""
    lock = prefix + "lb:rebuilding"
    if await redis.set(lock, "1", nx=True, ex=60):
        try:
            # Asked again under the lock: a rebuild may have ended between this reader finding the
            # boards missing and taking the lock, and one is enough.
            stored = await redis.get(prefix + "lb:count")
            if stored is None or int(stored) != await _ledger_count():
                await rebuild(redis=redis, prefix=prefix, now=now)
        finally:
            await redis.delete(lock)
        return True
    deadline = time.monotonic() + REBUILD_WAIT_S
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if not await redis.exists(lock):
            return True
    return False


async def _ledger_count() -> int:
    return (await PointsEntry.filter(kind__in=EARN_KINDS).annotate(n=Count("id")).values("n"))[0]["n"] or 0


async def ensure_fresh(*, redis: Any, prefix: str, now: datetime) -> None:
    """Rebuild when the boards are missing or reflect a different number of entries (checked now,
    whatever the time since the last check: scripts and tests)."""
    stored = await redis.get(prefix + "lb:count")
    if stored is None or int(stored) != await _ledger_count():
        await _rebuild_once(redis=redis, prefix=prefix, now=now)


async def read(
    *, redis: Any, prefix: str, scope: str, scope_id: int, period: str, metric: str, user_id: int, limit: int,
    now: datetime,
) -> dict[str, Any]:
    """Top ``limit`` (each by their display name, else masked name), and the caller's own rank. From
    Redis; when Redis does not answer, computed from the ledger instead (slower, same answer), and
    rebuilt once it is back."""
    global _missed
    try:
        return await _read_redis(redis=redis, prefix=prefix, scope=scope, scope_id=scope_id, period=period,
                                 metric=metric, user_id=user_id, limit=limit, now=now)
    except (RedisError, OSError) as exc:
        _missed = True  # updates of this time may have failed too, in any process
        log.warning("leaderboard from the ledger: Redis unavailable (%s)", type(exc).__name__)
        return await _read_ledger(scope=scope, scope_id=scope_id, period=period, metric=metric, user_id=user_id,
                                  limit=limit, now=now)


async def _read_ledger(*, scope: str, scope_id: int, period: str, metric: str, user_id: int, limit: int,
                       now: datetime) -> dict[str, Any]:
    """The board computed by the database from the ledger, as Redis would give it (ties by the
    user id as text, descending): while Redis is away every read lands here, so the ranking is
    the database's to do — not every volunteer's total carried into each process and sorted."""
    entries, accounts = PointsEntry._meta.db_table, PointsAccount._meta.db_table
    where, params = [f"e.kind IN ({sql.placeholders(EARN_KINDS)})"], [*EARN_KINDS]
    joins = ""
    if period != "all":
        where.append("e.created_at >= %s")
        params.append(month_start(now))
    if scope in ("station", "district"):
        joins = f" JOIN {VolunteerProfile._meta.db_table} v ON v.user_id = a.user_id"
        if scope == "station":
            where.append("v.station_id = %s")
        else:
            joins += f" JOIN {Station._meta.db_table} s ON s.id = v.station_id"
            where.append("s.district_id = %s")
        params.append(scope_id)
    column = "e.amount" if metric == "points" else "e.minutes"
    # One pass over the entries: every member's total and place, of which the top and the caller.
    ranked = (f"SELECT a.user_id AS user_id, SUM({column}) AS total, ROW_NUMBER() OVER"
              f" (ORDER BY SUM({column}) DESC, CAST(a.user_id AS CHAR) DESC) AS place"
              f" FROM {entries} e JOIN {accounts} a ON a.id = e.account_id{joins} WHERE {' AND '.join(where)}"
              " GROUP BY a.user_id")
    rows = await sql.rows(f"SELECT user_id, total, place FROM ({ranked}) t WHERE t.place <= %s OR t.user_id = %s"
                          " ORDER BY t.place", [*params, limit, user_id])
    top = [(str(row["user_id"]), float(row["total"] or 0)) for row in rows if row["place"] <= limit]
    own = next((row for row in rows if row["user_id"] == user_id), None)
    rank = None if own is None else int(own["place"]) - 1
    mine = None if own is None else float(own["total"] or 0)
    return _present(scope=scope, scope_id=scope_id, period=period, metric=metric, top=top,
                    names=await _names(top), rank=rank, mine=mine)


async def _read_redis(
    *, redis: Any, prefix: str, scope: str, scope_id: int, period: str, metric: str, user_id: int, limit: int,
    now: datetime,
) -> dict[str, Any]:
    global _missed
    period_key = "all" if period == "all" else month_key(now)
    key = _key(prefix, period_key, scope, scope_id, metric)
    for attempt in range(2):
        # One round trip: whether the boards are there, whether it is this read's turn to check
        # them against the ledger, and what the read wants of them.
        pipe = redis.pipeline(transaction=False)
        pipe.get(prefix + "lb:count")
        pipe.set(prefix + "lb:checked", "1", nx=True, ex=CHECK_EVERY_S)
        pipe.zrevrange(key, 0, limit - 1, withscores=True)
        pipe.zrevrank(key, user_id)
        pipe.zscore(key, user_id)
        stored, check, top, rank, mine = await pipe.execute()
        check, _missed = check or _missed, False
        if attempt or (stored is not None and (not check or int(stored) == await _ledger_count())):
            break
        if not await _rebuild_once(redis=redis, prefix=prefix, now=now):
            return await _read_ledger(scope=scope, scope_id=scope_id, period=period, metric=metric,
                                      user_id=user_id, limit=limit, now=now)
    return _present(scope=scope, scope_id=scope_id, period=period, metric=metric, top=top, names=await _names(top),
                    rank=rank, mine=mine)


async def _names(top: list) -> dict[int, str]:
    """How the volunteers on ``top`` are shown, by user id: the display name they chose, else their
    name masked. By hand (server/sql.py): built through the ORM, this took more of a board read
    than all the rest."""
    ids = [int(member) for member, _ in top]
    if not ids:
        return {}
    return {row["user_id"]: row["display_name"] or mask_name(row["name"]) for row in await sql.rows(
        f"SELECT user_id, name, display_name FROM {VolunteerProfile._meta.db_table}"
        f" WHERE user_id IN ({sql.placeholders(ids)})", ids)}


def _present(*, scope: str, scope_id: int, period: str, metric: str, top: list, names: dict, rank: int | None,
             mine: float | None) -> dict[str, Any]:
    ids = [int(member) for member, _ in top]

    def value(score: float) -> float:
        return int(score) if metric == "points" else round(score / 60, 1)

    return {
        "scope": scope, "scope_id": scope_id, "period": period, "metric": metric,
        "items": [
            {"rank": i + 1, "user_id": uid, "name": names.get(uid) or "志愿者", "value": value(score)}
            for i, ((_, score), uid) in enumerate(zip(top, ids))
        ],
        "me": None if rank is None else {"rank": rank + 1, "value": value(mine or 0)},
    }
