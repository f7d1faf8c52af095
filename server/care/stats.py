"""Statistics (机制三: 服务类社会救助统计分析) for a station, a district or the city.

Counts and sums are SQL aggregates (GROUP BY in the database); only the per-need durations for the
medians and 90th percentiles come back as one number per need.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.expressions import RawSQL, Subquery
from tortoise.functions import Count, Min, Sum

from config.data import HOUSEHOLD_CATEGORY_ROWS
from models import (
    Complaint, DepartmentReferral, Need, OrgReferral, Pairing, PointsAccount, PointsEntry, ResidentProfile, Station,
    Task, TaskClaim, VolunteerProfile, WorkflowEvent,
)
from server import labels, sql
from server.clock import CHINA_TZ
from server.care import complaints, deadlines, reassessment
from server.points import ledger


# The priority groups of 二(一): their households are counted apart (config/household_categories.json).
PRIORITY = tuple(c["name"] for c in HOUSEHOLD_CATEGORY_ROWS if c.get("priority"))


def _day_of(column: str) -> RawSQL:
    """The local (Weihai, UTC+8 all year) calendar day of the moment in ``column``. The text holds
    nothing from outside: a column name of ours and the fixed offset."""
    if sql.dialect() == "sqlite":
        return RawSQL(f"date({column}, '+8 hours')")
    return RawSQL(f"DATE({column} + INTERVAL 8 HOUR)")


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


async def _by_day(qs, column: str, **aggregates: Any) -> dict[date, dict[str, Any]]:
    rows = await qs.annotate(day=_day_of(column), **aggregates).group_by("day").values("day", *aggregates)
    return {_as_day(r["day"]): r for r in rows}


def _roll_up(days: dict[date, dict[str, Any]], first: date, last: date, unit: str,
             fields: dict[str, str]) -> list[dict[str, Any]]:
    """Per-day figures summed into calendar weeks (Monday to Sunday) or months, from the period's
    first day to its last (the first and last may be partial)."""
    out: list[dict[str, Any]] = []
    start = first - timedelta(days=first.weekday()) if unit == "week" else first.replace(day=1)
    while start <= last:
        if unit == "week":
            after = start + timedelta(weeks=1)
        else:
            after = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        row: dict[str, Any] = {"start": max(start, first), "end": min(after - timedelta(days=1), last)}
        for name, source in fields.items():
            row[name] = sum((days[d].get(source) or 0) for d in days if start <= d < after)
        out.append(row)
        start = after
    return out


async def _sum(qs, field: str) -> int:
    rows = await qs.annotate(total=Sum(field)).values("total")
    return int(rows[0]["total"] or 0) if rows else 0


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # Nearest-rank percentile: the smallest value with at least q of the data at or below it.
    # + 0.0: a rounded tiny negative (clocks a second apart) reads 0.0, not -0.0.
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1) + 0.0


async def _station_ids(scope: str, scope_id: int | None) -> list[int] | None:
    if scope == "city":
        return None
    if scope == "district":
        return list(await Station.filter(district_id=scope_id).values_list("id", flat=True))
    return [scope_id]


async def supervision(*, station_ids: list[int] | None, start: datetime, end: datetime, now: datetime,
                      per_station: bool = False) -> dict[str, Any]:
    """Complaints (filed in the period; open, overdue, escalated and resolved as of ``now``), the
    households whose assistance ended in the period by reason, re-assessments due as of ``now``,
    and the reminders and escalations of late work sent in the period, across stations (None: the
    city). ``per_station`` (a district, the city): complaints and escalations also station by station."""
    out = {
        "complaints": {"filed": await complaints.count_filed(station_ids=station_ids, start=start, end=end),
                       **await complaints.counts(station_ids=station_ids, now=now)},
        "exits": await _exits(station_ids, start, end),
        "reassessments": await reassessment.counts(station_ids=station_ids, now=now),
        "deadlines": await _deadlines(station_ids, start, end),
    }
    if per_station:
        out["by_station"] = await _supervision_by_station(station_ids, start, end, now)
    return out


async def _deadlines(station_ids: list[int] | None, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    counted = await deadlines.counts(station_ids=station_ids, start=start, end=end)
    return {kind: {"label": labels.DEADLINE_KIND[kind], "reminded": n["remind"], "escalated": n["escalate"]}
            for kind, n in counted.items()}


async def _supervision_by_station(station_ids: list[int] | None, start: datetime, end: datetime,
                                  now: datetime) -> list[dict[str, Any]]:
    """Each station with a complaint or an escalation: its complaints and its escalations, by name."""
    complained = await complaints.by_station(station_ids=station_ids, start=start, end=end, now=now)
    escalated = await deadlines.escalations_by_station(station_ids=station_ids, start=start, end=end)
    ids = sorted(set(complained) | set(escalated))
    names = dict(await Station.filter(id__in=ids or [0]).values_list("id", "name"))
    empty = {"filed": 0, "open": 0, "overdue": 0, "escalated": 0, "resolved": 0}
    return [{"station_id": i, "station_name": names.get(i, ""), "complaints": complained.get(i, empty),
             "deadline_escalations": escalated.get(i, 0)} for i in ids]


async def _exits(station_ids: list[int] | None, start: datetime, end: datetime) -> dict[str, Any]:
    """Households whose assistance ended in the period and are still out (one brought back is not
    counted), grouped in SQL. Every reason is listed, by its code, with its label, in the vocabulary's order."""
    qs = ResidentProfile.filter(status="exited", exited_at__gte=start, exited_at__lt=end)
    if station_ids is not None:
        qs = qs.filter(station_id__in=station_ids or [0])
    counted = dict(await qs.annotate(n=Count("id")).group_by("exit_reason").values_list("exit_reason", "n"))
    reasons = [*labels.EXIT_REASON, *sorted(str(r) for r in counted if r not in labels.EXIT_REASON)]
    by_reason = {r: {"label": labels.label("exit_reason", r), "n": counted.get(r, 0)} for r in reasons}
    return {"total": sum(counted.values()), "by_reason": by_reason}


