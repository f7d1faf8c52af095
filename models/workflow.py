"""Needs, tasks, claims and their history: the service workflow (任务二、五, 机制三).

A need is what a household asks for; a worker turns it into tasks; volunteers claim a task's
slots (one claim per volunteer), check in on site, record the service, and a worker confirms.
"""

from tortoise import fields
from tortoise.models import Model

from models.sealed import SealedText

NEED_OPEN = ("submitted", "accepted", "dispatched", "in_service", "completed")
NEED_STATES = NEED_OPEN + ("closed", "rejected", "cancelled")
# Needs the station that took them on is still working on (a pairing keeps its need in_service).
NEED_UNDER_WAY = ("submitted", "accepted", "dispatched", "in_service")
TASK_STATES = ("open", "referred", "claimed", "checked_in", "submitted", "confirmed", "cancelled", "expired")
# A claim still under way (it holds its volunteer and its slot), and a claim that ended without
# service (it holds nothing); confirmed claims are neither.
CLAIM_ACTIVE = ("claimed", "checked_in", "submitted")
CLAIM_ENDED = ("released", "cancelled", "expired")
CLAIM_STATES = CLAIM_ACTIVE + ("confirmed",) + CLAIM_ENDED
# How a task is delivered: by volunteers, a purchased service, a social organisation, a department
# (部门联动), a neighbour (邻里互助) or a charity.
DELIVERY_WAYS = ("volunteer", "purchased", "social_org", "department", "neighbour", "charity")


class Need(Model):
    id = fields.IntField(primary_key=True)
    resident = fields.ForeignKeyField("models.ResidentProfile", related_name="needs", on_delete=fields.RESTRICT)
    station = fields.ForeignKeyField("models.Station", related_name="needs", on_delete=fields.RESTRICT)
    service = fields.ForeignKeyField("models.Service", related_name="needs", on_delete=fields.RESTRICT)
    # The household's own words, often about health (老人独居,卧床…): sealed (models/sealed.py).
    description = SealedText(context="needs.description")
    urgency = fields.CharField(max_length=8, default="normal")
    window_start = fields.DatetimeField(null=True)
    window_end = fields.DatetimeField(null=True)
    # Where the service happens when it is not the household's address (encrypted, PIPL art. 51).
    location_enc = fields.CharField(max_length=800, null=True)
    source = fields.CharField(max_length=12, default="self")
    reported_by = fields.IntField()
    on_behalf = fields.BooleanField(default=False)
    status = fields.CharField(max_length=12, default="submitted")
    status_reason = fields.CharField(max_length=200, null=True)
    # "<resident>:<service>" while the need is open, NULL after: a unique index then allows one
    # open need per household and service, even under concurrent submissions.
    open_key = fields.CharField(max_length=64, null=True, unique=True)
    accepted_by = fields.IntField(null=True)
    accepted_at = fields.DatetimeField(null=True)
    rating_score = fields.SmallIntField(null=True)
    rating_comment = fields.CharField(max_length=500, null=True)
    would_use_again = fields.BooleanField(null=True)
    rated_at = fields.DatetimeField(null=True)
    rated_by = fields.IntField(null=True)
    follow_up = fields.BooleanField(default=False)
    # A low rating's follow-up (回访), closed by the station with what it found and did.
    follow_up_note = fields.CharField(max_length=200, null=True)
    followed_up_at = fields.DatetimeField(null=True)
    followed_up_by = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "needs"
        # (status, urgency, created_at): the deadline job's needs waiting to be accepted, city-wide.
        indexes = (("station_id", "status", "created_at"), ("resident_id", "status"), ("station_id", "follow_up"),
                   ("status", "urgency", "created_at"))


class Task(Model):
    id = fields.IntField(primary_key=True)
    need = fields.ForeignKeyField("models.Need", related_name="tasks", on_delete=fields.RESTRICT)
    station = fields.ForeignKeyField("models.Station", related_name="tasks", on_delete=fields.RESTRICT)
    service = fields.ForeignKeyField("models.Service", related_name="tasks", on_delete=fields.RESTRICT)
    title = fields.CharField(max_length=80)
    scheduled_start = fields.DatetimeField()
    scheduled_end = fields.DatetimeField()
    volunteers_needed = fields.SmallIntField(default=1)
    # Slots taken by active claims; only a conditional UPDATE changes it (the claim race).
    claimed_count = fields.SmallIntField(default=0)
    points = fields.IntField()
    notes_for_volunteer = fields.CharField(max_length=500, default="")
    # What browsing volunteers may see: the community name and a position snapped to a ~500 m
    # grid, stored in the clear so browsing never decrypts a household's address.
    community = fields.CharField(max_length=80, null=True)
    approx_lat = fields.FloatField(null=True)
    approx_lng = fields.FloatField(null=True)
    # The ~500 m grid cell of the fuzzed position (server.geo.cell_of): browsing near a
    # point reads a few cells through the (status, cell) index, whatever the number of tasks.
    cell = fields.BigIntField(null=True)
    status = fields.CharField(max_length=12, default="open")
    # Set on tasks a pairing generated: "p<pairing>:<local date>" makes each occurrence exist once,
    # even when two job runners generate at the same time.
    pairing_id = fields.IntField(null=True, db_index=True)
    occurrence_key = fields.CharField(max_length=32, null=True, unique=True)
    # When the station was warned that nobody has claimed it yet (once).
    expiry_warned_at = fields.DatetimeField(null=True)
    delivery_way = fields.CharField(max_length=12, default="volunteer")  # DELIVERY_WAYS
    created_by = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tasks"
        # (status, cell, …) covers the browse query: it is answered from the index alone, without
        # a row lookup per candidate (at 1 M tasks the rows no longer fit the buffer pool).
        indexes = (("status", "scheduled_start"), ("station_id", "status"), ("station_id", "status", "scheduled_start"),
                   ("status", "cell", "scheduled_end", "approx_lat", "approx_lng", "scheduled_start", "service_id",
                    "need_id"))


