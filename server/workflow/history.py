"""A household's and a volunteer's story as a station worker reads it: needs, services given or
received, and every step of them, newest first.

Hand-written statements (server/sql.py), each row read into the models as the ORM would: the
household's page is one a worker opens many times a day, and the ORM's query building was most of
its cost (``scripts/bench --scenarios console_household --profile console_household``).
"""

from __future__ import annotations

from typing import Any

from models import Need, Organization, Pairing, ResidentProfile, Service, Task, TaskClaim, VolunteerProfile, WorkflowEvent
from server import sql

RECENT = 50

_NEEDS = sql.Statement(lambda: (
    f"SELECT {sql.columns(Need, 'n', only=('id', 'status', 'urgency', 'created_at', 'rating_score'))},"
    f" {sql.columns(Service, 's', 's_', only=('name',))}"
    " FROM needs n JOIN services s ON s.code = n.service_id WHERE n.resident_id = %s ORDER BY n.id DESC LIMIT %s"))
_SERVICES = sql.Statement(lambda: (
    f"SELECT {sql.columns(TaskClaim, 'c', only=('task_id', 'volunteer_id', 'verified_minutes', 'confirmed_at'))},"
    f" {sql.columns(Task, 't', 't_', only=('need_id', 'title'))}, {sql.columns(VolunteerProfile, 'v', 'v_', only=('name',))}"
    " FROM needs n JOIN tasks t ON t.need_id = n.id JOIN task_claims c ON c.task_id = t.id"
    " JOIN volunteer_profiles v ON v.id = c.volunteer_id"
    " WHERE n.resident_id = %s AND c.status = 'confirmed' ORDER BY c.confirmed_at DESC LIMIT %s"))
_EVENTS = sql.Statement(lambda: (
    f"SELECT {sql.columns(WorkflowEvent, 'e', only=('id', 'need_id', 'task_id', 'subject', 'actor_role', 'to_status', 'reason', 'created_at'))}"
    " FROM workflow_events e JOIN needs n ON n.id = e.need_id WHERE n.resident_id = %s"
    " ORDER BY e.created_at DESC, e.id DESC LIMIT %s"))
_PAIRINGS = sql.Statement(lambda: (
    f"SELECT {sql.columns(Pairing, 'p', only=('id', 'title', 'status', 'starts_on', 'ends_on'))},"
    f" {sql.columns(VolunteerProfile, 'v', 'v_', only=('name',))}, {sql.columns(Organization, 'o', 'o_', only=('name',))}"
    " FROM pairings p LEFT JOIN volunteer_profiles v ON v.id = p.volunteer_id"
    " LEFT JOIN organizations o ON o.id = p.organization_id WHERE p.resident_id = %s ORDER BY p.id DESC LIMIT %s"))


async def of_household(*, resident: ResidentProfile) -> dict[str, Any]:
    needs = []
    for row in await sql.rows(_NEEDS, [resident.id, RECENT]):
        n = sql.hydrate(Need, {k: v for k, v in row.items() if not k.startswith("s_")})
        needs.append({"id": n.id, "service_name": row["s_name"], "status": n.status, "urgency": n.urgency,
                      "created_at": n.created_at, "rating": n.rating_score})
    services = []
    for row in await sql.rows(_SERVICES, [resident.id, RECENT]):
        c = sql.hydrate(TaskClaim, {k: v for k, v in row.items() if not k.startswith(("t_", "v_"))})
        services.append({"task_id": c.task_id, "need_id": row["t_need_id"], "title": row["t_title"],
                         "volunteer_id": c.volunteer_id, "volunteer_name": row["v_name"],
                         "minutes": c.verified_minutes, "confirmed_at": c.confirmed_at})
    events = [_event(sql.hydrate(WorkflowEvent, row)) for row in await sql.rows(_EVENTS, [resident.id, RECENT])]
    pairings = []
    for row in await sql.rows(_PAIRINGS, [resident.id, RECENT]):
        p = sql.hydrate(Pairing, {k: v for k, v in row.items() if not k.startswith(("v_", "o_"))})
        pairings.append({"id": p.id, "title": p.title, "status": p.status, "starts_on": p.starts_on,
                         "ends_on": p.ends_on, "with": row["v_name"] or row["o_name"]})
    return {"needs": needs, "services": services, "events": events, "pairings": pairings}


async def of_volunteer(*, volunteer: VolunteerProfile) -> list[dict[str, Any]]:
    """The volunteer's claims, newest first, with the task and what was confirmed."""
    claims = await TaskClaim.filter(volunteer_id=volunteer.id).order_by("-id").limit(RECENT).select_related("task")
    return [{"task_id": c.task_id, "need_id": c.task.need_id, "title": c.task.title, "status": c.status,
             "scheduled_start": c.task.scheduled_start, "minutes": c.verified_minutes, "points": c.points_due,
             "confirmed_at": c.confirmed_at} for c in claims]


def _event(e: WorkflowEvent) -> dict[str, Any]:
    return {"subject": e.subject, "need_id": e.need_id, "task_id": e.task_id, "actor_role": e.actor_role,
            "to": e.to_status, "reason": e.reason, "at": e.created_at}
