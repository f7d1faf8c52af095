from tests.builders import login


async def test_healthz_reports_db_and_redis(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "db": True, "redis": True}


async def test_login_creates_resident_account(client):
    s = await login(client, "someone-1")
    assert s.user["roles"] == ["resident"]
