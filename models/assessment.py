"""Needs assessment (任务六): questionnaire versions and home-visit assessments of households."""

from tortoise import fields
from tortoise.models import Model


class QuestionnaireVersion(Model):
    id = fields.IntField(primary_key=True)
    version = fields.IntField(unique=True)
    spec = fields.JSONField()
    created_by = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "questionnaire_versions"


class Assessment(Model):
    """One home visit: the answers under one questionnaire version and the scores they gave."""

    id = fields.IntField(primary_key=True)
    resident = fields.ForeignKeyField("models.ResidentProfile", related_name="assessments", on_delete=fields.RESTRICT)
    station_id = fields.IntField()
    version = fields.IntField()
    answers = fields.JSONField()
    scores = fields.JSONField()
    overall = fields.FloatField()
    level = fields.CharField(max_length=10)
    visited_at = fields.DatetimeField()
    # Visit notes can hold health and family details: encrypted like the profile's notes.
    visit_notes_enc = fields.TextField(null=True)
    assessor_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "assessments"
        indexes = (("station_id", "resident_id", "id"),)
