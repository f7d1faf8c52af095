"""The caller of a service: a user and the roles they hold right now.

Services take an ``Actor``; how one is made from a request's bearer token is server/auth.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models import User, UserRole, VolunteerProfile
from server.errors import Forbidden


@dataclass
class Actor:
    """The authenticated caller and the roles they hold right now."""

    user: User
    roles: dict[str, UserRole] = field(default_factory=dict)
    # Their volunteer profile, whatever its status, as read with the roles (None if they have none).
    volunteer: VolunteerProfile | None = None

    @property
    def id(self) -> int:
        return self.user.id

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def station_id(self) -> int | None:
        """The station a worker is bound to, or None for everyone else."""
        role = self.roles.get("worker")
        return role.station_id if role else None

    @property
    def district_id(self) -> int | None:
        """The district a district administrator (区市民政) keeps, or None for everyone else."""
        role = self.roles.get("district_admin")
        return role.district_id if role else None

    @property
    def organization_id(self) -> int | None:
        role = self.roles.get("org_staff")
        return role.organization_id if role else None

    def require(self, *roles: str) -> None:
        if not any(r in self.roles for r in roles):
            raise Forbidden()
