"""Text as people type it (server/text.py): ``clean`` keeps what a reader sees and drops what only a
screen obeys; ``for_matching`` folds a text so that hidden characters, spaces, dots, Traditional
characters and full-width letters do not keep a listed word from being found, while clause
punctuation still keeps two clauses apart."""

from __future__ import annotations

import re
import unicodedata

import opencc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.text import BOUNDARIES, FOLDED_RANGES, FORMAT_RANGES, clean, for_matching, word_pattern

FAMILY = "👨\u200d👩\u200d👧"
RAINBOW_FLAG = "🏳️\u200d🌈"
SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"

# (sent, stored in a multi-line field, stored in a one-line field)
CLEAN = [
    ("需要送午餐", "需要送午餐", "需要送午餐"),
    # NUL, other C0 and C1 controls, DEL
    ("送\x00午\x07餐\x1b\x7f\x9b", "送午餐", "送午餐"),
    # bidi controls: overrides, embeddings, isolates, marks
    ("王\u202e秀英\u202c", "王秀英", "王秀英"),
    ("a\u202a\u202b\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061cb", "ab", "ab"),
    # zero-width characters, word joiner, BOM and soft hyphen
    ("赌\u200b博", "赌博", "赌博"),
    ("赌\u00ad博", "赌博", "赌博"),
    ("\ufeff打\u2060扫\u200c卫\u200d生", "打扫卫生", "打扫卫生"),
    # lone surrogates, which json.loads lets through ("\ud800")
    ("a\ud800b\udfffc", "abc", "abc"),
    # letters that show nothing
    ("\u3164", "", ""),
    ("王\u2800\uffa0\u115f\u1160五", "王五", "王五"),
    # line breaks: kept as "\n" in multi-line fields, a space each in one-line fields; tabs likewise
    ("第一行\n第二行", "第一行\n第二行", "第一行 第二行"),
    ("a\r\nb\rc\u2028d\u2029e\x85f", "a\nb\nc\nd\ne\nf", "a b c d e f"),
    ("名\t称", "名\t称", "名 称"),
    ("a\x0bb\x0cc", "abc", "abc"),  # vertical tab, form feed: controls
    # emoji whole: joiners and tags inside them, presentation selectors, skin tones, keycaps, flags
    (f"谢谢{FAMILY}{RAINBOW_FLAG}{SCOTLAND}", f"谢谢{FAMILY}{RAINBOW_FLAG}{SCOTLAND}",
     f"谢谢{FAMILY}{RAINBOW_FLAG}{SCOTLAND}"),
    ("👍🏽 1️⃣ 🇨🇳 ❤️", "👍🏽 1️⃣ 🇨🇳 ❤️", "👍🏽 1️⃣ 🇨🇳 ❤️"),
    # ... but a joiner between letters, a tag after anything but 🏴, and a joiner made to touch an
    # emoji only by a hidden character are hidden text
    ("赌\u200d博 x\U000e0041y", "赌博 xy", "赌博 xy"),
    ("👨\u200b\u200d👩", "👨\u200d👩", "👨\u200d👩"),
    ("👨\u200d", "👨", "👨"),
    # NFC: a letter and its accent become one
    ("cafe\u0301", "café", "café"),
    # what a reader sees stays: punctuation, full-width forms, ideographic space, Traditional
    ("老人独居,卧床。（每周两次）ｇａｍｂｌｅ\u3000賭博！", "老人独居,卧床。（每周两次）ｇａｍｂｌｅ\u3000賭博！",
     "老人独居,卧床。（每周两次）ｇａｍｂｌｅ\u3000賭博！"),
]


@pytest.mark.parametrize(("sent", "multi", "one"), CLEAN)
def test_clean_drops_what_is_not_seen_and_keeps_what_is(sent, multi, one):
    assert clean(sent, multiline=True) == multi
    assert clean(sent, multiline=False) == one


@given(st.text())
@example("\U0001f3f4\u200d\U000e0067\U000e007f")
def test_clean_is_idempotent_and_leaves_nothing_invisible(text):
    once = clean(text, multiline=True)
    assert clean(once, multiline=True) == once
    assert clean(clean(text, multiline=False), multiline=False) == clean(text, multiline=False)
    assert not {c for c in once if unicodedata.category(c) in ("Cc", "Cs")} - {"\n", "\t"}
    formats = {c for c in once if unicodedata.category(c) == "Cf"}
    assert formats <= {"\u200d", *map(chr, range(0xE0020, 0xE0080))}
    assert "\n" not in clean(text, multiline=False) and "\t" not in clean(text, multiline=False)


def test_every_format_character_python_knows_is_listed():
    listed = {c for a, b in FORMAT_RANGES for c in range(a, b + 1)}
    known = {c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}
    assert known - listed == set(), "new format characters: add them to server.text.FORMAT_RANGES"


