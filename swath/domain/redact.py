"""Secrets out of everything people read: URLs with credentials or signed queries, bearer tokens.

Customer URLs often carry secrets: `https://user:pass@host/…`, a presigned query string
(`?X-Amz-Signature=…`), or the path itself (a capability URL). The full URL is kept only where a
fetch needs it (sealed in the blob store); every log line, error message, stored request, workflow
payload and webhook body shows `redact_url(url)`, scheme and host only, instead, and `RedactingFilter` scrubs whatever
reaches a log handler anyway (httpx's own request lines included).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "REDACTED"
#: The scheme of references into Swath's own blob store, which hold no customer secret.
BLOB_SCHEME = "blob"

#: A URL with an authority, wherever it stands in a text.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>]+")
#: Bearer tokens, API keys and webhook secrets, wherever they stand in a text.
_TOKENS = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}|\bswk_[0-9a-f]{12}_[A-Za-z0-9_\-]+|\bwhsec_[A-Za-z0-9+/=]+")


def redact_url(url: str) -> str:
    """`url` as scheme and host (and port) only: its userinfo, path, query values and fragment are
    replaced by `REDACTED`, query names kept (they say what was there, e.g. a presigned URL's).

    The path goes too: a capability URL (`https://host/share/<secret>/file.tif`) is a secret as a
    whole. References into the blob store (`blob://…`) are Swath's own keys and stay as they are.
    A string that does not parse as a URL keeps only its scheme.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{url.split('://', 1)[0]}://{REDACTED}" if "://" in url else REDACTED
    if parts.scheme == BLOB_SCHEME:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        netloc = f"{REDACTED}@{host}" + (f":{port}" if port is not None else "")
    path = parts.path if parts.path in ("", "/") else f"/{REDACTED}"
    # Names stay (they say what was there); values go, and so does a bare `?token` with no name.
    query = "&".join(
        f"{field.split('=', 1)[0]}={REDACTED}" if "=" in field else REDACTED
        for field in parts.query.split("&") if field
    )
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted and every token-shaped secret replaced."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _TOKENS.sub(lambda m: (m.group(1) or "") + REDACTED, text)


#: Attributes every LogRecord has; any other attribute of a record is an `extra=` field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _redacted_value(value: object) -> object:
    """An `extra=` value with every string in it redacted; other objects become redacted text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): _redacted_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redacted_value(v) for v in value]
    return redact_text(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, traceback and `extra=` fields through `redact_text` before
    any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is rather than dropped
            return True
        redacted = redact_text(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES:
                setattr(record, name, _redacted_value(value))
        return True


def install_log_redaction(*logger_names: str) -> None:
    """Attach `RedactingFilter` to every handler of the root logger and of `logger_names` (loggers
    that do not propagate, like uvicorn's); call after logging is set up.

    Filters on handlers see records from every logger that reaches them, which a filter on a
    logger would not.
    """
    for name in ("", *logger_names):
        for handler in logging.getLogger(name or None).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
