"""Tortoise models, one module per aggregate, re-exported here for ``Tortoise.init(models=["models"])``."""

from models.audit import AuditLog
from models.places import District, Organization, Station
from models.profiles import ResidentProfile, VolunteerProfile
from models.users import ROLES, User, UserRole, WechatSession

__all__ = [
    "ROLES",
    "AuditLog",
    "District",
    "Organization",
    "ResidentProfile",
    "Station",
    "User",
    "UserRole",
    "VolunteerProfile",
    "WechatSession",
]
