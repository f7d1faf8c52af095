"""Photo uploads for service records: images only, size-limited, content checked by magic bytes."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from models import TaskClaim, Upload
from server.errors import DomainError, ValidationFailed
from server.storage import Storage

log = logging.getLogger("haibei.uploads")

# The type is read from the bytes, not trusted from the client's header.
MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"RIFF": "image/webp",  # checked further below: RIFF....WEBP
}


class UploadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "图片过大"


def sniff(data: bytes) -> str | None:
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            if kind == "image/webp" and data[8:12] != b"WEBP":
                return None
            return kind
    return None


async def store(*, owner_id: int, data: bytes, storage: Storage, max_bytes: int) -> Upload:
    """Keep an image for the caller and return its row (the id goes into a service record)."""
    if not data:
        raise ValidationFailed("请选择图片", details=[{"field": "file", "type": "missing"}])
    if len(data) > max_bytes:
        raise UploadTooLarge(details={"max_bytes": max_bytes})
    kind = sniff(data)
    if kind is None:
        raise ValidationFailed("仅支持 JPEG、PNG、WebP 图片", details=[{"field": "file", "type": "not_an_image"}])
    key = secrets.token_hex(16)
    await storage.put(key, data)
    return await Upload.create(owner_id=owner_id, storage_key=key, content_type=kind, size=len(data),
                               sha256=hashlib.sha256(data).hexdigest())


# A photo is taken during the service and attached by its record, the same day as a rule; one that
# no record holds after this long never will be, and takes room (and may show someone's home).
UNATTACHED_FOR = timedelta(days=7)
SWEEP_BATCH = 500


async def sweep_unattached(*, now: datetime, storage: Storage) -> int:
    """Delete the uploads older than UNATTACHED_FOR that no service record holds: their rows, then
    (committed) their bytes. The candidates are locked before the records are read, so a record
    attaching one at the same moment (``records.submit_record`` locks the photos it attaches) either
    committed first, and is seen, or waits, and finds the photo gone."""
    removed = 0
    after = 0
    while True:
        async with in_transaction():
            # Model rows: Tortoise drops FOR UPDATE from values() and values_list().
            rows = await Upload.select_for_update().filter(created_at__lt=now - UNATTACHED_FOR, id__gt=after).order_by(
                "id").limit(SWEEP_BATCH)
            if not rows:
                return removed
            after = rows[-1].id
            owners = sorted({row.owner_id for row in rows})
            held = {i for photos in await TaskClaim.filter(volunteer__user_id__in=owners).values_list("photos", flat=True)
                    for i in photos or []}
            gone = [(row.id, row.storage_key) for row in rows if row.id not in held]
            if gone:
                await Upload.filter(id__in=[upload_id for upload_id, _ in gone]).delete()
        for _, key in gone:
            try:
                await storage.delete(key)
            except OSError as exc:
                log.warning("photo bytes not deleted", extra={"storage_key": key, "error": type(exc).__name__})
        removed += len(gone)