_NOTHING = {"services": 0, "volunteer_minutes": 0, "referrals": 0, "pairings_started": 0, "complaints_filed": 0,
            "exits": 0}


async def _per_station(stations: list[int] | None, start: datetime, end: datetime) -> dict[int, dict[str, int]]:
    """The additive figures of the period, station by station (the parts the whole is the sum of)."""
    def scoped(qs, field: str = "station_id"):
        return qs if stations is None else qs.filter(**{f"{field}__in": stations or [0]})

    out: dict[int, dict[str, int]] = {}

    def put(sid: int, key: str, value: int) -> None:
        out.setdefault(sid, dict(_NOTHING))[key] = int(value or 0)

    claims = scoped(ledger.counted_claims().filter(confirmed_at__gte=start, confirmed_at__lt=end), "task__station_id")
    for r in await claims.annotate(n=Count("id"), minutes=Sum("verified_minutes")).group_by("task__station_id") \
            .values("task__station_id", "n", "minutes"):
        put(r["task__station_id"], "services", r["n"])
        put(r["task__station_id"], "volunteer_minutes", r["minutes"])
    for key, qs, field in (
            ("referrals", OrgReferral.filter(created_at__gte=start, created_at__lt=end), "task__station_id"),
            ("pairings_started", Pairing.filter(created_at__gte=start, created_at__lt=end), "station_id"),
            ("complaints_filed", Complaint.filter(created_at__gte=start, created_at__lt=end), "station_id"),
            ("exits", ResidentProfile.filter(status="exited", exited_at__gte=start, exited_at__lt=end), "station_id")):
        for sid, n in await scoped(qs, field).annotate(n=Count("id")).group_by(field).values_list(field, "n"):
            put(sid, key, n)
    return out


