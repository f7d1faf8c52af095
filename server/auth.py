"""Bearer tokens and the caller behind them.

Tokens are short JWTs (HS256) carrying the user id and the user's ``token_version``; bumping the
version (account closed, forced logout) revokes every older token at once. Roles are *not* in the
token: they are read from the database — through this process's copy of the caller, which every
change to the account, its roles or its volunteer profile drops in every process (server/feed.py)
— so a removed role stops working on the user's next request.
"""

from __future__ import annotations

import copy
import functools
import time
from typing import Any

import jwt
from sanic import Request

from models import User, UserRole, VolunteerProfile
from server import feed, sessions, sql
from server.actors import Actor
from server.batching import Batcher
from server.errors import TokenInvalid, Unauthenticated

ISSUER = "haibei"


def issue_token(*, user: User, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": str(user.id), "ver": user.token_version, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


async def load_actor(*, user: User) -> Actor:
    actor = await _load_caller(user.id)
    assert actor is not None, "the user was just read"
    actor.user = user
    return actor


# The volunteer's active claims ride along with the caller (browsing needs them), as "id,id,…"
# ({order}: in order where the checksum covers them, MySQL/MariaDB only).
_ACTIVE_CLAIMS = ("(SELECT GROUP_CONCAT(m.task_id{order}) FROM task_claims m WHERE m.volunteer_id = v.id"
                  " AND m.status IN ('claimed', 'checked_in', 'submitted'))")
_CALLER_FROM = (" FROM users u LEFT JOIN user_roles r ON r.user_id = u.id"
                " LEFT JOIN volunteer_profiles v ON v.user_id = u.id WHERE {which}")


def _caller_checksum() -> str:
    """A checksum of one row of the caller statement (server.sql.checksum): every column it reads."""
    return _checksum_for(sql.dialect())


@functools.cache
def _checksum_for(dialect: str) -> str:
    if dialect == "sqlite":
        return "0"  # no MD5: cached callers are read again whole
    return sql.checksum([f"{alias}.{col}" for model, alias in ((User, "u"), (UserRole, "r"), (VolunteerProfile, "v"))
                         for col in model._meta.db_fields] + [_ACTIVE_CLAIMS.format(order=" ORDER BY m.task_id")])


def _caller_sql(which: str) -> str:
    """The caller statement for the users ``which`` selects (a fixed fragment on ``u.id``)."""
    return (
        f"SELECT {sql.columns(User, 'u')}, {sql.columns(UserRole, 'r', 'r_')},"
        f" {sql.columns(VolunteerProfile, 'v', 'v_')}, {_ACTIVE_CLAIMS.format(order='')} AS active_claims,"
        f" {_caller_checksum()} AS fp" + _CALLER_FROM.format(which=which)
    )


def _caller_check_sql(which: str) -> str:
    """Per user ``which`` selects: how many rows the caller statement gives, and the XOR of their
    checksums, to tell a cached caller still as the database has it (``_reload_callers``)."""
    return f"SELECT u.id, COUNT(*) AS n, BIT_XOR({_caller_checksum()}) AS fp" + _CALLER_FROM.format(which=which) + \
        " GROUP BY u.id"


_CALLER = sql.Statement(lambda: _caller_sql("u.id = %s"))


async def _load_caller(user_id: int, *, cached: bool = False) -> Actor | None:
    """The user, the roles they hold and their volunteer profile if any, in one hand-written
    statement (see server.sql on why by hand). With ``cached``, from this process's copy while
    the change feed vouches for it (server.feed): every write to an account, its roles or its
    volunteer profile says ``feed.changed("user", id)``, which drops the copy in every process."""
    cache = feed.current().cache("user") if cached else None
    due: list[int] = []
    parts = cache.get(user_id, due=due) if cache is not None else None
    if due:
        cache.refresh_later(due, _reload_callers)
    if parts is None:
        parts = await _read_caller(user_id, cache)
    if not parts:
        return None
    # Fresh model instances every time: a request may change its copy, never what is kept.
    user, roles, volunteer, _, _, _ = parts
    return Actor(user=_fresh(User, user), roles={role: _fresh(UserRole, kept) for role, kept in roles},
                 volunteer=_fresh(VolunteerProfile, volunteer) if volunteer is not None else None)


# A model instance as the caller cache keeps it: its attributes as (name, value) pairs, and its
# mutable values (a volunteer's skills, the ORM's own bookkeeping) as (name, kind, contents) with
# the contents in a tuple. Plain tuples of plain values, which the collector stops tracking: 50 000
# cached callers kept as model instances were a few hundred thousand objects for every full
# collection to walk, 100-300 ms each under load (the p99 under load). ``_fresh`` makes a model
# instance of it for a request: ~2 µs, where building one from its row (``Model._init_from_db``,
# which converts every column) costs ~18 µs, and every authenticated request needs two or three.
_Kept = tuple[tuple[tuple[str, Any], ...], tuple[tuple[str, str, Any], ...]]
_KINDS = {"list": list, "dict": dict, "set": set}


def _keep(instance: Any) -> _Kept:
    plain, mutable = [], []
    for key, value in vars(instance).items():
        kind = type(value).__name__
        if kind not in _KINDS:
            plain.append((key, value))
        elif any(isinstance(v, (list, dict, set)) for v in (value.items() if kind == "dict" else value)):
            mutable.append((key, "deep", value))  # nested: kept as it is, copied deep (rare)
        else:
            mutable.append((key, kind, tuple(value.items() if kind == "dict" else value)))
    return tuple(plain), tuple(mutable)


def _fresh(model: type, kept: _Kept) -> Any:
    """A model instance of ``kept``, its own: what a request sets or changes in it stays there."""
    copied = model.__new__(model)
    state = vars(copied)
    plain, mutable = kept
    state.update(plain)
    for key, kind, contents in mutable:
        state[key] = copy.deepcopy(contents) if kind == "deep" else _KINDS[kind](contents)
    return copied


async def _read_caller(user_id: int, cache: feed.LocalCache | None) -> tuple:
    """The caller's parts as ``_split`` gives them (() if no such user), kept in ``cache`` if
    given: then read together with the other callers this process is loading at the moment."""
    if cache is not None:
        return await _CALLERS.submit(user_id)
    found = await sql.rows(_CALLER, [user_id])
    return _split(found) if found else ()


async def _load_callers(user_ids: list[int]) -> list[_Caller | tuple]:
    """The caller statement for several users at once, each kept in the cache (with their active
    claims); their parts in the order asked."""
    cache = feed.current().cache("user")
    token = cache.begin()
    wanted = sorted(set(user_ids))
    by_user: dict[int, list[dict]] = {user_id: [] for user_id in wanted}
    for row in await sql.rows(_caller_sql(f"u.id IN ({sql.placeholders(wanted)})"), wanted):
        by_user[row["id"]].append(row)
    parts = {user_id: _keep_caller(cache, user_id, found, token) for user_id, found in by_user.items()}
    return [parts[user_id] for user_id in user_ids]


# Callers missing from the cache, read together under load (server.batching).
_CALLERS: Batcher[int, tuple] = Batcher("caller", _load_callers, max_batch=100)


def _keep_caller(cache: feed.LocalCache, user_id: int, found: list[dict], token: int) -> _Caller | tuple:
    """Store the caller statement's rows for ``user_id`` (and their active claims); returns the parts."""
    parts = _split(found) if found else ()
    cache.store(user_id, parts, token)
    if parts and parts[3] is not None:
        # Read in the same statement: the browse cache of this volunteer's active claims
        # (server/workflow/browse.py) may keep it, unless a claim of theirs changed meanwhile.
        held = found[0]["active_claims"]
        held = held.decode() if isinstance(held, bytes) else str(held or "")
        feed.current().cache("claims").store(
            parts[3], tuple(sorted(int(t) for t in held.split(",") if t)), token)
    return parts


async def _reload_callers(user_ids: list[int]) -> None:
    """Reload cached callers still in use near their age limit (``LocalCache.refresh_later``):
    one statement checks the whole batch against the database, and only the callers that differ
    are read again (the caller statement, for all of them at once); the others, and the active
    claims read with them, keep their entries, as fresh as a read would make them."""
    cache = feed.current().cache("user")
    stale = user_ids
    if sql.dialect() != "sqlite":
        async def now_in(batch: list[int]) -> dict[int, tuple[int, int]]:
            wanted = sorted(set(batch))
            found = await sql.rows(_caller_check_sql(f"u.id IN ({sql.placeholders(wanted)})"), wanted)
            return {row["id"]: (int(row["n"]), int(row["fp"] or 0)) for row in found}

        # A caller's row count and checksum (``_Caller``), their active claims in the checksum; a
        # user kept as missing (``()``) stays so while the check finds no row either.
        stale, kept, token = await cache.keep_unchanged(user_ids, now_in, lambda parts: parts[4:6] or None)
        claims = feed.current().cache("claims")
        for parts in kept:
            if parts and parts[3] is not None and (mine := claims.peek(parts[3])) is not None:
                claims.store(parts[3], mine, token)
    if stale:
        await _load_callers(stale)


# A caller as the cache keeps them (a plain tuple, see ``_Kept``): the user, each role by name,
# the volunteer profile or None and its id; how many rows the caller statement gave, and the XOR
# of their checksums.
_Caller = tuple[_Kept, tuple[tuple[str, _Kept], ...], _Kept | None, int | None, int, int]


def _split(found: list[dict]) -> _Caller:
    """The caller statement's rows as the caller's parts. Read by ``sql.hydrate``'s plans, as the
    ORM's ``_init_from_db`` would build them, without copying each row into a dict per model first
    (a caller not in the cache — the first request of everyone opening the app — cost ~100 µs here)."""
    first = found[0]
    user = sql.hydrate(User, first)  # the unprefixed columns: r_*, v_*, active_claims and fp are no User field's
    roles = tuple((row["r_role"], _keep(sql.hydrate(UserRole, row, "r_"))) for row in found if row["r_id"] is not None)
    volunteer = sql.hydrate(VolunteerProfile, first, "v_") if first["v_id"] is not None else None
    checksum = 0
    for row in found:
        checksum ^= int(row["fp"] or 0)
    if volunteer is None:
        return _keep(user), roles, None, None, len(found), checksum
    return _keep(user), roles, _keep(volunteer), volunteer.id, len(found), checksum


# Verified tokens, so the signature is checked once per token and process, not on every request;
# expiry is still checked every time. Bounded: cleared when full.
_VERIFIED: dict[tuple[str, str], tuple[int, int, int]] = {}


def _verify(token: str, secret: str) -> tuple[int, int]:
    """(user id, token version) of a valid token; raises TokenInvalid."""
    known = _VERIFIED.get((secret, token))
    if known is None:
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER,
                                options={"require": ["exp", "sub", "ver", "iss"]})
            known = (int(claims["sub"]), int(claims["ver"]), int(claims["exp"]))
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("登录已过期,请重新登录") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise TokenInvalid() from None
        if len(_VERIFIED) >= 100_000:
            _VERIFIED.clear()
        # Keyed by the secret too: a changed secret must not accept what the old one signed.
        _VERIFIED[(secret, token)] = known
    if known[2] <= time.time():
        raise TokenInvalid("登录已过期,请重新登录")
    return known[0], known[1]


