"""Request and response shapes of the 海贝分 consent, the handoff to 信用威海 and the hours certificate."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from handlers.common import Strict
from server.reports.credit_handoff import MIN_PASSWORD_CHARS

# --- consent -------------------------------------------------------------------------------


class ConsentIn(Strict):
    version: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] = Field(
        description="the version of the text the volunteer read and agrees to")


class ConsentRecordOut(BaseModel):
    version: str
    consented_at: datetime
    withdrawn_at: datetime | None


class ConsentOut(BaseModel):
    version: str = Field(description="the version of the text in force")
    title: str
    text: str
    state: Literal["none", "consented", "outdated", "withdrawn"]
    state_label: str
    consented_version: str | None
    consented_at: datetime | None
    withdrawn_at: datetime | None
    can_consent: bool
    id_number_missing: bool
    history: list[ConsentRecordOut]


# --- handoff -------------------------------------------------------------------------------

# Printable ASCII without spaces: told over the phone or on paper, and never changed by the
# cleaning every text field gets (NFC, hidden characters), so both sides derive the same key.
_PASSWORD = re.compile(r"[\x21-\x7e]+")


class TransferIn(Strict):
    public_key_pem: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="信用威海's RSA public key (PEM, at least 2048 bits)")
    password: str | None = Field(None, max_length=128, description=(
        f"or a password given to 信用威海 out of band: at least {MIN_PASSWORD_CHARS} printable ASCII characters"))

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) < MIN_PASSWORD_CHARS or not _PASSWORD.fullmatch(value):
            raise ValueError(f"传输密码至少 {MIN_PASSWORD_CHARS} 位,只能使用英文字母、数字和符号(不含空格)")
        return value


class KdfOut(BaseModel):
    name: str
    n: int
    r: int
    p: int


class EnvelopeOut(BaseModel):
    batch_id: int
    count: int = Field(description="rows sealed: increments of volunteers whose consent is in force")
    left_out: int = Field(description="increments of the batch not sent (no consent, withdrawn, profile closed or ID number changed)")
    content_type: str
    filename: str
    alg: Literal["RSA-OAEP-256+A256GCM", "scrypt+A256GCM"]
    encrypted_key: str | None = None
    salt: str | None = None
    kdf: KdfOut | None = None
    nonce: str
    ciphertext: str


# --- certificates --------------------------------------------------------------------------


class CertificateOut(BaseModel):
    code: str
    title: str
    name: str = Field(description="masked")
    station_name: str
    total_hours: float
    issued_on: str = Field(description="YYYY-MM-DD, Weihai")
    issued_on_label: str
