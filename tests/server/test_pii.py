"""Tests for server.pii: field encryption, blind indexes, ID/phone validation and masks."""

from __future__ import annotations

import base64
import os
from datetime import date

import pytest

from server.pii import (
    DecryptionError,
    FieldCipher,
    age_on,
    generate_key,
    id_birth_date,
    id_gender,
    make_valid_id_number,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_phone,
)

CTX = "resident.id_number"
K1 = bytes(range(32))
K2 = bytes(range(32, 64))
INDEX = b"\x01" * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def cipher(keys: dict[str, bytes] | None = None, current: str = "k1", index: bytes = INDEX) -> FieldCipher:
    return FieldCipher(keys=keys or {"k1": K1}, current_key_id=current, index_key=index)


def reencode(token: str, blob: bytes) -> str:
    head, key_id, _ = token.split(".")
    return f"{head}.{key_id}.{base64.urlsafe_b64encode(blob).decode()}"


def payload(token: str) -> bytes:
    return base64.urlsafe_b64decode(token.split(".")[2])


# --- encryption ---------------------------------------------------------------------------------


@pytest.mark.parametrize("plain", ["370602195001011230", "张三", "", "a" * 1000])
def test_round_trip(plain):
    c = cipher()
    token = c.encrypt(plain, context=CTX)
    assert token.startswith("v1.k1.")
    assert c.decrypt(token, context=CTX) == plain


def test_token_layout_nonce_plus_ciphertext_and_tag():
    token = cipher().encrypt("abc", context=CTX)
    assert len(payload(token)) == 12 + 3 + 16


def test_ciphertext_differs_each_call_and_hides_plaintext():
    c = cipher()
    plain = "370602195001011230"
    tokens = {c.encrypt(plain, context=CTX) for _ in range(20)}
    assert len(tokens) == 20
    nonces = {payload(t)[:12] for t in tokens}
    assert len(nonces) == 20
    for t in tokens:
        assert plain not in t
        assert plain.encode() not in payload(t)
        assert b64(plain.encode()) not in t


def test_tampering_any_byte_is_detected():
    c = cipher()
    token = c.encrypt("370602195001011230", context=CTX)
    blob = payload(token)
    for i in range(len(blob)):  # nonce, ciphertext and tag bytes alike
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(DecryptionError):
            c.decrypt(reencode(token, bytes(bad)), context=CTX)


def test_non_canonical_base64_is_rejected():
    c = cipher()
    # 12 + 4 + 16 = 32 bytes -> 44 chars ending in one "=", so the last data char carries
    # 2 bits that decoding ignores.
    token = c.encrypt("abcd", context=CTX)
    assert token.endswith("=") and not token.endswith("==")
    last = token[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 0x01]  # flips only an unused bit
    forged = token[:-2] + sibling + "="
    assert base64.urlsafe_b64decode(forged.split(".")[2]) == payload(token)
    with pytest.raises(DecryptionError):
        c.decrypt(forged, context=CTX)


def test_wrong_context_fails():
    c = cipher()
    token = c.encrypt("13812345678", context="resident.phone")
    with pytest.raises(DecryptionError):
        c.decrypt(token, context="guardian.phone")


def test_wrong_key_with_same_id_fails():
    token = cipher({"k1": K1}).encrypt("x", context=CTX)
    with pytest.raises(DecryptionError):
        cipher({"k1": K2}).decrypt(token, context=CTX)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "v1.k1",
        "v2.k1.AAAA",
        "v1..AAAA",
        "v1.k1.",
        "v1.k1.AAAA",  # decodes, but too short for nonce + tag
        "v1.k1.!!!!",
        "v1.k1.AA+/" + "A" * 40,  # standard alphabet is not our token alphabet
        "v1.k1.AAAA.extra",
        "v1.k.1.AAAA",
    ],
)
def test_malformed_tokens_fail(token):
    with pytest.raises(DecryptionError):
        cipher().decrypt(token, context=CTX)


def test_non_string_token_fails():
    with pytest.raises(DecryptionError):
        cipher().decrypt(b"v1.k1.AAAA", context=CTX)  # type: ignore[arg-type]


def test_decryption_error_is_value_error_and_does_not_leak():
    c = cipher()
    token = c.encrypt("370602195001011230", context=CTX)
    with pytest.raises(ValueError) as info:
        c.decrypt(token, context="other")
    assert isinstance(info.value, DecryptionError)
    assert token not in str(info.value)
    assert "370602" not in str(info.value)


def test_optional_helpers_pass_none_through():
    c = cipher()
    assert c.encrypt_optional(None, context=CTX) is None
    assert c.decrypt_optional(None, context=CTX) is None
    token = c.encrypt_optional("x", context=CTX)
    assert token is not None and token.startswith("v1.")
    assert c.decrypt_optional(token, context=CTX) == "x"


