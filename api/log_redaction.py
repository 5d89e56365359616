"""No credential reaches a log record, whatever its size or where it is logged.

Why a record factory: aiohttp's HTTP parser logs an oversized header line (an `Authorization:
ApiKey key:secret` of 9 KB) with the first 100 bytes of its value in the exception text, from a
logger and a traceback we do not own; logger filters would only see records of the one logger
they sit on and handler filters only the handlers we configure. The factory sees every record
of the process as it is made: a parse error's request content is withheld, and anything shaped
like a credential (`ApiKey ...`, `Bearer ...`, `api_secret=...`) is replaced by `[redacted]` in
the message and in the traceback text.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

_CREDENTIAL = re.compile(
    r"(?i)\b(apikey|bearer|basic)(\s+)[^\s'\"\\]+"
    r"|\b(authorization|x-session-token|api_secret|secret_key|secret|access_token|refresh_token|session_token|token)"
    r"([\"']?\s*[:=]\s*[\"']?)[^\s'\",}\\]+"
)
_MARK = "_facestream_redacting"


def redact(text: str) -> str:
    return _CREDENTIAL.sub(lambda m: f"{m.group(1) or m.group(3)}{m.group(2) or m.group(4)}[redacted]", text)


def redact_record(record: logging.LogRecord) -> None:
    exc = record.exc_info[1] if record.exc_info else None
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the handler's business, not ours
        return
    details = ""
    if isinstance(exc, HttpProcessingError):
        # The parser quotes the offending request bytes (a header value: maybe a secret).
        details = f" [{type(exc).__name__} {exc.code}: request content withheld]"
    elif record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info))
        if redact(text) != text:
            details = "\n" + redact(text)
    cleaned = redact(message)
    if details or cleaned != message:
        record.msg, record.args = cleaned + details, None
        if details:
            record.exc_info, record.exc_text = None, None


def install_log_redaction() -> None:
    """Idempotent: wraps the process's log record factory once."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
