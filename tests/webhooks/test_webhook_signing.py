"""Signing, checked against the reference `standardwebhooks` library."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from swath.webhooks.signing import generate_secret, sign, webhook_headers

BODY = json.dumps({"type": "run.completed", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "r1"}})


def test_secrets_are_whsec_base64_of_enough_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 64
    assert generate_secret() != secret


def test_the_reference_library_verifies_our_signature() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], msg_id="msg_1", timestamp=int(time.time()), body=BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-signature"].startswith("v1,")


def test_it_matches_the_specs_known_vector() -> None:
    # The example from the Standard Webhooks spec and the reference library's tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    assert sign(secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = webhook_headers([new, old], msg_id="msg_2", timestamp=int(time.time()), body=BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_a_tampered_body_a_stale_timestamp_or_another_secret_fail() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], msg_id="msg_3", timestamp=int(time.time()), body=BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("r1", "r2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)
    stale = webhook_headers([secret], msg_id="msg_3", timestamp=int(time.time()) - 3600, body=BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, stale)