def test_rotation_old_key_still_decrypts():
    old = cipher({"k1": K1}, current="k1")
    token = old.encrypt("370602195001011230", context=CTX)
    assert old.needs_rotation(token) is False

    new = cipher({"k1": K1, "k2": K2}, current="k2")
    assert new.decrypt(token, context=CTX) == "370602195001011230"
    assert new.needs_rotation(token) is True

    rotated = new.encrypt(new.decrypt(token, context=CTX), context=CTX)
    assert rotated.startswith("v1.k2.")
    assert new.needs_rotation(rotated) is False
    with pytest.raises(DecryptionError):
        old.decrypt(rotated, context=CTX)  # old deployment does not know k2


def test_unknown_key_id_fails():
    token = cipher({"k2": K2}, current="k2").encrypt("x", context=CTX)
    with pytest.raises(DecryptionError, match="unknown key id"):
        cipher({"k1": K1}).decrypt(token, context=CTX)


def test_needs_rotation_rejects_malformed():
    with pytest.raises(DecryptionError):
        cipher().needs_rotation("not-a-token")


def test_empty_context_rejected():
    c = cipher()
    with pytest.raises(ValueError):
        c.encrypt("x", context="")
    with pytest.raises(ValueError):
        c.blind_index("x", context="")
    with pytest.raises(ValueError):
        c.blind_index("x", context="a\x00b")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"keys": {"k1": b"short"}, "current_key_id": "k1", "index_key": INDEX},
        {"keys": {"k1": K1 + b"x"}, "current_key_id": "k1", "index_key": INDEX},
        {"keys": {"k1": K1}, "current_key_id": "k2", "index_key": INDEX},
        {"keys": {}, "current_key_id": "k1", "index_key": INDEX},
        {"keys": {"bad.id": K1}, "current_key_id": "bad.id", "index_key": INDEX},
        {"keys": {"x" * 17: K1}, "current_key_id": "x" * 17, "index_key": INDEX},
        {"keys": {"k1": K1}, "current_key_id": "k1", "index_key": b"\x01" * 31},
        {"keys": {"k1": "a" * 32}, "current_key_id": "k1", "index_key": INDEX},
    ],
)
def test_constructor_validation(kwargs):
    with pytest.raises(ValueError):
        FieldCipher(**kwargs)


def test_repr_does_not_leak_keys():
    text = repr(cipher({"k1": K1, "k2": K2}, current="k2"))
    assert "k2" in text
    assert K1.hex() not in text and b64(K1) not in text and repr(K1) not in text


# --- blind index --------------------------------------------------------------------------------


def test_blind_index_stable_across_encryption_keys():
    a = cipher({"k1": K1}, current="k1")
    b = cipher({"k9": K2}, current="k9")
    value = "370602195001011230"
    ia = a.blind_index(value, context=CTX)
    assert ia == b.blind_index(value, context=CTX)
    assert ia == a.blind_index(value, context=CTX)
    assert len(ia) == 64 and int(ia, 16) >= 0
    assert value not in ia


def test_blind_index_differs_by_value_context_and_key():
    c = cipher()
    base = c.blind_index("370602195001011230", context=CTX)
    assert base != c.blind_index("370602195001011249", context=CTX)
    assert base != c.blind_index("370602195001011230", context="guardian.id_number")
    assert base != cipher(index=b"\x02" * 32).blind_index("370602195001011230", context=CTX)


def test_blind_index_is_domain_separated():
    c = cipher()
    # Without the NUL separator these two would hash the same string "ab" + "c".
    assert c.blind_index("c", context="ab") != c.blind_index("bc", context="a")


def test_blind_index_matches_spec():
    import hashlib
    import hmac

    expected = hmac.new(INDEX, (CTX + "\x00" + "v").encode(), hashlib.sha256).hexdigest()
    assert cipher().blind_index("v", context=CTX) == expected


# --- from_settings ------------------------------------------------------------------------------


def test_generate_key():
    k = generate_key()
    assert len(base64.b64decode(k, validate=True)) == 32
    assert generate_key() != k


def test_from_settings_bare_key_defaults_to_k1():
    c = FieldCipher.from_settings(data_key=b64(K1), index_key=b64(INDEX))
    assert c.current_key_id == "k1"
    token = c.encrypt("x", context=CTX)
    assert token.startswith("v1.k1.")
    assert cipher().decrypt(token, context=CTX) == "x"  # same key material as K1
    assert c.blind_index("x", context=CTX) == cipher().blind_index("x", context=CTX)


