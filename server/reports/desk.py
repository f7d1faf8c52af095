"""A station worker's desk (工作台): what is waiting for the station, counted, for the console's
first page. The lists behind each count are the console's needs, records and volunteers pages.

One statement of five counts, each answered from an index (``needs (station_id, status, …)``,
``needs (station_id, follow_up)``, ``tasks (station_id, status, scheduled_start)``,
``volunteer_profiles (station_id, status)``): the desk is the page a worker reloads all day.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from server import sql

# An open task starting this soon without all its volunteers needs a worker's call now.
SOON = timedelta(hours=24)

_COUNTS = (
    "SELECT"
    " (SELECT COUNT(*) FROM needs WHERE station_id = %s AND status = 'submitted') AS needs_to_accept,"
    " (SELECT COUNT(*) FROM tasks WHERE station_id = %s AND status = 'submitted') AS records_to_confirm,"
    " (SELECT COUNT(*) FROM tasks WHERE station_id = %s AND status = 'open'"
    "   AND scheduled_start >= %s AND scheduled_start <= %s) AS unclaimed_soon,"
    " (SELECT COUNT(*) FROM needs WHERE station_id = %s AND follow_up = %s) AS follow_ups,"
    " (SELECT COUNT(*) FROM volunteer_profiles WHERE station_id = %s AND status = 'pending') AS volunteer_applications"
)


_SOON = (
    "SELECT id, need_id, title, scheduled_start, volunteers_needed, claimed_count FROM tasks"
    " WHERE station_id = %s AND status = 'open' AND scheduled_start >= %s AND scheduled_start <= %s"
    " ORDER BY scheduled_start, id LIMIT 10"
)


async def starting_soon(*, station_id: int, now: datetime) -> list[dict[str, Any]]:
    """The station's open tasks that start within ``SOON`` and still want volunteers, soonest first:
    the worker's calls to make today."""
    rows = await sql.rows(_SOON, [station_id, now, now + SOON])
    for row in rows:
        row["scheduled_start"] = _utc(row["scheduled_start"])
    return rows


def _utc(value: Any) -> datetime:
    """A stored moment as the drivers return it raw (naive UTC from MariaDB, text from SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


async def summary(*, station_id: int, now: datetime) -> dict[str, Any]:
    found = await sql.rows(_COUNTS, [station_id, station_id, station_id, now, now + SOON, station_id, True,
                                     station_id])
    return {key: int(value) for key, value in found[0].items()}