class TaskClaim(Model):
    """The part one volunteer takes in a task, from claim to confirmation."""

    id = fields.IntField(primary_key=True)
    task = fields.ForeignKeyField("models.Task", related_name="claims", on_delete=fields.RESTRICT)
    volunteer = fields.ForeignKeyField("models.VolunteerProfile", related_name="claims", on_delete=fields.RESTRICT)
    status = fields.CharField(max_length=12, default="claimed")
    # "<task>:<volunteer>" while active: one live claim per volunteer and task.
    active_key = fields.CharField(max_length=32, null=True, unique=True)
    claimed_at = fields.DatetimeField()
    checked_in_at = fields.DatetimeField(null=True)
    checkin_evidence = fields.JSONField(null=True)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    summary = SealedText(context="task_claims.summary", null=True)  # what was done, often health
    photos = fields.JSONField(default=list)
    submitted_at = fields.DatetimeField(null=True)
    record_reject_reason = fields.CharField(max_length=200, null=True)
    confirmed_by = fields.IntField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    verified_minutes = fields.IntField(null=True)
    # Owed from confirmation on; the points ledger credits it.
    points_due = fields.IntField(null=True)
    ended_reason = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "task_claims"
        # (status, submitted_at): the deadline job's records waiting to be confirmed.
        indexes = (("volunteer_id", "status"), ("status", "submitted_at"))


class WorkflowEvent(Model):
    """Every state change of a need, task or claim: who, in which role, from, to, when, why."""

    id = fields.BigIntField(primary_key=True)
    need = fields.ForeignKeyField("models.Need", related_name="events", on_delete=fields.RESTRICT)
    task_id = fields.IntField(null=True)
    claim_id = fields.IntField(null=True)
    subject = fields.CharField(max_length=8)
    actor_id = fields.IntField(null=True)
    actor_role = fields.CharField(max_length=16)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "workflow_events"


class Upload(Model):
    """A photo a volunteer attaches to a service record. The bytes live behind server.storage."""

    id = fields.IntField(primary_key=True)
    owner_id = fields.IntField()
    storage_key = fields.CharField(max_length=120, unique=True)
    content_type = fields.CharField(max_length=40)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "uploads"


class OrgReferral(Model):
    """A task referred to a provider organisation instead of volunteers (机制三: 依程序转介)."""

    id = fields.IntField(primary_key=True)
    task = fields.ForeignKeyField("models.Task", related_name="referrals", on_delete=fields.RESTRICT)
    organization = fields.ForeignKeyField("models.Organization", related_name="referrals", on_delete=fields.RESTRICT)
    status = fields.CharField(max_length=10, default="pending")
    referred_by = fields.IntField()
    due_at = fields.DatetimeField()
    responded_by = fields.IntField(null=True)
    responded_at = fields.DatetimeField(null=True)
    reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "org_referrals"
        indexes = (("status", "due_at"),)


class Pairing(Model):
    """结对帮扶: a volunteer or an organisation paired with a household for recurring service.

    The schedule (Weihai local time) is {"weekdays": [1..7], "start_time": "HH:MM", "minutes": n,
    "every_weeks": n}. Tasks are generated from it a few days ahead by the jobs runner.
    """

    id = fields.IntField(primary_key=True)
    need = fields.ForeignKeyField("models.Need", related_name="pairings", on_delete=fields.RESTRICT)
    resident_id = fields.IntField()
    station_id = fields.IntField(db_index=True)
    service_id = fields.CharField(max_length=40)
    volunteer = fields.ForeignKeyField("models.VolunteerProfile", related_name="pairings", null=True,
                                       on_delete=fields.RESTRICT)
    organization = fields.ForeignKeyField("models.Organization", related_name="pairings", null=True,
                                          on_delete=fields.RESTRICT)
    schedule = fields.JSONField()
    starts_on = fields.DateField()
    ends_on = fields.DateField(null=True)
    title = fields.CharField(max_length=80)
    notes_for_volunteer = fields.CharField(max_length=500, default="")
    points = fields.IntField(null=True)
    status = fields.CharField(max_length=8, default="active")
    # "<need>" while active: one active pairing per need, even under concurrent requests.
    active_key = fields.CharField(max_length=16, null=True, unique=True)
    created_by = fields.IntField()
    created_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    ended_by = fields.IntField(null=True)
    end_reason = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "pairings"
