"""Text as people type it: made safe to store (``clean``) and fair to compare (``for_matching``).

``clean`` is what every stored user text goes through (the request models' base, handlers/common.py).
It removes what a reader cannot see but a screen, a log or a ledger obeys: control characters,
bidirectional overrides (U+202E shows "txt.exe" as "exe.txt"), zero-width characters and the soft
hyphen, which also split a word so that a plain substring check misses it (``赌\\u200b博``). Lone
surrogates go too: ``json.loads`` accepts ``"\\ud800"``, and no UTF-8 column can hold one.
Emoji stay whole, joiners and flag tags included; line breaks and tabs stay in multi-line fields.

``for_matching`` is the form a word list is compared in (server/workflow/content.py):
compatibility forms folded (full-width ``ｇａｍｂｌｅ``, ``㊙``, Kangxi radicals), case and accents
folded, Traditional turned Simplified (``賭博``), and everything between letters that is not a
clause boundary dropped (``赌 博``, ``赌-博``, ``赌.博``, ``赌🎲博``). Clause boundaries stay, so two
clauses do not run together into a listed word: ``脸色,情绪不好`` does not contain ``色情``.

Only the standard library and OpenCC; no domain imports.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import opencc


def _class(ranges: Iterable[tuple[int, int]]) -> str:
    """The inside of a regex character class holding ``ranges`` (inclusive code point pairs)."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


# --- clean -------------------------------------------------------------------------------------

# Unicode's format characters (category Cf) up to Unicode 15, written out so that importing costs
# nothing; tests/server/test_text.py fails when a newer Python knows one more. Among them: the bidi
# controls (U+061C, U+200E/F, U+202A–E, U+2066–9), zero-width space, non-joiner and joiner
# (U+200B–D), the word joiner U+2060, the byte order mark U+FEFF and the soft hyphen U+00AD.
FORMAT_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
# Letters that show nothing: the Hangul fillers and the blank braille pattern, the usual way to a
# name that looks empty.
BLANKS = "\u115f\u1160\u3164\uffa0\u2800"
ZWJ = "\u200d"
_TAGS = "\U000e0020-\U000e007f"
# Controls (C0, DEL, C1) but the tab and the line feed (other line breaks become "\n" first),
# lone surrogates and the blanks.
_INVISIBLE = r"\x00-\x08\x0b-\x1f\x7f-\x9f" + "\ud800-\udfff" + BLANKS
_DROP = re.compile(f"[{_INVISIBLE}{_class(FORMAT_RANGES)}]+")
# The two format characters that belong to emoji: a zero-width joiner between two emoji (👨‍👩‍👧;
# in 🏳️‍🌈 the presentation selector U+FE0F comes before it), and the tag letters of a subdivision
# flag (🏴 + tags + cancel tag: 🏴󠁧󠁢󠁳󠁣󠁴󠁿). Where they occur, the other invisible characters go
# first (every format character but these two kinds), then these are judged: anywhere but in an
# emoji they are hidden text and go too (group 1 is empty).
_DROP_BUT_EMOJI_PARTS = re.compile(
    f"[{_INVISIBLE}{_class(r for r in FORMAT_RANGES if r not in ((0x200B, 0x200F), (0xE0020, 0xE007F)))}"
    "\u200b\u200c\u200e\u200f]+")
_PICTOGRAPHS = "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2bff\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
_EMOJI_PARTS = re.compile(rf"(\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
                          rf"|{ZWJ}(?<=[{_PICTOGRAPHS}\ufe0f]{ZWJ})(?=[{_PICTOGRAPHS}]))"
                          rf"|[{ZWJ}{_TAGS}]")
# Line breaks other than "\n" (CR LF counts as one), and what a single-line field turns into spaces.
_LINE_BREAKS = re.compile("[\r\x85\u2028\u2029]")
_BREAKS_AND_TABS = re.compile("[\r\n\t\x85\u2028\u2029]")


