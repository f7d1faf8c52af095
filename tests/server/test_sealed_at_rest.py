"""A household's sensitive status is nowhere in the database in clear: its assistance categories
(checked and declared), birth date, guardian, the words of its needs, what a service record says
and a home visit's answers. Read as the database holds them: every row of every table as it comes
back from SQL, and the table files themselves (the SQLite file; MariaDB's InnoDB files, flushed).
The same test runs on SQLite in a subprocess when the suite runs on MariaDB."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tortoise import connections

from models import sealed
from tests.builders import (
    iso, make_need, make_resident, make_station, make_task, make_volunteer, make_worker, random_id_number, record_after,
    resident_payload, soon,
)
from tests.conftest import BACKEND
from tests.handlers.care.test_assessments import HARD

ROOT = Path(__file__).resolve().parent.parent.parent
# Tables of reference data, the same for everyone: a policy's rule may name 低保, a questionnaire its items.
REFERENCE = {"services", "service_categories", "policies", "policy_revisions", "questionnaire_versions", "points_rules",
             "rewards", "districts", "stations", "organizations", "tortoise_migrations", "projects", "project_steps"}
CATEGORIES = ("特困", "失能", "低保", "独居")


async def _tables() -> list[str]:
    conn = connections.get("default")
    if BACKEND.db_url.startswith("mysql://"):
        return [next(iter(r.values())) for r in await conn.execute_query_dict("SHOW TABLES")]
    return [r["name"] for r in await conn.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]


async def _rows_as_text() -> dict[str, str]:
    conn = connections.get("default")
    quote = "`" if BACKEND.db_url.startswith("mysql://") else '"'
    return {table: repr(await conn.execute_query_dict(f"SELECT * FROM {quote}{table}{quote}"))
            for table in await _tables()}


async def _files() -> list[bytes]:
    """The bytes of the table files of this database."""
    conn = connections.get("default")
    if not BACKEND.db_url.startswith("mysql://"):
        path = Path(BACKEND.db_url[len("sqlite://"):])
        return [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]
    import aiomysql

    datadir = (await conn.execute_query_dict("SELECT @@datadir AS d"))[0]["d"]
    database = BACKEND.db_url.rsplit("/", 1)[1]
    tables = ", ".join(f"`{t}`" for t in await _tables())
    # Writes every dirty page of these tables to their .ibd files and holds writes until UNLOCK, on
    # a connection of its own: the lock belongs to the connection that took it, not to the pool's.
    own = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db=database)
    try:
        async with own.cursor() as cur:
            await cur.execute(f"FLUSH TABLES {tables} FOR EXPORT")
            try:
                return [p.read_bytes() for p in Path(datadir, database).glob("*.ibd")]
            finally:
                await cur.execute("UNLOCK TABLES")
    finally:
        own.close()


async def test_no_sensitive_status_in_clear(api, client):
    marker = uuid.uuid4().hex[:6]
    guardian = f"欧阳守拙{marker}"
    words = f"老人独居卧床{marker}需要擦身"
    summary = f"测量血压一百六{marker}已提醒服药"
    station = await make_station()
    worker = await make_worker(client, station)
    # Born 1931-07-19, a minor's guardian fields given anyway (any household may name one).
    profile = {"id_number": random_id_number("19310719"), "guardian_name": guardian, "guardian_phone": "13800003001",
               "guardian_relation": "子女"}
    s, resident = await make_resident(client, station, checked_by=worker, categories=["特困", "失能"], **profile)
    # The household then declares something else of itself, awaiting the station's check.
    r = await client.put("/api/v1/me/resident", headers=s.headers,
                         json=resident_payload(station, categories=["低保", "独居"], **profile))
    assert r.status_code == 200, r.text
    need = await make_need(client, s, description=words)
    task = await make_task(client, worker, need)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json={"lat": 37.512345, "lng": 122.121234},
                          headers=volunteer.headers)
    assert r.status_code == 200, r.text
    assert (await record_after(client, task["id"], volunteer, 40, summary=summary)).status_code == 200
    r = await client.post(f"/api/v1/residents/{resident['id']}/assessments",
                          json={"answers": HARD, "visited_at": iso(soon(-60))}, headers=worker.headers)
    assert r.status_code == 201, r.text

    # What the app reads is all there: the seal is transparent to it.
    r = await client.get(f"/api/v1/residents/{resident['id']}/unmasked", headers=worker.headers)
    assert r.json()["categories"] == ["特困", "失能"] and r.json()["declared_categories"] == ["低保", "独居"]
    assert r.json()["guardian_name"] == guardian and r.json()["age"] >= 95
    assert (await client.get(f"/api/v1/needs/{need['id']}", headers=worker.headers)).json()["description"] == words

    secrets = [guardian, marker, "1931-07-19", "19310719"]
    answer_keys = sorted(HARD)  # the questionnaire's item ids: their answers are the person's health
    rows = await _rows_as_text()
    for table, text in rows.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} in clear in {table}"
        if table not in REFERENCE:
            for label in CATEGORIES:
                assert label not in text, f"{label!r} in clear in {table}"
    assert not any(key in rows["assessments"] for key in answer_keys)
    sealed_raw = (await connections.get("default").execute_query_dict(
        f"SELECT categories, declared_categories, birth_date, guardian_name FROM resident_profiles WHERE id = {resident['id']}"))[0]
    assert all(sealed.is_token(v) for v in sealed_raw.values()), sealed_raw

    files = await _files()
    assert files, "the table files were read"
    for secret in (guardian, words, summary):
        encoded = secret.encode("utf-8")
        assert not any(encoded in blob for blob in files), f"{secret!r} in clear in a table file"


def test_the_same_on_sqlite(tmp_path):
    """When the suite runs on MariaDB, the test above runs once more on a SQLite file."""
    if not BACKEND.db_url.startswith("mysql://"):
        pytest.skip("this run is on SQLite: the test above scanned the SQLite file itself")
    env = {**os.environ, "HAIBEI_TEST_DB_URL": f"sqlite://{tmp_path / 'sealed.sqlite3'}"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{Path(__file__).relative_to(ROOT)}::test_no_sensitive_status_in_clear"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout and "SQLite" in done.stdout
