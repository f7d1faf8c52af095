"""Needs assessment (任务六): questionnaire versions and home-visit assessments of households."""

from tortoise import fields
from tortoise.models import Model

from models.sealed import SealedJSON


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
    # The answers describe the person's health and daily life: sealed. The scores and level are
    # what rankings sort on in SQL, derived numbers that stay readable.
    answers = SealedJSON(context="assessments.answers")
    scores = fields.JSONField()
    overall = fields.FloatField()
    level = fields.CharField(max_length=10)
    visited_at = fields.DatetimeField()
    # Visit notes can hold health and family details: encrypted like the profile's notes.
    visit_notes_enc = fields.TextField(null=True)
    assessor_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    # When the household is due to be assessed again (动态管理): the visit plus its level's interval
    # (config/reassessment.json); and when the station was reminded of it, once.
    due_at = fields.DatetimeField(null=True)
    reminded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "assessments"
        indexes = (("station_id", "resident_id", "id"), ("due_at", "reminded_at"))


class Policy(Model):
    """A government assistance policy or charity/social-organisation project (任务三)."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=100)
    issuer = fields.CharField(max_length=100)
    kind = fields.CharField(max_length=24)
    summary = fields.CharField(max_length=1000, default="")
    benefits = fields.CharField(max_length=1000, default="")
    eligibility = fields.JSONField()
    valid_from = fields.DatetimeField(null=True)
    valid_until = fields.DatetimeField(null=True)
    contact = fields.CharField(max_length=100, default="")
    source_url = fields.CharField(max_length=300, default="")
    version = fields.IntField(default=1)
    status = fields.CharField(max_length=10, default="active")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "policies"


class PolicyRevision(Model):
    """Every saved version of a policy, as it was."""

    id = fields.IntField(primary_key=True)
    policy = fields.ForeignKeyField("models.Policy", related_name="revisions", on_delete=fields.RESTRICT)
    version = fields.IntField()
    snapshot = fields.JSONField()
    edited_by = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "policy_revisions"
        unique_together = (("policy", "version"),)


class PolicyReferral(Model):
    """A worker's referral of a household to a policy, and what came of it."""

    id = fields.IntField(primary_key=True)
    policy = fields.ForeignKeyField("models.Policy", related_name="referrals", on_delete=fields.RESTRICT)
    resident = fields.ForeignKeyField("models.ResidentProfile", related_name="policy_referrals", on_delete=fields.RESTRICT)
    policy_version = fields.IntField()
    outcome = fields.CharField(max_length=14)
    note = fields.CharField(max_length=300, default="")
    worker_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "policy_referrals"