def test_from_settings_with_key_id_and_retired_keys():
    old = FieldCipher.from_settings(data_key="dev1:" + b64(K1), index_key=b64(INDEX))
    token = old.encrypt("x", context=CTX)
    assert token.startswith("v1.dev1.")

    new = FieldCipher.from_settings(
        data_key="dev2:" + b64(K2),
        retired_keys=f" dev1:{b64(K1)} , old_0:{b64(os.urandom(32))},",
        index_key=b64(INDEX),
    )
    assert new.current_key_id == "dev2"
    assert new.key_ids == {"dev1", "dev2", "old_0"}
    assert new.decrypt(token, context=CTX) == "x"
    assert new.needs_rotation(token)
    assert new.encrypt("y", context=CTX).startswith("v1.dev2.")


def test_from_settings_accepts_urlsafe_base64_and_long_index_key():
    raw = b"\xfb\xff" * 16  # encodes with "+" / "/" in the standard alphabet
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert "-" in urlsafe or "_" in urlsafe
    c = FieldCipher.from_settings(data_key=urlsafe, index_key=b64(os.urandom(64)))
    assert c.decrypt(c.encrypt("x", context=CTX), context=CTX) == "x"


def test_from_settings_derived_index_key():
    a = FieldCipher.from_settings(data_key="a:" + b64(K1), index_key=None)
    b = FieldCipher.from_settings(data_key="b:" + b64(K1), index_key="")
    c = FieldCipher.from_settings(data_key="a:" + b64(K2), index_key=None)
    ia = a.blind_index("x", context=CTX)
    assert ia == b.blind_index("x", context=CTX)  # derived from key material, not the id
    assert ia != c.blind_index("x", context=CTX)
    # Derived key is not the data key itself.
    assert ia != FieldCipher.from_settings(data_key=b64(K1), index_key=b64(K1)).blind_index("x", context=CTX)


def test_from_settings_derivation_matches_hkdf():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"haibei-blind-index").derive(K1)
    a = FieldCipher.from_settings(data_key=b64(K1), index_key=None)
    assert a.blind_index("x", context=CTX) == cipher(index=derived).blind_index("x", context=CTX)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_key": "", "index_key": None}, "empty"),
        ({"data_key": "   ", "index_key": None}, "empty"),
        ({"data_key": "not base64!!", "index_key": None}, "base64"),
        ({"data_key": b64(b"x" * 16), "index_key": None}, "32 bytes"),
        ({"data_key": b64(b"x" * 33), "index_key": None}, "32 bytes"),
        ({"data_key": "bad id:" + b64(K1), "index_key": None}, "key id"),
        ({"data_key": ":" + b64(K1), "index_key": None}, "key id"),
        ({"data_key": "k" * 17 + ":" + b64(K1), "index_key": None}, "key id"),
        ({"data_key": "k1:", "index_key": None}, "base64"),
        ({"data_key": b64(K1), "retired_keys": "old:" + b64(b"x" * 8), "index_key": None}, "32 bytes"),
        ({"data_key": b64(K1), "retired_keys": "old:???", "index_key": None}, "base64"),
        ({"data_key": "k1:" + b64(K1), "retired_keys": "k1:" + b64(K2), "index_key": None}, "twice"),
        ({"data_key": b64(K1), "index_key": b64(b"x" * 16)}, "at least 32"),
        ({"data_key": b64(K1), "index_key": "%%%"}, "index key"),
    ],
)
def test_from_settings_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FieldCipher.from_settings(**kwargs)


def test_from_settings_same_key_listed_twice_is_tolerated():
    c = FieldCipher.from_settings(data_key="k1:" + b64(K1), retired_keys="k1:" + b64(K1), index_key=None)
    assert c.key_ids == {"k1"}


# --- ID numbers ---------------------------------------------------------------------------------

TODAY = date(2025, 6, 15)


def test_make_valid_id_number_known_value():
    # Check character recomputed here from GB 11643-1999 rather than trusting the module.
    first17 = "37060219500101123"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]
    assert make_valid_id_number() == first17 + check == "370602195001011230"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"birth": "19491231", "seq": "002"},
        {"region": "110105", "birth": "20000229", "seq": "999"},
        {"birth": "19000101"},
        {"birth": "20250615"},  # born "today"
    ],
)
def test_generated_numbers_are_valid(kwargs):
    number = make_valid_id_number(**kwargs)
    assert normalize_id_number(number, today=TODAY) == number


def test_generated_numbers_cover_x_check_char():
    numbers = {make_valid_id_number(seq=f"{i:03d}") for i in range(40)}
    assert any(n.endswith("X") for n in numbers)
    for n in numbers:
        assert normalize_id_number(n) == n


def test_known_real_format_example_with_x():
    assert normalize_id_number("11010519491231002X") == "11010519491231002X"
    assert normalize_id_number(" 11010519491231002x\n") == "11010519491231002X"


