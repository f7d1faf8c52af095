"""Household QR plates: a permanent signed token per household, printed as a wxacode by the door.

The token is the wxacode ``scene`` (WeChat allows at most 32 visible characters). Scanning it on
site is the strongest check-in evidence (任务六/机制三: service really delivered at the home).
Format: ``h<resident id base36>.<16 hex of HMAC-SHA256>``; the HMAC key is derived from the
blind-index key so it survives data-key rotation.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "h"


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def scene_for(*, resident_id: int, key: bytes) -> str:
    ident = _b36(resident_id)
    mac = hmac.new(key, f"plate:{ident}".encode(), hashlib.sha256).hexdigest()[:16]
    scene = f"{PREFIX}{ident}.{mac}"
    assert len(scene) <= 32
    return scene


def resident_for(*, scene: str, key: bytes) -> int | None:
    """The household a scanned scene belongs to, or None if it is not a genuine plate."""
    if not scene.startswith(PREFIX) or "." not in scene or len(scene) > 32:
        return None
    ident, _, mac = scene[len(PREFIX):].partition(".")
    # Only the digits scene_for writes: int() also takes a sign, spaces, underscores and non-ASCII
    # digits, and a negative id never turns back into base 36 (_b36 loops forever on it).
    if not ident or not ident.isascii() or not ident.isalnum():
        return None
    resident_id = int(ident, 36)
    expected = scene_for(resident_id=resident_id, key=key)
    return resident_id if hmac.compare_digest(expected, scene) else None
