"""The hand-written SQL helpers build the same instances the ORM builds (server/sql.py): ``new`` as
``Model(**values)``, ``hydrate`` as ``Model._init_from_db`` for whole and partial rows; and a
multi-row insert leaves out only the columns the server fills with NULL itself."""

from datetime import datetime, timezone

import uuid

import pytest
from tortoise import Tortoise, connections

from models import Notification, OutboxMessage, Station, TaskClaim, User, WorkflowEvent
from server import sql
from tests.builders import make_station


def _state(obj) -> dict:
    return dict(vars(obj))


def _every_model():
    return [model for app in Tortoise.apps.values() for model in app.values()]


async def test_new_builds_what_the_model_constructor_builds(api):
    now = datetime.now(timezone.utc)
    given = [
        (TaskClaim, dict(task_id=1, volunteer_id=2, claimed_at=now, active_key="1:2")),
        (WorkflowEvent, dict(need_id=1, task_id=2, claim_id=None, subject="claim", actor_id=3, actor_role="volunteer",
                             from_status=None, to_status="claimed", reason=None, created_at=now)),
        (Notification, dict(user_id=1, event="task_claimed", title="t", body="b", page="p", data={"a": "b"},
                            created_at=now)),
        (OutboxMessage, dict(notification_id=1, user_id=1, openid="o", template_id="t", page="p", data={"k": "v"},
                             next_attempt_at=now, created_at=now)),
        (TaskClaim, dict(task_id="7", volunteer_id=2, claimed_at=now.isoformat(), active_key="7:2")),  # converted
    ]
    for model, values in given:
        assert _state(sql.new(model, **values)) == _state(model(**values)), model.__name__
    for model in _every_model():
        # Every model's defaults: factories (a list, a dict) give equal values, each its own.
        assert _state(sql.new(model)) == _state(model()), model.__name__


async def test_new_gives_each_instance_its_own_mutable_default(api):
    first, second = sql.new(TaskClaim), sql.new(TaskClaim)
    first.photos.append("a.jpg")
    assert second.photos == [] and TaskClaim().photos == []


async def test_new_refuses_none_for_a_field_that_is_not_nullable(api):
    with pytest.raises(ValueError):
        TaskClaim(task_id=None)
    with pytest.raises(ValueError):
        sql.new(TaskClaim, task_id=None)


async def test_hydrate_builds_what_the_orm_loads_for_whole_and_partial_rows(api):
    station = await make_station()
    table = Station._meta.db_table
    [row] = await sql.rows(f"SELECT {sql.columns(Station, 's')} FROM {table} s WHERE s.id = %s", [station.id])
    whole = sql.hydrate(Station, row)
    assert _state(whole) == _state(Station._init_from_db(**row))
    assert whole._partial is False
    assert _state(whole) == _state(await Station.get(id=station.id))

    only = ("id", "name", "lat", "created_at")
    [row] = await sql.rows(f"SELECT {sql.columns(Station, 's', 'x_', only)}, 1 AS other FROM {table} s"
                           " WHERE s.id = %s", [station.id])
    part = sql.hydrate(Station, row, "x_")
    assert _state(part) == _state(Station._init_from_db(**{k[2:]: v for k, v in row.items() if k.startswith("x_")}))
    assert part._partial is True and (part.name, part.lat) == (station.name, station.lat)
    assert not hasattr(part, "address")


async def test_insert_many_leaves_out_only_columns_null_in_every_row(api):
    users = [await User.create(openid=f"sql-{i}-{station_tag()}") for i in range(3)]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = [sql.new(Notification, user_id=u.id, event="task_claimed", title="志愿者已接单", body="正文", page="p",
                    data={"k": "v"}, created_at=now) for u in users]
    client = connections.get("default")
    seen: list[str] = []
    original = client.execute_query_dict

    async def recording(text, values=None):  # passes every statement on, keeping its text
        seen.append(text)
        return await original(text, values)

    client.execute_query_dict = recording
    try:
        await sql.insert_many(rows[:2])  # read_at NULL in every row: left to the server
        rows[2].read_at = now
        await sql.insert_many(rows[2:])  # set in the row: written
    finally:
        del client.execute_query_dict
    first, second = (text.split("(", 1)[1].split(")", 1)[0] for text in seen)
    assert "read_at" not in first and "read_at" in second
    assert all(column in first for column in ("user_id", "event", "title", "body", "page", "data", "created_at"))
    got = {n.user_id: n for n in await Notification.filter(id__in=[n.id for n in rows])}
    assert len(got) == 3 and all(n.id for n in rows)
    assert got[users[0].id].read_at is None and got[users[2].id].read_at == now
    assert got[users[1].id].data == {"k": "v"} and got[users[1].id].created_at == now


def station_tag() -> str:
    return uuid.uuid4().hex[:8]


async def test_a_caller_is_kept_as_the_orm_would_load_them(api):
    """The caller cache (server/auth.py) builds a caller's user, roles and volunteer profile from
    the caller statement's rows with ``hydrate``: what it keeps is what ``_init_from_db`` gives for
    the same columns, for a volunteer with several roles and for an account with one role only."""
    from models import UserRole, VolunteerProfile
    from server import auth
    from tests.builders import bulk_volunteers, fast_login

    station = await make_station()
    [volunteer] = await bulk_volunteers(api, station, 1, skills=["CLEAN_HOME"])
    await UserRole.create(user_id=volunteer.id, role="worker", station_id=station.id)
    plain = await fast_login(api)

    def strip(row: dict, prefix: str) -> dict:
        return {key[len(prefix):]: value for key, value in row.items() if key.startswith(prefix)}

    def kept(instance) -> tuple[dict, dict]:
        """What the cache keeps of an instance, attribute order aside (``_fresh`` sets a dict)."""
        plain, mutable = auth._keep(instance)
        return dict(plain), {name: rest for name, *rest in mutable}

    def unkept(parts) -> tuple[dict, dict]:
        plain, mutable = parts
        return dict(plain), {name: rest for name, *rest in mutable}

    for user_id in (volunteer.id, plain.id):
        found = await sql.rows(auth._caller_sql("u.id = %s"), [user_id])
        user, roles, kept_volunteer, volunteer_id, rows, _ = auth._split(found)
        first = found[0]
        assert unkept(user) == kept(User._init_from_db(**{k: v for k, v in first.items() if k in User._meta.db_fields}))
        assert [(name, unkept(role)) for name, role in roles] == [
            (row["r_role"], kept(UserRole._init_from_db(**strip(row, "r_")))) for row in found]
        assert rows == len(found) == len(roles)
        if user_id == volunteer.id:
            expected = VolunteerProfile._init_from_db(**strip(first, "v_"))
            assert unkept(kept_volunteer) == kept(expected) and volunteer_id == expected.id
            assert unkept(kept_volunteer)[1]["skills"] == ["list", ("CLEAN_HOME",)]
            assert {name for name, _ in roles} == {"resident", "volunteer", "worker"}
        else:
            assert kept_volunteer is None and volunteer_id is None
