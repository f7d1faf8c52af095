"""Builders with overridable defaults. People log in through the real API; places and roles that
only an administrator could create are written straight to the database to keep tests short."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from models import District, Organization, Station, UserRole
from server.pii import make_valid_id_number


@dataclass
class Session:
    token: str
    user: dict[str, Any]
    openid: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.user["id"]


def new_openid(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def login(client: httpx.AsyncClient, openid: str | None = None) -> Session:
    openid = openid or new_openid()
    r = await client.post("/api/v1/auth/wechat-login", json={"code": f"fake:{openid}"})
    assert r.status_code == 200, r.text
    data = r.json()
    return Session(token=data["token"], user=data["user"], openid=openid,
                   headers={"Authorization": f"Bearer {data['token']}"})


async def make_district(**overrides: Any) -> District:
    defaults = {"code": str(random.randint(100000, 999999)), "name": "测试区"}
    return await District.create(**{**defaults, **overrides})


async def make_station(district: District | None = None, **overrides: Any) -> Station:
    district = district or await make_district()
    defaults = {"name": f"测试驿站{uuid.uuid4().hex[:6]}", "town": "测试街道", "address": "测试路1号",
                "lat": 37.5, "lng": 122.1}
    return await Station.create(district=district, **{**defaults, **overrides})


async def make_organization(**overrides: Any) -> Organization:
    defaults = {"name": f"测试社工机构{uuid.uuid4().hex[:6]}", "kind": "social_work_agency"}
    return await Organization.create(**{**defaults, **overrides})


async def grant(session: Session, role: str, **binding: Any) -> Session:
    await UserRole.create(user_id=session.id, role=role, **binding)
    # Written behind the app's back: tell its caches, as the services do (server/feed.py).
    await account_changed(session.id)
    return session


async def account_changed(user_id: int) -> None:
    from server import feed

    feed.changed("user", user_id)
    await feed.current().flush()


async def make_worker(client: httpx.AsyncClient, station: Station) -> Session:
    return await grant(await login(client, new_openid("worker")), "worker", station_id=station.id)


async def make_admin(client: httpx.AsyncClient) -> Session:
    return await grant(await login(client, new_openid("admin")), "admin")


async def make_org_staff(client: httpx.AsyncClient, organization: Organization | None = None) -> Session:
    organization = organization or await make_organization()
    return await grant(await login(client, new_openid("staff")), "org_staff", organization_id=organization.id)


def random_id_number(birth: str | None = None) -> str:
    birth = birth or f"19{random.randint(30, 79)}{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
    return make_valid_id_number(region="371002", birth=birth, seq=f"{random.randint(0, 999):03d}")


def resident_payload(station: Station, **overrides: Any) -> dict[str, Any]:
    payload = {
        "name": "王秀英",
        "id_number": random_id_number(),
        "phone": f"139{random.randint(0, 99999999):08d}",
        "community": "鲸园街道新威社区",
        "address": "鲸园街道新威社区3号楼2单元501室",
        "lat": 37.512345,
        "lng": 122.121234,
        "station_id": station.id,
        "categories": ["特困", "独居"],
        "health_notes": "高血压,左腿骨折恢复中",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not ...}


async def make_resident(client: httpx.AsyncClient, station: Station, *, checked_by: Session | None = None,
                        **overrides: Any) -> tuple[Session, dict]:
    """A household that registered itself. Its categories are its declaration; with
    ``checked_by`` (a worker of the station) they are then checked as declared."""
    session = await login(client, new_openid("resident"))
    payload = resident_payload(station, **overrides)
    r = await client.put("/api/v1/me/resident", json=payload, headers=session.headers)
    assert r.status_code == 200, r.text
    if checked_by is not None:
        r = await client.put(f"/api/v1/residents/{r.json()['id']}/categories",
                             json={"categories": payload.get("categories", [])}, headers=checked_by.headers)
        assert r.status_code == 200, r.text
    return session, r.json()


def volunteer_payload(station: Station, **overrides: Any) -> dict[str, Any]:
    payload = {"name": "赵志愿", "phone": f"137{random.randint(0, 99999999):08d}", "skills": ["CLEAN_HOME"],
               "station_id": station.id}
    payload.update(overrides)
    return payload


async def make_volunteer(client: httpx.AsyncClient, station: Station, *, approved_by: Session | None = None,
                         **overrides: Any) -> tuple[Session, dict]:
    session = await login(client, new_openid("volunteer"))
    r = await client.put("/api/v1/me/volunteer", json=volunteer_payload(station, **overrides), headers=session.headers)
    assert r.status_code == 200, r.text
    profile = r.json()
    if approved_by is not None:
        r = await client.post(f"/api/v1/volunteers/{profile['id']}/approve", headers=approved_by.headers)
        assert r.status_code == 200, r.text
        profile = r.json()
    return session, profile


# --- service workflow ----------------------------------------------------------------------


def iso(dt) -> str:
    return dt.isoformat()


def soon(minutes: int = 10):
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


async def make_need(client: httpx.AsyncClient, session: Session, **overrides: Any) -> dict:
    body = {"service_code": "CLEAN_HOME", "description": "家里需要打扫,行动不便", "urgency": "normal"}
    body.update(overrides)
    r = await client.post("/api/v1/needs", json=body, headers=session.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def make_task(client: httpx.AsyncClient, worker: Session, need: dict, *, accept: bool = True,
                    **overrides: Any) -> dict:
    if accept and need["status"] == "submitted":
        r = await client.post(f"/api/v1/needs/{need['id']}/accept", headers=worker.headers)
        assert r.status_code == 200, r.text
    body = {"title": "打扫卫生", "scheduled_start": iso(soon(10)), "scheduled_end": iso(soon(130))}
    body.update(overrides)
    r = await client.post(f"/api/v1/needs/{need['id']}/tasks", json=body, headers=worker.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def make_open_task(client: httpx.AsyncClient, station: Station, **overrides: Any) -> tuple[dict, dict, Session, Session]:
    """An open task at ``station``: returns (task, need, worker, resident session)."""
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    task = await make_task(client, worker, need, **overrides)
    return task, need, worker, resident


async def make_open_task_and_volunteer(client: httpx.AsyncClient, station: Station) -> tuple[dict, dict, Session, Session, Session]:
    """An open task at ``station`` and an approved volunteer of it who has not claimed it yet:
    (task, need, worker, resident session, volunteer session)."""
    task, need, worker, resident = await make_open_task(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    return task, need, worker, resident, volunteer


# Around the household make_resident places by default, within 1 km: a square the browse cell cache
# answers whole (a wider search in an empty map ends in the database, which would hide a stale cache).
NEAR_HOME = {"lat": 37.512345, "lng": 122.121234, "radius_km": 1}


async def make_task_and_two_volunteers(client: httpx.AsyncClient) -> tuple[dict, Session, Session, Session]:
    """An open task at a new station, two approved volunteers of it (one to claim, one to browse)
    and the station's worker: (task, a, b, worker)."""
    station = await make_station()
    task, _, worker, _ = await make_open_task(client, station)
    a, _ = await make_volunteer(client, station, approved_by=worker)
    b, _ = await make_volunteer(client, station, approved_by=worker)
    return task, a, b, worker


