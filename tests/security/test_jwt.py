"""JWT bearer tokens: over HTTP against an HS256 API, and the verifier with RS256 and ES256 keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from swath.auth.tokens import JwtVerifier
from swath.domain.errors import TokenRejected
from tests.security.conftest import (
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_SECRET,
    JWT_MAX_AGE_S,
    SecureApi,
    bearer,
    unique_tenant,
)


def claims(**overrides) -> dict:
    """Valid claims for a fresh subject and tenant, with `overrides` applied (`None` drops a claim).

    Tokens are made when the tests are collected: an hour of validity outlasts a slow suite."""
    now = int(time.time())
    base = {
        "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": f"user-{uuid.uuid4().hex[:8]}", "iat": now, "exp": now + 3600,
        "jti": str(uuid.uuid4()), "tenant": unique_tenant(), "scope": "runs:read runs:write",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict, secret: str = JWT_SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


async def get_runs(api: SecureApi, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url) as http:
        return await http.get("/v1/runs", headers=bearer(token))


async def test_a_valid_token_acts_for_its_tenant(secure_api: SecureApi) -> None:
    token = hs256(claims())
    response = await get_runs(secure_api, token)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_clock_skew_within_the_leeway_is_accepted(secure_api: SecureApi) -> None:
    assert (await get_runs(secure_api, hs256(claims(exp=int(time.time()) - 5)))).status_code == 200


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (hs256(claims(exp=int(time.time()) - 120)), "token expired"),
        (hs256(claims(aud="someone-else")), "token audience not accepted"),
        (hs256(claims(iss="https://evil.test")), "token issuer not accepted"),
        (hs256(claims(nbf=int(time.time()) + 3 * 3600)), "token not valid yet"),  # past any slow suite
        (hs256(claims(exp=None)), "token lacks the 'exp' claim"),
        (hs256(claims(iat=None)), "token lacks the 'iat' claim"),
        (hs256(claims(jti=None)), "token lacks the 'jti' claim"),
        (hs256(claims(jti=7)), "invalid token"),
        (hs256(claims(jti="x" * 256)), "token lacks a valid 'jti' claim"),
        # Issued longer ago than the maximum age: refused although its own `exp` is hours away.
        (hs256(claims(iat=int(time.time()) - JWT_MAX_AGE_S - 120)), "token too old"),
        (hs256(claims(tenant=None)), "token lacks a valid 'tenant' claim"),
        (hs256(claims(tenant="../other")), "token lacks a valid 'tenant' claim"),
        (hs256(claims(tenant="acme\n")), "token lacks a valid 'tenant' claim"),
        (hs256(claims(), secret="another-secret-that-is-long-enough-to-sign"), "invalid token"),
        (jwt.encode(claims(), None, algorithm="none"), "invalid token"),
        ("a.b.c", "invalid token"),
    ],
)
async def test_bad_tokens_are_401(secure_api: SecureApi, token: str, reason: str) -> None:
    response = await get_runs(secure_api, token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == reason
    assert token not in response.text and JWT_SECRET not in response.text


async def test_token_scopes_are_enforced(secure_api: SecureApi) -> None:
    reader = hs256(claims(scope="runs:read"))
    nothing = hs256(claims(scope=None))
    listed = hs256(claims(scope=["runs:read", "not-a-scope"]))
    async with httpx.AsyncClient(base_url=secure_api.url) as http:
        submit = await http.post("/v1/runs", json={"model": "x", "inputs": [{"id": "a", "uri": "blob://x"}]},
                                 headers=bearer(reader))
        assert submit.status_code == 403
        assert (await http.get("/v1/runs", headers=bearer(nothing))).status_code == 403
        assert (await http.get("/v1/runs", headers=bearer(listed))).status_code == 200
        assert (await http.get("/v1/keys", headers=bearer(listed))).status_code == 403


async def test_a_revoked_token_is_refused_from_then_on(secure_api: SecureApi, admin_token: str) -> None:
    token, other = hs256(claims()), hs256(claims())
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    async with httpx.AsyncClient(base_url=secure_api.url) as http:
        before = await http.get("/v1/runs", headers=bearer(token))
        by_a_user = await http.post("/v1/revoked-tokens", json={"jti": jti}, headers=bearer(other))
        revoked = await http.post("/v1/revoked-tokens", json={"jti": jti}, headers=bearer(admin_token))
        again = await http.post("/v1/revoked-tokens", json={"jti": jti}, headers=bearer(admin_token))
        after = await http.get("/v1/runs", headers=bearer(token))
        unrelated = await http.get("/v1/runs", headers=bearer(other))
        empty = await http.post("/v1/revoked-tokens", json={"jti": ""}, headers=bearer(admin_token))
    assert before.status_code == 200
    assert by_a_user.status_code == 403
    assert revoked.status_code == 201, revoked.text
    assert revoked.json()["jti"] == jti
    assert again.status_code == 201 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert after.status_code == 401
    assert after.json()["detail"] == "token revoked"
    assert unrelated.status_code == 200
    assert empty.status_code == 422


def test_without_jti_required_a_token_needs_none() -> None:
    check = verifier("HS256", key=JWT_SECRET.encode(), require_jti=False)
    assert check.verify(hs256(claims(jti=None))).token_id is None
    assert check.verify(hs256(claims(jti="abc"))).token_id == "abc"


def verifier(algorithm: str, **key) -> JwtVerifier:
    return JwtVerifier(
        algorithm=algorithm, issuer=JWT_ISSUER, audience=JWT_AUDIENCE, leeway_s=30,
        tenant_claim="tenant", scopes_claim="scope", **key,
    )


def pem(private_key) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_rs256_with_a_public_key() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    check = verifier("RS256", key=pem(private))
    payload = claims(scope=["runs:read"])
    principal = check.verify(jwt.encode(payload, private, algorithm="RS256"))
    assert principal.tenant == payload["tenant"] and principal.scopes == {"runs:read"}
    assert principal.key_id is None and principal.identity == f"jwt:{payload['sub']}"
    # the classic confusion: an HS256 token "signed" with the public key must not pass
    with pytest.raises(TokenRejected):
        check.verify(forged_hs256(claims(), pem(private).encode()))


def forged_hs256(payload: dict, key: bytes) -> str:
    """An HS256 token made by hand (PyJWT itself refuses a PEM as an HMAC secret)."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{part(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def test_es256_with_a_jwks_file_picks_the_key_by_kid(tmp_path: Path) -> None:
    keys = {kid: ec.generate_private_key(ec.SECP256R1()) for kid in ("one", "two")}
    jwks = {"keys": [
        {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid, "alg": "ES256", "use": "sig"}
        for kid, k in keys.items()
    ]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    check = verifier("ES256", jwks=jwt.PyJWKSet.from_json(path.read_text()))
    token = jwt.encode(claims(), keys["two"], algorithm="ES256", headers={"kid": "two"})
    assert check.verify(token).scopes == {"runs:read", "runs:write"}
    wrong_kid = jwt.encode(claims(), keys["two"], algorithm="ES256", headers={"kid": "one"})
    unknown_kid = jwt.encode(claims(), keys["two"], algorithm="ES256", headers={"kid": "three"})
    no_kid = jwt.encode(claims(), keys["two"], algorithm="ES256")
    for bad in (wrong_kid, unknown_kid, no_kid):
        with pytest.raises(TokenRejected):
            check.verify(bad)
