"""The audit trail: who read or changed whose personal data, and when (PIPL art. 51, 55)."""

from tortoise import fields
from tortoise.models import Model

from models.sealed import SealedJSON


class AuditLog(Model):
    id = fields.BigIntField(primary_key=True)
    actor_id = fields.IntField(null=True)
    action = fields.CharField(max_length=40)
    subject_type = fields.CharField(max_length=30)
    subject_id = fields.IntField(null=True)
    fields_read = fields.JSONField(default=list)
    # What changed can be what is sealed elsewhere (a household's categories before and after).
    detail = SealedJSON(context="audit_log.detail", null=True)
    request_id = fields.CharField(max_length=40, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_log"
        # (action, created_at): the exits ledger reads one action over a period, city-wide.
        indexes = (("subject_type", "subject_id"), ("actor_id",), ("action", "created_at"))
