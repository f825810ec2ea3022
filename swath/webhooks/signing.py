"""Standard Webhooks signing: `whsec_<base64>` secrets and `v1,<base64 HMAC-SHA256>` signatures.

The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed by the base64-decoded
part of the secret (https://www.standardwebhooks.com/). Secrets are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
#: Random bytes per secret; the spec allows 24 to 64.
SECRET_BYTES = 32


def generate_secret() -> str:
    """A new signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, *, msg_id: str, timestamp: int, body: str) -> str:
    """One `v1,<signature>` value."""
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(keys: Iterable[str], *, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers; several secrets (a rotation) give several signatures."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id=msg_id, timestamp=timestamp, body=body) for k in keys),
        "content-type": "application/json",
    }
