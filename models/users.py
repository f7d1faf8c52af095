"""Accounts, their roles, and the WeChat session key (kept server-side, encrypted)."""

from tortoise import fields
from tortoise.models import Model

ROLES = ("resident", "volunteer", "worker", "org_staff", "district_admin", "admin")


class User(Model):
    id = fields.IntField(primary_key=True)
    # NULL once the account is closed, so the same WeChat user can start afresh (PIPL art. 47).
    openid = fields.CharField(max_length=64, unique=True, null=True)
    unionid = fields.CharField(max_length=64, null=True)
    phone_enc = fields.CharField(max_length=200, null=True)
    phone_masked = fields.CharField(max_length=20, null=True)
    # Bumped to revoke every token issued before (account closed, forced logout).
    token_version = fields.IntField(default=1)
    status = fields.CharField(max_length=10, default="active")
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class UserRole(Model):
    """A role a user holds. A worker binds to a station, org_staff to an organisation, a district
    administrator (区市民政) to a district."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="roles", on_delete=fields.CASCADE)
    role = fields.CharField(max_length=16)
    station = fields.ForeignKeyField("models.Station", related_name="staff", null=True, on_delete=fields.RESTRICT)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    district = fields.ForeignKeyField("models.District", related_name="administrators", null=True,
                                      on_delete=fields.RESTRICT)
    granted_by = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user_roles"
        unique_together = (("user", "role"),)


class WechatSession(Model):
    """code2Session's session_key: needed later to decrypt WeChat payloads, never sent out."""

    user = fields.OneToOneField("models.User", related_name="wechat_session", primary_key=True, on_delete=fields.CASCADE)
    session_key_enc = fields.CharField(max_length=200)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wechat_sessions"
