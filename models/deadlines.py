"""Deadline notices: each reminder or escalation the deadline job has sent, written once.

A notice's ``key`` is unique: two job runners that both find the same overdue need race to insert
it, one wins and sends, the other's insert fails and sends nothing (server/care/deadlines.py).
"""

from tortoise import fields
from tortoise.models import Model

DEADLINE_KINDS = ("need_accept", "record_confirm", "policy_expiry", "qualification_expiry", "department_answer")
DEADLINE_STAGES = ("remind", "escalate")


class DeadlineNotice(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=24)  # DEADLINE_KINDS
    stage = fields.CharField(max_length=10)  # DEADLINE_STAGES
    # What ran late: the need, the claim (a service record), the policy, the organisation or the
    # department referral.
    subject_id = fields.IntField()
    # Which run of the clock: a record sent back and submitted again starts a new wait, a renewed
    # qualification a new expiry. Part of ``key``.
    key = fields.CharField(max_length=160, unique=True)
    detail = fields.CharField(max_length=100, default="")  # e.g. the qualification's kind
    station_id = fields.IntField(null=True)
    district_id = fields.IntField(null=True)
    need_id = fields.IntField(null=True)
    # When the wait began (submitted, expiry) and the limit that passed.
    started_at = fields.DatetimeField()
    due_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "deadline_notices"
        indexes = (("kind", "subject_id"), ("station_id", "created_at"), ("created_at",))