def test_bad_check_digit():
    good = make_valid_id_number()
    for c in "0123456789X":
        if c != good[-1]:
            with pytest.raises(ValueError, match="check digit"):
                normalize_id_number(good[:-1] + c)
    with pytest.raises(ValueError, match="check digit"):
        normalize_id_number("110105194912310021")


@pytest.mark.parametrize("birth", ["19990230", "19991301", "19990001", "19990100", "18991231", "20230229"])
def test_bad_birth_date(birth):
    with pytest.raises(ValueError, match="birth date"):
        normalize_id_number(make_valid_id_number(birth=birth), today=TODAY)


def test_future_birth_date():
    with pytest.raises(ValueError, match="future"):
        normalize_id_number(make_valid_id_number(birth="20250616"), today=TODAY)
    with pytest.raises(ValueError, match="future"):
        normalize_id_number(make_valid_id_number(birth="20991231"))  # real clock


@pytest.mark.parametrize(
    "value",
    ["", "3706021950010112", "37060219500101123", "3706021950010112300", "1101051949123100", "11010519491231002XX"],
)
def test_wrong_length(value):
    with pytest.raises(ValueError, match="18 characters"):
        normalize_id_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "11010519491231A02X",
        "X10105194912310021",
        "11010519491231002Y",
        "1101051949123100 2",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
    ],
)
def test_letters_and_non_ascii_rejected(value):
    with pytest.raises(ValueError):
        normalize_id_number(value)


def test_non_string_id_rejected():
    with pytest.raises(ValueError):
        normalize_id_number(110105194912310021)  # type: ignore[arg-type]


def test_make_valid_id_number_rejects_bad_parts():
    for kwargs in ({"region": "37060"}, {"birth": "1950011"}, {"seq": "12a"}, {"seq": "１２３"}):
        with pytest.raises(ValueError):
            make_valid_id_number(**kwargs)


def test_birth_date_and_gender():
    assert id_birth_date("11010519491231002X") == date(1949, 12, 31)
    assert id_gender("11010519491231002X") == "female"  # 17th digit 2
    male = make_valid_id_number(birth="19620704", seq="017")
    assert id_birth_date(male) == date(1962, 7, 4)
    assert id_gender(male) == "male"
    assert id_gender(make_valid_id_number(seq="010")) == "female"
    assert id_gender(make_valid_id_number(seq="009")) == "male"
    assert id_gender(make_valid_id_number(seq="12" + "0")) == "female"
    assert id_birth_date(" 11010519491231002x ") == date(1949, 12, 31)


def test_birth_date_and_gender_validate_input():
    with pytest.raises(ValueError):
        id_birth_date("110105194912310021")
    with pytest.raises(ValueError):
        id_gender("123")


# --- age ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(1950, 6, 15), date(2025, 6, 14), 74),
        (date(1950, 6, 15), date(2025, 6, 15), 75),
        (date(1950, 6, 15), date(2025, 6, 16), 75),
        (date(1950, 12, 31), date(2025, 1, 1), 74),
        (date(1950, 1, 1), date(2024, 12, 31), 74),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2025, 6, 15), date(2025, 6, 15), 0),
    ],
)
def test_age_on(birth, today, age):
    assert age_on(birth, today) == age


def test_age_on_before_birth():
    with pytest.raises(ValueError):
        age_on(date(2025, 6, 15), date(2025, 6, 14))


# --- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        " 13812345678 ",
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "8613812345678",
        "86 13812345678",
    ],
)
def test_phone_normalisation(value):
    assert normalize_phone(value) == "13812345678"


@pytest.mark.parametrize("value", ["19912345678", "13000000000", "17712345678"])
def test_phone_prefixes_accepted(value):
    assert normalize_phone(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "138123456789",  # 12 digits
        "1381234567",  # 10 digits
        "12812345678",  # second digit 2
        "11812345678",
        "10812345678",
        "23812345678",
        "+8612812345678",
        "+87 13812345678",
        "861381234567",  # 12 digits starting with 86
        "1381234567a",
        "１３８１２３４５６７８",  # full-width
        "0631-5201234",  # landline
    ],
)
def test_phone_rejected(value):
    with pytest.raises(ValueError):
        normalize_phone(value)


# --- masks --------------------------------------------------------------------------------------


def test_mask_id_number():
    assert mask_id_number("370602195001011234") == "3706**********1234"
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_id_number(None) is None
    assert mask_id_number("12345678") == "********"  # too short to keep ends and hide anything


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) is None
    assert mask_phone("1234567") == "*******"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李", "*"),
        ("阿卜杜·热合曼", "阿******"),
        ("Anna", "A***"),
        ("", ""),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_mask_name_none():
    assert mask_name(None) is None
