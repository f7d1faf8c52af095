"""Re-encrypting personal data under the current data key (key rotation, GB/T 35273 §6.3).

Rotation: set the new key as ``HAIBEI_DATA_KEY``, move the old one to ``HAIBEI_DATA_KEYS_RETIRED``,
restart, run ``scripts/rotate_keys``; once it reports nothing left, the old key can be retired.
The blind index has its own key and is untouched.

The same run seals what a sealed column (models/sealed.py) still holds in clear: values written
before the column was sealed.
"""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.models import Model

from models import Assessment, Need, ResidentProfile, User, VolunteerProfile, WechatSession
from models.sealed import SealedField, is_token
from server import sql
from server.care import assessments
from server.people import accounts, residents, volunteers
from server.pii import DecryptionError, FieldCipher
from server.workflow import needs

# Every encrypted column, with the associated-data context it was encrypted under.
ENCRYPTED_COLUMNS: list[tuple[type[Model], str, str]] = [
    (User, "phone_enc", accounts.USER_PHONE_CONTEXT),
    (WechatSession, "session_key_enc", accounts.SESSION_KEY_CONTEXT),
    (VolunteerProfile, "phone_enc", volunteers.PHONE_CONTEXT),
    (VolunteerProfile, "id_number_enc", volunteers.ID_NUMBER_CONTEXT),
    (ResidentProfile, "id_number_enc", residents.CTX["id_number"]),
    (ResidentProfile, "phone_enc", residents.CTX["phone"]),
    (ResidentProfile, "address_enc", residents.CTX["address"]),
    (ResidentProfile, "location_enc", residents.CTX["location"]),
    (ResidentProfile, "health_notes_enc", residents.CTX["health_notes"]),
    (ResidentProfile, "guardian_phone_enc", residents.CTX["guardian_phone"]),
    (Need, "location_enc", needs.LOCATION_CONTEXT),
    (Assessment, "visit_notes_enc", assessments.NOTES_CONTEXT),
]


def sealed_columns() -> list[tuple[type[Model], SealedField]]:
    """Every sealed column of every model: found, not listed, so a new one cannot be missed."""
    return [(model, field) for model in Tortoise.apps["models"].values()
            for field in model._meta.fields_map.values() if isinstance(field, SealedField)]


async def _reseal(model: type[Model], field: SealedField, *, cipher: FieldCipher, batch: int,
                  unreadable: list[tuple[str, Any]] | None) -> int:
    """Seal the column's values in clear and re-encrypt those under an old key, read and written
    as raw column values (the field itself would open them on the way)."""
    table, column, pk = model._meta.db_table, field.source_field or field.model_field_name, model._meta.db_pk_column
    done, last = 0, None
    while True:
        after = "" if last is None else f" AND {pk} > %s"
        rows = await sql.rows(f"SELECT {pk} AS pk, {column} AS value FROM {table} WHERE {column} IS NOT NULL{after}"
                              f" ORDER BY {pk} LIMIT {int(batch)}", [] if last is None else [last])
        if not rows:
            return done
        for row in rows:
            value = row["value"]
            try:
                if not is_token(value):
                    fresh = cipher.encrypt(field.dump(field.legacy(value)), context=field.context)
                elif cipher.needs_rotation(value):
                    fresh = cipher.encrypt(cipher.decrypt(value, context=field.context), context=field.context)
                else:
                    continue
            except (DecryptionError, ValueError):  # JSON or a date that does not parse is as unreadable
                if unreadable is not None:
                    unreadable.append((f"{table}.{column}", row["pk"]))
                continue
            # Only if nobody rewrote the value meanwhile; a fresh write is already current.
            done += await sql.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s",
                                      [fresh, row["pk"], value])
        last = rows[-1]["pk"]


async def rotate(*, cipher: FieldCipher, batch: int = 500,
                 unreadable: list[tuple[str, Any]] | None = None) -> dict[str, int]:
    """Re-encrypt every value not under the current key; returns counts per ``table.column``.

    A value no key opens (corrupted, or under a key already dropped) is left as it is and named in
    ``unreadable`` as (``table.column``, primary key): one bad row must not stop the rest from
    moving, or the old key could never be retired. The old key can go once nothing is re-encrypted
    and nothing is unreadable."""
    counts: dict[str, int] = {}
    for model, column, context in ENCRYPTED_COLUMNS:
        pk = model._meta.pk_attr
        done = 0
        last = None
        while True:
            qs = model.filter(**{f"{column}__isnull": False}).order_by(pk).limit(batch)
            if last is not None:
                qs = qs.filter(**{f"{pk}__gt": last})
            rows = await qs.values(pk, column)
            if not rows:
                break
            for row in rows:
                token = row[column]
                if cipher.needs_rotation(token):
                    try:
                        plain = cipher.decrypt(token, context=context)
                    except DecryptionError:
                        if unreadable is not None:
                            unreadable.append((f"{model._meta.db_table}.{column}", row[pk]))
                        continue
                    fresh = cipher.encrypt(plain, context=context)
                    # Only if nobody rewrote the value meanwhile; a fresh write is already current.
                    done += await model.filter(**{pk: row[pk], column: token}).update(**{column: fresh})
            last = rows[-1][pk]
        counts[f"{model._meta.db_table}.{column}"] = done
    for model, field in sealed_columns():
        counts[f"{model._meta.db_table}.{field.model_field_name}"] = await _reseal(
            model, field, cipher=cipher, batch=batch, unreadable=unreadable)
    return counts