def clean(text: str, *, multiline: bool) -> str:
    """``text`` as stored: NFC, without controls, format characters and blanks (emoji kept whole);
    line breaks as "\\n" and tabs kept when ``multiline``, each a space otherwise."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    text = (_LINE_BREAKS.sub("\n", text) if multiline else _BREAKS_AND_TABS.sub(" ", text))
    if ZWJ in text or "\U0001f3f4" in text:
        text = _EMOJI_PARTS.sub(r"\1", _DROP_BUT_EMOJI_PARTS.sub("", text))
    else:
        text = _DROP.sub("", text)
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


# --- for_matching ------------------------------------------------------------------------------

# Clause boundaries: line breaks and the punctuation that ends a clause in Chinese or English text
# (the full-width forms are folded into the ASCII ones). They separate what a person wrote, not the
# letters of one word, so a word never matches across them. The ASCII "." is not one (Chinese ends
# a sentence with "。", and "赌.博" is a dodge); nor is a space, though "脸色 情绪" then reads
# "脸色情绪": the word list is a first net, and msgSecCheck the judge.
BOUNDARIES = "\n\r\x85\u2028\u2029,、;:。!?"
_FULL_WIDTH_BOUNDARIES = (("，", ","), ("；", ";"), ("：", ":"), ("！", "!"), ("？", "?"))
# Not letters or digits, but their compatibility forms hold some (㊙ → 秘, ⓐ → a, ⒜ → (a), ㎏ → kg,
# ⼈ → 人) or a boundary (﹐ → ,); all of them change under NFKD but U+0345, which casefolding
# changes. tests/server/test_text.py checks there are no others.
FOLDED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0345, 0x0345), (0x037E, 0x037E), (0x203C, 0x203C), (0x2047, 0x2049), (0x20A8, 0x20A8),
    (0x2100, 0x2101), (0x2103, 0x2103), (0x2105, 0x2106), (0x2109, 0x2109), (0x2116, 0x2116),
    (0x2120, 0x2122), (0x213B, 0x213B), (0x249C, 0x24E9), (0x2A74, 0x2A74), (0x2E9F, 0x2E9F),
    (0x2EF3, 0x2EF3), (0x2F00, 0x2FD5), (0x3196, 0x319F), (0x3200, 0x321E), (0x322A, 0x3247),
    (0x3250, 0x3250), (0x3260, 0x327E), (0x328A, 0x32B0), (0x32C0, 0x33FF), (0xFDFC, 0xFDFC),
    (0xFE10, 0xFE16), (0xFE50, 0xFE51), (0xFE54, 0xFE57), (0xFF61, 0xFF61), (0xFF64, 0xFF64),
    (0x1F110, 0x1F12E), (0x1F130, 0x1F14F), (0x1F16A, 0x1F16C), (0x1F190, 0x1F190), (0x1F200, 0x1F202),
    (0x1F210, 0x1F23B), (0x1F240, 0x1F248), (0x1F250, 0x1F251),
)
# NFKD is slow (~0.2 µs a character), so what can only be dropped goes before it: letters and
# digits (\w), boundaries and the folded ranges stay. What is left after NFKD and casefolding is
# letters, digits and boundaries alone: no marks, so accents go (NFKD makes "é" an "e" and a mark).
_BEFORE_FOLDING = re.compile(
    rf"[^\w{re.escape(BOUNDARIES)}{''.join(f for f, _ in _FULL_WIDTH_BOUNDARIES)}{_class(FOLDED_RANGES)}]+")
_FILLER = re.compile(rf"[^\w{re.escape(BOUNDARIES)}]+")
# Built once (it loads its dictionaries); converting only reads them, so every caller shares it.
_T2S = opencc.OpenCC("t2s")


def for_matching(text: str) -> str:
    """The form a word list compares: compatibility-decomposed (NFKD), casefolded, letters, digits
    and clause boundaries alone (no marks, so no accents), in Simplified characters."""
    text = _BEFORE_FOLDING.sub("", text)
    for full, ascii_ in _FULL_WIDTH_BOUNDARIES:
        text = text.replace(full, ascii_)
    # Ordinary Chinese text is NFKD already and unchanged by casefolding: then it is only letters,
    # digits and boundaries by now (every folded character changes under one or the other).
    normal = unicodedata.is_normalized("NFKD", text)
    folded = (text if normal else unicodedata.normalize("NFKD", text)).casefold()
    text = folded if normal and folded == text else _FILLER.sub("", folded)
    # "_" is a word character to the regex and a separator to a person; the Hangul fillers are
    # letters (U+3164 and U+FFA0 decompose into U+1160).
    for letter in ("_", "\u115f", "\u1160"):
        if letter in text:
            text = text.replace(letter, "")
    # Converted last, on the letters alone: OpenCC converts phrases as well as characters.
    return _T2S.convert(text) if text else text


def word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """One alternation of ``words`` in their matching form, longest first, to search a text's ``for_matching`` in."""
    forms = sorted({form for form in map(for_matching, words) if form}, key=lambda w: (-len(w), w))
    # With no words, a pattern that never matches (an empty alternation would match everywhere).
    return re.compile("|".join(map(re.escape, forms)) or r"(?!)")
