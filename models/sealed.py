"""Columns sealed at rest: the value is encrypted on its way to the database and opened on its way
back, so a household's assistance categories, birth date, guardian, health answers and the words
of its needs never lie in the database file in clear (PIPL art. 28 and 51: the status of a person
in hardship and health information are sensitive personal information).

Unlike the ``_enc`` columns, which callers encrypt and decrypt themselves because lists show only
their masks, these are read wherever the record is used (statistics, policy matching, worksheets,
rankings), so the field does it: no reader can forget. Nothing may filter or sort on them in SQL
(a value encrypts differently each time); what needs that is computed in the app after reading.

The cipher is the process's field cipher (``server.pii.FieldCipher``), installed once at start by
``server.pii.install_cipher``: the models know only its two methods. Each column is sealed under
its own context (``table.column``), so a token copied into another column does not open.

A value written before its column was sealed (plain text, a date, a JSON list) is read as it is;
``scripts/rotate_keys`` seals such values along with re-encrypting old keys' tokens.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Protocol

from tortoise.fields import TextField

# The shape of FieldCipher's tokens (server/pii.py): version, key id, urlsafe base64.
TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]+={0,2}")


class Cipher(Protocol):
    def encrypt(self, plaintext: str, *, context: str) -> str: ...
    def decrypt(self, token: str, *, context: str) -> str: ...


class _Installed:
    cipher: Cipher | None = None


def install(cipher: Cipher) -> None:
    """The cipher every sealed column uses from now on in this process."""
    _Installed.cipher = cipher


def _cipher() -> Cipher:
    if _Installed.cipher is None:
        raise RuntimeError("no field cipher installed: call server.pii.install_cipher(settings) at start")
    return _Installed.cipher


def is_token(value: Any) -> bool:
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


class SealedField(TextField):
    """A text column holding an encrypted value; subclasses say how the value becomes text."""

    def __init__(self, *, context: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context = context

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        path, args, kwargs = super().deconstruct()
        return path, args, {**kwargs, "context": self.context}

    def dump(self, value: Any) -> str:
        return str(value)

    def load(self, text: str) -> Any:
        return text

    def to_db_value(self, value: Any, instance: Any) -> str | None:
        if value is None:
            return None
        if is_token(value):  # already sealed (a row copied as it was read raw)
            return value
        return _cipher().encrypt(self.dump(value), context=self.context)

    def to_python_value(self, value: Any) -> Any:
        if value is None:
            return None
        if is_token(value):
            return self.load(_cipher().decrypt(value, context=self.context))
        return self.legacy(value)

    def legacy(self, value: Any) -> Any:
        """A value as it was stored before the column was sealed, or as a caller assigned it."""
        return value


class SealedText(SealedField):
    pass


class SealedJSON(SealedField):
    """A JSON value (a list of categories, questionnaire answers)."""

    def dump(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def load(self, text: str) -> Any:
        return json.loads(text)

    def legacy(self, value: Any) -> Any:
        if isinstance(value, (str, bytes)):
            return json.loads(value)
        return value


class SealedDate(SealedField):
    def dump(self, value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else date.fromisoformat(str(value)).isoformat()

    def load(self, text: str) -> date:
        return date.fromisoformat(text)

    def legacy(self, value: Any) -> Any:
        if isinstance(value, str):
            return date.fromisoformat(value[:10])
        return value