async def overview(*, scope: str, scope_id: int | None, start: datetime, end: datetime,
                   now: datetime | None = None) -> dict[str, Any]:
    """The figures of the period for a station, a district or the city. With ``now``, also the
    supervision counts (``supervision``), some of them as of that moment: the console's dashboard,
    which keeps its figures until the data moves, leaves them out and reads them afresh."""
    stations = await _station_ids(scope, scope_id)

    def in_scope(qs, field: str = "station_id"):
        return qs if stations is None else qs.filter(**{f"{field}__in": stations})

    needs = in_scope(Need.filter(created_at__gte=start, created_at__lt=end))
    # Claims are scoped through their tasks' ids (aggregates over a join gave wrong sums in the ORM),
    # as a subquery: a district's task ids are tens of thousands, too many to send back and forth.
    def claims_in_scope(qs):
        return qs if stations is None else qs.filter(task_id__in=Subquery(Task.filter(station_id__in=stations).values("id")))

    async def grouped(qs, key: str) -> dict[str, int]:
        rows = await qs.annotate(n=Count("id")).group_by(key).values(key, "n")
        return {str(r[key]): r["n"] for r in rows}

    by_status = await grouped(needs, "status")
    by_source = await grouped(needs, "source")
    by_service = await grouped(needs, "service_id")
    by_category = await grouped(needs, "service__category_id")

    served_ids = await needs.filter(status__in=("completed", "closed")).distinct().values_list("resident_id", flat=True)
    households: dict[str, int] = {}
    for cats in await ResidentProfile.filter(id__in=list(served_ids)).values_list("categories", flat=True):
        for c in cats or []:
            households[c] = households.get(c, 0) + 1

    # Durations per need, in minutes.
    accept = [(n.accepted_at - n.created_at).total_seconds() / 60
              for n in await needs.filter(accepted_at__isnull=False).only("id", "created_at", "accepted_at")]
    first_claims = {
        r["task__need_id"]: r["first"]
        for r in await claims_in_scope(TaskClaim.filter(task__need__created_at__gte=start, task__need__created_at__lt=end))
        .annotate(first=Min("claimed_at")).group_by("task__need_id").values("task__need_id", "first")
    }
    created = dict(await needs.values_list("id", "created_at"))
    claim = [(first_claims[i] - created[i]).total_seconds() / 60 for i in first_claims if i in created]
    completed_at = {
        r["need_id"]: r["at"]
        for r in await WorkflowEvent.filter(subject="need", to_status="completed", need_id__in=list(created))
        .annotate(at=Min("created_at")).group_by("need_id").values("need_id", "at")
    }
    complete = [(completed_at[i] - created[i]).total_seconds() / 60 for i in completed_at]

    # A reversed award's service no longer counts: its minutes left the volunteer's account too.
    claims = claims_in_scope(ledger.counted_claims().filter(confirmed_at__gte=start, confirmed_at__lt=end))
    minutes = await _sum(claims, "verified_minutes")
    active = await claims_in_scope(TaskClaim.filter(claimed_at__gte=start, claimed_at__lt=end)) \
        .distinct().values_list("volunteer_id", flat=True)

    entries = PointsEntry.filter(created_at__gte=start, created_at__lt=end)
    if stations is not None:
        # Points belong to volunteers; a station's are its own volunteers'.

        users = VolunteerProfile.filter(station_id__in=stations).values("user_id")
        entries = entries.filter(account_id__in=Subquery(PointsAccount.filter(user_id__in=Subquery(users)).values("id")))
    # Net, as the accounts are (机制三 统计分析 must agree with the ledger an auditor compares it
    # with): reversals (negative) take back what was issued, refunds give back what was redeemed.
    issued = await _sum(entries.filter(kind__in=("service_award", "bonus", "reversal")), "amount")
    redeemed = -await _sum(entries.filter(kind__in=("redemption", "redemption_refund")), "amount")

    rated = needs.filter(rating_score__isnull=False)
    # Sum / count rather than AVG: the ORM casts AVG of an integer column back to an integer.
    rated_count = await rated.count()
    rating = {"n": rated_count, "avg": (await _sum(rated, "rating_score")) / rated_count if rated_count else None}
    tasks = in_scope(Task.filter(created_at__gte=start, created_at__lt=end))
    released = await claims_in_scope(TaskClaim.filter(status__in=("released", "expired"), claimed_at__gte=start,
                                                      claimed_at__lt=end)).count()

    # Week by week and month by month (local calendar): needs, services and volunteer hours.
    first_day, last_day = start.astimezone(CHINA_TZ).date(), (end - timedelta(microseconds=1)).astimezone(CHINA_TZ).date()
    need_days = await _by_day(needs, "created_at", n=Count("id"))
    service_days = await _by_day(claims, "confirmed_at", n=Count("id"), minutes=Sum("verified_minutes"))
    days = {d: {"needs": need_days.get(d, {}).get("n", 0), "services": service_days.get(d, {}).get("n", 0),
                "minutes": service_days.get(d, {}).get("minutes") or 0} for d in set(need_days) | set(service_days)}
    series = {unit: [{**row, "hours": round(row.pop("minutes") / 60, 1)}
                     for row in _roll_up(days, first_day, last_day, unit,
                                         {"needs": "needs", "services": "services", "minutes": "minutes"})]
              for unit in ("week", "month")}

    # Households served in the priority groups (特困, 低保), apart from the rest.
    served_rows = await ResidentProfile.filter(id__in=list(served_ids)).values_list("categories", flat=True)
    priority = {c: sum(1 for cats in served_rows if c in (cats or [])) for c in PRIORITY}
    in_priority = sum(1 for cats in served_rows if set(cats or []) & set(PRIORITY))

    # How the period's tasks were delivered, and the services done each way: confirmed claims, and
    # the services departments gave (部门联动: no claim, the station recorded them served).
    ways = await grouped(in_scope(Task.filter(created_at__gte=start, created_at__lt=end)), "delivery_way")
    served_ways = {str(r["task__delivery_way"]): r["n"] for r in await claims.annotate(n=Count("id"))
                   .group_by("task__delivery_way").values("task__delivery_way", "n")}
    linked = await grouped(in_scope(DepartmentReferral.filter(created_at__gte=start, created_at__lt=end)), "status")
    served_ways["department"] = served_ways.get("department", 0) + await in_scope(DepartmentReferral.filter(
        status="served", answered_at__gte=start, answered_at__lt=end)).count()
    by_way = {way: {"label": labels.label("delivery_way", way), "tasks": ways.get(way, 0),
                    "services": served_ways.get(way, 0)} for way in labels.DELIVERY_WAY}

    referred = await grouped(in_scope(OrgReferral.filter(created_at__gte=start, created_at__lt=end), "task__station_id"),
                             "status")
    pairings_started = await in_scope(Pairing.filter(created_at__gte=start, created_at__lt=end)).count()
    pairings_ended = await in_scope(Pairing.filter(ended_at__gte=start, ended_at__lt=end)).count()

    comparison = []
    if scope != "station":
        rows = await needs.annotate(n=Count("id")).group_by("station_id").values("station_id", "n")
        done = {r["station_id"]: r["n"] for r in await needs.filter(status__in=("completed", "closed"))
                .annotate(n=Count("id")).group_by("station_id").values("station_id", "n")}
        per = await _per_station(stations, start, end)
        listed = sorted({r["station_id"] for r in rows} | set(per))
        needs_at = {r["station_id"]: r["n"] for r in rows}
        comparison = [{"station_id": sid, "needs": needs_at.get(sid, 0), "completed": done.get(sid, 0),
                       **per.get(sid, _NOTHING)} for sid in listed]

    out = {
        "scope": scope, "scope_id": scope_id, "from": start, "to": end,
        "needs": {"total": sum(by_status.values()), "by_status": by_status, "by_source": by_source,
                  "by_service": by_service, "by_category": by_category},
        "households_served_by_category": households,
        "minutes_to_accept": {"median": _pct(accept, 0.5), "p90": _pct(accept, 0.9)},
        "minutes_to_first_claim": {"median": _pct(claim, 0.5), "p90": _pct(claim, 0.9)},
        "minutes_to_complete": {"median": _pct(complete, 0.5), "p90": _pct(complete, 0.9)},
        "volunteer_minutes": minutes,
        "active_volunteers": len(set(active)),
        "points": {"issued": issued, "redeemed": redeemed},
        "ratings": {"count": rating["n"], "average": round(rating["avg"], 2) if rating["avg"] is not None else None},
        "tasks": {"created": await tasks.count(), "expired": await tasks.filter(status="expired").count(),
                  "released_or_expired_claims": released},
        "stations": comparison,
        "series": series,
        "priority_households": {"total": in_priority, "by_category": priority, "others": len(served_rows) - in_priority},
        "referrals": {"total": sum(referred.values()), "by_status": {
            code: {"label": labels.label("referral_status", code), "n": n} for code, n in referred.items()}},
        "pairings": {"started": pairings_started, "ended": pairings_ended},
        "delivery": by_way,
        "department_referrals": {"total": sum(linked.values()), "by_status": {
            code: {"label": labels.label("department_referral_status", code), "n": n} for code, n in linked.items()}},
    }
    if now is not None:
        out.update(await supervision(station_ids=stations, start=start, end=end, now=now, per_station=scope != "station"))
    return out

