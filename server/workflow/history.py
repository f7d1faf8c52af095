"""A household's and a volunteer's story as a station worker reads it: needs, services given or
received, and every step of them, newest first."""

from __future__ import annotations

from typing import Any

from models import Need, Pairing, ResidentProfile, TaskClaim, VolunteerProfile, WorkflowEvent

RECENT = 50


async def of_household(*, resident: ResidentProfile) -> dict[str, Any]:
    needs = await Need.filter(resident_id=resident.id).order_by("-id").limit(RECENT).select_related("service")
    need_ids = [n.id for n in needs]
    services = await TaskClaim.filter(task__need__resident_id=resident.id, status="confirmed") \
        .order_by("-confirmed_at").limit(RECENT).select_related("task", "volunteer")
    events = await WorkflowEvent.filter(need_id__in=need_ids).order_by("-created_at", "-id").limit(RECENT) \
        if need_ids else []
    pairings = await Pairing.filter(resident_id=resident.id).order_by("-id").select_related("volunteer", "organization")
    return {
        "needs": [{"id": n.id, "service_name": n.service.name, "status": n.status, "urgency": n.urgency,
                   "created_at": n.created_at, "rating": n.rating_score} for n in needs],
        "services": [{"task_id": c.task_id, "need_id": c.task.need_id, "title": c.task.title,
                      "volunteer_id": c.volunteer_id, "volunteer_name": c.volunteer.name,
                      "minutes": c.verified_minutes, "confirmed_at": c.confirmed_at} for c in services],
        "events": [_event(e) for e in events],
        "pairings": [{"id": p.id, "title": p.title, "status": p.status, "starts_on": p.starts_on, "ends_on": p.ends_on,
                      "with": p.volunteer.name if p.volunteer else (p.organization.name if p.organization else None)}
                     for p in pairings],
    }


async def of_volunteer(*, volunteer: VolunteerProfile) -> list[dict[str, Any]]:
    """The volunteer's claims, newest first, with the task and what was confirmed."""
    claims = await TaskClaim.filter(volunteer_id=volunteer.id).order_by("-id").limit(RECENT).select_related("task")
    return [{"task_id": c.task_id, "need_id": c.task.need_id, "title": c.task.title, "status": c.status,
             "scheduled_start": c.task.scheduled_start, "minutes": c.verified_minutes, "points": c.points_due,
             "confirmed_at": c.confirmed_at} for c in claims]


def _event(e: WorkflowEvent) -> dict[str, Any]:
    return {"subject": e.subject, "need_id": e.need_id, "task_id": e.task_id, "actor_role": e.actor_role,
            "to": e.to_status, "reason": e.reason, "at": e.created_at}
