"""JWT bearer tokens, the second way in: signature, issuer, audience and expiry checked, claims → `Principal`.

HS256 uses a shared secret; RS256 and ES256 a PEM public key or a JWKS file (keys chosen by `kid`).
Every rejection carries a short fixed reason, never the token or a key.

A token must say when it was issued (`iat`), and one issued longer ago than the maximum age is
refused whatever its `exp`, so a stolen long-lived token stops working on its own. It carries a
`jti` (unless `SWATH_JWT_REQUIRE_JTI=false`), the id by which it is revoked: the API looks the id
up in `revoked_tokens` (`swath.db.revoked_tokens`) after the signature passed.
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt

from swath.domain.errors import TokenRejected
from swath.domain.principal import SCOPES, Principal, is_valid_tenant
from swath.settings import Settings

#: Claims a token must carry besides the tenant claim (and `jti`, when it is required).
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
#: The longest `jti` accepted: the id is stored when the token is revoked.
MAX_JTI_CHARS = 255
#: The maximum age when none is given (the setting's default).
DEFAULT_MAX_AGE_S = 24 * 3600


class JwtVerifier:
    """Verifies tokens of one algorithm against one key (or key set) and one issuer and audience."""

    def __init__(
        self,
        *,
        algorithm: str,
        key: str | bytes | None = None,
        jwks: jwt.PyJWKSet | None = None,
        issuer: str,
        audience: str,
        leeway_s: int,
        tenant_claim: str,
        scopes_claim: str,
        platform_admin_claim: str | None = None,
        max_age_s: int = DEFAULT_MAX_AGE_S,
        require_jti: bool = True,
    ) -> None:
        if (key is None) == (jwks is None):
            raise ValueError("give exactly one of `key` or `jwks`")
        self.algorithm = algorithm
        self._key = key
        self._jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.tenant_claim = tenant_claim
        self.scopes_claim = scopes_claim
        self.platform_admin_claim = platform_admin_claim
        self.max_age_s = max_age_s
        self.require_jti = require_jti

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        """The verifier the settings describe, or `None` when JWT is off (`SWATH_JWT_ALGORITHM` unset).

        Assumes `swath.auth.checks` found the settings complete.
        """
        if settings.jwt_algorithm is None:
            return None
        key: str | bytes | None = None
        jwks = None
        if settings.jwt_algorithm == "HS256":
            key = settings.jwt_secret.get_secret_value().encode()
        elif settings.jwt_public_key_file:
            key = Path(settings.jwt_public_key_file).read_text()
        else:
            jwks = jwt.PyJWKSet.from_json(Path(settings.jwt_jwks_file).read_text())
        return cls(
            algorithm=settings.jwt_algorithm, key=key, jwks=jwks, issuer=settings.jwt_issuer,
            audience=settings.jwt_audience, leeway_s=settings.jwt_leeway_s,
            tenant_claim=settings.jwt_tenant_claim, scopes_claim=settings.jwt_scopes_claim,
            platform_admin_claim=settings.jwt_platform_admin_claim,
            max_age_s=settings.jwt_max_age_s, require_jti=settings.jwt_require_jti,
        )

    def verify(self, token: str) -> Principal:
        """The principal a valid token speaks for; raises `TokenRejected` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": [*REQUIRED_CLAIMS, *(["jti"] if self.require_jti else [])]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("token issuer not accepted") from None
        except jwt.MissingRequiredClaimError as err:
            raise TokenRejected(f"token lacks the {err.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise TokenRejected("invalid token") from None
        # PyJWT checks that `iat` is a number and not in the future; its age is ours to bound.
        if time.time() - claims["iat"] > self.max_age_s + self.leeway_s:
            raise TokenRejected("token too old")
        return self._principal(claims)

    def _signing_key(self, token: str):
        if self._jwks is None:
            return self._key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise TokenRejected("invalid token") from None
        keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
        if kid is None and len(keys) != 1:
            raise TokenRejected("token has no `kid` and the key set has several keys")
        if not keys:
            raise TokenRejected("token `kid` is not in the key set")
        return keys[0]

    def _principal(self, claims: dict) -> Principal:
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or not is_valid_tenant(tenant):
            raise TokenRejected(f"token lacks a valid {self.tenant_claim!r} claim")
        jti = claims.get("jti")
        if jti is not None and not (isinstance(jti, str) and 0 < len(jti) <= MAX_JTI_CHARS and "\x00" not in jti):
            raise TokenRejected("token lacks a valid 'jti' claim")
        raw = claims.get(self.scopes_claim, [])
        scopes = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        return Principal(
            key_id=None,
            tenant=tenant,
            scopes=frozenset(s for s in scopes if s in SCOPES),
            subject=str(claims["sub"]),
            platform_admin=self._is_platform_admin(claims),
            token_id=jti,
        )

    def _is_platform_admin(self, claims: dict) -> bool:
        # An IdP hands out scopes to tenant users; power over every tenant needs its own, explicit claim.
        return self.platform_admin_claim is not None and claims.get(self.platform_admin_claim) is True