# (text, its matching form)
MATCHING = [
    ("赌博", "赌博"),
    # hidden characters, spaces, dots, dashes, symbols and emoji between letters
    ("赌\u200b博", "赌博"),
    ("赌\u00ad博", "赌博"),
    ("赌\u202e博", "赌博"),
    ("赌 博", "赌博"),
    ("赌\u3000博", "赌博"),
    ("赌-博", "赌博"),
    ("赌.博", "赌博"),
    ("赌·博", "赌博"),
    ("赌*博", "赌博"),
    ("赌_博", "赌博"),
    ("赌🎲博", "赌博"),
    ("赌（博）", "赌博"),
    ("赌\u3164博", "赌博"),
    # Traditional → Simplified
    ("賭博", "赌博"),
    ("代開發票", "代开发票"),
    # compatibility forms: full-width and circled letters, Kangxi radicals, enclosed ideographs, units
    ("ｇａｍｂｌｅ", "gamble"),
    ("ＧＡＭＢＬＥ", "gamble"),
    ("ⓖⓐⓜⓑⓛⓔ", "gamble"),
    ("⼈", "人"),
    ("㊙密", "秘密"),
    ("㎏", "kg"),
    ("Ⅻ²", "xii2"),
    # case and accents
    ("GaMbLe", "gamble"),
    ("gàmblé", "gamble"),
    ("gamble\u0301", "gamble"),
    ("İstanbul", "istanbul"),
    # clause boundaries stay (full-width ones as ASCII), so clauses do not run together
    ("脸色,情绪不好", "脸色,情绪不好"),
    ("脸色，情绪不好", "脸色,情绪不好"),
    ("脸色、情绪；饮食：睡眠！好吗？", "脸色、情绪;饮食:睡眠!好吗?"),
    ("脸色。情绪", "脸色。情绪"),
    ("脸色\n情绪", "脸色\n情绪"),
    ("脸色﹐情绪", "脸色,情绪"),
    ("", ""),
    ("😀 …… ～", ""),
]


@pytest.mark.parametrize(("text", "form"), MATCHING)
def test_matching_form(text, form):
    assert for_matching(text) == form


WORD = re.compile(rf"[^\w{re.escape(BOUNDARIES)}]+")
T2S = opencc.OpenCC("t2s")


def reference(text: str) -> str:
    """``for_matching`` the slow, plain way: the whole text through NFKD, then casefold and filter."""
    text = WORD.sub("", unicodedata.normalize("NFKD", text).casefold())
    return T2S.convert(text.replace("_", "").replace("\u115f", "").replace("\u1160", ""))


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("，。、；：！？ ．＿＊ｇＧ㊙⼈㎏ⓐ﹐賭博\u0301\u200b")))
@example("赌\u0301博 ｇａｍ\u200bｂｌｅ！")
def test_matching_form_is_the_whole_text_folded(text):
    # for_matching drops what cannot matter before the slow NFKD; the result is the same.
    assert for_matching(text) == reference(text)


def test_only_the_folded_ranges_need_folding():
    # A character dropped before NFKD is one whose folded form has no letter, digit or boundary:
    # every other is a word character, a boundary or in FOLDED_RANGES.
    folded = {c for a, b in FOLDED_RANGES for c in range(a, b + 1)}
    word = re.compile(r"\w")
    missing = []
    for c in range(0x30000):
        ch = chr(c)
        if 0xD800 <= c <= 0xDFFF or word.match(ch) or ch in BOUNDARIES or ch in "，；：！？" or c in folded:
            continue
        if WORD.sub("", unicodedata.normalize("NFKD", ch).casefold()).replace("_", ""):
            missing.append(hex(c))
    assert missing == []
    # ... and every one of them changes under NFKD or casefolding, which sends the text the slow way.
    assert all(unicodedata.normalize("NFKD", chr(c)) != chr(c) or chr(c).casefold() != chr(c) for c in folded)


@pytest.mark.parametrize(("words", "text", "found"), [
    (["赌博", "色情"], "想找人一起赌 博", "赌博"),
    (["賭博"], "赌博", "赌博"),  # the list is folded too
    (["gamble"], "let's ｇａｍ-ｂｌｅ", "gamble"),
    (["Gamble"], "GAMBLE", "gamble"),
    (["代开发票", "发票"], "代开发票", "代开发票"),  # the longest first
    (["色情"], "老人脸色，情绪都不好", None),
    (["色情"], "老人脸色,情绪都不好", None),
    (["色情"], "老人脸色\n情绪都不好", None),
    (["赌博"], "老人独居,卧床", None),
    (["", "…", "赌博"], "一切正常", None),  # words that fold to nothing match nothing
    ([], "赌博", None),
])
def test_word_pattern(words, text, found):
    match = word_pattern(words).search(for_matching(text))
    assert (match and match.group()) == found
