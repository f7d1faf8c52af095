"""The PII scanner: every response body the app sends and every log line written while
the whole suite runs is searched for an unmasked ID-card number, a mobile number or a WeChat
``session_key``. A find fails the test that caused it, naming the route or the logger.

Exempt by design: the audited unmasked reads (``EXEMPT_ROUTES``), where the person or their station
asked for the full value and an audit row was written. Binary bodies (Excel, images) are not
searched: their text is compressed, and the ledgers that carry PII are masked unless audited.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

# Whole tokens only: not inside a longer number, a hex id or the decimals of a float (0.0102…).
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z.])\d{17}[\dXx](?![0-9A-Za-z]|\.\d)")
PHONE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z]|\.\d)")
# The key itself (as WeChat names it), not our column of its ciphertext (session_key_enc).
SESSION_KEY = re.compile(r"(?<![A-Za-z_])session_key(?![A-Za-z_])", re.IGNORECASE)

# Route patterns whose whole point is the full value, each read audited.
EXEMPT_ROUTES = {
    "/api/v1/residents/<resident_id:int>/unmasked",
    "/console/households/<resident_id:int>/reveal",  # the console's same read, with its reason
}
TEXT_TYPES = ("application/json", "text/")


def finds(text: str) -> list[str]:
    out = []
    for name, pattern in (("id_number", ID_NUMBER), ("phone", PHONE), ("session_key", SESSION_KEY)):
        match = pattern.search(text)
        if match:
            out.append(f"{name} {match.group(0)[:4]}…")
    return out


@dataclass
class Scanner:
    violations: list[str] = field(default_factory=list)
    planted: int = 0  # found in tests that plant a leak on purpose (pii_leak_expected)
    responses: int = 0
    log_lines: int = 0

    def scan_response(self, *, route: str, status: int, content_type: str, body: bytes) -> None:
        if route in EXEMPT_ROUTES or not content_type.startswith(TEXT_TYPES):
            return
        self.responses += 1
        for what in finds(body.decode("utf-8", "replace")):
            self.violations.append(f"response of {route} ({status}): {what}")

    def scan_log(self, line: str, logger: str) -> None:
        self.log_lines += 1
        for what in finds(line):
            self.violations.append(f"log line of {logger}: {what}")


class ScanHandler(logging.Handler):
    """Sees every record, with its extra fields, as the JSON formatter would write them."""

    def __init__(self, scanner: Scanner) -> None:
        super().__init__(level=logging.DEBUG)
        self.scanner = scanner

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is not ours to judge here
            text = str(record.msg)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.scanner.scan_log(f"{text} {extras}", record.name)


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def install(app, scanner: Scanner) -> None:
    """Scan every response of ``app`` (the last response middleware to run) and every log record."""

    @app.on_response(priority=-1000)
    async def scan(request, response) -> None:
        body = getattr(response, "body", None)
        if body is None:  # streamed (Excel ledgers): binary, not searched
            return
        route = "/" + request.route.path.lstrip("/") if request and request.route else "unmatched"
        scanner.scan_response(route=route, status=response.status,
                              content_type=response.content_type or "", body=body)

    handler = ScanHandler(scanner)
    # The app's loggers do not propagate (server.logs): the scanner sits on each of them and on root.
    for name in ("", "sanic.root", "sanic.error", "sanic.access", "sanic.server", "haibei", "tortoise"):
        logger = logging.getLogger(name)
        if handler not in logger.handlers:
            logger.addHandler(handler)
    # Our own DEBUG lines are where a leak would hide: the scanner reads them, stderr stays at INFO.
    ours = logging.getLogger("haibei")
    for existing in ours.handlers:
        if existing is not handler and existing.level == logging.NOTSET:
            existing.setLevel(ours.level or logging.INFO)
    ours.setLevel(logging.DEBUG)