async def bulk_volunteers(api, station: Station, n: int, *, skills: list[str] | None = None) -> list[Session]:
    """``n`` approved volunteers written straight to the database, with real tokens (for load)."""
    from models import User, VolunteerProfile
    from server.auth import issue_token

    tag = uuid.uuid4().hex[:8]
    await User.bulk_create([User(openid=f"bulk-{tag}-{i}") for i in range(n)])
    users = await User.filter(openid__startswith=f"bulk-{tag}-").order_by("id")
    await UserRole.bulk_create([UserRole(user_id=u.id, role=r, station_id=station.id if r == "volunteer" else None)
                                for u in users for r in ("resident", "volunteer")])
    await VolunteerProfile.bulk_create([
        VolunteerProfile(user_id=u.id, station_id=station.id, name=f"志愿者{i}", skills=skills or [], status="approved")
        for i, u in enumerate(users)
    ])
    sessions = []
    for u in users:
        token = issue_token(user=u, secret=api.settings.jwt_secret, ttl_seconds=600)
        sessions.append(Session(token=token, user={"id": u.id}, openid=u.openid, headers={"Authorization": f"Bearer {token}"}))
    return sessions


async def fast_login(api, role: str | None = None, **binding: Any) -> Session:
    """A signed-in account created straight in the database with a real token (matrix tests,
    where hundreds of logins through WeChat would only test the same login again)."""
    from models import User
    from server.auth import issue_token

    user = await User.create(openid=new_openid("fast"))
    await UserRole.create(user_id=user.id, role="resident")
    if role:
        await UserRole.create(user_id=user.id, role=role, **binding)
    token = issue_token(user=user, secret=api.settings.jwt_secret, ttl_seconds=600)
    return Session(token=token, user={"id": user.id}, openid=user.openid, headers={"Authorization": f"Bearer {token}"})


