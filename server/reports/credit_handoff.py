"""The 海贝分 handoff to 信用威海: a credit batch as the receiver can use it — each person by name
and full ID number, which is how 信用威海 finds them — encrypted for the transfer.

A batch (server/points/credit.py) keeps only masked numbers and blind indexes, which nobody
outside can match. The handoff opens the volunteers' ID numbers with the field cipher, writes a
CSV (UTF-8, no BOM, Chinese headers: 姓名, 身份证号, 累计时长(小时), 增加分值, 依据), and seals it
in a JSON envelope whose values are base64 (standard alphabet, padded):

* for 信用威海's RSA public key: ``{"alg": "RSA-OAEP-256+A256GCM", "encrypted_key", "nonce",
  "ciphertext"}`` — a fresh AES-256 key encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256, no
  label), the CSV encrypted with AES-256-GCM under that key and the 12-byte nonce, the 16-byte
  tag at the end of the ciphertext, no associated data;
* for a password given to 信用威海 out of band: ``{"alg": "scrypt+A256GCM", "salt", "kdf":
  {"n", "r", "p"}, "nonce", "ciphertext"}`` — the AES-256 key is scrypt(password as UTF-8,
  salt, n, r, p, 32 bytes).

Only volunteers whose consent is in force *now* are in it (server/points/consent.py): the handoff
is when their data leaves, so a withdrawal after the batch was made still keeps them out. So is
anyone whose profile was closed or whose ID number is no longer the one the batch counted the
hours under. The plaintext is never returned, stored or logged; each handoff is audited
(``credit.export``) with whose data went.
"""

from __future__ import annotations

import base64
import csv
import io
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from models import CreditIncrement, VolunteerProfile
from server import audit
from server.errors import DomainError, NotFound, ValidationFailed
from server.people.volunteers import ID_NUMBER_CONTEXT
from server.pii import FieldCipher
from server.points import consent

HEADER = ["姓名", "身份证号", "累计时长(小时)", "增加分值", "依据"]
ALG_RSA = "RSA-OAEP-256+A256GCM"
ALG_PASSWORD = "scrypt+A256GCM"
MIN_PASSWORD_CHARS = 12
MIN_RSA_BITS = 2048
# scrypt's cost: 32 MiB and a few tenths of a second per derivation (RFC 7914 §2's interactive
# figures doubled); the receiver reads them from the envelope.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
CONTENT_TYPE = "text/csv; charset=utf-8"


class BadPublicKey(ValidationFailed):
    code = "BAD_PUBLIC_KEY"
    message = f"无法识别的公钥:请提供 PEM 格式、至少 {MIN_RSA_BITS} 位的 RSA 公钥(以 -----BEGIN PUBLIC KEY----- 开头)"


class TransferKeyRequired(ValidationFailed):
    code = "TRANSFER_KEY_REQUIRED"
    message = "请提供信用威海的公钥或传输密码(二选一)"


class ReceiverKeyMisconfigured(DomainError):
    status = 503
    code = "CREDIT_KEY_MISCONFIGURED"
    message = "系统配置的信用威海公钥无法使用,请联系运维人员,或在请求中提供公钥或密码"


@dataclass(frozen=True)
class Recipient:
    """Whom the handoff is sealed for: 信用威海's public key, or a password they were given."""

    public_key: rsa.RSAPublicKey | None = None
    password: str | None = None


def _public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BadPublicKey(details=[{"field": "public_key_pem", "type": "bad_public_key"}]) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise BadPublicKey(details=[{"field": "public_key_pem", "type": "bad_public_key"}])
    return key


