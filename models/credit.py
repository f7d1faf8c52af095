"""The volunteer's own say over the 海贝分 link to 信用威海 (知情同意), and the hours
certificates (志愿服务时长证明) anyone can verify by their code.

Both are in a module of their own, apart from the ledger (models/points.py) and the profiles
(models/profiles.py), which they only refer to by id.
"""

from tortoise import fields
from tortoise.models import Model


class CreditConsent(Model):
    """One consent to providing name, ID number and hours to 信用威海, to one version of the text
    (config/credit_consent.json), and its end. A user has at most one open row (``withdrawn_at``
    NULL): a withdrawal closes it, and so does consenting to a newer text, which opens the next
    row at the same moment. Rows are never deleted: they are the record of what was agreed when
    (PIPL art. 14, 15, 23)."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField()
    version = fields.CharField(max_length=20)
    consented_at = fields.DatetimeField()
    withdrawn_at = fields.DatetimeField(null=True)

    class Meta:
        table = "credit_consents"
        indexes = (("user_id", "withdrawn_at"),)


class HoursCertificate(Model):
    """A volunteer-hours certificate as issued: what the PDF said, kept so that its code verifies
    it later, whatever the hours or the profile have become since. Only the masked name is kept;
    the PDF in the volunteer's hands has the full one."""

    id = fields.IntField(primary_key=True)
    # Unguessable (server/reports/certificates.py): the code alone shows the certificate to anyone.
    code = fields.CharField(max_length=32, unique=True)
    user_id = fields.IntField(db_index=True)
    volunteer_id = fields.IntField()
    # {"name_masked", "station_name", "years": [{"year", "minutes"}], "total_minutes"}
    snapshot = fields.JSONField()
    # The volunteer themself, or the worker or administrator who issued it for them.
    issued_by = fields.IntField()
    issued_at = fields.DatetimeField()

    class Meta:
        table = "hours_certificates"
