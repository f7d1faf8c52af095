"""The committed migrations build the whole schema from empty, on MariaDB and on SQLite, through
the same `scripts/migrate` the run command uses (in a subprocess, so this test's own ORM state
is untouched)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {"users", "user_roles", "wechat_sessions", "districts", "stations", "organizations",
            "resident_profiles", "volunteer_profiles", "audit_log", "tortoise_migrations"}


def migrate(db_url: str) -> None:
    env = {**os.environ, "HAIBEI_DB_URL": db_url, "HAIBEI_MODE": "embedded"}
    for _ in range(2):  # the second run must find nothing to do and succeed
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "migrate")], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]


def test_migrations_build_schema_on_sqlite(tmp_path):
    import sqlite3

    path = tmp_path / "m.sqlite3"
    migrate(f"sqlite://{path}")
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert EXPECTED <= tables


@pytest.mark.skipif(not BACKEND.db_url.startswith("mysql://"),
                    reason="MariaDB not reachable; scripts/test said so in its header (CI requires it)")
async def test_migrations_build_schema_on_mariadb():
    import aiomysql

    from server.db import drop_database

    base = BACKEND.db_url.rsplit("/", 1)[0]
    url = f"{base}/haibei_migr_{uuid.uuid4().hex[:8]}"
    try:
        migrate(url)
        conn = await aiomysql.connect(host="127.0.0.1", port=3306, user="root", password="", db=url.rsplit("/", 1)[1])
        async with conn.cursor() as cur:
            await cur.execute("SHOW TABLES")
            tables = {r[0] for r in await cur.fetchall()}
            await cur.execute("SHOW INDEX FROM resident_profiles WHERE Column_name = 'id_number_index'")
            index = await cur.fetchall()
        conn.close()
        assert EXPECTED <= tables
        assert index and index[0][1] == 0  # Non_unique = 0: the blind index is unique
    finally:
        await drop_database(url)


def test_the_cells_migration_backfills_with_the_grid_the_app_uses():
    """The migration keeps its own copy of the grid (a migration imports nothing of the app); at the
    time it was frozen, it was the app's grid, so backfilled cells are the ones browsing reads."""
    import importlib
    import random

    from server.geo import cell_of

    frozen = importlib.import_module("models.migrations.0008_task_cells")
    rng = random.Random(8)
    for _ in range(1000):
        lat, lng = rng.uniform(36.5, 37.6), rng.uniform(121.5, 122.8)  # Weihai and around
        assert frozen.cell_of(lat, lng) == cell_of(lat, lng)
