"""Database lifecycle: create the database if missing, apply the committed migrations, connect.

Schema changes go through Tortoise 1.x's own migrations in ``models/migrations`` (see
docs/decisions/0001-tortoise-migrations.md); nothing here calls ``generate_schemas``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlparse

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as tortoise_migrate

from config.settings import tortoise_config
from server import sql
from server.errors import is_connection_lost

log = logging.getLogger("haibei.db")


async def _server_connection(db_url: str):
    """A plain connection to the MySQL server of ``db_url``, no database selected."""
    import aiomysql

    url = urlparse(db_url)
    return await aiomysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
    )


async def ensure_database(db_url: str) -> None:
    """On MySQL/MariaDB, create the named database (utf8mb4) if it does not exist yet."""
    if not db_url.startswith("mysql://"):
        return
    name = urlparse(db_url).path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing odd database name {name!r}")
    conn = await _server_connection(db_url)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    finally:
        conn.close()


async def drop_database(db_url: str) -> None:
    """Drop a MySQL database (tests only) so migrations can be proven from empty."""
    name = urlparse(db_url).path.lstrip("/")
    conn = await _server_connection(db_url)
    try:
        # MySQL answers IF EXISTS on a missing database with a warning that aiomysql re-raises
        # as a Python warning; there is nothing to warn about.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


async def apply_migrations(db_url: str) -> None:
    """Bring the schema up to the newest committed migration, then release the connections."""
    await ensure_database(db_url)
    try:
        await tortoise_migrate(config=tortoise_config(db_url))
    finally:
        await Tortoise.close_connections()


async def _server_version(db_url: str) -> str:
    conn = await _server_connection(db_url)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT VERSION()")
            (version,) = await cur.fetchone()
    finally:
        conn.close()
    return version


def _mariadb_at_least(version: str, wanted: tuple[int, int]) -> bool:
    found = re.match(r"(\d+)\.(\d+)", version)
    return "mariadb" in version.lower() and found is not None and (int(found[1]), int(found[2])) >= wanted


def _timeout_command(version: str, seconds: float) -> str | None:
    """The session statement that bounds every query's run time on this server, if any."""
    if seconds <= 0:
        return None
    if "mariadb" in version.lower():
        return f"SET SESSION max_statement_time={seconds:g}"
    return f"SET SESSION max_execution_time={int(seconds * 1000)}"  # MySQL: SELECTs only


async def connect(db_url: str, *, pool_size: int = 10, statement_timeout_s: float = 0,
                  connect_timeout_s: float = 3.0) -> None:
    """Open the pool. On MySQL/MariaDB: ``pool_size`` connections at most, each with a connect
    timeout and a per-statement time limit, recycled after five minutes idle-or-not so a
    connection the server or a firewall dropped is not handed out for long."""
    config = tortoise_config(db_url)
    if db_url.startswith("mysql://"):
        connection = expand_db_url(db_url)
        connection["credentials"].setdefault("minsize", 1)
        connection["credentials"].setdefault("maxsize", pool_size)
        connection["credentials"].setdefault("connect_timeout", connect_timeout_s)
        connection["credentials"].setdefault("pool_recycle", 300)
        version = await _server_version(db_url)
        # Batched inserts learn their new ids through INSERT … RETURNING (MariaDB 10.5+), else row by row.
        sql.set_returning("mysql", _mariadb_at_least(version, (10, 5)))
        command = _timeout_command(version, statement_timeout_s)
        if command:
            connection["credentials"].setdefault("init_command", command)
        config["connections"]["default"] = connection
    # Sanic runs listeners and each request in separate tasks; the global fallback lets them all
    # see the context initialised here (the same switch Tortoise's own framework integrations use).
    await Tortoise.init(config=config, _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()


async def connect_when_ready(db_url: str, *, wait_s: float, then: Callable[[], Awaitable[None]] | None = None,
                             **options: float) -> None:
    """``connect`` (then ``then()``, the process's first statements), tried again while the
    database cannot be reached, for up to ``wait_s`` seconds; any other error, or still no
    database after ``wait_s``, is raised.

    A database restarting, or too busy to finish a new connection within its connect timeout,
    must not end a process that is starting: in Sanic's multi-process mode one worker failing
    its start shuts down every worker of the process (SIGKILL to their process group), the
    requests the others already hold cut off."""
    deadline = time.monotonic() + wait_s
    delay, attempt = 0.25, 0
    while True:
        attempt += 1
        try:
            await connect(db_url, **options)
            if then is not None:
                await then()
            return
        except Exception as exc:
            try:
                await disconnect()
            except Exception:  # noqa: BLE001 - nothing to close: the pool never opened
                pass
            if not (is_connection_lost(exc) or isinstance(exc, (OSError, TimeoutError))) \
                    or time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable at start; trying again",
                        extra={"error": type(exc).__name__, "attempt": attempt, "retry_in_s": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
