"""Leaderboards: Redis sorted sets fed after commit, rebuilt from the ledger whenever they are
missing or behind (Redis lost its data, an update failed): the ledger is the truth, Redis a cache.

Keys: ``<prefix>lb:<period>:<scope>:<id>:<metric>``; period ``all`` or ``m<YYYYMM>`` (Weihai
calendar), scope station | district | city (id 0), metric points | minutes. ``<prefix>lb:count``
holds how many ledger entries the boards reflect; a read compares it with the database and
rebuilds on any difference, so a missed or doubled update heals on the next read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import RedisError
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from models import PointsAccount, PointsEntry, Station, VolunteerProfile
from server.clock import CHINA_TZ
from server.pii import mask_name

log = logging.getLogger("haibei.leaderboard")
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


async def _places() -> tuple[dict[int, int], dict[int, int]]:
    """user id → station id, station id → district id."""
    stations = dict(await Station.all().values_list("id", "district_id"))
    users = dict(await VolunteerProfile.all().values_list("user_id", "station_id"))
    return users, stations


def _targets(*, user_station: int | None, station_district: dict[int, int]) -> list[tuple[str, int]]:
    """The boards a volunteer appears on: the city's, and their station's and district's."""
    scopes = [("city", 0)]
    if user_station is not None:
        scopes += [("station", user_station), ("district", station_district.get(user_station, 0))]
    return scopes


async def after_commit(*, app, entries: list[PointsEntry]) -> None:
    """Feed committed entries to the boards; a failure only leaves them to be rebuilt."""
    earning = [e for e in entries if e.kind in EARN_KINDS]
    if not earning:
        return
    redis = app.ctx.redis.aio
    prefix = app.ctx.settings.redis_prefix
    try:
        if not await redis.exists(prefix + "lb:count"):
            return  # not built yet: the next read builds from the ledger, this entry included
        users, stations = await _places()
        pipe = redis.pipeline(transaction=True)
        for entry in earning:
            account = await PointsAccount.get(id=entry.account_id)
            for period in ("all", month_key(entry.created_at)):
                for scope, sid in _targets(user_station=users.get(account.user_id), station_district=stations):
                    for metric, column in METRICS.items():
                        pipe.zincrby(_key(prefix, period, scope, sid, metric), getattr(entry, column), account.user_id)
            pipe.incr(prefix + "lb:count")
        await pipe.execute()
    except RedisError as exc:
        log.warning("leaderboard update skipped, will rebuild", extra={"error": type(exc).__name__})


async def rebuild(*, redis: Any, prefix: str, now: datetime) -> int:
    """Recompute every board from the ledger (one consistent snapshot); returns entries counted."""
    async with in_transaction():
        count = (await PointsEntry.filter(kind__in=EARN_KINDS).annotate(n=Count("id")).values("n"))[0]["n"] or 0
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
    async for old in redis.scan_iter(match=prefix + "lb:*"):
        pipe.delete(old)
    for key, members in boards.items():
        if members:
            pipe.zadd(key, members)
    pipe.set(prefix + "lb:count", count)
    await pipe.execute()
    return count


async def ensure_fresh(*, redis: Any, prefix: str, now: datetime) -> None:
    """Rebuild when the boards are missing or reflect a different number of entries."""
    stored = await redis.get(prefix + "lb:count")
    actual = (await PointsEntry.filter(kind__in=EARN_KINDS).annotate(n=Count("id")).values("n"))[0]["n"] or 0
    if stored is None or int(stored) != actual:
        await rebuild(redis=redis, prefix=prefix, now=now)


async def read(
    *, redis: Any, prefix: str, scope: str, scope_id: int, period: str, metric: str, user_id: int, limit: int,
    now: datetime,
) -> dict[str, Any]:
    """Top ``limit`` with masked names, and the caller's own rank. From Redis; when Redis does not
    answer, computed from the ledger instead (slower, same answer), and rebuilt once it is back."""
    try:
        return await _read_redis(redis=redis, prefix=prefix, scope=scope, scope_id=scope_id, period=period,
                                 metric=metric, user_id=user_id, limit=limit, now=now)
    except (RedisError, OSError) as exc:
        log.warning("leaderboard from the ledger: Redis unavailable (%s)", type(exc).__name__)
        return await _read_ledger(scope=scope, scope_id=scope_id, period=period, metric=metric, user_id=user_id,
                                  limit=limit, now=now)


async def _read_ledger(*, scope: str, scope_id: int, period: str, metric: str, user_id: int, limit: int,
                       now: datetime) -> dict[str, Any]:
    users, stations = await _places()
    if scope == "station":
        members = [u for u, s in users.items() if s == scope_id]
    elif scope == "district":
        members = [u for u, s in users.items() if stations.get(s) == scope_id]
    else:
        members = None  # the city: everyone who earned
    accounts = PointsAccount.all() if members is None else PointsAccount.filter(user_id__in=members or [0])
    account_user = dict(await accounts.values_list("id", "user_id"))
    qs = PointsEntry.filter(kind__in=EARN_KINDS, account_id__in=list(account_user) or [0])
    if period != "all":
        qs = qs.filter(created_at__gte=month_start(now))
    rows = await qs.annotate(total=Sum("amount" if metric == "points" else "minutes")).group_by("account_id") \
        .values("account_id", "total")
    # Ties as Redis orders them: by member (the user id as text), descending.
    scores = sorted(((float(r["total"] or 0), account_user[r["account_id"]]) for r in rows),
                    key=lambda t: (t[0], str(t[1])), reverse=True)
    top = [(str(uid), score) for score, uid in scores[:limit]]
    order = [uid for _, uid in scores]
    mine = next((score for score, uid in scores if uid == user_id), None)
    return _present(scope=scope, scope_id=scope_id, period=period, metric=metric, top=top,
                    names=dict(await VolunteerProfile.filter(user_id__in=[int(m) for m, _ in top] or [0])
                               .values_list("user_id", "name")),
                    rank=order.index(user_id) if user_id in order else None, mine=mine)


async def _read_redis(
    *, redis: Any, prefix: str, scope: str, scope_id: int, period: str, metric: str, user_id: int, limit: int,
    now: datetime,
) -> dict[str, Any]:
    await ensure_fresh(redis=redis, prefix=prefix, now=now)
    period_key = "all" if period == "all" else month_key(now)
    key = _key(prefix, period_key, scope, scope_id, metric)
    top = await redis.zrevrange(key, 0, limit - 1, withscores=True)
    ids = [int(member) for member, _ in top]
    names = dict(await VolunteerProfile.filter(user_id__in=ids).values_list("user_id", "name")) if ids else {}
    rank = await redis.zrevrank(key, user_id)
    mine = await redis.zscore(key, user_id)
    return _present(scope=scope, scope_id=scope_id, period=period, metric=metric, top=top, names=names, rank=rank,
                    mine=mine)


def _present(*, scope: str, scope_id: int, period: str, metric: str, top: list, names: dict, rank: int | None,
             mine: float | None) -> dict[str, Any]:
    ids = [int(member) for member, _ in top]

    def value(score: float) -> float:
        return int(score) if metric == "points" else round(score / 60, 1)

    return {
        "scope": scope, "scope_id": scope_id, "period": period, "metric": metric,
        "items": [
            {"rank": i + 1, "user_id": uid, "name": mask_name(names.get(uid)) or "志愿者", "value": value(score)}
            for i, ((_, score), uid) in enumerate(zip(top, ids))
        ],
        "me": None if rank is None else {"rank": rank + 1, "value": value(mine or 0)},
    }
