"""Resident (household) and volunteer profiles.

Columns ending in ``_enc`` hold AES-GCM tokens from ``server.pii.FieldCipher`` (PIPL art. 51,
GB/T 35273 §6.3); ``_masked`` columns hold the display form so lists never decrypt. Sealed columns
(models/sealed.py: categories, birth date, guardian) are encrypted too, opened by the field itself.
"""

from tortoise import fields
from tortoise.models import Model

from models.sealed import SealedDate, SealedJSON, SealedText


class ResidentProfile(Model):
    id = fields.IntField(primary_key=True)
    # NULL when a worker keeps the profile for someone without a phone (机制一).
    user = fields.OneToOneField("models.User", related_name="resident", null=True, on_delete=fields.SET_NULL)
    station = fields.ForeignKeyField("models.Station", related_name="residents", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=40)
    id_number_enc = fields.CharField(max_length=200, null=True)
    id_number_index = fields.CharField(max_length=64, null=True, unique=True)
    id_number_masked = fields.CharField(max_length=20, null=True)
    birth_date = SealedDate(context="resident_profiles.birth_date", null=True)
    gender = fields.CharField(max_length=6, null=True)
    phone_enc = fields.CharField(max_length=200, null=True)
    phone_masked = fields.CharField(max_length=20, null=True)
    # Blind index of the phone (server.pii.FieldCipher.blind_index): a worker finds a household by
    # the number they are given, exactly, without the column revealing it. Not unique: a couple
    # may share one.
    phone_index = fields.CharField(max_length=64, null=True, db_index=True)
    community = fields.CharField(max_length=80, null=True)
    address_enc = fields.CharField(max_length=600, null=True)
    location_enc = fields.CharField(max_length=200, null=True)
    # The assistance categories (特困, 低保…) a worker has checked: what statistics, worksheets and
    # policy matching count. A household's own say goes to ``declared_categories`` until a worker
    # checks it (政策(一): who is 救助对象 is settled by the civil-affairs records, not by the person).
    categories = SealedJSON(context="resident_profiles.categories", default=list)
    declared_categories = SealedJSON(context="resident_profiles.declared_categories", null=True)  # the household's own, awaiting a check; None: none waits
    health_notes_enc = fields.TextField(null=True)
    guardian_name = SealedText(context="resident_profiles.guardian_name", null=True)
    guardian_phone_enc = fields.CharField(max_length=200, null=True)
    guardian_relation = fields.CharField(max_length=20, null=True)
    guardian_consent_at = fields.DatetimeField(null=True)
    guardian_consent_recorded_by = fields.IntField(null=True)
    entered_on_behalf = fields.BooleanField(default=False)
    entered_by = fields.IntField(null=True)
    status = fields.CharField(max_length=12, default="active")
    anonymised_at = fields.DatetimeField(null=True)
    # The end of assistance (退出, status "exited"): why (server/lifecycle/exits.py), a note, when, by whom.
    exit_reason = fields.CharField(max_length=16, null=True)
    exit_note = fields.CharField(max_length=200, null=True)
    exited_at = fields.DatetimeField(null=True)
    exited_by = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "resident_profiles"


class VolunteerProfile(Model):
    id = fields.IntField(primary_key=True)
    user = fields.OneToOneField("models.User", related_name="volunteer", on_delete=fields.CASCADE)
    station = fields.ForeignKeyField("models.Station", related_name="volunteers", on_delete=fields.RESTRICT)
    name = fields.CharField(max_length=40)
    # The name the volunteer chose to be shown by (昵称) where other people see them by name: the
    # leaderboards. Not reviewed by the station (the real name above is); judged clean by the
    # content check before it is kept (server/workflow/content.py). NULL: the masked real name.
    display_name = fields.CharField(max_length=12, null=True)
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
        indexes = (("station_id", "status"),)


class IdentityCase(Model):
    """Two household profiles naming one ID number: someone registered themself with a number a
    household already holds. Both profiles are kept and the newcomer is told what everyone is told
    (saved, the station checks), so saving a profile says nothing of who is on the register; the
    holder's station settles which profile the number belongs to.

    An open case names the number by its blind index, not the profile holding it: the holder is
    whoever holds the index when the case is read (two people may register one number at the same
    moment, and the winner's row is not visible to the loser until it commits)."""

    id = fields.IntField(primary_key=True)
    claimant = fields.ForeignKeyField("models.ResidentProfile", related_name="identity_claims",
                                      on_delete=fields.CASCADE)
    claimant_station_id = fields.IntField()  # sees the case too: the newcomer is its household
    number_index = fields.CharField(max_length=64, db_index=True)
    status = fields.CharField(max_length=8, default="open")  # open | settled
    outcome = fields.CharField(max_length=16, null=True)  # holder_keeps | claimant_takes | withdrawn
    note = fields.CharField(max_length=200, null=True)
    # The claimant's id while open: one open claim per profile, however often it is saved.
    open_key = fields.IntField(null=True, unique=True)
    created_at = fields.DatetimeField()
    # Who held the number and their station, once settled (an open case resolves them by the index).
    holder_id = fields.IntField(null=True)
    station_id = fields.IntField(null=True)
    settled_by = fields.IntField(null=True)
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "identity_cases"
        indexes = (("status", "station_id"), ("claimant_station_id", "status"))
