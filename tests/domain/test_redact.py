"""Unit tests of `swath.domain.redact`: URLs, free text and log records lose their secrets, nothing else."""

from __future__ import annotations

import io
import logging

import pytest

from swath.domain.redact import REDACTED, RedactingFilter, redact_text, redact_url

SECRET = "hunter2"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://example.com/tiles/7.npy", f"https://example.com/{REDACTED}"),
        ("https://example.com", "https://example.com"),
        ("https://example.com/", "https://example.com/"),
        (f"https://files.example/share/{SECRET}/scene.tif", f"https://files.example/{REDACTED}"),
        (f"https://bob:{SECRET}@example.com/t.npy", f"https://{REDACTED}@example.com/{REDACTED}"),
        (f"https://{SECRET}@example.com:8443/t", f"https://{REDACTED}@example.com:8443/{REDACTED}"),
        (
            f"https://b.s3.amazonaws.com/t.tif?X-Amz-Credential=AK&X-Amz-Signature={SECRET}",
            f"https://b.s3.amazonaws.com/{REDACTED}?X-Amz-Credential={REDACTED}&X-Amz-Signature={REDACTED}",
        ),
        (f"http://[::1]:9000/t?{SECRET}&a={SECRET}", f"http://[::1]:9000/{REDACTED}?{REDACTED}&a={REDACTED}"),
        (f"https://example.com/t#{SECRET}", f"https://example.com/{REDACTED}#{REDACTED}"),
        ("blob://tenants/acme/inputs/r/1", "blob://tenants/acme/inputs/r/1"),
    ],
)
def test_a_url_keeps_everything_but_its_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent: redacting twice changes nothing


def test_an_unparseable_url_keeps_only_its_scheme() -> None:
    assert redact_url(f"http://[::1/{SECRET}?sig={SECRET}") == f"http://{REDACTED}"


def test_text_loses_urls_secrets_and_tokens() -> None:
    text = (
        f"GET https://u:{SECRET}@h.example/x?sig={SECRET} failed; Authorization: Bearer eyJ{SECRET}.abc.def"
        f" key swk_0123456789ab_{SECRET}{SECRET}{SECRET} whsec_{SECRET}AAAA"
    )
    redacted = redact_text(text)
    assert SECRET not in redacted
    assert "h.example/" in redacted and "failed" in redacted


def test_the_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("fetching %s", f"https://x.example/t?token={SECRET}")
        try:
            raise RuntimeError(f"cannot reach https://user:{SECRET}@x.example/")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert SECRET not in out
    assert "https://x.example/REDACTED?token=REDACTED" in out and "RuntimeError" in out
