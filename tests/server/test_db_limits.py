"""Database limits (OWASP API4): every pooled connection carries a per-statement time
limit, and a statement stopped by it is a 503 DB_TIMEOUT, not a hang or a 500."""

import aiomysql
import pytest
from tortoise import connections

from server import db
from server.error_responses import render_error
from tests.support import require_services


async def test_pool_connections_carry_the_statement_time_limit(api):
    require_services(api.settings, "the per-statement time limit (SQLite has none)")
    conn = connections.get("default")
    rows = await conn.execute_query_dict("SELECT @@max_statement_time AS t")
    assert float(rows[0]["t"]) == api.settings.db_statement_timeout_s > 0


async def test_a_statement_past_the_limit_is_stopped_and_reported_as_503(api):
    require_services(api.settings, "the per-statement time limit (SQLite has none)")
    command = db._timeout_command(await db._server_version(api.settings.db_url), 0.3)
    assert command == "SET SESSION max_statement_time=0.3"
    from urllib.parse import urlparse

    url = urlparse(api.settings.db_url)
    conn = await aiomysql.connect(host=url.hostname, port=url.port or 3306, user=url.username or "root",
                                  password=url.password or "", init_command=command)
    try:
        async with conn.cursor() as cur:
            with pytest.raises(aiomysql.OperationalError) as info:
                await cur.execute("SELECT SLEEP(3)")
    finally:
        conn.close()
    # Tortoise wraps the driver's error; the app renders it as a retryable 503.
    from tortoise.exceptions import OperationalError

    response = render_error(None, OperationalError(info.value))
    assert response.status == 503 and b'"DB_TIMEOUT"' in response.body
