"""Content security: risky text refused, review text flagged, WeChat down → flagged, never blocked."""

from models import ContentFlag, Need
from server.wechat import RedisTokenStorage, WeChatGateway
from tests.builders import make_need, make_resident, make_station, make_worker
from tests.handlers.test_platform import assert_error


async def test_risky_text_is_refused_and_nothing_saved(client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    for text in ("帮我处理违禁物品", "想找人一起赌博"):  # WeChat's verdict, then the local word list
        r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": text}, headers=resident.headers)
        err = assert_error(r, 422, "CONTENT_RISKY")
        assert err["details"]["field"] == "description"
    assert await Need.all().count() == 0 and await ContentFlag.all().count() == 0


async def test_review_text_is_saved_and_flagged_for_the_station(client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident, description="这段话待审一下")
    flags = (await client.get("/api/v1/content/reviews", headers=worker.headers)).json()
    assert [(f["subject_type"], f["subject_id"], f["verdict"]) for f in flags] == [("need", need["id"], "review")]
    other = await make_worker(client, await make_station())
    assert (await client.get("/api/v1/content/reviews", headers=other.headers)).json() == []
    assert_error(await client.post(f"/api/v1/content/reviews/{flags[0]['id']}/resolve", headers=other.headers), 404, "NOT_FOUND")
    r = await client.post(f"/api/v1/content/reviews/{flags[0]['id']}/resolve", headers=worker.headers)
    assert r.status_code == 200
    assert (await client.get("/api/v1/content/reviews", headers=worker.headers)).json() == []
    # Clean text raises no flag.
    await make_need(client, resident, service_code="LIVING_MEAL", description="需要送午餐")
    assert await ContentFlag.all().count() == 1


async def test_wechat_down_flags_but_never_blocks(client, api):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    live = api.app.ctx.wechat
    api.app.ctx.wechat = WeChatGateway(appid="wx", secret="s", api_base="http://127.0.0.1:9", timeout=1.0,
                                       token_storage=RedisTokenStorage(api.app.ctx.redis.sync, prefix="dead:"))
    try:
        r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "需要打扫"},
                              headers=resident.headers)
    finally:
        await api.app.ctx.wechat.close()
        api.app.ctx.wechat = live
    assert r.status_code == 201, r.text
    flag = await ContentFlag.get(subject_id=r.json()["id"])
    assert flag.verdict == "unchecked" and "unavailable" in flag.reason