async def authenticate(request: Request) -> Actor:
    """Resolve the caller from ``Authorization: Bearer``; cached on the request."""
    actor = getattr(request.ctx, "actor", None)
    if actor is not None:
        return actor
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    user_id, version = _verify(token.strip(), request.app.ctx.settings.jwt_secret)
    actor = await _load_caller(user_id, cached=True)
    if actor is None or actor.user.status != "active" or actor.user.token_version != version:
        raise TokenInvalid()
    request.ctx.actor = actor
    return actor


async def authenticate_console(request: Request) -> Actor:
    """Resolve the caller of a staff console page from its session cookie (server/sessions.py);
    cached on the request. A session opened under an older token version is over, as a token is."""
    actor = getattr(request.ctx, "actor", None)
    if actor is not None:
        return actor
    ctx = request.app.ctx
    session = await sessions.find_session(ctx.redis.aio, prefix=ctx.settings.redis_prefix,
                                          session_id=request.cookies.get(sessions.COOKIE))
    if session is None:
        raise Unauthenticated()
    actor = await _load_caller(session.user_id, cached=True)
    if actor is None or actor.user.status != "active" or actor.user.token_version != session.token_version:
        raise TokenInvalid()
    request.ctx.actor, request.ctx.console_session = actor, session
    return actor