def recipient(*, public_key_pem: str | None, password: str | None, configured_key_file: str) -> Recipient:
    """Whom to seal for: the key or the password in the request (one of them; the schema checks
    the password's length), else 信用威海's key configured for the deployment."""
    if public_key_pem and password:
        raise ValidationFailed("公钥和传输密码只能选择一种", details=[{"field": "password", "type": "one_of"}])
    if password:
        return Recipient(password=password)
    if public_key_pem:
        return Recipient(public_key=_public_key(public_key_pem))
    if not configured_key_file:
        raise TransferKeyRequired(details=[{"field": "public_key_pem", "type": "missing"}])
    try:
        with open(configured_key_file, encoding="utf-8") as f:
            return Recipient(public_key=_public_key(f.read()))
    except (OSError, UnicodeDecodeError, BadPublicKey):
        raise ReceiverKeyMisconfigured() from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal(plaintext: bytes, *, to: Recipient) -> dict[str, Any]:
    """``plaintext`` encrypted for ``to``, as the envelope described above."""
    nonce = os.urandom(12)
    if to.public_key is not None:
        key = AESGCM.generate_key(bit_length=256)
        encrypted_key = to.public_key.encrypt(key, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()),
                                                                algorithm=hashes.SHA256(), label=None))
        head = {"alg": ALG_RSA, "encrypted_key": _b64(encrypted_key)}
    else:
        assert to.password is not None
        salt = os.urandom(16)
        key = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(to.password.encode("utf-8"))
        head = {"alg": ALG_PASSWORD, "salt": _b64(salt), "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}}
    return {**head, "nonce": _b64(nonce), "ciphertext": _b64(AESGCM(key).encrypt(nonce, plaintext, None))}


def _hours(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _basis(inc: CreditIncrement) -> str:
    tasks = "、".join(str(t) for t in inc.evidence_task_ids or []) or "无"
    return f"志愿服务时长累计达到{inc.threshold_hours}小时;海贝批次{inc.batch_id};服务任务编号{tasks}"


async def _rows(*, batch_id: int, cipher: FieldCipher) -> tuple[list[list[Any]], list[int], int]:
    """The batch's rows as 信用威海 reads them, the volunteers they name, and how many were left out."""
    increments = await CreditIncrement.filter(batch_id=batch_id).order_by("volunteer_id", "threshold_hours")
    if not increments:
        raise NotFound("批次不存在")
    consenting = await consent.in_force(user_ids=sorted({i.user_id for i in increments}))
    profiles = {v.id: v for v in await VolunteerProfile.filter(id__in={i.volunteer_id for i in increments})
                .exclude(status="closed")}
    rows: list[list[Any]] = []
    sent: set[int] = set()
    left_out = 0
    for inc in increments:
        volunteer = profiles.get(inc.volunteer_id)
        if (inc.user_id not in consenting or volunteer is None or volunteer.user_id != inc.user_id
                or volunteer.id_number_enc is None or volunteer.id_number_index != inc.id_number_index):
            left_out += 1
            continue
        id_number = cipher.decrypt(volunteer.id_number_enc, context=ID_NUMBER_CONTEXT)
        rows.append([volunteer.name, id_number, _hours(inc.hours), inc.increment, _basis(inc)])
        sent.add(volunteer.id)
    return rows, sorted(sent), left_out


def _csv(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


async def transfer(*, batch_id: int, to: Recipient, cipher: FieldCipher, actor_id: int) -> dict[str, Any]:
    """The batch sealed for 信用威海, with how many rows went and how many were left out; audited."""
    rows, volunteer_ids, left_out = await _rows(batch_id=batch_id, cipher=cipher)
    envelope = seal(_csv(rows), to=to)
    await audit.record(actor_id=actor_id, action="credit.export", subject_type="credit_batch", subject_id=batch_id,
                       fields=["name", "id_number"],
                       detail={"count": len(rows), "left_out": left_out, "alg": envelope["alg"],
                               "volunteer_ids": volunteer_ids})
    return {"batch_id": batch_id, "count": len(rows), "left_out": left_out, "content_type": CONTENT_TYPE,
            "filename": f"haibei-credit-{batch_id}.csv", **envelope}