async def make_reward(**overrides: Any):
    from datetime import datetime, timedelta, timezone

    from models import Reward

    now = datetime.now(timezone.utc)
    data = {"name": "爱心米面油礼包", "donor": "威海某爱心企业", "price": 10, "stock": 5, "per_person_limit": 1,
            "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=30), "pickup_station_ids": []}
    data.update(overrides)
    return await Reward.create(total_stock=data["stock"], **data)


async def give_points(api, session: Session, amount: int) -> None:
    """Credit ``amount`` points through the ledger (a bonus), as an award would."""
    from tortoise.transactions import in_transaction

    from server.points import ledger

    await ledger.account_for(user_id=session.id)
    async with in_transaction():
        account = await ledger.lock(user_id=session.id)
        await ledger.post(account=account, amount=amount, kind="bonus", key=f"test-bonus:{uuid.uuid4().hex}",
                          now=api.app.ctx.clock(), reason="test")


class clock_moved:
    """The API's clock ``minutes`` on for the block: what a volunteer does after serving that
    long (a record of ``minutes`` from the check-in, its confirmation), without waiting."""

    def __init__(self, minutes: float, app) -> None:
        from datetime import timedelta

        self.app, self.delta = app, timedelta(minutes=minutes)

    def __enter__(self):
        self.real = self.app.ctx.clock
        real, delta = self.real, self.delta
        self.app.ctx.clock = lambda: real() + delta
        return self

    def __exit__(self, *exc) -> None:
        self.app.ctx.clock = self.real


async def record_after(client: httpx.AsyncClient, task_id: int, volunteer: Session, minutes: int,
                       summary: str = "完成", **extra: Any) -> httpx.Response:
    """The volunteer, checked in just now, records ``minutes`` of service from the check-in, sent
    ``minutes`` later (the API's clock moved on for the request)."""
    started = soon(0)
    with clock_moved(minutes, client._haibei_api.app):
        return await client.post(f"/api/v1/tasks/{task_id}/record", headers=volunteer.headers, json={
            "started_at": iso(started), "ended_at": iso(soon(minutes)), "summary": summary, **extra})


async def serve_and_record(client: httpx.AsyncClient, task_id: int, volunteer: Session, minutes: int = 30) -> None:
    """The volunteer claims the task, checks in at the household (resident_payload's position) and
    records ``minutes`` of service: the task waits for the station's confirmation."""
    assert (await client.post(f"/api/v1/tasks/{task_id}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task_id}/check-in", json={"lat": 37.512345, "lng": 122.121234},
                          headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (await record_after(client, task_id, volunteer, minutes)).status_code == 200
