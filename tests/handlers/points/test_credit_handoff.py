"""The 海贝分 handoff to 信用威海 through the API: the volunteer's consent (given, refused for an
outdated text, withdrawn), the batch sealed for the receiver (opened here with the receiver's own
private key or the password, holding only those whose consent is in force, audited), and the
volunteer-hours certificate (its PDF read back as text, verified by its code, name masked)."""

import base64
import csv
import dataclasses
import io
import re
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pypdf import PdfReader

from config.data import CREDIT_CONSENT
from models import AuditLog, CreditConsent, HoursCertificate, TaskClaim
from server.clock import CHINA_TZ
from server.reports import certificates
from tests.builders import (
    login, make_admin, make_need, make_resident, make_station, make_volunteer, make_worker, random_id_number,
)
from tests.handlers.care.test_stats import deliver
from tests.handlers.test_platform import assert_error
from tests.handlers.test_rate_limits import assert_limited, limits
from tests.server.points.test_credit import add_minutes, consent

CONSENT = "/api/v1/me/credit-consent"
PASSWORD = "Weihai-credit-2026!"


# --- what 信用威海 does with the envelope, from its documented shape alone --------------------


def receiver_keys() -> tuple[rsa.RSAPrivateKey, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, pem.decode("ascii")


def open_envelope(envelope: dict, *, private_key: rsa.RSAPrivateKey | None = None, password: str | None = None) -> list[list[str]]:
    b64 = base64.b64decode
    if envelope["alg"] == "RSA-OAEP-256+A256GCM":
        key = private_key.decrypt(b64(envelope["encrypted_key"]),
                                  padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    else:
        assert envelope["alg"] == "scrypt+A256GCM"
        kdf = envelope["kdf"]
        key = Scrypt(salt=b64(envelope["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(password.encode())
    plaintext = AESGCM(key).decrypt(b64(envelope["nonce"]), b64(envelope["ciphertext"]), None)
    return list(csv.reader(io.StringIO(plaintext.decode("utf-8"))))


# --- consent ---------------------------------------------------------------------------------


async def test_consent_is_given_to_the_current_text_only_and_withdrawn_with_its_dates(client, monkeypatch):
    station = await make_station()
    worker = await make_worker(client, station)
    v, _ = await make_volunteer(client, station, approved_by=worker)
    r = await client.get(CONSENT, headers=v.headers)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["version"] == CREDIT_CONSENT["version"] and shown["state"] == "none" and shown["can_consent"]
    # What is shared, with whom, why, how to withdraw: in words the volunteer reads.
    for words in ("姓名", "身份证号码", "志愿服务时长", "信用威海", "撤回"):
        assert words in shown["text"], words
    assert shown["id_number_missing"]  # consent alone sends nothing without an ID number

    r = await client.post(CONSENT, json={"version": "2000.1"}, headers=v.headers)
    err = assert_error(r, 409, "CONSENT_VERSION_OUTDATED")
    assert err["details"]["current_version"] == CREDIT_CONSENT["version"] and "最新" in err["message"]
    assert await CreditConsent.filter(user_id=v.id).count() == 0

    r = await client.post(CONSENT, json={"version": shown["version"]}, headers=v.headers)
    assert r.status_code == 200 and r.json()["state"] == "consented" and r.json()["state_label"] == "已授权", r.text
    again = await client.post(CONSENT, json={"version": shown["version"]}, headers=v.headers)
    assert len(again.json()["history"]) == 1  # a second tap records nothing new

    r = await client.delete(CONSENT, headers=v.headers)
    assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
    [row] = r.json()["history"]
    assert row["version"] == shown["version"] and row["consented_at"] and row["withdrawn_at"]
    r = await client.post(CONSENT, json={"version": shown["version"]}, headers=v.headers)
    assert r.json()["state"] == "consented" and len(r.json()["history"]) == 2

    # A new text: the consent given to the old one no longer counts until given again; then the
    # old one ends as the new one begins.
    monkeypatch.setitem(CREDIT_CONSENT, "version", "2099.1")
    assert (await client.get(CONSENT, headers=v.headers)).json()["state"] == "outdated"
    assert_error(await client.post(CONSENT, json={"version": shown["version"]}, headers=v.headers), 409,
                 "CONSENT_VERSION_OUTDATED")
    r = await client.post(CONSENT, json={"version": "2099.1"}, headers=v.headers)
    assert r.json()["state"] == "consented"
    rows = await CreditConsent.filter(user_id=v.id).order_by("id")
    assert [(c.version, c.withdrawn_at is None) for c in rows] == [
        (shown["version"], False), (shown["version"], False), ("2099.1", True)]
    assert rows[1].withdrawn_at == rows[2].consented_at


async def test_only_an_approved_volunteer_consents_and_anyone_may_withdraw(client):
    station = await make_station()
    applicant, _ = await make_volunteer(client, station)  # not reviewed yet
    version = CREDIT_CONSENT["version"]
    assert_error(await client.post(CONSENT, json={"version": version}, headers=applicant.headers), 403,
                 "NOT_APPROVED_VOLUNTEER")
    someone = await login(client)
    shown = (await client.get(CONSENT, headers=someone.headers)).json()
    assert shown["state"] == "none" and not shown["can_consent"]
    r = await client.delete(CONSENT, headers=someone.headers)  # nothing to withdraw: nothing happens
    assert r.status_code == 200 and r.json()["history"] == []


# --- the handoff -----------------------------------------------------------------------------


async def test_the_handoff_holds_only_consenting_volunteers_and_opens_with_the_receivers_key_or_the_password(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    numbers = {"yes": random_id_number(), "never": random_id_number(), "later": random_id_number()}
    yes, yes_profile = await make_volunteer(client, station, approved_by=worker, name="孙同意", id_number=numbers["yes"])
    never, _ = await make_volunteer(client, station, approved_by=worker, name="李未授", id_number=numbers["never"])
    later, _ = await make_volunteer(client, station, approved_by=worker, name="周撤回", id_number=numbers["later"])
    for v in (yes, never, later):
        await add_minutes(api, v.id, 12 * 60)
    await consent(client, yes)
    await consent(client, later)
    r = await client.post("/api/v1/admin/credit-exports", headers=admin.headers)
    assert r.status_code == 201, r.text
    batch = r.json()
    assert sorted(i["user_id"] for i in batch["increments"]) == sorted([yes.id, later.id])  # never consented
    # Withdrawn after the batch was made, before it went: kept out of what goes.
    assert (await client.delete(CONSENT, headers=later.headers)).json()["state"] == "withdrawn"

    private, pem = receiver_keys()
    url = f"/api/v1/admin/credit-exports/{batch['batch_id']}/transfer"
    r = await client.post(url, json={"public_key_pem": pem}, headers=admin.headers)
    assert r.status_code == 200, r.text
    envelope = r.json()
    assert envelope["alg"] == "RSA-OAEP-256+A256GCM" and (envelope["count"], envelope["left_out"]) == (1, 1)
    assert r.headers["cache-control"] == "no-store"
    assert "孙同意" not in r.text and numbers["yes"] not in r.text  # sealed: nothing readable on the way
    rows = open_envelope(envelope, private_key=private)
    assert rows[0] == ["姓名", "身份证号", "累计时长(小时)", "增加分值", "依据"]
    assert rows[1:] == [["孙同意", numbers["yes"], "12", "2", f"志愿服务时长累计达到10小时;海贝批次{batch['batch_id']};服务任务编号无"]]
    plaintext = "\n".join(",".join(row) for row in rows)
    assert numbers["never"] not in plaintext and numbers["later"] not in plaintext
    assert "李未授" not in plaintext and "周撤回" not in plaintext

    # The same batch sealed with a password given out of band.
    r = await client.post(url, json={"password": PASSWORD}, headers=admin.headers)
    assert r.status_code == 200, r.text
    envelope = r.json()
    assert envelope["alg"] == "scrypt+A256GCM" and "encrypted_key" not in envelope
    assert open_envelope(envelope, password=PASSWORD)[1][:2] == ["孙同意", numbers["yes"]]

    # Each handoff is on the audit trail: who, which batch, whose name and ID number went.
    audits = await AuditLog.filter(action="credit.export").order_by("id")
    assert len(audits) == 2 and {a.actor_id for a in audits} == {admin.id}
    assert all(a.subject_type == "credit_batch" and a.subject_id == batch["batch_id"] for a in audits)
    assert audits[0].fields_read == ["name", "id_number"] and audits[0].detail["volunteer_ids"] == [yes_profile["id"]]
    assert [a["alg"] for a in (audits[0].detail, audits[1].detail)] == ["RSA-OAEP-256+A256GCM", "scrypt+A256GCM"]
    trail = (await client.get("/api/v1/admin/audit", params={"action": "credit.export"}, headers=admin.headers)).json()
    row = trail["items"][0]
    assert row["action_label"] == "向信用威海提供海贝分数据" and row["fields_label"] == "姓名、身份证号"
    assert row["subject_label"] == f"海贝分批次 {batch['batch_id']}" and "提供 1 条" in row["detail_text"]


async def test_the_handoff_refuses_bad_keys_and_short_passwords_in_words(api, client, tmp_path):
    admin = await make_admin(client)
    station = await make_station()
    worker = await make_worker(client, station)
    v, _ = await make_volunteer(client, station, approved_by=worker, id_number=random_id_number())
    await add_minutes(api, v.id, 10 * 60)
    await consent(client, v)
    batch_id = (await client.post("/api/v1/admin/credit-exports", headers=admin.headers)).json()["batch_id"]
    url = f"/api/v1/admin/credit-exports/{batch_id}/transfer"

    err = assert_error(await client.post(url, json={"public_key_pem": "-----BEGIN PUBLIC KEY-----\nnot a key\n"},
                                         headers=admin.headers), 400, "BAD_PUBLIC_KEY")
    assert "PEM" in err["message"] and "公钥" in err["message"]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert_error(await client.post(url, json={"public_key_pem": weak}, headers=admin.headers), 400, "BAD_PUBLIC_KEY")
    err = assert_error(await client.post(url, json={"password": "short-pass1"}, headers=admin.headers), 400, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "password" and "至少 12 位" in err["details"][0]["reason"]
    assert_error(await client.post(url, json={"password": "十二个汉字的密码一二三四五六"}, headers=admin.headers), 400,
                 "VALIDATION_ERROR")
    _, pem = receiver_keys()
    assert_error(await client.post(url, json={"password": PASSWORD, "public_key_pem": pem}, headers=admin.headers), 400,
                 "VALIDATION_ERROR")
    err = assert_error(await client.post(url, json={}, headers=admin.headers), 400, "TRANSFER_KEY_REQUIRED")
    assert "公钥" in err["message"] and "密码" in err["message"]
    assert_error(await client.post("/api/v1/admin/credit-exports/999999/transfer", json={"password": PASSWORD},
                                   headers=admin.headers), 404, "NOT_FOUND")
    assert await AuditLog.filter(action="credit.export").count() == 0  # nothing went

    # 信用威海's key configured for the deployment: used when the request gives none.
    private, pem = receiver_keys()
    key_file = tmp_path / "xinyong-weihai.pem"
    key_file.write_text(pem)
    settings = api.app.ctx.settings
    api.app.ctx.settings = dataclasses.replace(settings, credit_receiver_key_file=str(key_file))
    try:
        r = await client.post(url, json={}, headers=admin.headers)
    finally:
        api.app.ctx.settings = settings
    assert r.status_code == 200, r.text
    assert open_envelope(r.json(), private_key=private)[1][0] == "赵志愿"


# --- the hours certificate -------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    """The PDF's text without its line breaks and spaces (a long line may wrap anywhere)."""
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


async def test_the_hours_certificate_says_who_where_and_how_long_and_its_code_verifies_it(api, client):
    station = await make_station(name="鲸园街道海贝驿站")
    elsewhere = await make_worker(client, await make_station())
    worker = await make_worker(client, station)
    v, profile = await make_volunteer(client, station, approved_by=worker, name="吴晓梅")
    resident, _ = await make_resident(client, station)
    await deliver(client, worker, v, await make_need(client, resident), 45)
    await deliver(client, worker, v, await make_need(client, resident, service_code="LIVING_MEAL"), 30)
    first, second = await TaskClaim.filter(volunteer_id=profile["id"]).order_by("id")
    # The first service was confirmed last year (Weihai): the hours are told year by year.
    await TaskClaim.filter(id=first.id).update(confirmed_at=datetime(2025, 6, 1, 4, tzinfo=timezone.utc))
    this_year = api.app.ctx.clock().astimezone(CHINA_TZ).year
    assert this_year > 2025

    r = await client.get("/api/v1/me/hours-certificate", headers=v.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["cache-control"] == "no-store"
    [certificate] = await HoursCertificate.filter(user_id=v.id)
    code = certificate.code
    assert len(code) == 20 and set(code) <= set(certificates.CODE_ALPHABET)
    text = pdf_text(r.content)
    today = api.app.ctx.clock().astimezone(CHINA_TZ)
    total = certificates.hours_text(first.verified_minutes + second.verified_minutes)
    for words in ("志愿服务时长证明", "吴晓梅", "鲸园街道海贝驿站", "2025年" + certificates.hours_text(first.verified_minutes),
                  f"{this_year}年" + certificates.hours_text(second.verified_minutes), "合计" + total,
                  f"出具日期:{today.year}年{today.month}月{today.day}日", f"验证码:{code}"):
        assert words in text, (words, text)
    # Asked again the same day, nothing changed: the same certificate.
    again = await client.get("/api/v1/me/hours-certificate", headers=v.headers)
    assert await HoursCertificate.filter(user_id=v.id).count() == 1 and code in pdf_text(again.content)

    # Anyone holding the code, signed in or not: the certificate as issued, the name masked; from
    # one address only so often (the limit is set to 1 here).
    with limits(api, "certificate_verify", ip=[1, 60]):
        r = await client.get(f"/api/v1/certificates/{code}")
        assert_limited(await client.get(f"/api/v1/certificates/{code}"), "ip")
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown == {"code": code, "title": "志愿服务时长证明", "name": "吴**", "station_name": "鲸园街道海贝驿站",
                     "total_hours": float(total), "issued_on": today.date().isoformat(),
                     "issued_on_label": f"{today.year}年{today.month}月{today.day}日"}
    assert "吴晓梅" not in r.text
    assert (await client.get(f"/api/v1/certificates/{code[:10].lower()}-{code[10:].lower()}")).json()["code"] == code
    assert_error(await client.get(f"/api/v1/certificates/{'2' * 20}"), 404, "NOT_FOUND")
    err = assert_error(await client.get("/api/v1/certificates/not-a-code"), 404, "NOT_FOUND")
    assert "验证码" in err["message"]

    # Issued for the volunteer by a worker of their station; another station's cannot find them.
    r = await client.get(f"/api/v1/volunteers/{profile['id']}/hours-certificate", headers=worker.headers)
    assert r.status_code == 200 and "吴晓梅" in pdf_text(r.content), r.text
    assert_error(await client.get(f"/api/v1/volunteers/{profile['id']}/hours-certificate", headers=elsewhere.headers),
                 404, "NOT_FOUND")


async def test_a_certificate_only_for_an_approved_volunteer(client):
    station = await make_station()
    worker = await make_worker(client, station)
    applicant, profile = await make_volunteer(client, station)
    assert_error(await client.get("/api/v1/me/hours-certificate", headers=applicant.headers), 403, "FORBIDDEN")
    assert_error(await client.get(f"/api/v1/volunteers/{profile['id']}/hours-certificate", headers=worker.headers),
                 409, "VOLUNTEER_NOT_APPROVED")


def test_without_the_font_file_the_certificate_falls_back_to_a_built_in_chinese_font():
    certificate = HoursCertificate(code="A" * 20, issued_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc), snapshot={
        "name_masked": "钱*", "station_name": "测试驿站", "years": [{"year": 2026, "minutes": 90}], "total_minutes": 90})
    pdf = certificates.render(certificate=certificate, name="钱多", font_path="/nonexistent/font.ttc")
    assert certificates.font_name("/nonexistent/font.ttc") == certificates.FALLBACK_FONT
    text = pdf_text(pdf)
    assert "志愿服务时长证明" in text and "钱多" in text and "2026年1.5" in text and "出具日期:2026年3月1日" in text
