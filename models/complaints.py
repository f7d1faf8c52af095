"""Complaints (投诉) about a service, a task, a volunteer or a station, and their answers."""

from tortoise import fields
from tortoise.models import Model

from models.sealed import SealedText

COMPLAINT_SUBJECTS = ("service", "task", "volunteer", "station")
COMPLAINT_STATES = ("open", "answered", "accepted", "escalated")


class Complaint(Model):
    id = fields.IntField(primary_key=True)
    station = fields.ForeignKeyField("models.Station", related_name="complaints", on_delete=fields.RESTRICT)
    # Who complains: a household (its user, or a worker for one without a phone) or a volunteer.
    complainant_user_id = fields.IntField(null=True)
    resident_id = fields.IntField(null=True)
    filed_by = fields.IntField()
    subject = fields.CharField(max_length=10)  # COMPLAINT_SUBJECTS
    subject_id = fields.IntField(null=True)  # the need, task or volunteer complained of
    # The complainant's own words, often about a person: sealed (models/sealed.py).
    text = SealedText(context="complaints.text")
    status = fields.CharField(max_length=10, default="open")
    due_at = fields.DatetimeField()
    answer = SealedText(context="complaints.answer", null=True)
    answered_by = fields.IntField(null=True)
    answered_at = fields.DatetimeField(null=True)
    reopen_count = fields.SmallIntField(default=0)
    reopen_reason = fields.CharField(max_length=200, null=True)
    escalated_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "complaints"
        indexes = (("station_id", "status"), ("status", "due_at"))
