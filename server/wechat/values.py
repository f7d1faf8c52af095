"""What WeChat takes in a subscribe message's keyword values, in one place: ``valid`` says whether
WeChat would take a value, ``fit`` makes any text into one it takes.

The stand-in refuses with ``valid`` (47003, as WeChat does) and the notifications domain sends
what ``fit`` made, so the two can never disagree again.

A keyword's kind is its key without the trailing digits (``thing1`` → ``thing``, ``name2`` →
``name``). The rules follow the table "参数值限制" of WeChat's subscribeMessage.send
documentation (developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/
subscribe-message/sendMessage.html), quoted at each kind below. Where the table is silent, the
rule is the stricter reading, and the comment says so: a value refused here costs a placeholder,
a value WeChat refuses costs the message (47003, a dead letter).

Imports nothing of the domains, and not wechatpy: the notifications domain, the stand-in and the
tests use it alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from datetime import date, datetime, time

from server.clock import CHINA_TZ

# Characters WeChat's table means by 汉字: the CJK Unified Ideographs block, as the community's
# validators and SDKs check it (e.g. WxJava's ``[\u4e00-\u9fa5]``). A rare character of an
# extension block is outside the BMP anyway (see _unsendable).
HAN = "\u4e00-\u9fff"
_HAN = re.compile(f"[{HAN}]")
# 字母 are Latin letters, 数字 Arabic digits.
_LETTER = re.compile("[A-Za-z]")
# 符号: printable ASCII punctuation and the space. WeChat gives no list; these are what a phone
# number ("+86-0766-66888866"), an order number or a Latin name ("Zhao W.") holds.
_ASCII_SYMBOLS = r"!-/:-@\[-`{-~ "

KINDS = ("thing", "name", "phrase", "number", "amount", "date", "time", "character_string", "phone_number",
         "car_number", "letter", "symbol")


def kind_of(key: str) -> str:
    """``thing1`` → ``thing``: WeChat names each keyword by its kind and a number."""
    return key.rstrip("0123456789")


def _unsendable(c: str) -> bool:
    """Emoji, line breaks, control and invisible characters. The table allows Chinese, digits,
    letters and symbols and says nothing of these; a message card shows each keyword on one
    line, and WeChat counts a "character" without saying how it counts a surrogate pair or an
    emoji sequence. Refused in every kind (and removed by ``fit``) rather than found out in
    production."""
    o = ord(c)
    if o > 0xFFFF:  # every emoji of the supplementary planes (😀, skin tones, flags), and other astral characters
        return True
    if 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF:  # the BMP's emoji blocks: ☀ ✅ ❤ ⭐
        return True
    if 0xFE00 <= o <= 0xFE0F or o in (0x200D, 0x20E3):  # variation selectors, joiner, keycap of emoji sequences
        return True
    # Cc control (newline, tab), Cf format (zero-width, direction marks), Cs/Co/Cn surrogates, private,
    # unassigned; Zl/Zp line and paragraph separators; Me enclosing marks.
    return unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Me")


# ---- the rules ------------------------------------------------------------------------------

# ``time`` and ``date``: "24小时制时间格式(支持+年月日),支持填时间段,两个时间点之间用“~”符号连接",
# e.g. "15:01", "2019年10月1日 15:01"; a date is "年月日格式(支持+24小时制时间)", e.g. "2019年10月1日".
# The dashed date (2024-07-03) and seconds (2022-12-08 16:13:16) are what callers in WeChat's
# community send and WeChat takes; the date must exist and the time be a 24-hour one.
_DATE = r"(?P<y{n}>\d{{4}})(?:-(?P<m{n}>\d{{1,2}})-(?P<d{n}>\d{{1,2}})|年(?P<mc{n}>\d{{1,2}})月(?P<dc{n}>\d{{1,2}})日)"
_TIME = r"(?P<h{n}>\d{{1,2}}):(?P<mi{n}>\d{{2}})(?::(?P<s{n}>\d{{2}}))?"


def _point(n: int, *, need_date: bool, need_time: bool) -> str:
    day, clock = _DATE.format(n=n), _TIME.format(n=n)
    if need_time and need_date:
        return f"{day} ?{clock}"
    if need_time:
        return f"(?:{day} ?)?{clock}"
    return f"{day}(?: ?{clock})?"


def _span(**need: bool) -> re.Pattern[str]:
    return re.compile(f"{_point(1, **need)}(?: ?~ ?{_point(2, **need)})?")


_TIME_VALUE = _span(need_date=False, need_time=True)
_DATE_VALUE = _span(need_date=True, need_time=False)


def _real_points(match: re.Match[str]) -> bool:
    """Whether each point of a matched time or date is a day of the calendar and a time of the day."""
    parts = match.groupdict()
    for n in (1, 2):
        if parts[f"y{n}"]:
            month, day = parts[f"m{n}"] or parts[f"mc{n}"], parts[f"d{n}"] or parts[f"dc{n}"]
            try:
                date(int(parts[f"y{n}"]), int(month), int(day))
            except ValueError:
                return False
        if parts.get(f"h{n}") and (int(parts[f"h{n}"]) > 23 or int(parts[f"mi{n}"]) > 59
                                   or int(parts[f"s{n}"] or 0) > 59):
            return False
    return True


def _time_ok(value: str) -> bool:
    match = _TIME_VALUE.fullmatch(value)
    return match is not None and _real_points(match)


def _date_ok(value: str) -> bool:
    match = _DATE_VALUE.fullmatch(value)
    return match is not None and _real_points(match)


def _thing_ok(value: str) -> bool:
    # "20个以内字符 | 可汉字、数字、字母或符号组合": one Chinese character counts one, like a letter.
    return len(value) <= 20


def _name_ok(value: str) -> bool:
    # "10个以内纯汉字或20个以内纯字母或符号 | 中文名10个汉字内;纯英文名20个字母内;中文和字母混合按中文名算,
    # 10个字内": Chinese (letters may mix in) up to 10, or letters and symbols up to 20. No digits
    # anywhere, and no symbols beside Chinese: "志愿者4号" and "赵**" are 47003.
    if _HAN.search(value):
        return len(value) <= 10 and re.fullmatch(f"[{HAN}A-Za-z]+", value) is not None
    return len(value) <= 20 and re.fullmatch(f"[A-Za-z{_ASCII_SYMBOLS}]+", value) is not None


def _phrase_ok(value: str) -> bool:
    # "5个以内汉字 | 5个以内纯汉字,例如:配送中". WeChat's community also reports pure-Chinese
    # phrases refused now and then (a word list, it seems): ours are fixed status words of the
    # template file, never a person's text.
    return re.fullmatch(f"[{HAN}]{{1,5}}", value) is not None


def _number_ok(value: str) -> bool:
    # "32位以内数字 | 只能数字,可带小数": digits, one decimal point inside; no sign, no thousands commas.
    return len(value) <= 32 and re.fullmatch(r"\d+(?:\.\d+)?", value) is not None


# "1个币种符号+10位以内纯数字,可带小数,结尾可带“元”", e.g. "¥100", "￥29.90", "$3.5元". The ten
# digits are counted with the decimals (the stricter reading).
_AMOUNT = re.compile(r"[¥￥$€£](?P<whole>\d+)(?:\.(?P<cents>\d+))?元?")


def _amount_ok(value: str) -> bool:
    match = _AMOUNT.fullmatch(value)
    return match is not None and len(match["whole"]) + len(match["cents"] or "") <= 10


def _character_string_ok(value: str) -> bool:
    # "32位以内数字、字母或符号 | 可数字、字母或符号组合": no Chinese. The space is left out (an
    # order or pickup code has none; the stricter reading).
    return len(value) <= 32 and re.fullmatch(r"[!-~]+", value) is not None


def _phone_number_ok(value: str) -> bool:
    # "17位以内,数字、符号 | 电话号码,例:+86-0766-66888866".
    return len(value) <= 17 and re.fullmatch(f"[0-9{_ASCII_SYMBOLS}]+", value) is not None


def _car_number_ok(value: str) -> bool:
    # "8位以内,第一位与最后一位可为汉字,其余为字母或数字", e.g. "粤A8Z888挂".
    return re.fullmatch(f"[{HAN}A-Za-z0-9](?:[A-Za-z0-9]{{0,6}}[{HAN}A-Za-z0-9])?", value) is not None


def _letter_ok(value: str) -> bool:
    # "32位以内字母 | 只能字母".
    return re.fullmatch(r"[A-Za-z]{1,32}", value) is not None


def _is_symbol(c: str) -> bool:
    return unicodedata.category(c)[0] in "PS" and not _unsendable(c)


def _symbol_ok(value: str) -> bool:
    # "5位以内符号 | 只能符号": punctuation and signs of any script (，。、 as well as , . -).
    return len(value) <= 5 and all(_is_symbol(c) for c in value)


_RULES: dict[str, Callable[[str], bool]] = {
    "thing": _thing_ok, "name": _name_ok, "phrase": _phrase_ok, "number": _number_ok, "amount": _amount_ok,
    "date": _date_ok, "time": _time_ok, "character_string": _character_string_ok,
    "phone_number": _phone_number_ok, "car_number": _car_number_ok, "letter": _letter_ok, "symbol": _symbol_ok,
}


def valid(key: str, value: str) -> bool:
    """Whether WeChat takes ``value`` for the keyword ``key`` (``thing1``, ``name2``, …).

    Empty is refused for every kind (WeChat: "data.<key>.value is empty"), and so is a value of
    spaces only; a kind WeChat does not have is refused."""
    rule = _RULES.get(kind_of(key))
    if rule is None or not isinstance(value, str) or not value.strip():
        return False
    if any(_unsendable(c) for c in value):
        return False
    return rule(value)


# ---- making a value fit -------------------------------------------------------------------------

# What a keyword says when there is nothing to say: short, true of any message, and valid.
PLACEHOLDERS = {"thing": "无", "name": "某某", "phrase": "有更新", "number": "0", "amount": "¥0",
                "character_string": "-", "phone_number": "-", "car_number": "无", "letter": "NA", "symbol": "-"}
# A masked or unusable Chinese name is written as Chinese writes a name withheld: the surname and 某某.
_WITHHELD = "某某"
# Separators of a transcribed minority name (阿依古丽·买买提): not a symbol a reader would miss.
_NAME_DOTS = re.compile(r"[·•‧・.\s]")


_BREAKS = re.compile(r"[\r\n\t\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")


def _clean(value: str) -> str:
    """The text as WeChat can show it on one line: composed (NFC), line breaks and runs of spaces
    as one space, emoji and invisible characters gone."""
    value = unicodedata.normalize("NFC", value)
    value = "".join(c for c in _BREAKS.sub(" ", value) if not _unsendable(c))
    return _SPACES.sub(" ", value).strip()


def _now() -> datetime:
    return datetime.now(CHINA_TZ)


def _fit_name(value: str) -> str:
    if _HAN.search(value):
        joined = _NAME_DOTS.sub("", value)
        if re.fullmatch(f"[{HAN}A-Za-z]+", joined):
            return joined[:10]  # cut if long: still the person's name, Chinese (letters may mix in)
        # Digits ("志愿者4号"), symbols or a mask ("赵**"): WeChat takes neither beside Chinese.
        return _HAN.search(joined)[0] + _WITHHELD
    latin = re.sub(f"[^A-Za-z{_ASCII_SYMBOLS}]", "", value)
    latin = re.sub(" {2,}", " ", latin).strip()[:20].strip()
    if _LETTER.search(latin):
        return latin  # "J***", "Volunteer" from "Volunteer4": the letters, without the digits
    return _WITHHELD  # nothing of a name in it (digits, another script)


def _fit_thing(value: str) -> str:
    return value if len(value) <= 20 else value[:19] + "…"


def _fit_phrase(value: str) -> str:
    # Punctuation and spaces go ("已受理!" → "已受理"); a phrase with letters or digits is not Chinese
    # the reader can be shown a part of, and says that there is news instead.
    han = re.sub(r"[\s\W_]", "", value)
    if re.fullmatch(f"[{HAN}]+", han):
        return han[:5]
    return PLACEHOLDERS["phrase"]


def _first_number(value: str) -> str | None:
    match = re.search(r"\d+(?:\.\d+)?", value.replace(",", ""))
    return match[0] if match else None


def _fit_number(value: str) -> str:
    number = _first_number(value)
    if number is None:
        return PLACEHOLDERS["number"]
    if len(number) > 32:
        number = number.split(".")[0][:32]
    return number


def _fit_amount(value: str) -> str:
    number = _first_number(value)
    if number is None:
        return PLACEHOLDERS["amount"]
    whole, _, cents = number.partition(".")
    whole = whole.lstrip("0") or "0"
    if len(whole) > 10:
        return PLACEHOLDERS["amount"]
    cents = cents[: max(0, min(2, 10 - len(whole)))]
    return "¥" + whole + ("." + cents if cents else "")


_ANY_DATETIME = re.compile(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?(?:[ T]?(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_ANY_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d:])")


def _salvage(value: str) -> tuple[date | None, time | None]:
    """The first date, and its time of day, that ``value`` holds (an ISO timestamp, a date alone)."""
    for m in _ANY_DATETIME.finditer(value):
        try:
            day = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            continue
        try:
            return day, (time(int(m[4]), int(m[5])) if m[4] else None)
        except ValueError:
            return day, None
    for m in _ANY_TIME.finditer(value):
        try:
            return None, time(int(m[1]), int(m[2]))
        except ValueError:
            continue
    return None, None


def _ymd(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"  # strftime's %Y does not pad the years before 1000


def _fit_time(value: str) -> str:
    # Callers pass Asia/Shanghai "YYYY-MM-DD HH:MM", which passes as it is. Otherwise what the
    # value holds is kept: an ISO timestamp to the minute, a date alone as that whole day (a
    # range, which a time keyword may be). A value holding no time at all ("待定", empty) reads as
    # the time the message is written, in Weihai: WeChat refuses any text there, and the inbox
    # keeps the words.
    day, clock = _salvage(value)
    if day and clock:
        return f"{_ymd(day)} {clock:%H:%M}"
    if day:
        return f"{_ymd(day)} 00:00~{_ymd(day)} 23:59"
    if clock:
        return f"{clock:%H:%M}"
    return f"{_now():%Y-%m-%d %H:%M}"


def _fit_date(value: str) -> str:
    # As for time: the date the value holds (with its time of day), else the day the message is written.
    day, clock = _salvage(value)
    if day and clock:
        return f"{_ymd(day)} {clock:%H:%M}"
    return _ymd(day or _now().date())


def _fit_character_string(value: str) -> str:
    return re.sub(r"[^!-~]", "", value)[:32]


def _fit_phone_number(value: str) -> str:
    return re.sub(f"[^0-9{_ASCII_SYMBOLS}]", "", value).strip()[:17].strip()


def _fit_car_number(value: str) -> str:
    chars = re.sub(f"[^{HAN}A-Za-z0-9]", "", value).upper()
    if not chars:
        return ""
    first, rest = chars[0], re.sub(f"[{HAN}]", "", chars[1:])
    last = chars[-1] if len(chars) > 1 and _HAN.fullmatch(chars[-1]) else ""
    return first + rest[: 8 - 1 - len(last)] + last


def _fit_letter(value: str) -> str:
    return re.sub("[^A-Za-z]", "", value)[:32]


def _fit_symbol(value: str) -> str:
    return "".join(c for c in value if _is_symbol(c))[:5]


_FITS: dict[str, Callable[[str], str]] = {
    "thing": _fit_thing, "name": _fit_name, "phrase": _fit_phrase, "number": _fit_number, "amount": _fit_amount,
    "date": _fit_date, "time": _fit_time, "character_string": _fit_character_string,
    "phone_number": _fit_phone_number, "car_number": _fit_car_number, "letter": _fit_letter, "symbol": _fit_symbol,
}


@lru_cache(maxsize=8192)
def _as_sent(key: str, value: str) -> str | None:
    """The cleaned value if WeChat takes it, else None. Cached: titles, names and words repeat from
    message to message, and whether a value is taken never changes (what is made of one that is
    not may: a time fallback is the current minute, so that part is not cached)."""
    cleaned = _clean(value)
    return cleaned if valid(key, cleaned) else None


def fit(key: str, value: str) -> str:
    """``value`` made into one WeChat takes for the keyword ``key``, whatever it was.

    Raises ValueError for a kind WeChat does not have: that is a template file to correct, not a
    value to send."""
    kind = kind_of(key)
    shape = _FITS.get(kind)
    if shape is None:
        raise ValueError(f"{key}: WeChat has no keyword kind {kind!r}")
    sent = _as_sent(key, value)
    if sent is not None:
        return sent  # what WeChat takes is sent as it is
    value = _clean(value)
    # Nothing of the value left (only emoji, a code of Chinese only): the kind's placeholder. Time
    # and date always find one. No second net under this: a value a shape makes that WeChat
    # refuses is a bug the property test finds (tests/wechat/test_values.py), not one to hide here.
    return shape(value) or PLACEHOLDERS[kind]
