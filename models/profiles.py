"""Resident (household) and volunteer profiles.

Columns ending in ``_enc`` hold AES-GCM tokens from ``server.pii.FieldCipher`` (PIPL art. 51,
GB/T 35273 §6.3); ``_masked`` columns hold the display form so lists never decrypt.
"""

from tortoise import fields
from tortoise.models import Model


class ResidentProfile(Model):
    id = fields.IntField(primary_key=True)
    # NULL when a worker keeps the profile for someone without a phone (机制一).
    user = fields.OneToOneField("models.User", related_name="resident", null=True, on_delete=fields.SET_NULL)
    station = fields.ForeignKeyField("models.Station", related_name="residents", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=40)
    id_number_enc = fields.CharField(max_length=200, null=True)
    id_number_index = fields.CharField(max_length=64, null=True, unique=True)
    id_number_masked = fields.CharField(max_length=20, null=True)
    birth_date = fields.DateField(null=True)
    gender = fields.CharField(max_length=6, null=True)
    phone_enc = fields.CharField(max_length=200, null=True)
    phone_masked = fields.CharField(max_length=20, null=True)
    community = fields.CharField(max_length=80, null=True)
    address_enc = fields.CharField(max_length=600, null=True)
    location_enc = fields.CharField(max_length=200, null=True)
    # The assistance categories (特困, 低保…) a worker has checked: what statistics, worksheets and
    # policy matching count. A household's own say goes to ``declared_categories`` until a worker
    # checks it (政策(一): who is 救助对象 is settled by the civil-affairs records, not by the person).
    categories = fields.JSONField(default=list)
    declared_categories = fields.JSONField(null=True)  # the household's own, awaiting a check; None: none waits
    health_notes_enc = fields.TextField(null=True)
    guardian_name = fields.CharField(max_length=40, null=True)
    guardian_phone_enc = fields.CharField(max_length=200, null=True)
    guardian_relation = fields.CharField(max_length=20, null=True)
    guardian_consent_at = fields.DatetimeField(null=True)
    guardian_consent_recorded_by = fields.IntField(null=True)
    entered_on_behalf = fields.BooleanField(default=False)
    entered_by = fields.IntField(null=True)
    status = fields.CharField(max_length=12, default="active")
    anonymised_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "resident_profiles"


class VolunteerProfile(Model):
    id = fields.IntField(primary_key=True)
    user = fields.OneToOneField("models.User", related_name="volunteer", on_delete=fields.CASCADE)
    station = fields.ForeignKeyField("models.Station", related_name="volunteers", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=40)
    phone_enc = fields.CharField(max_length=200, null=True)
    phone_masked = fields.CharField(max_length=20, null=True)
    skills = fields.JSONField(default=list)
    # Optional: needed only to pass verified hours to 信用威海 as 海贝分 increments.
    id_number_enc = fields.CharField(max_length=200, null=True)
    id_number_index = fields.CharField(max_length=64, null=True)
    id_number_masked = fields.CharField(max_length=20, null=True)
    status = fields.CharField(max_length=12, default="pending")
    # Opt-in "new task near me": a position snapped to the ~500 m grid and a radius; NULL = off.
    nearby_lat = fields.FloatField(null=True)
    nearby_lng = fields.FloatField(null=True)
    nearby_km = fields.FloatField(null=True)
    reviewed_by = fields.IntField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    reject_reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "volunteer_profiles"
