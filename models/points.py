"""Haibei service points (机制二: 服务积分兑换"海贝分"): an append-only ledger with balances,
rewards and their redemption, and the credit export to 信用威海.

Only ``server.points.ledger`` writes ``points_entries`` and ``points_accounts``; entries are
never updated or deleted.
"""

from tortoise import fields
from tortoise.models import Model

ENTRY_KINDS = ("service_award", "bonus", "redemption", "redemption_refund", "reversal", "adjustment", "expiry")


class PointsAccount(Model):
    id = fields.IntField(primary_key=True)
    user = fields.OneToOneField("models.User", related_name="points_account", on_delete=fields.RESTRICT)
    balance = fields.IntField(default=0)
    # Reversed points the balance could not cover, netted from later awards.
    owed = fields.IntField(default=0)
    earned = fields.IntField(default=0)
    spent = fields.IntField(default=0)
    verified_minutes = fields.IntField(default=0)
    # Read under the row lock, so concurrent confirmations see each other: the first-service bonus
    # is paid once and the daily cap holds (a plain read could see an older snapshot).
    award_count = fields.IntField(default=0)
    cap_day = fields.CharField(max_length=8, default="")
    cap_day_points = fields.IntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "points_accounts"


class PointsEntry(Model):
    id = fields.BigIntField(primary_key=True)
    account = fields.ForeignKeyField("models.PointsAccount", related_name="entries", on_delete=fields.RESTRICT)
    amount = fields.IntField()
    kind = fields.CharField(max_length=20)
    ref_type = fields.CharField(max_length=20, null=True)
    ref_id = fields.IntField(null=True)
    idempotency_key = fields.CharField(max_length=100, unique=True)
    actor_id = fields.IntField(null=True)
    reason = fields.CharField(max_length=200, null=True)
    # Minutes of verified service this entry adds (awards) or takes back (their reversals).
    minutes = fields.IntField(default=0)
    balance_after = fields.IntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "points_entries"
        indexes = (("account_id", "id"), ("kind", "created_at"))


class PointsRules(Model):
    """Earning rules, one row per version. The newest version is in force."""

    id = fields.IntField(primary_key=True)
    version = fields.IntField(unique=True)
    rules = fields.JSONField()
    created_by = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "points_rules"


class Reward(Model):
    """A reward donated by a caring enterprise, unit or individual (任务四: 爱心企业)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=60)
    donor = fields.CharField(max_length=80)
    donor_kind = fields.CharField(max_length=20, default="enterprise")
    description = fields.CharField(max_length=500, default="")
    price = fields.IntField()
    # Everything ever donated; stock = total_stock - pending - fulfilled (reconciliation checks it).
    total_stock = fields.IntField()
    stock = fields.IntField()
    per_person_limit = fields.IntField(default=1)
    valid_from = fields.DatetimeField()
    valid_until = fields.DatetimeField()
    pickup_station_ids = fields.JSONField(default=list)
    # Where and how to pick it up, in the donor's or the bureau's words ("驿站服务台, 工作日 9:00-17:00").
    pickup_place = fields.CharField(max_length=200, null=True)
    # A picture of it: an https address the mini-program loads (uploads are service photos,
    # private to their station, and swept when no record holds them).
    image_url = fields.CharField(max_length=500, null=True)
    status = fields.CharField(max_length=10, default="active")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "rewards"


class Redemption(Model):
    id = fields.IntField(primary_key=True)
    reward = fields.ForeignKeyField("models.Reward", related_name="redemptions", on_delete=fields.RESTRICT)
    account = fields.ForeignKeyField("models.PointsAccount", related_name="redemptions", on_delete=fields.RESTRICT)
    points = fields.IntField()
    status = fields.CharField(max_length=10, default="pending")
    pickup_code = fields.CharField(max_length=8, unique=True)
    expires_at = fields.DatetimeField()
    fulfilled_at = fields.DatetimeField(null=True)
    fulfilled_by = fields.IntField(null=True)
    fulfilled_station_id = fields.IntField(null=True)
    ended_at = fields.DatetimeField(null=True)
    reminded_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "redemptions"
        indexes = (("status", "expires_at"), ("account_id", "reward_id"))


class IdempotencyRecord(Model):
    """The answer once given to a request carrying an Idempotency-Key, to replay it."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField()
    key = fields.CharField(max_length=100)
    request_hash = fields.CharField(max_length=64)
    status_code = fields.SmallIntField()
    response = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_records"
        unique_together = (("user_id", "key"),)


class CreditBatch(Model):
    """One numbered export of credit increments for 信用威海 (海贝分)."""

    id = fields.IntField(primary_key=True)
    created_by = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    count = fields.IntField(default=0)

    class Meta:
        table = "credit_batches"


class CreditIncrement(Model):
    id = fields.IntField(primary_key=True)
    batch = fields.ForeignKeyField("models.CreditBatch", related_name="increments", on_delete=fields.RESTRICT)
    user_id = fields.IntField()
    volunteer_id = fields.IntField()
    threshold_hours = fields.IntField()
    increment = fields.IntField()
    hours = fields.FloatField()
    id_number_masked = fields.CharField(max_length=20, null=True)
    id_number_index = fields.CharField(max_length=64, null=True)
    evidence_task_ids = fields.JSONField(default=list)

    class Meta:
        table = "credit_increments"
        unique_together = (("user_id", "threshold_hours"),)
