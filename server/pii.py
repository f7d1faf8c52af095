"""Residents' personal information: field encryption, blind indexes, validators and masks.

ID numbers, phone numbers and names of assistance applicants are sensitive personal
information (PIPL art. 28) that must be protected with encryption and de-identification
(PIPL art. 51, GB/T 35273 §6.3). This module is the single place that does so:

* ``FieldCipher`` encrypts a column value with AES-256-GCM. The token carries the key id, so keys
  can rotate: new writes use the current key, retired keys stay available for reading only.
* ``FieldCipher.blind_index`` gives a keyed, deterministic digest so "is this ID number already
  registered?" can be answered by an equality lookup without decrypting every row.
* Validators normalise input before it is encrypted or indexed, so the same person always yields
  the same blind index.
* Masks are what responses show by default; the full value is only returned where a caller
  deliberately decrypts and chooses not to mask.

Only the standard library, ``cryptography`` and the sealed-column hook (models/sealed.py) are
used, so this module can be imported by scripts without the web stack.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from datetime import date, datetime, timedelta, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from models import sealed

__all__ = [
    "DecryptionError",
    "FieldCipher",
    "generate_key",
    "normalize_id_number",
    "id_birth_date",
    "id_gender",
    "age_on",
    "normalize_phone",
    "make_valid_id_number",
    "mask_id_number",
    "mask_phone",
    "mask_name",
]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit nonce: the size GCM is specified and analysed for
TAG_BYTES = 16
MIN_INDEX_KEY_BYTES = 32
TOKEN_VERSION = "v1"
INDEX_KEY_INFO = b"haibei-blind-index"
DEFAULT_KEY_ID = "k1"

_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
# The payload alphabet is checked explicitly because b64decode(altchars=...) would otherwise
# also accept the standard "+/" characters.
_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_B64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")

# China has had no daylight saving since 1991, so a fixed offset is exact and avoids needing
# tzdata on the host. "Not born in the future" must be judged on the Chinese calendar day,
# not the server's UTC day.
_CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class DecryptionError(ValueError):
    """A token could not be decrypted: malformed, unknown key id, tampered with or wrong context.

    Messages deliberately never include the token, key material or any plaintext, because they
    may end up in logs.
    """


# --------------------------------------------------------------------------------------------
# Field encryption
# --------------------------------------------------------------------------------------------


def _check_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise ValueError(f"key id must match [A-Za-z0-9_-]{{1,16}}, got {key_id!r}")
    return key_id


def _check_context(context: object) -> bytes:
    # The context is the AAD for encryption and the domain separator for blind indexes. An empty
    # context would let values from different columns be swapped or correlated; a NUL would
    # make "a\x00b" + value ambiguous in the blind index input.
    if not isinstance(context, str) or not context:
        raise ValueError("context must be a non-empty string")
    if "\x00" in context:
        raise ValueError("context must not contain NUL characters")
    return context.encode("utf-8")


def _b64decode_setting(value: str, *, what: str) -> bytes:
    text = value.strip()
    # Accept both standard and URL-safe alphabets: operators paste keys from different tools.
    if not text or not _B64_RE.fullmatch(text):
        raise ValueError(f"{what} is not valid base64")
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


def _parse_key_spec(spec: str, *, what: str) -> tuple[str, bytes]:
    """Parse ``"<key_id>:<base64>"`` or bare ``"<base64>"`` (key id ``k1``).

    ``":"`` is not in either base64 alphabet, so splitting on it is unambiguous.
    """
    text = spec.strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if ":" in text:
        key_id, _, material = text.partition(":")
        key_id = key_id.strip()
        if not _KEY_ID_RE.fullmatch(key_id):
            raise ValueError(f"{what} has an invalid key id {key_id!r} (use [A-Za-z0-9_-]{{1,16}})")
    else:
        key_id, material = DEFAULT_KEY_ID, text
    key = _b64decode_setting(material, what=f"{what} ({key_id})")
    if len(key) != KEY_BYTES:
        raise ValueError(f"{what} ({key_id}) must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key_id, key


def generate_key() -> str:
    """Base64 of 32 random bytes, for development and test keys (``HAIBEI_DATA_KEY`` etc.)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


