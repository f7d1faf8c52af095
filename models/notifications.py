"""Notifications: the in-app inbox (always), the WeChat outbox (when the user has quota), and the
per-template subscription quota that WeChat itself cannot report."""

from tortoise import fields
from tortoise.models import Model


class Notification(Model):
    id = fields.BigIntField(primary_key=True)
    user_id = fields.IntField()
    event = fields.CharField(max_length=40)
    title = fields.CharField(max_length=60)
    body = fields.CharField(max_length=300)
    page = fields.CharField(max_length=200, null=True)
    data = fields.JSONField(default=dict)
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notifications"
        indexes = (("user_id", "id"),)


class OutboxMessage(Model):
    """A WeChat subscribe message waiting to be sent by a worker process (server.worker)."""

    id = fields.BigIntField(primary_key=True)
    notification_id = fields.BigIntField()
    user_id = fields.IntField()
    openid = fields.CharField(max_length=64)
    template_id = fields.CharField(max_length=80)
    page = fields.CharField(max_length=200, null=True)
    data = fields.JSONField()
    # pending → sending (leased) → sent | dead; skipped when WeChat says the user has no quota.
    status = fields.CharField(max_length=8, default="pending")
    attempts = fields.SmallIntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=200, null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "outbox_messages"
        # What the workers take (due pending rows, expired leases) and whose rows an account's
        # closing forgets, each found through an index: the table keeps every message sent, and a
        # locking scan over it would hold the rows it passes and stall every sender meanwhile.
        indexes = (("status", "next_attempt_at"), ("status", "lease_until"), ("user_id",))


class SubscriptionQuota(Model):
    """How many one-time subscribe messages a user has granted for a template and not yet used."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField()
    template_id = fields.CharField(max_length=80)
    remaining = fields.IntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "subscription_quotas"
        unique_together = (("user_id", "template_id"),)


class ContentFlag(Model):
    """User text saved but held for a worker's review: WeChat said "review", or could not be asked."""

    id = fields.IntField(primary_key=True)
    station_id = fields.IntField(null=True)
    subject_type = fields.CharField(max_length=20)
    subject_id = fields.IntField()
    field = fields.CharField(max_length=30)
    verdict = fields.CharField(max_length=12)
    reason = fields.CharField(max_length=100)
    author_id = fields.IntField()
    resolved_by = fields.IntField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "content_flags"
        indexes = (("station_id", "resolved_at"),)


class CallbackEvent(Model):
    """A push event already handled: WeChat retries deliveries, each must have one effect."""

    id = fields.IntField(primary_key=True)
    dedupe_key = fields.CharField(max_length=120, unique=True)
    event = fields.CharField(max_length=40)
    openid = fields.CharField(max_length=64)
    payload = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "callback_events"
