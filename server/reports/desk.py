"""A station worker's desk (工作台): what is waiting for the station, counted, for the console's
first page. The lists behind each count are the API's own (needs, tasks, volunteers)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from models import Need, Task, VolunteerProfile

# An open task starting this soon without all its volunteers needs a worker's call now.
SOON = timedelta(hours=24)


async def summary(*, station_id: int, now: datetime) -> dict[str, Any]:
    return {
        "needs_to_accept": await Need.filter(station_id=station_id, status="submitted").count(),
        "records_to_confirm": await Task.filter(station_id=station_id, status="submitted").count(),
        "unclaimed_soon": await Task.filter(station_id=station_id, status="open", scheduled_start__gte=now,
                                            scheduled_start__lte=now + SOON).count(),
        "follow_ups": await Need.filter(station_id=station_id, follow_up=True).count(),
        "volunteer_applications": await VolunteerProfile.filter(station_id=station_id, status="pending").count(),
    }
