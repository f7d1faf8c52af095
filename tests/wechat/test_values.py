"""WeChat's keyword-value rules (server/wechat/values.py): the stand-in refuses over HTTP what
WeChat refuses, with WeChat's 47003 naming the keyword, and ``fit`` makes anything into a value
it takes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from hypothesis import example, given, settings
from hypothesis import strategies as st

from config.data import NOTIFICATION_TEMPLATES
from server.clock import CHINA_TZ
from server.wechat import values

ACCEPTED, REFUSED, EMPTY = "accepted", "invalid", "is empty"

# (key, raw value, WeChat's answer). Each refusal is one WeChat's documented rules (or its community's
# reported refusals) give; see the comment at each rule in server/wechat/values.py.
RULES = [
    # name: up to 10 Chinese (letters may mix in), or up to 20 letters and symbols; no digits.
    ("name2", "张三", ACCEPTED),
    ("name2", "欧阳志愿者名字特别长", ACCEPTED),  # 10
    ("name2", "李Lei", ACCEPTED),
    ("name2", "Zhao W*", ACCEPTED),
    ("name2", "J***", ACCEPTED),
    ("name2", "志愿者4号", REFUSED),  # the display name that dead-lettered record_rejected
    ("name2", "赵**", REFUSED),  # a masked name: Chinese with symbols
    ("name2", "一二三四五六七八九十一", REFUSED),  # 11 Chinese
    ("name2", "阿依古丽·买买提努尔", REFUSED),  # 纯汉字: the dot is a symbol
    ("name2", "Volunteer4", REFUSED),
    ("name2", "A" * 21, REFUSED),
    ("name2", "😀张三", REFUSED),
    ("name2", "", EMPTY),
    # phrase: 1-5 Chinese characters, nothing else.
    ("phrase4", "已受理", ACCEPTED),
    ("phrase4", "已受理了吗", ACCEPTED),
    ("phrase4", "已受理了吗好", REFUSED),  # 6
    ("phrase4", "OK", REFUSED),
    ("phrase4", "已受理!", REFUSED),
    ("phrase4", "第1次", REFUSED),
    # thing: up to 20 characters of any Chinese, digits, letters, symbols.
    ("thing1", "一" * 20, ACCEPTED),
    ("thing1", "打扫卫生 3次/周, OK!", ACCEPTED),
    ("thing1", "一" * 21, REFUSED),
    ("thing1", "第一行\n第二行", REFUSED),
    ("thing1", "送餐😀", REFUSED),
    ("thing1", "打扫✅", REFUSED),
    ("thing1", "", EMPTY),
    ("thing1", "   ", EMPTY),
    # time: a 24-hour time, a date before it optional, a range joined by ~.
    ("time3", "2026-11-28 10:00", ACCEPTED),
    ("time3", "15:01", ACCEPTED),
    ("time3", "2019年10月1日 15:01", ACCEPTED),
    ("time3", "2022-12-08 16:13:16", ACCEPTED),
    ("time3", "2026-11-28 10:00~2026-11-28 12:00", ACCEPTED),
    ("time3", "待定", REFUSED),
    ("time3", "-", REFUSED),
    ("time3", "2026-11-28", REFUSED),  # a date is no time
    ("time3", "25:00", REFUSED),
    ("time3", "2026-02-30 10:00", REFUSED),
    # number: up to 32 digits, a decimal point allowed.
    ("number2", "25", ACCEPTED),
    ("number2", "3.5", ACCEPTED),
    ("number2", "1" * 32, ACCEPTED),
    ("number2", "1a", REFUSED),
    ("number2", "-5", REFUSED),
    ("number2", "1,000", REFUSED),
    ("number2", "1" * 33, REFUSED),
    # character_string: up to 32 letters, digits, symbols.
    ("character_string2", "AB-12_x", ACCEPTED),
    ("character_string2", "ORDER#2026/11", ACCEPTED),
    ("character_string2", "a" * 32, ACCEPTED),
    ("character_string2", "a" * 33, REFUSED),
    ("character_string2", "取货码", REFUSED),
    ("character_string2", "AB 12", REFUSED),
    # amount: a currency symbol and up to 10 digits, decimals allowed, 元 at the end allowed.
    ("amount5", "¥100", ACCEPTED),
    ("amount5", "￥29.90", ACCEPTED),
    ("amount5", "$3.5元", ACCEPTED),
    ("amount5", "100", REFUSED),
    ("amount5", "¥12345678901", REFUSED),
    ("amount5", "¥12.3a", REFUSED),
    # date: year-month-day, a 24-hour time after it optional, a range joined by ~.
    ("date6", "2019年10月1日", ACCEPTED),
    ("date6", "2024-07-03", ACCEPTED),
    ("date6", "2019年10月1日 15:01", ACCEPTED),
    ("date6", "2024-07-03~2024-07-05", ACCEPTED),
    ("date6", "明天", REFUSED),
    ("date6", "2023-02-30", REFUSED),
    ("date6", "15:01", REFUSED),
    # phone_number: up to 17 digits and symbols.
    ("phone_number7", "+86-0766-66888866", ACCEPTED),
    ("phone_number7", "13800138000", ACCEPTED),
    ("phone_number7", "1" * 18, REFUSED),
    ("phone_number7", "电话13800138000", REFUSED),
    # car_number: up to 8, the first and last may be Chinese, the others letters or digits.
    ("car_number8", "粤A8Z888挂", ACCEPTED),
    ("car_number8", "鲁K12345", ACCEPTED),
    ("car_number8", "粤A8Z888挂9", REFUSED),
    ("car_number8", "粤A-8Z88", REFUSED),
    ("car_number8", "粤A中888", REFUSED),
    # letter: up to 32 letters; symbol: up to 5 symbols.
    ("letter9", "abc", ACCEPTED),
    ("letter9", "ab1", REFUSED),
    ("symbol10", "-~!", ACCEPTED),
    ("symbol10", "a-", REFUSED),
    ("symbol10", "------", REFUSED),
    # A kind WeChat does not have.
    ("keyword1", "x", REFUSED),
]


@pytest_asyncio.fixture
async def send(standin_url: str) -> AsyncIterator:
    async with httpx.AsyncClient(base_url=standin_url) as http:
        token = (await http.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": "wx1",
                                                          "secret": "s"})).json()["access_token"]

        async def post(data: dict[str, str]) -> tuple[dict, int]:
            body = {"touser": "o", "template_id": "t", "data": {k: {"value": v} for k, v in data.items()}}
            answer = (await http.post(f"/cgi-bin/message/subscribe/send?access_token={token}", json=body)).json()
            recorded = len((await http.get("/__standin/messages")).json()["messages"])
            return answer, recorded

        yield post


@pytest.mark.parametrize("key, value, outcome", RULES)
async def test_the_standin_refuses_what_wechat_refuses_naming_the_keyword(send, key: str, value: str,
                                                                          outcome: str) -> None:
    answer, recorded = await send({key: value})
    if outcome == ACCEPTED:
        assert answer["errcode"] == 0 and recorded == 1, answer
    else:
        assert answer == {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value {outcome}"}
        assert recorded == 0  # a refused message is not delivered


async def test_the_first_refused_keyword_is_named_whatever_the_others(send) -> None:
    answer, recorded = await send({"thing1": "打扫卫生", "name2": "志愿者4号", "time3": "待定", "phrase4": "已退回"})
    assert answer["errmsg"] == "argument invalid! data.name2.value invalid" and recorded == 0


@pytest.mark.parametrize("key, value, outcome", RULES)
def test_fit_leaves_what_wechat_takes_and_makes_the_rest_valid(key: str, value: str, outcome: str) -> None:
    if key.startswith("keyword"):
        with pytest.raises(ValueError, match="keyword"):
            values.fit(key, value)
        return
    assert values.valid(key, value) is (outcome == ACCEPTED)
    fitted = values.fit(key, value)
    assert values.valid(key, fitted), (key, value, fitted)
    if outcome == ACCEPTED:
        assert fitted == value


@pytest.mark.parametrize("key, value, fitted", [
    ("name2", "志愿者4号", "志某某"),
    ("name2", "赵**", "赵某某"),
    ("name2", "😀张三", "张三"),
    ("name2", "欧阳志愿者名字特别长的人", "欧阳志愿者名字特别长"),
    ("name2", "阿依古丽·买买提努尔", "阿依古丽买买提努尔"),  # the dot dropped, the name whole
    ("name2", "Volunteer4", "Volunteer"),
    ("name2", "1234", "某某"),
    ("name2", "", "某某"),
    ("thing1", "一" * 30, "一" * 19 + "…"),
    ("thing1", "第一行\n第二行😀", "第一行 第二行"),
    ("thing1", "", "无"),
    ("phrase4", "已经受理完成了", "已经受理完"),
    ("phrase4", "已受理!", "已受理"),
    ("phrase4", "OK", "有更新"),
    ("number2", "积分 30", "30"),
    ("number2", "1a", "1"),
    ("number2", "无", "0"),
    ("amount5", "16000", "¥16000"),
    ("character_string2", "AB-12 中文", "AB-12"),
    ("character_string2", "取货码", "-"),
    ("time3", "2026-11-28T10:00:00+08:00", "2026-11-28 10:00"),
    ("time3", "2026-11-28", "2026-11-28 00:00~2026-11-28 23:59"),  # the whole day
    ("date6", "2026-11-28T10:00:00", "2026-11-28 10:00"),
    ("car_number8", "粤A-8Z888挂", "粤A8Z888挂"),
])
def test_fit_examples(key: str, value: str, fitted: str) -> None:
    assert values.fit(key, value) == fitted


@pytest.mark.parametrize("junk", ["待定", "", "-", "😀"])
def test_a_time_keyword_without_a_time_reads_as_the_time_it_is_written(junk: str) -> None:
    before = datetime.now(CHINA_TZ).replace(second=0, microsecond=0)
    fitted = values.fit("time3", junk)
    after = datetime.now(CHINA_TZ)
    written = datetime.strptime(fitted, "%Y-%m-%d %H:%M").replace(tzinfo=CHINA_TZ)
    assert before <= written <= after and after - written < timedelta(minutes=1)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", values.fit("date6", junk))


# Text as it comes: any character (emoji, controls, other scripts), and a mix weighted towards what
# the rules look at — Chinese, digits, letters, symbols, dates and times.
_PARTS = st.sampled_from(["志", "愿", "者", "赵", "4", "0", "a", "Z", "*", "·", "-", ":", "~", ".", " ", "\n", "😀",
                          "✅", "¥", "元", "年", "月", "日", "2026-11-28", "10:00", "2026-02-30", "99:99"])
TEXT = st.one_of(st.text(), st.lists(_PARTS | st.characters(), max_size=40).map("".join))


@pytest.mark.parametrize("kind", values.KINDS)
@settings(max_examples=300, deadline=None)
@given(value=TEXT)
@example(value="")
@example(value="志愿者4号")
@example(value="😀" * 30)
def test_whatever_goes_in_fit_makes_a_value_wechat_takes(kind: str, value: str) -> None:
    key = kind + "3"
    assert values.valid(key, values.fit(key, value))


def test_every_keyword_of_the_templates_is_a_kind_wechat_has_and_every_fixed_word_passes_as_written() -> None:
    """A keyword of a kind WeChat does not have would fail every message of its template; a fixed
    word of the template file ("已受理", "缺少志愿者") that WeChat refuses would be replaced by a
    placeholder in every message."""
    for event, spec in NOTIFICATION_TEMPLATES.items():
        for key, pattern in spec["fields"].items():
            assert values.kind_of(key) in values.KINDS, (event, key)
            if "{" not in pattern:
                assert values.valid(key, pattern), (event, key, pattern)