class FieldCipher:
    """AES-256-GCM for single column values, plus HMAC-SHA256 blind indexes.

    Tokens look like ``v1.<key_id>.<urlsafe-base64(nonce || ciphertext || tag)>``. The column
    name (``context``) is bound in as associated data, so a ciphertext copied from one column
    or table into another fails authentication instead of silently decrypting.
    """

    def __init__(self, *, keys: dict[str, bytes], current_key_id: str, index_key: bytes) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        aeads: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            _check_key_id(key_id)
            if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be exactly {KEY_BYTES} bytes")
            aeads[key_id] = AESGCM(bytes(key))
        _check_key_id(current_key_id)
        if current_key_id not in aeads:
            raise ValueError(f"current key id {current_key_id!r} is not among the keys")
        if not isinstance(index_key, (bytes, bytearray)) or len(index_key) < MIN_INDEX_KEY_BYTES:
            raise ValueError(f"index key must be at least {MIN_INDEX_KEY_BYTES} bytes")
        # Only AESGCM objects are kept, not raw key bytes in a public attribute, so that an
        # accidental repr/log/serialisation of the cipher does not leak keys.
        self._aeads = aeads
        self._current_key_id = current_key_id
        self._index_key = bytes(index_key)

    def __repr__(self) -> str:
        return f"FieldCipher(current_key_id={self._current_key_id!r}, key_ids={sorted(self._aeads)!r})"

    @property
    def current_key_id(self) -> str:
        return self._current_key_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aeads)

    @classmethod
    def from_settings(
        cls, *, data_key: str, retired_keys: str = "", index_key: str | None
    ) -> FieldCipher:
        """Build a cipher from ``HAIBEI_DATA_KEY``, ``HAIBEI_DATA_KEYS_RETIRED``, ``HAIBEI_INDEX_KEY``.

        ``data_key``: ``"<key_id>:<base64 32 bytes>"`` or bare base64 (key id ``k1``); new writes
        use it. ``retired_keys``: comma-separated list of the same form, used only to read old
        tokens until they are re-encrypted. ``index_key``: base64 of at least 32 bytes; ``None``
        or blank derives it from the data key (see below).
        """
        if not isinstance(data_key, str):
            raise ValueError("data key must be a string")
        current_id, current_key = _parse_key_spec(data_key, what="data key")
        keys: dict[str, bytes] = {current_id: current_key}
        for spec in (retired_keys or "").split(","):
            if not spec.strip():
                continue  # tolerate trailing commas and blank settings
            key_id, key = _parse_key_spec(spec, what="retired key")
            existing = keys.get(key_id)
            if existing is not None and not hmac.compare_digest(existing, key):
                # Two different keys under one id would make old tokens undecryptable at random.
                raise ValueError(f"key id {key_id!r} is configured twice with different keys")
            keys[key_id] = key
        if index_key is None or not index_key.strip():
            # Fallback for development and tests only: the index key is derived from the
            # current data key. Rotating the data key would then change every blind index and
            # break duplicate detection, so production must pin HAIBEI_INDEX_KEY explicitly;
            # config.settings refuses to start in production mode without it.
            index = HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=INDEX_KEY_INFO
            ).derive(current_key)
        else:
            index = _b64decode_setting(index_key, what="index key")
            if len(index) < MIN_INDEX_KEY_BYTES:
                raise ValueError(
                    f"index key must decode to at least {MIN_INDEX_KEY_BYTES} bytes, got {len(index)}"
                )
        return cls(keys=keys, current_key_id=current_id, index_key=index)

    # -- encryption ---------------------------------------------------------------------------

    def encrypt(self, plaintext: str, *, context: str) -> str:
        if not isinstance(plaintext, str):
            raise TypeError("plaintext must be a str")
        aad = _check_context(context)
        # A fresh random nonce per call: with 96-bit nonces the collision risk stays negligible
        # far beyond the number of records this service will ever write under one key.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self._current_key_id].encrypt(nonce, plaintext.encode("utf-8"), aad)
        payload = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{TOKEN_VERSION}.{self._current_key_id}.{payload}"

    def decrypt(self, token: str, *, context: str) -> str:
        aad = _check_context(context)
        key_id, blob = self._parse_token(token)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise DecryptionError(f"unknown key id {key_id!r}")
        try:
            plain = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication (tampered or wrong context)") from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - only reachable if we encrypted non-UTF-8
            raise DecryptionError("plaintext is not valid UTF-8") from None

    def encrypt_optional(self, plaintext: str | None, *, context: str) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext, context=context)

    def decrypt_optional(self, token: str | None, *, context: str) -> str | None:
        return None if token is None else self.decrypt(token, context=context)

    def needs_rotation(self, token: str) -> bool:
        """True when the token was written under a key other than the current one.

        A re-encryption job uses this to find rows to rewrite before a retired key is dropped.
        Malformed tokens raise ``DecryptionError`` rather than returning a guess.
        """
        key_id, _ = self._parse_token(token)
        return key_id != self._current_key_id

    @staticmethod
    def _parse_token(token: object) -> tuple[str, bytes]:
        if not isinstance(token, str):
            raise DecryptionError("token must be a string")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION:
            raise DecryptionError("malformed token")
        _, key_id, payload = parts
        if not _KEY_ID_RE.fullmatch(key_id) or not _PAYLOAD_RE.fullmatch(payload):
            raise DecryptionError("malformed token")
        try:
            blob = base64.urlsafe_b64decode(payload)
        except (binascii.Error, ValueError):
            raise DecryptionError("malformed token") from None
        # Reject non-canonical encodings (e.g. altered padding bits in the last character) so
        # that any change to the stored string is detected, not only changes GCM would see.
        if base64.urlsafe_b64encode(blob).decode("ascii") != payload:
            raise DecryptionError("malformed token")
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("malformed token")
        return key_id, blob

    # -- blind index --------------------------------------------------------------------------

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for another HMAC use (e.g. QR plates), stable across data-key rotation."""
        return hmac.new(self._index_key, b"derive\x00" + _check_context(purpose), hashlib.sha256).digest()

    def blind_index(self, value: str, *, context: str) -> str:
        """HMAC-SHA256(index_key, context + "\\x00" + value) as 64 hex chars.

        Deterministic by design (equal inputs give equal digests) so it can back a unique
        index; the key keeps it from being brute-forced offline over the small ID-number space.
        It uses its own key, so encryption keys rotate without re-indexing. Normalise the value
        first (e.g. ``normalize_id_number``) or "x" and "X" would index differently.
        """
        if not isinstance(value, str):
            raise TypeError("value must be a str")
        prefix = _check_context(context)
        message = prefix + b"\x00" + value.encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------
# Validators
# --------------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# ASCII classes on purpose: str.isdigit() would also accept full-width and other Unicode digits.
_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
_PHONE_STRIP_RE = re.compile(r"[\s\-]+")


def cipher_for(settings) -> FieldCipher:
    """The field cipher of a Settings object (the API, the worker's jobs, scripts)."""
    return FieldCipher.from_settings(data_key=settings.data_key, retired_keys=settings.data_keys_retired,
                                     index_key=settings.index_key)


def install_cipher(settings) -> FieldCipher:
    """The field cipher of ``settings``, made the one this process's sealed columns use
    (models/sealed.py). Every process that opens the database calls it at start: the API, the
    worker, the scripts."""
    cipher = cipher_for(settings)
    sealed.install(cipher)
    return cipher


def _china_today() -> date:
    return datetime.now(_CHINA_TZ).date()


def _id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character as used by GB 11643-1999."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK_CHARS[total % 11]


def normalize_id_number(value: str, *, today: date | None = None) -> str:
    """Validate a PRC resident ID number (GB 11643-1999) and return it with an upper-case X.

    ``today`` defaults to the current date in China; it exists so tests can pin the clock.
    """
    if not isinstance(value, str):
        raise ValueError("ID number must be a string")
    text = value.strip().upper()
    if len(text) != 18:
        raise ValueError("ID number must be 18 characters")
    if not _ID_RE.fullmatch(text):
        raise ValueError("ID number must be 17 digits followed by a digit or X")
    try:
        birth = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValueError("ID number has an invalid birth date") from None
    if birth.year < 1900:
        raise ValueError("ID number has an invalid birth date")
    if birth > (today or _china_today()):
        raise ValueError("ID number birth date is in the future")
    if _id_check_char(text[:17]) != text[17]:
        raise ValueError("ID number check digit is wrong")
    return text


def id_birth_date(id_number: str) -> date:
    """Birth date encoded in an ID number (validated first, so garbage raises ValueError)."""
    text = normalize_id_number(id_number)
    return date(int(text[6:10]), int(text[10:12]), int(text[12:14]))


def id_gender(id_number: str) -> str:
    """``"male"`` when the 17th digit (sequence code) is odd, else ``"female"``."""
    text = normalize_id_number(id_number)
    return "male" if int(text[16]) % 2 == 1 else "female"


def age_on(birth: date, today: date) -> int:
    """Full years (周岁) reached on ``today``.

    Someone born on 29 February turns a year older on 1 March in non-leap years, which is how
    the tuple comparison below falls out and how age is usually reckoned.
    """
    if today < birth:
        raise ValueError("date is before the birth date")
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def normalize_phone(value: str) -> str:
    """Validate a mainland mobile number and return its bare 11 digits.

    Spaces and hyphens anywhere are dropped, as is a leading ``+86`` or ``86`` country code.
    """
    if not isinstance(value, str):
        raise ValueError("phone number must be a string")
    text = _PHONE_STRIP_RE.sub("", value)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("86") and len(text) == 13:
        # Only strip a bare "86" when what remains could be a number: mobile numbers start
        # with 1, so an 11-digit value never begins with 86, but a 12-digit typo might.
        text = text[2:]
    if not _PHONE_RE.fullmatch(text):
        raise ValueError("phone number must be an 11-digit mainland mobile number")
    return text


def make_valid_id_number(*, region: str = "370602", birth: str = "19500101", seq: str = "123") -> str:
    """Build a fake ID number with the correct check character, for tests and demo data.

    The birth date is deliberately not checked, so tests can build numbers whose only flaw is
    an impossible or future date. 370602 is Weihai's Huancui district.
    """
    for name, part, size in (("region", region, 6), ("birth", birth, 8), ("seq", seq, 3)):
        if not isinstance(part, str) or len(part) != size or not part.isascii() or not part.isdigit():
            raise ValueError(f"{name} must be {size} digits")
    first17 = region + birth + seq
    return first17 + _id_check_char(first17)


# --------------------------------------------------------------------------------------------
# Masking (responses show these unless a caller has a reason to reveal the full value)
# --------------------------------------------------------------------------------------------


def _mask_middle(value: str, keep_head: int, keep_tail: int) -> str:
    # When the value is too short to keep both ends and still hide something, hide all of it:
    # a "mask" that reveals every character would be worse than useless.
    if len(value) <= keep_head + keep_tail:
        return "*" * len(value)
    return value[:keep_head] + "*" * (len(value) - keep_head - keep_tail) + value[len(value) - keep_tail :]


def mask_id_number(value: str | None) -> str | None:
    """``"370602195001011234"`` → ``"3706**********1234"``."""
    return None if value is None else _mask_middle(value, 4, 4)


def mask_phone(value: str | None) -> str | None:
    """``"13812345678"`` → ``"138****5678"``."""
    return None if value is None else _mask_middle(value, 3, 4)


def mask_name(value: str | None) -> str | None:
    """Keep the first character, one ``*`` per remaining one: ``"张三"`` → ``"张*"``.

    A one-character name becomes ``"*"``, since showing its only character would reveal it.
    """
    if value is None:
        return None
    if len(value) <= 1:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 1)
