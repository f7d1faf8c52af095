"""Content security: risky text refused, review text flagged, WeChat down → flagged, never blocked."""

from models import ContentFlag, Need, TaskClaim
from server.wechat import RedisTokenStorage, WeChatGateway
from tests.builders import (
    make_need, make_open_task_and_volunteer, make_resident, make_station, make_worker, record_after,
)
from tests.handlers.test_platform import assert_error

HOME = {"lat": 37.512345, "lng": 122.121234}  # resident_payload's household position


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


# The local word list is matched on the folded text (server/text.py): hidden characters, spaces,
# dots, dashes and Traditional characters do not hide a listed word.
DISGUISED = ["赌\u200b博", "赌\u00ad博", "賭博", "赌 博", "赌.博", "赌-博", "赌\u202e博", "想找人一起賭　博"]


async def test_disguised_words_are_refused_on_a_need(client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    for text in DISGUISED:
        r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": text},
                              headers=resident.headers)
        err = assert_error(r, 422, "CONTENT_RISKY")
        assert err["details"] == {"field": "description", "source": "local"}, text
    assert await Need.all().count() == 0 and await ContentFlag.all().count() == 0


async def test_disguised_words_are_refused_in_a_service_summary_and_a_rating_comment(client):
    station = await make_station()
    task, need, worker, resident, volunteer = await make_open_task_and_volunteer(client, station)
    assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=volunteer.headers)).status_code == 200
    r = await client.post(f"/api/v1/tasks/{task['id']}/check-in", json=HOME, headers=volunteer.headers)
    assert r.status_code == 200, r.text
    for text in DISGUISED:
        err = assert_error(await record_after(client, task["id"], volunteer, 20, summary=f"打扫完了,{text}"),
                           422, "CONTENT_RISKY")
        assert err["details"]["field"] == "summary"
    assert (await TaskClaim.get(task_id=task["id"])).status == "checked_in"

    assert (await record_after(client, task["id"], volunteer, 40, summary="打扫了客厅")).status_code == 200
    assert (await client.post(f"/api/v1/tasks/{task['id']}/confirm", json={}, headers=worker.headers)).status_code == 200
    for text in DISGUISED:
        r = await client.post(f"/api/v1/needs/{need['id']}/rating",
                              json={"score": 5, "comment": text, "would_use_again": True}, headers=resident.headers)
        assert assert_error(r, 422, "CONTENT_RISKY")["details"]["field"] == "comment"
    stored = await Need.get(id=need["id"])
    assert stored.status == "completed" and stored.rating_score is None


async def test_clause_punctuation_keeps_ordinary_words_apart(client):
    # With the punctuation dropped these would read "…脸色情绪…" (色情) and "…独居卧床…": they are
    # what a household writes, and must be saved.
    station = await make_station()
    resident, _ = await make_resident(client, station)
    for service, text in [("CLEAN_HOME", "老人脸色，情绪都不好，需要有人来打扫"), ("LIVING_MEAL", "老人独居,卧床,需要送餐"),
                          ("HEALTH_CHECK", "脸色\n情绪\n都还好")]:
        await make_need(client, resident, service_code=service, description=text)
    assert await Need.all().count() == 3


async def test_hidden_characters_are_not_stored_and_the_rest_is(client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    sent = "家里需要打扫\x00\u202e卫生\u200b,谢谢👨\u200d👩\u200d👧😀\n第二行\t缩进\r\n第三行"
    kept = "家里需要打扫卫生,谢谢👨\u200d👩\u200d👧😀\n第二行\t缩进\n第三行"
    need = await make_need(client, resident, description=sent)
    assert need["description"] == kept
    r = await client.get(f"/api/v1/needs/{need['id']}", headers=resident.headers)
    assert r.json()["description"] == kept
    assert (await Need.get(id=need["id"])).description == kept


async def test_a_description_of_nothing_but_hidden_characters_is_refused(client):
    station = await make_station()
    resident, _ = await make_resident(client, station)
    r = await client.post("/api/v1/needs", json={"service_code": "CLEAN_HOME", "description": "\u200b\u202e\x00 "},
                          headers=resident.headers)
    err = assert_error(r, 400, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]] == ["description"]


async def test_a_lone_surrogate_escaped_in_json_is_dropped(client):
    # json.loads turns "\ud800" into a lone surrogate, which no UTF-8 column or response can hold.
    station = await make_station()
    resident, _ = await make_resident(client, station)
    body = '{"service_code": "CLEAN_HOME", "description": "\\ud800需要\\udfff打扫"}'.encode()
    r = await client.post("/api/v1/needs", content=body,
                          headers={**resident.headers, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "需要打扫"
