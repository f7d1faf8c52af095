"""Bearer tokens and the caller behind them.

Tokens are short JWTs (HS256) carrying the user id and the user's ``token_version``; bumping the
version (account closed, forced logout) revokes every older token at once. Roles are *not* in the
token: they are read from the database on every request, so a removed role stops working at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt
from sanic import Request

from models import User, UserRole
from server.errors import Forbidden, TokenInvalid, Unauthenticated

ISSUER = "haibei"


@dataclass
class Actor:
    """The authenticated caller and the roles they hold right now."""

    user: User
    roles: dict[str, UserRole] = field(default_factory=dict)

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
    def organization_id(self) -> int | None:
        role = self.roles.get("org_staff")
        return role.organization_id if role else None

    def require(self, *roles: str) -> None:
        if not any(r in self.roles for r in roles):
            raise Forbidden()


def issue_token(*, user: User, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": str(user.id), "ver": user.token_version, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


async def load_actor(*, user: User) -> Actor:
    roles = await UserRole.filter(user_id=user.id)
    return Actor(user=user, roles={r.role: r for r in roles})


async def authenticate(request: Request) -> Actor:
    """Resolve the caller from ``Authorization: Bearer``; cached on the request."""
    actor = getattr(request.ctx, "actor", None)
    if actor is not None:
        return actor
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    settings = request.app.ctx.settings
    try:
        claims = jwt.decode(
            token.strip(),
            settings.jwt_secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "ver", "iss"]},
        )
        user_id = int(claims["sub"])
        version = int(claims["ver"])
    except jwt.ExpiredSignatureError:
        raise TokenInvalid("登录已过期,请重新登录") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise TokenInvalid() from None
    # One query: the roles with their user joined (every account holds at least "resident").
    roles = await UserRole.filter(user_id=user_id).select_related("user")
    user = roles[0].user if roles else await User.get_or_none(id=user_id)
    if user is None or user.status != "active" or user.token_version != version:
        raise TokenInvalid()
    actor = Actor(user=user, roles={r.role: r for r in roles})
    request.ctx.actor = actor
    return actor
